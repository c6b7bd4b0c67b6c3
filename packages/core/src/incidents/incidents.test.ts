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
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import {
  type Incident,
  type IncidentState,
  incidentStates,
  incidentTransitions,
  type TransitionInput,
} from './model.js';

const admin = systemActor('test');
const DAY = 86_400_000;

/** What each move needs besides `to`. */
const extras: Partial<Record<IncidentState, Omit<TransitionInput, 'to'>>> = {
  on_hold: { holdReason: 'awaiting_caller' },
  resolved: { resolutionCode: 'solved_permanently', resolutionNotes: 'Restarted the service.' },
  cancelled: { reason: 'Raised twice.' },
};
const move = (from: IncidentState, to: IncidentState): TransitionInput => ({
  to,
  ...extras[to],
  ...(from === 'resolved' && to === 'in_progress' ? { reason: 'It broke again.' } : {}),
});
/** A way to reach each state from new. */
const pathTo: Record<IncidentState, IncidentState[]> = {
  new: [],
  in_progress: ['in_progress'],
  on_hold: ['on_hold'],
  resolved: ['resolved'],
  closed: ['resolved', 'closed'],
  cancelled: ['cancelled'],
};

describe.each(testBackends())('incidents on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const ci: Record<string, string> = {};
  let group: string;
  let outsider: string;
  let member: string;
  let caller: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({
      backend,
      clock,
      incidents: {
        priorityMatrix: [
          [1, 1, 2],
          [2, 3, 4],
          [3, 4, 5],
        ],
      },
    });
    const make = async (name: string, cls: string, attributes: Record<string, unknown> = {}) => {
      ci[name] = (await og.cmdb.create({ class: cls, name, attributes }, { actor: admin })).id;
    };
    await make('db-01', 'linux_server', { hostname: 'db-01' });
    await make('billing', 'application');
    await make('shop', 'business_service', { tier: 1 });
    await make('other', 'linux_server');
    await og.cmdb.relate(
      { type: 'runs_on', sourceId: ci.billing!, targetId: ci['db-01']! },
      { actor: admin },
    );
    await og.cmdb.relate({ type: 'depends_on', sourceId: ci.shop!, targetId: ci.billing! }, { actor: admin });
    const user = async (name: string) =>
      (await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin })).id;
    member = await user('Dana');
    outsider = await user('Olaf');
    caller = await user('Carla');
    const parent = (await og.access.createGroup({ name: 'Service Desk' }, { actor: admin })).id;
    group = (await og.access.createGroup({ name: 'Database team' }, { actor: admin })).id;
    await og.access.addGroupMember(parent, { groupId: group }, { actor: admin });
    await og.access.addGroupMember(group, { userId: member }, { actor: admin });
  });
  afterAll(() => og?.close());

  const open = (extra: Partial<Parameters<typeof og.incidents.create>[0]> = {}) =>
    og.incidents.create(
      { shortDescription: 'Billing is slow', ciId: ci['db-01'], ...extra },
      { actor: admin },
    );
  const inState = async (state: IncidentState): Promise<Incident> => {
    let incident = await open();
    for (const to of pathTo[state])
      incident = await og.incidents.transition(incident.id, move(incident.state, to), { actor: admin });
    expect(incident.state).toBe(state);
    return incident;
  };

  it('numbers incidents, derives priority by the matrix and business services by impact analysis', async () => {
    const a = await open({ impact: 1, urgency: 2, callerId: caller });
    const b = await open();
    expect(a.number).toMatch(/^INC\d{7}$/);
    expect(Number(b.number.slice(3))).toBe(Number(a.number.slice(3)) + 1);
    expect(a).toMatchObject({
      state: 'new',
      priority: 1,
      impact: 1,
      urgency: 2,
      serviceIds: [ci.shop],
      callerId: caller,
    });
    expect(b.priority).toBe(5);
    const changed = await og.incidents.update(
      a.id,
      { urgency: 3, ciId: ci.other },
      { actor: admin, version: a.version },
    );
    expect(changed).toMatchObject({ priority: 2, serviceIds: [], ciId: ci.other });
    expect((await og.incidents.incident(a.number))?.id).toBe(a.id);
  });

  it('allows every move of the state machine and refuses every other one with a TransitionError', async () => {
    for (const from of incidentStates) {
      for (const to of incidentStates) {
        const incident = await inState(from);
        const allowed = incidentTransitions[from].includes(to);
        const result = await og.incidents
          .transition(incident.id, move(from, to), { actor: admin })
          .catch((e) => e);
        if (allowed) expect(result, `${from} -> ${to}`).toMatchObject({ state: to });
        else {
          expect(result, `${from} -> ${to}`).toBeInstanceOf(TransitionError);
          expect((result as TransitionError).allowed).toEqual(incidentTransitions[from]);
          expect((await og.incidents.incident(incident.id))?.state).toBe(from);
        }
      }
    }
  });

  it('requires the fields each move needs, and refuses those it does not take', async () => {
    const incident = await inState('in_progress');
    const paths = async (input: TransitionInput) =>
      (
        (await og.incidents
          .transition(incident.id, input, { actor: admin })
          .catch((e) => e)) as ValidationError
      ).issues.map((i) => i.path);
    expect(await paths({ to: 'resolved' })).toEqual(['resolutionCode', 'resolutionNotes']);
    expect(await paths({ to: 'resolved', resolutionCode: 'duplicate', resolutionNotes: '  ' })).toEqual([
      'resolutionNotes',
    ]);
    expect(await paths({ to: 'on_hold' })).toEqual(['holdReason']);
    expect(await paths({ to: 'cancelled' })).toEqual(['reason']);
    expect(
      await paths({ to: 'on_hold', holdReason: 'awaiting_vendor', resolutionCode: 'duplicate' }),
    ).toEqual(['resolutionCode']);
    expect(await og.incidents.incident(incident.id)).toMatchObject({
      state: 'in_progress',
      version: incident.version,
    });
  });

  it('reopens within the window (with a reason, kept as a work note) and not after', async () => {
    const resolved = await inState('resolved');
    clock.advance(2 * DAY);
    const reopened = await og.incidents.transition(resolved.id, move('resolved', 'in_progress'), {
      actor: admin,
    });
    expect(reopened).toMatchObject({
      state: 'in_progress',
      reopenCount: 1,
      resolutionCode: null,
      resolvedAt: null,
    });
    const notes = await og.incidents.notesOf(resolved.id);
    expect(notes.map((n) => [n.kind, n.body])).toEqual([['work_note', 'Reopened: It broke again.']]);
    const again = await og.incidents.transition(reopened.id, move('in_progress', 'resolved'), {
      actor: admin,
    });
    clock.advance(8 * DAY);
    const late = await og.incidents
      .transition(again.id, move('resolved', 'in_progress'), { actor: admin })
      .catch((e) => e);
    expect(late).toBeInstanceOf(TransitionError);
    expect((late as Error).message).toMatch(/too long ago to reopen/);
  });

  it('assigns to a group and one of its members only', async () => {
    const incident = await open();
    const assigned = await og.incidents.assign(
      incident.id,
      { assignmentGroupId: group, assigneeId: member },
      { actor: admin },
    );
    expect(assigned).toMatchObject({ assignmentGroupId: group, assigneeId: member });
    const refused = await og.incidents
      .assign(incident.id, { assignmentGroupId: group, assigneeId: outsider }, { actor: admin })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([
      { path: 'assigneeId', message: 'Olaf is not a member of the assignment group' },
    ]);
    await expect(
      og.incidents.assign(incident.id, { assignmentGroupId: null, assigneeId: member }, { actor: admin }),
    ).rejects.toMatchObject({ field: 'assignmentGroupId' });
    await expect(
      og.incidents.create(
        { shortDescription: 'x', assignmentGroupId: crypto.randomUUID() },
        { actor: admin },
      ),
    ).rejects.toMatchObject({ field: 'assignmentGroupId' });
  });

  it('keeps work notes from readers who may not work the incident, and guards versions', async () => {
    const incident = await open({ ciId: ci.other });
    await og.incidents.addNote(
      incident.id,
      { kind: 'work_note', body: 'Checked the disks.' },
      { actor: admin },
    );
    await og.incidents.addNote(incident.id, { kind: 'comment', body: 'We are on it.' }, { actor: admin });
    const reader: Actor = { kind: 'token', id: 'r', name: 'reader', permissions: ['incident:read'] };
    expect((await og.incidents.notesOf(incident.id, { actor: reader })).map((n) => n.body)).toEqual([
      'We are on it.',
    ]);
    expect((await og.incidents.notesOf(incident.id)).map((n) => n.body)).toEqual([
      'Checked the disks.',
      'We are on it.',
    ]);
    const fresh = (await og.incidents.incident(incident.id))!;
    await og.incidents.update(fresh.id, { category: 'database' }, { actor: admin, version: fresh.version });
    await expect(
      og.incidents.update(fresh.id, { category: 'network' }, { actor: admin, version: fresh.version }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('scopes reads and writes to the CIs an actor holds incident permissions on', async () => {
    const mine = await open({ ciId: ci['db-01'] });
    const theirs = await open({ ciId: ci.other });
    const scoped = await scopedTestActor(og, 'db operator', [
      { ciId: ci['db-01']!, mode: 'contains', permissions: ['incident:read', 'incident:write'] },
    ]);
    const seen = await og.incidents.incidents({}, { first: 500 }, { actor: scoped });
    expect(seen.edges.some((e) => e.node.id === mine.id)).toBe(true);
    expect(seen.edges.some((e) => e.node.id === theirs.id)).toBe(false);
    expect(await og.incidents.incident(theirs.id, { actor: scoped })).toBeNull();
    await expect(
      og.incidents.transition(theirs.id, { to: 'in_progress' }, { actor: scoped }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      og.incidents.create({ shortDescription: 'x', ciId: ci.other }, { actor: scoped }),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('links alerts once: an alert belongs to one incident', async () => {
    const [r] = await og.events.ingest(
      { source: 'n', node: 'db-01', type: 'cpu', severity: 'major' },
      { actor: admin },
    );
    const a = await open({ alertIds: [r!.alertId!] });
    expect(await og.incidents.alertIdsOf(a.id)).toEqual([r!.alertId]);
    expect((await og.incidents.incidentOfAlert(r!.alertId!))?.id).toBe(a.id);
    await expect(open({ alertIds: [r!.alertId!] })).rejects.toMatchObject({ field: 'alertIds.0' });
  });
});
