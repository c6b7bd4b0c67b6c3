import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { ApprovalOutcome, ApprovalStepInput } from './model.js';

const admin = systemActor('test');

describe.each(testBackends())('approvals on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const user: Record<string, string> = {};
  const actor: Record<string, Actor> = {};
  let cab: string;
  const settled: { subjectId: string; outcome: ApprovalOutcome; docs: number }[] = [];
  let failNext = false;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    // A subject type of this test; its handler writes in the deciding transaction.
    og.approvals.onSettled(
      'doc',
      async ({ subjectId, outcome }, scope) => {
        if (failNext) throw new Error('owner refused');
        await scope.kernel.services.cmdb.create(
          { class: 'application', name: `approved-${subjectId}` },
          { actor: admin },
        );
        const docs = await scope.db
          .selectFrom('cis')
          .select('id')
          .where('name', 'like', 'approved-%')
          .execute();
        settled.push({ subjectId, outcome, docs: docs.length });
      },
      { writePermission: 'cmdb:write', readPermission: 'cmdb:read' },
    );
    for (const name of ['ann', 'bob', 'cat', 'dan', 'eve', 'olaf', 'rita']) {
      user[name] = (await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin })).id;
    }
    // CAB ⊃ DBAs ∋ cat: cat approves through nesting; rita (the requester) is a member too.
    cab = (await og.access.createGroup({ name: 'CAB' }, { actor: admin })).id;
    const dbas = (await og.access.createGroup({ name: 'DBAs' }, { actor: admin })).id;
    await og.access.addGroupMember(cab, { groupId: dbas }, { actor: admin });
    for (const name of ['ann', 'bob', 'rita'])
      await og.access.addGroupMember(cab, { userId: user[name]! }, { actor: admin });
    await og.access.addGroupMember(dbas, { userId: user.cat! }, { actor: admin });
    await og.access.defineRole(
      { name: 'change_manager', description: 'Authorises changes', permissions: ['change:read'] },
      { actor: admin },
    );
    await og.access.grant({ role: 'change_manager', userId: user.dan! }, { actor: admin });
    for (const name of Object.keys(user)) actor[name] = (await og.access.actorForUser({ id: user[name]! }))!;
  });
  afterAll(() => og?.close());

  const open = (steps: ApprovalStepInput[]) => {
    const subject = { type: 'doc', id: crypto.randomUUID() };
    return og.approvals.open(subject, steps, { actor: admin, requesterId: user.rita });
  };
  const threeSteps = (): ApprovalStepInput[] => [
    { name: 'Peer review', approvers: { group: cab } },
    { name: 'Change manager', approvers: { role: 'change_manager' } },
    { name: 'Owner', approvers: { user: user.eve! } },
  ];

  it('approves a step when its quorum of group members approve, then settles the subject', async () => {
    const [step] = await open([{ name: 'CAB', approvers: { group: cab }, quorum: 2 }]);
    expect(step).toMatchObject({ state: 'pending', quorum: 2, approvals: 0, step: 1, round: 1 });
    const once = await og.approvals.approve(
      step!.id,
      { comment: 'Looks fine', version: 1 },
      { actor: actor.ann! },
    );
    expect(once).toMatchObject({ state: 'pending', approvals: 1, version: 2 });
    expect(once.decisions).toEqual([
      expect.objectContaining({ userId: user.ann, decision: 'approve', comment: 'Looks fine' }),
    ]);
    expect(settled.find((s) => s.subjectId === step!.subject.id)).toBeUndefined();
    // cat is in CAB through DBAs.
    const twice = await og.approvals.approve(step!.id, {}, { actor: actor.cat! });
    expect(twice).toMatchObject({ state: 'approved', approvals: 2 });
    expect(twice.settledAt).toEqual(clock.now());
    // The owner's handler ran in the deciding transaction and saw its own write.
    const s = settled.find((x) => x.subjectId === step!.subject.id);
    expect(s?.outcome).toBe('approved');
    expect(s?.docs).toBeGreaterThan(0);
    const types = (await og.activity.list({ after: 0, types: ['approval.decided', 'approval.settled'] }))
      .filter((e) => e.subject?.id === step!.id || e.subject?.id === step!.subject.id)
      .map((e) => e.type);
    expect(types).toEqual(['approval.decided', 'approval.decided', 'approval.settled']);
  });

  it('runs steps one after another: a waiting step cannot be decided yet', async () => {
    const steps = await open(threeSteps());
    expect(steps.map((s) => s.state)).toEqual(['pending', 'waiting', 'waiting']);
    await expect(og.approvals.approve(steps[1]!.id, {}, { actor: actor.dan! })).rejects.toThrow(
      ConflictError,
    );
    expect((await og.approvals.list({ pendingFor: user.dan }, {}, { actor: actor.dan! })).edges).toHaveLength(
      0,
    );

    await og.approvals.approve(steps[0]!.id, {}, { actor: actor.bob! });
    let now = await og.approvals.forSubject(steps[0]!.subject);
    expect(now.map((s) => s.state)).toEqual(['approved', 'pending', 'waiting']);
    // dan's to-do list has the step now (through the role); ann's does not.
    const todo = await og.approvals.list(
      { pendingFor: user.dan, subjectType: 'doc' },
      {},
      { actor: actor.dan! },
    );
    expect(todo.edges.map((e) => e.node.id)).toEqual([steps[1]!.id]);
    expect(
      (await og.approvals.list({ pendingFor: user.ann }, {}, { actor: actor.ann! })).edges.map(
        (e) => e.node.id,
      ),
    ).not.toContain(steps[1]!.id);

    await og.approvals.approve(steps[1]!.id, {}, { actor: actor.dan! });
    expect(settled.find((s) => s.subjectId === steps[0]!.subject.id)).toBeUndefined();
    await og.approvals.approve(steps[2]!.id, {}, { actor: actor.eve! });
    now = await og.approvals.forSubject(steps[0]!.subject);
    expect(now.map((s) => s.state)).toEqual(['approved', 'approved', 'approved']);
    expect(settled.find((s) => s.subjectId === steps[0]!.subject.id)?.outcome).toBe('approved');
  });

  it('a rejection rejects the step and the subject, and cancels the steps left', async () => {
    const steps = await open(threeSteps());
    const rejected = await og.approvals.reject(
      steps[0]!.id,
      { comment: 'No rollback plan' },
      { actor: actor.ann! },
    );
    expect(rejected.state).toBe('rejected');
    expect(rejected.decisions[0]).toMatchObject({ decision: 'reject', comment: 'No rollback plan' });
    const now = await og.approvals.forSubject(steps[0]!.subject);
    expect(now.map((s) => s.state)).toEqual(['rejected', 'cancelled', 'cancelled']);
    expect(settled.find((s) => s.subjectId === steps[0]!.subject.id)?.outcome).toBe('rejected');
    await expect(og.approvals.approve(steps[0]!.id, {}, { actor: actor.bob! })).rejects.toThrow(
      ConflictError,
    );
    // A new round may start once the old one settled.
    const again = await og.approvals.open(steps[0]!.subject, threeSteps(), {
      actor: admin,
      requesterId: user.rita,
    });
    expect(again[0]).toMatchObject({ round: 2, state: 'pending' });
  });

  it('refuses an ineligible user with ForbiddenError and records nothing', async () => {
    const [step] = await open([{ name: 'CAB', approvers: { group: cab }, quorum: 2 }]);
    for (const who of [actor.olaf!, actor.dan!, admin]) {
      const error = await og.approvals.approve(step!.id, {}, { actor: who }).catch((e) => e);
      expect(error).toBeInstanceOf(ForbiddenError);
    }
    expect((await og.approvals.approval(step!.id))!).toMatchObject({ approvals: 0, version: 1 });
  });

  it('refuses a second decision by the same user', async () => {
    const [step] = await open([{ name: 'CAB', approvers: { group: cab }, quorum: 2 }]);
    await og.approvals.approve(step!.id, {}, { actor: actor.ann! });
    await expect(og.approvals.approve(step!.id, {}, { actor: actor.ann! })).rejects.toThrow(ConflictError);
    await expect(og.approvals.reject(step!.id, {}, { actor: actor.ann! })).rejects.toThrow(/already decided/);
    expect((await og.approvals.approval(step!.id))!).toMatchObject({ state: 'pending', approvals: 1 });
  });

  it('refuses a stale version with ConflictError', async () => {
    const [step] = await open([{ name: 'CAB', approvers: { group: cab }, quorum: 2 }]);
    await og.approvals.approve(step!.id, { version: step!.version }, { actor: actor.ann! });
    const error = await og.approvals
      .approve(step!.id, { version: step!.version }, { actor: actor.bob! })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.field).toBe('version');
    expect((await og.approvals.approval(step!.id))!).toMatchObject({ state: 'pending', approvals: 1 });
  });

  it('refuses self-approval: the requester may not decide its own subject', async () => {
    const [step] = await open([{ name: 'CAB', approvers: { group: cab } }]);
    const error = await og.approvals.approve(step!.id, {}, { actor: actor.rita! }).catch((e) => e);
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error.message).toMatch(/own/);
    expect(
      (await og.approvals.list({ pendingFor: user.rita }, {}, { actor: actor.rita! })).edges,
    ).toHaveLength(0);
    expect((await og.approvals.approval(step!.id))!.state).toBe('pending');
  });

  it('rolls the decision back when the owner refuses the outcome', async () => {
    const [step] = await open([{ name: 'CAB', approvers: { group: cab } }]);
    failNext = true;
    try {
      await expect(og.approvals.approve(step!.id, {}, { actor: actor.ann! })).rejects.toThrow(
        'owner refused',
      );
    } finally {
      failNext = false;
    }
    expect((await og.approvals.approval(step!.id))!).toMatchObject({ state: 'pending', approvals: 0 });
  });

  it('cancels the open steps of a subject; validates steps; guards reads', async () => {
    const steps = await open(threeSteps());
    await expect(og.approvals.open(steps[0]!.subject, threeSteps(), { actor: admin })).rejects.toThrow(
      ConflictError,
    );
    const cancelled = await og.approvals.cancel(steps[0]!.subject, { actor: admin });
    expect(cancelled.map((s) => s.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    await expect(og.approvals.approve(steps[0]!.id, {}, { actor: actor.ann! })).rejects.toThrow(
      ConflictError,
    );

    const bad = await open([
      { name: 'x', approvers: { group: crypto.randomUUID() } },
      { name: 'y', approvers: { user: user.eve! }, quorum: 2 },
      { name: 'z', approvers: { role: 'nope' } },
    ]).catch((e) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad.issues.map((i: { path: string }) => i.path)).toEqual([
      'steps.0.approvers.group',
      'steps.1.quorum',
      'steps.2.approvers.role',
    ]);
    await expect(
      og.approvals.open({ type: 'unknown', id: crypto.randomUUID() }, threeSteps(), { actor: admin }),
    ).rejects.toThrow(ValidationError);
    await expect(
      og.approvals.open({ type: 'doc', id: crypto.randomUUID() }, threeSteps(), { actor: actor.ann! }),
    ).rejects.toThrow(ForbiddenError);

    // Another user's to-do list needs the subject type's read permission; one's own does not.
    await expect(og.approvals.list({ pendingFor: user.ann }, {}, { actor: actor.bob! })).rejects.toThrow(
      ForbiddenError,
    );
    const fresh = await open([{ name: 'CAB', approvers: { group: cab } }]);
    const mine = await og.approvals.list({ pendingFor: user.bob }, {}, { actor: actor.bob! });
    expect(mine.edges.map((e) => e.node.id)).toContain(fresh[0]!.id);
    // Without the read permission a user sees only the steps it may decide.
    expect(await og.approvals.forSubject(fresh[0]!.subject, { actor: actor.olaf! })).toEqual([]);
    expect(await og.approvals.forSubject(fresh[0]!.subject, { actor: actor.bob! })).toHaveLength(1);
  });
});
