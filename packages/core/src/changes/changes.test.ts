import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, TransitionError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import {
  allowedChangeTransitions,
  type ChangeRequest,
  type ChangeState,
  type ChangeTransitionInput,
  type ChangeType,
  changeStates,
} from './model.js';

const admin = systemActor('test');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** What each move needs besides `to`. */
const extras = (from: ChangeState, to: ChangeState): Omit<ChangeTransitionInput, 'to'> => ({
  ...(to === 'review' ? { outcome: 'successful' as const } : {}),
  ...(to === 'cancelled' || (from === 'assess' && to === 'new') || (from !== 'new' && to === 'assess')
    ? { reason: 'Not now.' }
    : {}),
});

describe.each(testBackends())('change requests on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const start = clock.now().getTime();
  const ci: Record<string, string> = {};
  const user: Record<string, string> = {};
  const actor: Record<string, Actor> = {};
  let ops: string;
  let day = 0;
  /** A planned window of its own (a day apart from every other), so changes only clash on purpose. */
  const freshWindow = () => {
    day += 1;
    return { plannedStart: new Date(start + day * DAY), plannedEnd: new Date(start + day * DAY + 2 * HOUR) };
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({
      backend,
      clock,
      changes: {
        approvals: {
          normal: [
            { name: 'Peer review', approvers: { assignmentGroup: true } },
            { name: 'CAB', approvers: { role: 'change_manager' }, quorum: 2 },
          ],
          emergency: [{ name: 'ECAB', approvers: { role: 'change_manager' } }],
        },
      },
    });
    const make = async (name: string, cls: string, attributes: Record<string, unknown> = {}) => {
      ci[name] = (await og.cmdb.create({ class: cls, name, attributes }, { actor: admin })).id;
    };
    await make('rack-a', 'hardware');
    await make('enclosure-1', 'hardware');
    await make('web-2', 'linux_server', { hostname: 'web-2' });
    await make('db-01', 'linux_server', { hostname: 'db-01' });
    await make('lonely', 'linux_server', { hostname: 'lonely' });
    await make('shop', 'business_service', { tier: 1 });
    await og.cmdb.relate(
      { type: 'contains', sourceId: ci['rack-a']!, targetId: ci['enclosure-1']! },
      { actor: admin },
    );
    await og.cmdb.relate(
      { type: 'contains', sourceId: ci['enclosure-1']!, targetId: ci['web-2']! },
      { actor: admin },
    );
    await og.cmdb.relate(
      { type: 'depends_on', sourceId: ci.shop!, targetId: ci['db-01']! },
      { actor: admin },
    );
    for (const name of ['rita', 'peer', 'mgr1', 'mgr2', 'olaf']) {
      user[name] = (await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin })).id;
    }
    ops = (await og.access.createGroup({ name: 'Ops' }, { actor: admin })).id;
    for (const name of ['rita', 'peer'])
      await og.access.addGroupMember(ops, { userId: user[name]! }, { actor: admin });
    for (const name of ['mgr1', 'mgr2'])
      await og.access.grant({ role: 'change_manager', userId: user[name]! }, { actor: admin });
    await og.access.grant({ role: 'operator', userId: user.rita! }, { actor: admin });
    for (const name of Object.keys(user)) actor[name] = (await og.access.actorForUser({ id: user[name]! }))!;
  });
  afterAll(() => og?.close());

  const open = (extra: Partial<Parameters<typeof og.changes.create>[0]> = {}) =>
    og.changes.create(
      {
        title: 'Patch the kernel',
        ciIds: [ci.lonely!],
        assignmentGroupId: ops,
        requestedById: user.rita,
        ...freshWindow(),
        ...extra,
      },
      { actor: admin },
    );
  const move = (c: ChangeRequest, to: ChangeState, extra: Partial<ChangeTransitionInput> = {}) =>
    og.changes.transition(
      c.id,
      { to, ...extras(c.state, to), ...extra },
      { actor: admin, version: c.version },
    );
  const pendingStep = async (c: ChangeRequest) =>
    (await og.approvals.forSubject({ type: 'change', id: c.id })).find((a) => a.state === 'pending')!;
  const approveAll = async (c: ChangeRequest) => {
    for (const who of c.type === 'emergency' ? ['mgr1'] : ['peer', 'mgr1', 'mgr2'])
      await og.approvals.approve((await pendingStep(c)).id, {}, { actor: actor[who]! });
    return (await og.changes.change(c.id))!;
  };
  const inState = async (state: ChangeState, type: ChangeType = 'normal'): Promise<ChangeRequest> => {
    let c = await open({ type });
    const path: Record<ChangeState, ChangeState[]> = {
      new: [],
      assess: ['assess'],
      authorize: ['assess', 'authorize'],
      scheduled: ['assess', 'authorize', 'scheduled'],
      implement: ['assess', 'authorize', 'scheduled', 'implement'],
      review: ['assess', 'authorize', 'scheduled', 'implement', 'review'],
      closed: ['assess', 'authorize', 'scheduled', 'implement', 'review', 'closed'],
      cancelled: ['cancelled'],
      rejected: ['assess', 'authorize', 'rejected'],
    };
    for (const to of path[state]) {
      if (to === 'authorize' && type === 'standard') continue;
      if (to === 'scheduled' && type !== 'standard') c = await approveAll(c);
      else if (to === 'rejected') {
        await og.approvals.reject(
          (await pendingStep(c)).id,
          { comment: 'Too risky' },
          { actor: actor.peer! },
        );
        c = (await og.changes.change(c.id))!;
      } else c = await move(c, to);
    }
    expect(c.state).toBe(state);
    return c;
  };

  it('numbers changes and assesses risk from the business services their CIs reach', async () => {
    const a = await open({ ciIds: [ci['db-01']!] });
    const b = await open();
    expect(a.number).toMatch(/^CHG\d{7}$/);
    expect(Number(b.number.slice(3))).toBe(Number(a.number.slice(3)) + 1);
    expect(a).toMatchObject({
      state: 'new',
      type: 'normal',
      risk: 'medium',
      riskGiven: false,
      serviceIds: [ci.shop],
    });
    expect(b).toMatchObject({ risk: 'low', approval: 'not_requested', requestedById: user.rita });
    const given = await open({ risk: 'high', type: 'standard' });
    expect(given).toMatchObject({ risk: 'high', riskGiven: true, approval: 'not_required' });
    expect((await og.changes.change(a.number))?.id).toBe(a.id);
    const bad = await open({ assigneeId: user.mgr1 }).catch((e) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad.issues[0].path).toBe('assigneeId');
  });

  it('makes every allowed move', async () => {
    const moves: [ChangeType, ChangeState, ChangeState][] = [
      ['normal', 'new', 'assess'],
      ['normal', 'new', 'cancelled'],
      ['normal', 'assess', 'new'],
      ['normal', 'assess', 'authorize'],
      ['normal', 'assess', 'cancelled'],
      ['standard', 'assess', 'scheduled'],
      ['normal', 'authorize', 'assess'],
      ['normal', 'authorize', 'cancelled'],
      ['normal', 'scheduled', 'assess'],
      ['normal', 'scheduled', 'implement'],
      ['normal', 'scheduled', 'cancelled'],
      ['normal', 'implement', 'review'],
      ['normal', 'review', 'closed'],
    ];
    for (const [type, from, to] of moves) {
      const c = await inState(from, type);
      const moved = await move(c, to);
      expect(moved, `${type} ${from} -> ${to}`).toMatchObject({ state: to, version: c.version + 1 });
    }
    const reviewed = await inState('review');
    expect(reviewed).toMatchObject({ outcome: 'successful' });
    expect(reviewed.reviewedAt).toEqual(clock.now());
  });

  it('refuses every forbidden move with TransitionError and changes nothing', async () => {
    for (const type of ['normal', 'standard'] as const) {
      for (const from of changeStates) {
        if (type === 'standard' && (from === 'authorize' || from === 'rejected')) continue;
        const c = await inState(from, type);
        const allowed = allowedChangeTransitions(type, from);
        for (const to of changeStates) {
          if (allowed.includes(to) && !(from === 'authorize' && to === 'scheduled')) continue;
          const error = await move(c, to).catch((e) => e);
          expect(error, `${type} ${from} -> ${to}`).toBeInstanceOf(TransitionError);
        }
        const after = (await og.changes.change(c.id))!;
        expect(after).toEqual(c);
      }
    }
    // A standard change is pre-approved; a normal one must be authorised.
    const standard = await inState('assess', 'standard');
    expect((await move(standard, 'authorize').catch((e) => e)).message).toMatch(/pre-approved/);
    const normal = await inState('assess');
    expect((await move(normal, 'scheduled').catch((e) => e)).message).toMatch(/authorised first/);
  });

  it('needs the fields each move needs, and a fresh version', async () => {
    const bare = await og.changes.create({ title: 'Nothing yet' }, { actor: admin });
    const missing = await move(bare, 'assess').catch((e) => e);
    expect(missing).toBeInstanceOf(ValidationError);
    expect(missing.issues.map((i: { path: string }) => i.path)).toEqual(['ciIds', 'plannedStart']);
    const c = await inState('implement');
    const noOutcome = await og.changes.transition(c.id, { to: 'review' }, { actor: admin }).catch((e) => e);
    expect(noOutcome.issues[0].path).toBe('outcome');
    const noReason = await og.changes
      .transition((await inState('new')).id, { to: 'cancelled' }, { actor: admin })
      .catch((e) => e);
    expect(noReason.issues[0].path).toBe('reason');

    const fresh = await inState('new');
    await og.changes.update(
      fresh.id,
      { title: 'Patch the kernel (v2)' },
      { actor: admin, version: fresh.version },
    );
    const stale = await move(fresh, 'assess').catch((e) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect(stale.field).toBe('version');
    expect((await og.changes.change(fresh.id))!.state).toBe('new');
    await expect(
      og.changes.update(fresh.id, { title: 'x' }, { actor: admin, version: fresh.version }),
    ).rejects.toThrow(ConflictError);
    // Someone without change:write may not move it.
    await expect(og.changes.transition(fresh.id, { to: 'assess' }, { actor: actor.mgr1! })).rejects.toThrow(
      ForbiddenError,
    );
  });

  it('is driven by its approvals: quorum, schedule with a maintenance window, rejection', async () => {
    const c = await inState('authorize');
    expect(c.approval).toBe('requested');
    const steps = await og.approvals.forSubject({ type: 'change', id: c.id });
    expect(steps.map((s) => [s.name, s.state, s.quorum, s.approvers.groupId ?? s.approvers.role])).toEqual([
      ['Peer review', 'pending', 1, ops],
      ['CAB', 'waiting', 2, 'change_manager'],
    ]);
    // The requester is in the assignment group, but may not approve its own change.
    await expect(og.approvals.approve(steps[0]!.id, {}, { actor: actor.rita! })).rejects.toThrow(
      ForbiddenError,
    );
    await og.approvals.approve(steps[0]!.id, {}, { actor: actor.peer! });
    await og.approvals.approve(steps[1]!.id, {}, { actor: actor.mgr1! });
    expect((await og.changes.change(c.id))!).toMatchObject({ state: 'authorize', approval: 'requested' });
    await og.approvals.approve(steps[1]!.id, {}, { actor: actor.mgr2! });
    const scheduled = (await og.changes.change(c.id))!;
    expect(scheduled).toMatchObject({ state: 'scheduled', approval: 'approved' });
    const window = (await og.changes.maintenanceWindow(scheduled.maintenanceWindowId!))!;
    expect(window).toMatchObject({
      changeId: c.id,
      ciIds: c.ciIds,
      startsAt: c.plannedStart,
      endsAt: c.plannedEnd,
      cancelledAt: null,
    });
    // Rescheduling moves the window; cancelling cancels it.
    const later = freshWindow();
    const moved = await og.changes.reschedule(scheduled.id, later, {
      actor: admin,
      version: scheduled.version,
    });
    expect(moved.maintenanceWindowId).not.toBe(window.id);
    expect((await og.changes.maintenanceWindow(window.id))!.cancelledAt).not.toBeNull();
    expect((await og.changes.maintenanceWindow(moved.maintenanceWindowId!))!.startsAt).toEqual(
      later.plannedStart,
    );
    await move(moved, 'cancelled');
    expect((await og.changes.maintenanceWindow(moved.maintenanceWindowId!))!.cancelledAt).not.toBeNull();

    const rejected = await inState('rejected');
    expect(rejected).toMatchObject({ state: 'rejected', approval: 'rejected', maintenanceWindowId: null });
    expect((await og.approvals.forSubject({ type: 'change', id: rejected.id })).map((s) => s.state)).toEqual([
      'rejected',
      'cancelled',
    ]);
    // An emergency change needs its own, smaller policy: one change manager.
    const emergency = await inState('scheduled', 'emergency');
    expect((await og.approvals.forSubject({ type: 'change', id: emergency.id })).map((s) => s.name)).toEqual([
      'ECAB',
    ]);
    // Sending a change back cancels its open approvals.
    const withdrawn = await move(await inState('authorize'), 'assess');
    expect((await og.approvals.forSubject({ type: 'change', id: withdrawn.id })).map((s) => s.state)).toEqual(
      ['cancelled', 'cancelled'],
    );
    expect(withdrawn.approval).toBe('not_requested');
  });

  it('detects conflicts on the same CI, on contained CIs, and with blackouts', async () => {
    const w = freshWindow();
    const onRack = await og.changes.create(
      { title: 'Rack power', ciIds: [ci['rack-a']!], assignmentGroupId: ops, ...w },
      { actor: admin },
    );
    const first = await move(await move(onRack, 'assess'), 'authorize');
    // Same CI, overlapping window.
    const overlap = {
      plannedStart: new Date(w.plannedStart.getTime() + HOUR),
      plannedEnd: new Date(w.plannedEnd.getTime() + HOUR),
    };
    const same = await move(
      await og.changes.create(
        { title: 'Rack cabling', ciIds: [ci['rack-a']!], assignmentGroupId: ops, ...overlap },
        { actor: admin },
      ),
      'assess',
    );
    expect(await og.changes.conflicts(same.id)).toEqual([
      expect.objectContaining({
        kind: 'change',
        changeNumber: first.number,
        ciId: ci['rack-a'],
        relation: 'same',
        severity: 'needs_acceptance',
      }),
    ]);
    const refused = await move(same, 'authorize').catch((e) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused.message).toContain(first.number);
    expect((await og.changes.change(same.id))!.state).toBe('assess');
    const accepted = await move(same, 'authorize', { acceptConflicts: true });
    expect(accepted.acceptedConflicts).toMatchObject({
      by: { id: 'test' },
      conflicts: [{ changeId: first.id }],
    });

    // web-2 is in enclosure-1 in rack-a: contained, transitively.
    const contained = await og.changes.create(
      { title: 'Web reboot', ciIds: [ci['web-2']!], assignmentGroupId: ops, ...overlap },
      { actor: admin },
    );
    const found = await og.changes.conflicts(contained.id);
    expect(found.map((c) => [c.changeNumber, c.ciId, c.otherCiId, c.relation])).toEqual(
      expect.arrayContaining([[first.number, ci['web-2'], ci['rack-a'], 'contained_by']]),
    );
    const fromRack = await og.changes.conflicts(first.id);
    expect(fromRack.find((c) => c.changeId === accepted.id)?.relation).toBe('same');
    // A change still in new holds no window: it is not a conflict for others.
    expect(fromRack.find((c) => c.changeId === contained.id)).toBeUndefined();

    // A blackout on the rack: a normal change on the server inside may not be scheduled in it at all.
    const bw = freshWindow();
    const blackout = await og.changes.defineBlackout(
      {
        name: 'Quarter close',
        reason: 'Finance freeze',
        startsAt: bw.plannedStart,
        endsAt: bw.plannedEnd,
        ciId: ci['rack-a'],
      },
      { actor: admin },
    );
    const normal = await move(
      await og.changes.create(
        { title: 'Web patch', ciIds: [ci['web-2']!], assignmentGroupId: ops, ...bw },
        { actor: admin },
      ),
      'assess',
    );
    expect(await og.changes.conflicts(normal.id)).toEqual([
      expect.objectContaining({
        kind: 'blackout',
        blackoutId: blackout.id,
        blackoutName: 'Quarter close',
        relation: 'contained_by',
        severity: 'blocking',
      }),
    ]);
    const inBlackout = await move(normal, 'authorize', { acceptConflicts: true }).catch((e) => e);
    expect(inBlackout).toBeInstanceOf(ConflictError);
    expect(inBlackout.message).toMatch(/blackout/);
    const standard = await og.changes.create(
      { type: 'standard', title: 'Std', ciIds: [ci['rack-a']!], ...bw },
      { actor: admin },
    );
    await expect(move(await move(standard, 'assess'), 'scheduled')).rejects.toThrow(/blackout/);
    // An emergency change may run in it, flagged.
    const emergency = await move(
      await og.changes.create(
        { type: 'emergency', title: 'Hotfix', ciIds: [ci['web-2']!], assignmentGroupId: ops, ...bw },
        { actor: admin },
      ),
      'assess',
    );
    // (It overlaps the two changes planned on web-2 and on the rack too: those still need accepting.)
    await expect(move(emergency, 'authorize')).rejects.toThrow(/acceptConflicts/);
    const flagged = await move(emergency, 'authorize', { acceptConflicts: true });
    expect(flagged.acceptedConflicts?.conflicts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'blackout', blackoutId: blackout.id, severity: 'flag' }),
        expect.objectContaining({ kind: 'change', changeId: normal.id, severity: 'needs_acceptance' }),
      ]),
    );
    // Cancelled, the blackout no longer blocks (the changes planned beside it still need accepting).
    await og.changes.cancelBlackout(blackout.id, { actor: admin, version: blackout.version });
    expect((await og.changes.conflicts(normal.id)).map((c) => c.kind)).not.toContain('blackout');
    expect((await move(normal, 'authorize', { acceptConflicts: true })).state).toBe('authorize');
  });

  it('suppresses alerts on its CI during the window of an approved, scheduled change', async () => {
    const w = freshWindow();
    let c = await og.changes.create(
      { title: 'DB upgrade', ciIds: [ci['db-01']!], assignmentGroupId: ops, requestedById: user.rita, ...w },
      { actor: admin },
    );
    c = await move(await move(c, 'assess'), 'authorize');
    c = await approveAll(c);
    expect(c.state).toBe('scheduled');
    const ingest = async (key: string) => {
      const [hit] = await og.events.ingest(
        { source: 'nagios', node: 'db-01', type: 'db_down', severity: 'critical', dedupKey: key },
        { actor: admin },
      );
      return (await og.events.alert(hit!.alertId!))!;
    };
    expect((await ingest('before')).suppressed).toBe(false);
    clock.set(new Date(w.plannedStart.getTime() + HOUR));
    try {
      expect(await ingest('during')).toMatchObject({
        suppressed: true,
        maintenanceWindowId: c.maintenanceWindowId,
      });
    } finally {
      clock.set(new Date(start));
    }
  });

  it('lists with filters and order, and follows changes', async () => {
    const page = await og.changes.changes(
      { state: ['scheduled'] },
      { first: 2, orderBy: { field: 'plannedStart', direction: 'asc' } },
    );
    expect(page.edges.length).toBe(2);
    expect(page.edges[0]!.node.plannedStart!.getTime()).toBeLessThanOrEqual(
      page.edges[1]!.node.plannedStart!.getTime(),
    );
    const next = await og.changes.changes(
      { state: ['scheduled'] },
      { first: 2, after: page.endCursor, orderBy: { field: 'plannedStart', direction: 'asc' } },
    );
    expect(next.edges[0]!.node.plannedStart!.getTime()).toBeGreaterThanOrEqual(
      page.edges[1]!.node.plannedStart!.getTime(),
    );
    expect(next.edges.map((e) => e.node.id)).not.toContain(page.edges[0]!.node.id);
    await expect(og.changes.changes({}, { after: page.endCursor })).rejects.toThrow(ValidationError);
    expect(
      (await og.changes.changes({ ciId: ci['db-01'] })).edges.every((e) =>
        e.node.ciIds.includes(ci['db-01']!),
      ),
    ).toBe(true);

    const from = await og.activity.latestSeq();
    const c = await inState('assess');
    const seen: string[] = [];
    for await (const change of og.changes.follow({ ciId: ci.lonely }, { after: from })) {
      if (change.change.id !== c.id) continue;
      seen.push(change.type);
      if (change.type === 'change.state_changed') break;
    }
    expect(seen).toEqual(['change.created', 'change.state_changed']);
  });
});
