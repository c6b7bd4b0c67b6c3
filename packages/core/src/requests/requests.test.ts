import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TransitionError,
  ValidationError,
} from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import {
  type CreateCatalogItemInput,
  manualRequestTransitions,
  type RequestState,
  requestStates,
  type ServiceRequest,
  type TaskState,
  taskStates,
  taskTransitions,
} from './model.js';

const admin = systemActor('test');

/** The paths of a ValidationError thrown by `run`, sorted. */
async function issuesOf(run: Promise<unknown>): Promise<string[]> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => i.path).sort();
}

describe.each(testBackends())('requests on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-04-01T09:00:00.000Z');
  /** People: rita asks (mark manages her), fred fulfils (desktop group), olga is an outsider, nora has no manager. */
  const people: Record<string, { id: string; actor: () => Promise<Actor> }> = {};
  const as = (name: string) => people[name]!.actor();
  let desktop: string;
  let approvers: string;
  const laptops: Record<string, string> = {};
  let server: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    for (const [name, role] of [
      ['mark', 'requester'],
      ['rita', 'requester'],
      ['fred', 'agent'],
      ['olga', 'requester'],
      ['nora', 'requester'],
      ['ann', 'requester'],
      ['ben', 'requester'],
      ['cat', 'operator'],
    ] as const) {
      const user = await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
      await og.access.grant({ role, userId: user.id }, { actor: admin });
      people[name] = { id: user.id, actor: async () => (await og.access.actorForUser({ id: user.id }))! };
    }
    for (const name of ['rita', 'olga']) {
      const user = (await og.access.user(people[name]!.id))!;
      await og.access.updateUser(
        user.id,
        { version: user.version, managerId: people.mark!.id },
        { actor: admin },
      );
    }
    desktop = (await og.access.createGroup({ name: 'Desktop support' }, { actor: admin })).id;
    await og.access.addGroupMember(desktop, { userId: people.fred!.id }, { actor: admin });
    approvers = (await og.access.createGroup({ name: 'Finance approvers' }, { actor: admin })).id;
    for (const name of ['ann', 'ben'])
      await og.access.addGroupMember(approvers, { userId: people[name]!.id }, { actor: admin });
    for (const name of ['LT-001', 'LT-002', 'LT-003'])
      laptops[name] = (
        await og.cmdb.create({ class: 'laptop', name, attributes: { serial_number: name } }, { actor: admin })
      ).id;
    server = (await og.cmdb.create({ class: 'linux_server', name: 'web-01' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  const item = (input: Partial<CreateCatalogItemInput> & { name: string }) =>
    og.requests.createItem({ category: 'Hardware', ...input }, { actor: admin });

  describe('users have managers', () => {
    it('sets, clears and refuses loops or unknown managers naming managerId', async () => {
      const mark = (await og.access.user(people.mark!.id))!;
      expect((await og.access.user(people.rita!.id))!.managerId).toBe(people.mark!.id);
      await expect(
        og.access.updateUser(mark.id, { version: mark.version, managerId: mark.id }, { actor: admin }),
      ).rejects.toMatchObject({ field: 'managerId' });
      // rita reports to mark: mark reporting to rita would loop.
      await expect(
        og.access.updateUser(
          mark.id,
          { version: mark.version, managerId: people.rita!.id },
          { actor: admin },
        ),
      ).rejects.toMatchObject({ field: 'managerId', message: expect.stringMatching(/loop/) });
      await expect(
        og.access.updateUser(
          mark.id,
          { version: mark.version, managerId: '00000000-0000-4000-8000-000000000000' },
          { actor: admin },
        ),
      ).rejects.toMatchObject({ field: 'managerId' });
      const nora = (await og.access.user(people.nora!.id))!;
      const set = await og.access.updateUser(
        nora.id,
        { version: nora.version, managerId: people.cat!.id },
        { actor: admin },
      );
      expect(set.managerId).toBe(people.cat!.id);
      const cleared = await og.access.updateUser(
        nora.id,
        { version: set.version, managerId: null },
        { actor: admin },
      );
      expect(cleared.managerId).toBeNull();
    });
  });

  describe('forms', () => {
    let formItem: string;
    beforeAll(async () => {
      formItem = (
        await item({
          name: 'Everything form',
          form: [
            {
              name: 'title',
              label: 'Title',
              type: 'string',
              required: true,
              min: 3,
              max: 20,
              pattern: '[A-Za-z ]+',
            },
            { name: 'details', label: 'Details', type: 'text', max: 50 },
            { name: 'count', label: 'Count', type: 'integer', min: 1, max: 5, default: 1 },
            { name: 'budget', label: 'Budget', type: 'number', min: 0 },
            { name: 'urgent', label: 'Urgent', type: 'boolean', default: false },
            { name: 'needed_by', label: 'Needed by', type: 'date' },
            { name: 'size', label: 'Size', type: 'enum', options: ['13"', '15"'], required: true },
            { name: 'colleague', label: 'Colleague', type: 'user' },
            { name: 'server', label: 'Server', type: 'ci', ciClass: 'server' },
          ],
        })
      ).id;
    });

    it('accepts good answers of every type, fills defaults and trims', async () => {
      const rita = await as('rita');
      const request = await og.requests.submit(
        {
          itemId: formItem,
          answers: {
            title: ' New kit ',
            details: 'two\nlines',
            budget: 12.5,
            needed_by: '2026-05-31',
            size: '15"',
            colleague: people.olga!.id.toUpperCase(),
            server,
          },
        },
        { actor: rita },
      );
      expect(request.answers).toEqual({
        title: 'New kit',
        details: 'two\nlines',
        count: 1,
        budget: 12.5,
        urgent: false,
        needed_by: '2026-05-31',
        size: '15"',
        colleague: people.olga!.id,
        server,
      });
      expect(request.requestedById).toBe(people.rita!.id);
      expect(request.requestedForId).toBe(people.rita!.id);
      expect(request.number).toMatch(/^REQ\d{7}$/);
    });

    it('names every bad answer as answers.<field>, and writes nothing', async () => {
      const rita = await as('rita');
      const before = (await og.requests.requests({}, {}, { actor: rita })).edges.length;
      const bad = {
        title: 'x1',
        details: 'd'.repeat(51),
        count: 2.5,
        budget: -1,
        urgent: 'yes',
        needed_by: '2026-02-30',
        size: '17"',
        colleague: '00000000-0000-4000-8000-000000000000',
        server: laptops['LT-001'],
        extra: 1,
      };
      expect(await issuesOf(og.requests.submit({ itemId: formItem, answers: bad }, { actor: rita }))).toEqual(
        [
          'answers.budget',
          'answers.colleague',
          'answers.count',
          'answers.details',
          'answers.extra',
          'answers.needed_by',
          'answers.server',
          'answers.size',
          'answers.title',
          'answers.urgent',
        ],
      );
      // One at a time, with what each says.
      const one = async (answers: Record<string, unknown>) => {
        const error = (await og.requests
          .submit({ itemId: formItem, answers: { size: '13"', ...answers } }, { actor: rita })
          .catch((e) => e)) as ValidationError;
        expect(error).toBeInstanceOf(ValidationError);
        return `${error.issues[0]!.path}: ${error.issues[0]!.message}`;
      };
      expect(await one({})).toBe('answers.title: is required');
      expect(await one({ title: 'ab' })).toBe('answers.title: must be at least 3 characters');
      expect(await one({ title: 'abc1' })).toBe('answers.title: must match [A-Za-z ]+');
      expect(await one({ title: 'abc', count: 6 })).toBe('answers.count: must be at most 5');
      expect(await one({ title: 'abc', count: '2' })).toBe('answers.count: must be a number');
      expect(await one({ title: 'abc', needed_by: 'tomorrow' })).toBe(
        'answers.needed_by: must be a date written YYYY-MM-DD',
      );
      expect(await one({ title: 'abc', server: laptops['LT-001'] })).toBe(
        'answers.server: must be a server CI',
      );
      expect(await one({ title: 'abc', colleague: 'bob' })).toBe('answers.colleague: must be a user id');
      expect(await one({ title: 'abc', size: 'huge' })).toBe('answers.size: must be one of 13", 15"');
      expect((await og.requests.requests({}, {}, { actor: rita })).edges.length).toBe(before);
    });

    it('refuses bad form definitions naming form.<i>.<key>, and needs request:admin', async () => {
      expect(
        await issuesOf(
          item({
            name: 'Broken',
            form: [
              { name: 'a', label: 'A', type: 'enum' },
              { name: 'a', label: 'A again', type: 'string', pattern: '(' },
              { name: 'n', label: 'N', type: 'integer', min: 5, max: 1, default: 'x' },
              { name: 'c', label: 'C', type: 'ci', ciClass: 'spaceship' },
              { name: 'b', label: 'B', type: 'boolean', options: ['x'] },
            ],
          }),
        ),
      ).toEqual([
        'form.0.options',
        'form.1.name',
        'form.1.pattern',
        'form.2.default',
        'form.2.max',
        'form.3.ciClass',
        'form.4.options',
      ]);
      expect(
        await issuesOf(
          item({ name: 'Bad type', form: [{ name: 'x', label: 'X', type: 'colour' as 'string' }] }),
        ),
      ).toEqual(['form.0.type']);
      await expect(item({ name: 'Everything form' })).rejects.toMatchObject({ field: 'name' });
      await expect(
        og.requests.createItem({ name: 'Mine' }, { actor: await as('rita') }),
      ).rejects.toBeInstanceOf(ForbiddenError);
    });

    it('keeps retired items out of the catalog and out of new requests', async () => {
      const retired = await item({ name: 'Fax machine', active: false });
      const rita = await as('rita');
      expect(await og.requests.item(retired.id, { actor: rita })).toBeNull();
      expect((await og.requests.items({}, {}, { actor: rita })).edges.map((e) => e.node.name)).not.toContain(
        'Fax machine',
      );
      expect(
        (await og.requests.items({ active: false }, {}, { actor: admin })).edges.map((e) => e.node.name),
      ).toEqual(['Fax machine']);
      await expect(og.requests.submit({ itemId: retired.id }, { actor: rita })).rejects.toMatchObject({
        field: 'itemId',
      });
    });
  });

  describe('fulfilment without approvals', () => {
    let staged: string;
    beforeAll(async () => {
      staged = (
        await item({
          name: 'Desk move',
          tasks: [
            { title: 'Pack', assignmentGroupId: desktop },
            { title: 'Book van', assignmentGroupId: desktop },
            { title: 'Unpack', assignmentGroupId: desktop, stage: 2 },
          ],
        })
      ).id;
    });

    it('opens stage 1 in parallel, stage 2 after it, and is fulfilled by the last task', async () => {
      const fred = await as('fred');
      const request = await og.requests.submit({ itemId: staged }, { actor: await as('rita') });
      expect(request.state).toBe('in_fulfilment');
      let [tasks] = await og.requests.tasksOf([request.id]);
      expect(tasks!.map((t) => [t.title, t.state, t.stage])).toEqual([
        ['Pack', 'open', 1],
        ['Book van', 'open', 1],
      ]);
      expect(tasks![0]!.number).toMatch(/^TASK\d{7}$/);
      await og.requests.transitionTask(tasks![0]!.id, { to: 'done' }, { actor: fred });
      expect((await og.requests.tasksOf([request.id]))[0]).toHaveLength(2);
      await og.requests.transitionTask(
        tasks![1]!.number,
        { to: 'cancelled', notes: 'Walking it over' },
        { actor: fred },
      );
      [tasks] = await og.requests.tasksOf([request.id]);
      expect(tasks!.map((t) => [t.title, t.state])).toEqual([
        ['Pack', 'done'],
        ['Book van', 'cancelled'],
        ['Unpack', 'open'],
      ]);
      expect((await og.requests.request(request.id))!.state).toBe('in_fulfilment');
      await og.requests.transitionTask(tasks![2]!.id, { to: 'in_progress' }, { actor: fred });
      await og.requests.transitionTask(tasks![2]!.id, { to: 'done', notes: 'All set up' }, { actor: fred });
      const fulfilled = (await og.requests.request(request.number))!;
      expect(fulfilled.state).toBe('fulfilled');
      expect(fulfilled.fulfilledAt).toEqual(clock.now());
      const moves = (await og.activity.list({ types: ['request.state_changed'], limit: 1000 }))
        .filter((e) => e.subject?.id === request.id)
        .map(
          (e) =>
            `${(e.payload as unknown as { from: string }).from}->${(e.payload as unknown as { request: ServiceRequest }).request.state}`,
        );
      expect(moves).toEqual(['submitted->approved', 'approved->in_fulfilment', 'in_fulfilment->fulfilled']);
    });

    it('an item without tasks is fulfilled on approval', async () => {
      const bare = await item({ name: 'Just ask' });
      const request = await og.requests.submit({ itemId: bare.id }, { actor: await as('rita') });
      expect(request.state).toBe('fulfilled');
    });

    it('needs request:fulfil to work tasks, and a member of the group as assignee', async () => {
      const request = await og.requests.submit({ itemId: staged }, { actor: await as('rita') });
      const [tasks] = await og.requests.tasksOf([request.id]);
      await expect(
        og.requests.transitionTask(tasks![0]!.id, { to: 'done' }, { actor: await as('rita') }),
      ).rejects.toBeInstanceOf(ForbiddenError);
      await expect(og.requests.tasks({}, {}, { actor: await as('rita') })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      // Its people see its tasks; others do not.
      expect((await og.requests.tasksOf([request.id], { actor: await as('rita') }))[0]).toHaveLength(2);
      expect((await og.requests.tasksOf([request.id], { actor: await as('olga') }))[0]).toEqual([]);
      await expect(
        og.requests.assignTask(
          tasks![0]!.id,
          { assignmentGroupId: desktop, assigneeId: people.olga!.id },
          { actor: await as('fred') },
        ),
      ).rejects.toMatchObject({ field: 'assigneeId' });
      const assigned = await og.requests.assignTask(
        tasks![0]!.id,
        { assignmentGroupId: desktop, assigneeId: people.fred!.id },
        { actor: await as('fred'), version: tasks![0]!.version },
      );
      expect(assigned.assigneeId).toBe(people.fred!.id);
      const queue = await og.requests.tasks({ assigneeId: people.fred!.id }, {}, { actor: await as('fred') });
      expect(queue.edges.map((e) => e.node.id)).toEqual([assigned.id]);
    });
  });

  describe('transitions', () => {
    let simple: string;
    let approved: string;
    beforeAll(async () => {
      simple = (await item({ name: 'Mouse', tasks: [{ title: 'Hand over' }] })).id;
      approved = (
        await item({ name: 'Monitor', approvalSteps: [{ kind: 'manager' }], tasks: [{ title: 'Deliver' }] })
      ).id;
    });

    /** A fresh request at rest in `state` (states passed through in one step are not at rest). */
    const at = async (state: RequestState): Promise<ServiceRequest | null> => {
      const rita = await as('rita');
      const fred = await as('fred');
      const reason = { reason: 'No longer needed' };
      switch (state) {
        case 'submitted':
        case 'approved':
          return null;
        case 'awaiting_approval':
          return og.requests.submit({ itemId: approved }, { actor: rita });
        case 'rejected': {
          const r = await og.requests.submit({ itemId: approved }, { actor: rita });
          return og.requests.reject(r.id, { comment: 'No' }, { actor: await as('mark') });
        }
        case 'in_fulfilment':
          return og.requests.submit({ itemId: simple }, { actor: rita });
        case 'fulfilled':
        case 'closed': {
          const r = await og.requests.submit({ itemId: simple }, { actor: rita });
          const [tasks] = await og.requests.tasksOf([r.id]);
          await og.requests.transitionTask(tasks![0]!.id, { to: 'done' }, { actor: fred });
          const done = (await og.requests.request(r.id))!;
          return state === 'fulfilled'
            ? done
            : og.requests.transition(r.id, { to: 'closed' }, { actor: rita });
        }
        case 'cancelled': {
          const r = await og.requests.submit({ itemId: simple }, { actor: rita });
          return og.requests.transition(r.id, { to: 'cancelled', ...reason }, { actor: rita });
        }
      }
    };

    it('allows exactly the manual moves of each state at rest; others change nothing', async () => {
      const rita = await as('rita');
      for (const from of requestStates) {
        for (const to of requestStates) {
          const request = await at(from);
          if (!request) continue;
          expect(request.state).toBe(from);
          const run = og.requests.transition(
            request.id,
            { to, ...(to === 'cancelled' ? { reason: 'Changed my mind' } : {}) },
            { actor: rita, version: request.version },
          );
          if (manualRequestTransitions[from].includes(to)) {
            const moved = await run;
            expect(moved.state).toBe(to);
            expect(moved.version).toBeGreaterThan(request.version);
          } else {
            const error = await run.catch((e) => e);
            expect(error, `${from} -> ${to}`).toBeInstanceOf(TransitionError);
            expect(error).toMatchObject({ field: 'to', code: 'CONFLICT' });
            expect((await og.requests.request(request.id))!).toMatchObject({
              state: from,
              version: request.version,
            });
          }
        }
      }
    });

    it('explains the moves that follow by themselves', async () => {
      const request = (await at('in_fulfilment'))!;
      await expect(
        og.requests.transition(request.id, { to: 'fulfilled' }, { actor: await as('fred') }),
      ).rejects.toThrow(/by itself \(when its last task is done\); you may ask for cancelled/);
    });

    it('cancelling needs a reason and cancels open tasks and approvals', async () => {
      const rita = await as('rita');
      const open = (await at('in_fulfilment'))!;
      await expect(
        og.requests.transition(open.id, { to: 'cancelled' }, { actor: rita }),
      ).rejects.toMatchObject({
        field: 'reason',
      });
      const cancelled = await og.requests.transition(
        open.id,
        { to: 'cancelled', reason: 'Found one' },
        { actor: rita },
      );
      expect(cancelled).toMatchObject({ state: 'cancelled', cancelReason: 'Found one' });
      expect((await og.requests.tasksOf([open.id]))[0]!.map((t) => t.state)).toEqual(['cancelled']);
      const waiting = (await at('awaiting_approval'))!;
      await og.requests.transition(waiting.id, { to: 'cancelled', reason: 'Not needed' }, { actor: rita });
      expect((await og.requests.approvalsOf(waiting.id)).map((a) => a.state)).toEqual(['cancelled']);
    });

    it('only who asked, the user it is for, or a fulfiller may cancel or close', async () => {
      const request = (await at('in_fulfilment'))!;
      // olga cannot even see it.
      await expect(
        og.requests.transition(request.id, { to: 'cancelled', reason: 'x' }, { actor: await as('olga') }),
      ).rejects.toBeInstanceOf(NotFoundError);
      // mark (rita's manager) sees it but does not own it.
      await expect(
        og.requests.transition(request.id, { to: 'cancelled', reason: 'x' }, { actor: await as('mark') }),
      ).rejects.toBeInstanceOf(ForbiddenError);
      const byFred = await og.requests.transition(
        request.id,
        { to: 'cancelled', reason: 'dup' },
        { actor: await as('fred') },
      );
      expect(byFred.state).toBe('cancelled');
    });

    it('allows exactly the task moves of its machine; others change nothing', async () => {
      const fred = await as('fred');
      const reach: Record<TaskState, TaskState[]> = {
        open: [],
        in_progress: ['in_progress'],
        done: ['done'],
        cancelled: ['cancelled'],
      };
      for (const from of taskStates) {
        for (const to of taskStates) {
          // Two tasks, so finishing one leaves the request in fulfilment.
          const two = await item({ name: `Pair ${from} ${to}`, tasks: [{ title: 'A' }, { title: 'B' }] });
          const request = await og.requests.submit({ itemId: two.id }, { actor: await as('rita') });
          let task = (await og.requests.tasksOf([request.id]))[0]![0]!;
          for (const step of reach[from])
            task = await og.requests.transitionTask(
              task.id,
              { to: step, ...(step === 'cancelled' ? { notes: 'n/a' } : {}) },
              { actor: fred },
            );
          const run = og.requests.transitionTask(
            task.id,
            { to, ...(to === 'cancelled' ? { notes: 'Not needed' } : {}) },
            { actor: fred, version: task.version },
          );
          if (taskTransitions[from].includes(to)) expect((await run).state).toBe(to);
          else {
            await expect(run, `${from} -> ${to}`).rejects.toBeInstanceOf(TransitionError);
            expect(await og.requests.task(task.id)).toMatchObject({ state: from, version: task.version });
          }
        }
      }
    });

    it('refuses stale versions with a ConflictError naming version', async () => {
      const fred = await as('fred');
      const rita = await as('rita');
      const request = (await at('in_fulfilment'))!;
      const task = (await og.requests.tasksOf([request.id]))[0]![0]!;
      await og.requests.transitionTask(
        task.id,
        { to: 'in_progress' },
        { actor: fred, version: task.version },
      );
      await expect(
        og.requests.transitionTask(task.id, { to: 'done' }, { actor: fred, version: task.version }),
      ).rejects.toMatchObject({ field: 'version', code: 'CONFLICT' });
      await expect(
        og.requests.transition(
          request.id,
          { to: 'cancelled', reason: 'x' },
          { actor: rita, version: request.version - 1 },
        ),
      ).rejects.toBeInstanceOf(ConflictError);
      const mouse = (await og.requests.item(simple))!;
      await og.requests.updateItem(
        mouse.id,
        { description: 'A mouse' },
        { actor: admin, version: mouse.version },
      );
      await expect(
        og.requests.updateItem(
          mouse.id,
          { description: 'Two mice' },
          { actor: admin, version: mouse.version },
        ),
      ).rejects.toMatchObject({ field: 'version' });
      expect((await og.requests.item(simple))!.description).toBe('A mouse');
    });
  });

  describe('approvals', () => {
    it('the manager approves; nobody else may; then tasks open', async () => {
      const monitor = await item({
        name: 'Docking station',
        approvalSteps: [{ kind: 'manager' }],
        tasks: [{ title: 'Deliver', assignmentGroupId: desktop }],
      });
      const request = await og.requests.submit({ itemId: monitor.id }, { actor: await as('rita') });
      expect(request.state).toBe('awaiting_approval');
      for (const who of ['rita', 'olga', 'fred'])
        await expect(
          og.requests.approve(request.id, {}, { actor: await as(who) }),
          who,
        ).rejects.toBeInstanceOf(who === 'olga' ? NotFoundError : ForbiddenError);
      expect((await og.requests.request(request.id))!.state).toBe('awaiting_approval');
      const approved = await og.requests.approve(
        request.id,
        { comment: 'Fine' },
        { actor: await as('mark') },
      );
      expect(approved.state).toBe('in_fulfilment');
      expect(approved.approvedAt).toEqual(clock.now());
      const [step] = await og.requests.approvalsOf(request.id);
      expect(step).toMatchObject({ state: 'approved', approvers: { userId: people.mark!.id } });
      expect((await og.requests.tasksOf([request.id]))[0]!.map((t) => t.title)).toEqual(['Deliver']);
      await expect(og.requests.approve(request.id, {}, { actor: await as('mark') })).rejects.toBeInstanceOf(
        TransitionError,
      );
    });

    it('runs steps in order with a quorum, and one rejection rejects', async () => {
      const budget = await item({
        name: 'Conference trip',
        approvalSteps: [{ kind: 'manager' }, { kind: 'group', groupId: approvers, quorum: 2 }],
      });
      const first = await og.requests.submit({ itemId: budget.id }, { actor: await as('rita') });
      await expect(og.requests.approve(first.id, {}, { actor: await as('ann') })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await og.requests.approve(first.id, {}, { actor: await as('mark') });
      expect((await og.requests.approve(first.id, {}, { actor: await as('ann') })).state).toBe(
        'awaiting_approval',
      );
      expect((await og.requests.approve(first.id, {}, { actor: await as('ben') })).state).toBe('fulfilled');
      const second = await og.requests.submit({ itemId: budget.id }, { actor: await as('rita') });
      await og.requests.approve(second.id, {}, { actor: await as('mark') });
      const rejected = await og.requests.reject(
        second.id,
        { comment: 'Over budget' },
        { actor: await as('ann') },
      );
      expect(rejected).toMatchObject({ state: 'rejected', rejectedAt: clock.now() });
      expect((await og.requests.approvalsOf(second.id)).map((a) => a.state)).toEqual([
        'approved',
        'rejected',
      ]);
    });

    it('needs a manager for a manager step; a manager asking for a report counts as approving', async () => {
      const phone = await item({ name: 'Phone', approvalSteps: [{ kind: 'manager' }] });
      await expect(
        og.requests.submit({ itemId: phone.id }, { actor: await as('nora') }),
      ).rejects.toMatchObject({
        field: 'requestedForId',
        message: expect.stringMatching(/no active manager/),
      });
      const forRita = await og.requests.submit(
        { itemId: phone.id, requestedForId: people.rita!.id },
        { actor: await as('mark') },
      );
      expect(forRita).toMatchObject({
        state: 'fulfilled',
        requestedById: people.mark!.id,
        requestedForId: people.rita!.id,
      });
    });
  });

  describe('device provisioning', () => {
    let laptopItem: string;
    beforeAll(async () => {
      laptopItem = (
        await item({
          name: 'New laptop',
          form: [
            {
              name: 'model',
              label: 'Model',
              type: 'enum',
              options: ['standard', 'developer'],
              default: 'standard',
            },
          ],
          approvalSteps: [{ kind: 'manager' }],
          tasks: [
            {
              title: 'Prepare and hand over the laptop',
              assignmentGroupId: desktop,
              action: { kind: 'assign_device', ciClass: 'laptop' },
            },
          ],
        })
      ).id;
    });

    const approvedRequest = async (who: string) => {
      const request = await og.requests.submit({ itemId: laptopItem }, { actor: await as(who) });
      await og.requests.approve(request.id, {}, { actor: await as('mark') });
      return { request, task: (await og.requests.tasksOf([request.id]))[0]![0]! };
    };

    it('assigns the chosen laptop to the requester in the CMDB, with history naming the fulfiller', async () => {
      const fred = await as('fred');
      const { request, task } = await approvedRequest('rita');
      const done = await og.requests.transitionTask(
        task.id,
        { to: 'done', deviceCiId: laptops['LT-002'] },
        { actor: fred },
      );
      expect(done).toMatchObject({ state: 'done', deviceCiId: laptops['LT-002'] });
      expect((await og.requests.request(request.id))!.state).toBe('fulfilled');
      const ci = (await og.cmdb.get(laptops['LT-002']!))!;
      expect(ci.attributes).toMatchObject({
        assigned_to: people.rita!.id,
        assigned_by_request: request.number,
        assigned_at: clock.now().toISOString(),
      });
      // Newest first.
      const [latest] = await og.cmdb.history(ci.id);
      expect(latest).toMatchObject({ kind: 'updated', actor: { id: fred.id } });
      expect(latest!.changes.map((c) => c.field).sort()).toEqual([
        'attributes.assigned_at',
        'attributes.assigned_by_request',
        'attributes.assigned_to',
      ]);
      // The fulfiller got write access to that one CI for that one write, nothing more.
      await expect(
        og.cmdb.update(ci.id, { version: ci.version, name: 'mine' }, { actor: fred }),
      ).rejects.toBeInstanceOf(ForbiddenError);
    });

    it('refuses a laptop assigned to someone else, or not a laptop, naming deviceCiId; nothing changes', async () => {
      const fred = await as('fred');
      const { request, task } = await approvedRequest('olga');
      const before = (await og.cmdb.get(laptops['LT-002']!))!;
      await expect(
        og.requests.transitionTask(task.id, { to: 'done', deviceCiId: laptops['LT-002'] }, { actor: fred }),
      ).rejects.toMatchObject({
        field: 'deviceCiId',
        message: expect.stringMatching(/assigned to rita already/),
      });
      await expect(
        og.requests.transitionTask(task.id, { to: 'done', deviceCiId: server }, { actor: fred }),
      ).rejects.toMatchObject({ field: 'deviceCiId', message: expect.stringMatching(/not a laptop/) });
      expect((await og.cmdb.get(laptops['LT-002']!))!.version).toBe(before.version);
      expect(await og.requests.task(task.id)).toMatchObject({ state: 'open', deviceCiId: null });
      expect((await og.requests.request(request.id))!.state).toBe('in_fulfilment');
      // Without a choice: the longest-stocked free laptop.
      const done = await og.requests.transitionTask(task.id, { to: 'done' }, { actor: fred });
      expect(done.deviceCiId).toBe(laptops['LT-001']);
      expect((await og.cmdb.get(laptops['LT-001']!))!.attributes.assigned_to).toBe(people.olga!.id);
    });

    it('says so when no laptop is free', async () => {
      const fred = await as('fred');
      const { task } = await approvedRequest('rita');
      await og.requests.transitionTask(task.id, { to: 'done' }, { actor: fred });
      const last = await approvedRequest('rita');
      await expect(
        og.requests.transitionTask(last.task.id, { to: 'done' }, { actor: fred }),
      ).rejects.toMatchObject({
        field: 'deviceCiId',
        message: expect.stringMatching(/no free laptop in stock/),
      });
    });
  });

  describe('reading', () => {
    it('shows requesters their own and their reports’, fulfillers all; lists order and page', async () => {
      const mine = await og.requests.requests({}, {}, { actor: await as('rita') });
      expect(mine.edges.length).toBeGreaterThan(0);
      expect(
        mine.edges.every(
          (e) => e.node.requestedById === people.rita!.id || e.node.requestedForId === people.rita!.id,
        ),
      ).toBe(true);
      const olgas = await og.requests.requests({}, {}, { actor: await as('olga') });
      expect(olgas.edges.every((e) => e.node.requestedForId === people.olga!.id)).toBe(true);
      const forCat = await og.requests.submit(
        { itemId: (await og.requests.items({ search: 'Just ask' })).edges[0]!.node.id },
        { actor: await as('cat') },
      );
      const marks = await og.requests.requests({}, { first: 500 }, { actor: await as('mark') });
      const all = await og.requests.requests({}, { first: 500 }, { actor: await as('fred') });
      expect(
        marks.edges.every(
          (e) =>
            e.node.requestedById === people.mark!.id ||
            [people.rita!.id, people.olga!.id, people.mark!.id].includes(e.node.requestedForId),
        ),
      ).toBe(true);
      expect(marks.edges.length).toBeGreaterThan(mine.edges.length);
      expect(all.edges.map((e) => e.node.id)).toContain(forCat.id);
      expect(marks.edges.map((e) => e.node.id)).not.toContain(forCat.id);
      // Pages by number ascending, following cursors.
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof og.requests.requests>> = await og.requests.requests(
          { state: ['fulfilled'] },
          { first: 2, after, orderBy: { field: 'number', direction: 'asc' } },
          { actor: await as('fred') },
        );
        seen.push(...page.edges.map((e) => e.node.number));
        after = page.hasNextPage ? page.endCursor : null;
      } while (after);
      expect(seen).toEqual([...seen].sort());
      expect(seen.length).toBe(all.edges.filter((e) => e.node.state === 'fulfilled').length);
      // A cursor of another order is refused.
      const byCreation = await og.requests.requests({}, { first: 1 });
      await expect(
        og.requests.requests({}, { after: byCreation.endCursor, orderBy: { field: 'number' } }),
      ).rejects.toMatchObject({ field: 'after' });
    });

    it('shows the request and task stream only to fulfillers in the activity feed', async () => {
      const { readPermissionOf } = await import('../kernel/actor.js');
      expect(readPermissionOf('request.submitted')).toBe('request:fulfil');
      expect(readPermissionOf('request_task.opened')).toBe('request:fulfil');
    });
  });
});
