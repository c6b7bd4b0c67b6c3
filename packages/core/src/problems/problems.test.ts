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
  type Problem,
  type ProblemState,
  type ProblemTransitionInput,
  problemStates,
  problemTransitions,
} from './model.js';

const admin = systemActor('test');

/** What each move needs besides `to`. */
const move = (from: ProblemState, to: ProblemState): ProblemTransitionInput => ({
  to,
  ...(to === 'fix_in_progress' ? { rootCause: 'A leaking connection pool.' } : {}),
  ...(to === 'resolved'
    ? {
        rootCause: 'A leaking connection pool.',
        resolutionCode: 'fix_applied',
        resolutionNotes: 'Pool patched.',
      }
    : {}),
  ...(to === 'cancelled' ? { reason: 'Logged twice.' } : {}),
  ...(to === 'root_cause_analysis' && (from === 'resolved' || from === 'fix_in_progress')
    ? { reason: 'The fix did not hold.' }
    : {}),
});
/** A way to reach each state from new. */
const pathTo: Record<ProblemState, ProblemState[]> = {
  new: [],
  assess: ['assess'],
  root_cause_analysis: ['assess', 'root_cause_analysis'],
  fix_in_progress: ['assess', 'root_cause_analysis', 'fix_in_progress'],
  resolved: ['assess', 'root_cause_analysis', 'fix_in_progress', 'resolved'],
  closed: ['assess', 'root_cause_analysis', 'fix_in_progress', 'resolved', 'closed'],
  cancelled: ['cancelled'],
};

describe.each(testBackends())('problems on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const ci: Record<string, string> = {};
  let group: string;
  let member: string;
  let outsider: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    const make = async (name: string, cls: string, attributes: Record<string, unknown> = {}) => {
      ci[name] = (await og.cmdb.create({ class: cls, name, attributes }, { actor: admin })).id;
    };
    await make('db-01', 'linux_server', { hostname: 'db-01' });
    await make('web-01', 'linux_server', { hostname: 'web-01' });
    await make('billing', 'application');
    await make('shop', 'business_service', { tier: 1 });
    await make('other', 'linux_server');
    const relate = (type: string, sourceId: string, targetId: string) =>
      og.cmdb.relate({ type, sourceId, targetId }, { actor: admin });
    // shop depends on billing (which runs on db-01) and on web-01.
    await relate('runs_on', ci.billing!, ci['db-01']!);
    await relate('depends_on', ci.shop!, ci.billing!);
    await relate('depends_on', ci.shop!, ci['web-01']!);
    const user = async (name: string) =>
      (await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin })).id;
    member = await user('Priya');
    outsider = await user('Otto');
    group = (await og.access.createGroup({ name: 'Problem managers' }, { actor: admin })).id;
    await og.access.addGroupMember(group, { userId: member }, { actor: admin });
  });
  afterAll(() => og?.close());

  const log = (extra: Partial<Parameters<typeof og.problems.create>[0]> = {}) =>
    og.problems.create(
      { title: 'Billing keeps timing out', ciId: ci['db-01'], assignmentGroupId: group, ...extra },
      { actor: admin },
    );
  const inState = async (state: ProblemState, extra = {}): Promise<Problem> => {
    let problem = await log(extra);
    for (const to of pathTo[state])
      problem = await og.problems.transition(problem.id, move(problem.state, to), { actor: admin });
    expect(problem.state).toBe(state);
    return problem;
  };
  const openIncident = (ciId: string | undefined, extra = {}) =>
    og.incidents.create({ shortDescription: 'Checkout fails', ciId, ...extra }, { actor: admin });

  it('numbers problems, derives priority and business services, finds them by number', async () => {
    const a = await log({ impact: 1, urgency: 1 });
    const b = await log({ ciId: ci.other });
    expect(a.number).toMatch(/^PRB\d{7}$/);
    expect(Number(b.number.slice(3))).toBe(Number(a.number.slice(3)) + 1);
    expect(a).toMatchObject({ state: 'new', priority: 1, serviceIds: [ci.shop], assignmentGroupId: group });
    expect(b).toMatchObject({ priority: 5, serviceIds: [] });
    expect((await og.problems.problem(a.number))?.id).toBe(a.id);
    const moved = await og.problems.update(
      b.id,
      { ciId: ci['web-01'], urgency: 1 },
      { actor: admin, version: b.version },
    );
    expect(moved).toMatchObject({ serviceIds: [ci.shop], priority: 3, version: b.version + 1 });
    await expect(log({ ciId: crypto.randomUUID() })).rejects.toMatchObject({ field: 'ciId' });
  });

  it('allows every move of the state machine and refuses every other one, changing nothing', async () => {
    for (const from of problemStates) {
      for (const to of problemStates) {
        const problem = await inState(from);
        const allowed = problemTransitions[from].includes(to);
        const result = await og.problems
          .transition(problem.id, move(from, to), { actor: admin })
          .catch((e) => e);
        if (allowed) expect(result, `${from} -> ${to}`).toMatchObject({ state: to });
        else {
          expect(result, `${from} -> ${to}`).toBeInstanceOf(TransitionError);
          expect((result as TransitionError).allowed).toEqual(problemTransitions[from]);
          const after = await og.problems.problem(problem.id);
          expect(after).toMatchObject({ state: from, version: problem.version });
        }
      }
    }
  });

  it('requires what each move needs, refuses what it does not take, and writes nothing then', async () => {
    const unassigned = await log({ assignmentGroupId: null });
    const assessed = await og.problems.transition(unassigned.id, { to: 'assess' }, { actor: admin });
    const refused = await og.problems
      .transition(assessed.id, { to: 'root_cause_analysis' }, { actor: admin })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues.map((i) => i.path)).toEqual(['assignmentGroupId']);

    const rca = await inState('root_cause_analysis');
    const paths = async (input: ProblemTransitionInput) =>
      (
        (await og.problems.transition(rca.id, input, { actor: admin }).catch((e) => e)) as ValidationError
      ).issues.map((i) => i.path);
    expect(await paths({ to: 'fix_in_progress' })).toEqual(['rootCause']);
    expect(await paths({ to: 'resolved' })).toEqual(['rootCause', 'resolutionCode', 'resolutionNotes']);
    expect(await paths({ to: 'cancelled' })).toEqual(['reason']);
    expect(await paths({ to: 'cancelled', reason: 'x', resolutionCode: 'fix_applied' })).toEqual([
      'resolutionCode',
    ]);
    expect(await og.problems.problem(rca.id)).toMatchObject({
      state: 'root_cause_analysis',
      version: rca.version,
      rootCause: null,
    });
    // A root cause set before is enough.
    const withCause = await og.problems.update(
      rca.id,
      { rootCause: 'Disk firmware bug.' },
      { actor: admin, version: rca.version },
    );
    const fixing = await og.problems.transition(rca.id, { to: 'fix_in_progress' }, { actor: admin });
    expect(fixing).toMatchObject({ state: 'fix_in_progress', rootCause: 'Disk firmware bug.' });
    expect(withCause.version).toBe(rca.version + 1);
    // Going back and reopening need a reason, kept as a work note.
    const back = await og.problems.transition(
      rca.id,
      { to: 'root_cause_analysis', reason: 'Firmware update did not help.' },
      { actor: admin },
    );
    expect(back.state).toBe('root_cause_analysis');
    expect((await og.problems.notesOf(rca.id)).map((n) => n.body)).toEqual([
      'Back to root cause analysis: Firmware update did not help.',
    ]);
  });

  it('refuses a stale version with a ConflictError and changes nothing', async () => {
    const problem = await log();
    const current = await og.problems.transition(problem.id, { to: 'assess' }, { actor: admin });
    for (const attempt of [
      () =>
        og.problems.transition(
          problem.id,
          { to: 'cancelled', reason: 'x' },
          { actor: admin, version: problem.version },
        ),
      () => og.problems.update(problem.id, { title: 'y' }, { actor: admin, version: problem.version }),
      () =>
        og.problems.assign(
          problem.id,
          { assignmentGroupId: null },
          { actor: admin, version: problem.version },
        ),
    ]) {
      const error = await attempt().catch((e) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).not.toBeInstanceOf(TransitionError);
      expect(error).toMatchObject({ field: 'version', currentVersion: current.version });
    }
    expect(await og.problems.problem(problem.id)).toMatchObject({
      state: 'assess',
      title: problem.title,
      version: current.version,
    });
  });

  it('assigns to a group and one of its members only', async () => {
    const problem = await log({ assignmentGroupId: null });
    const assigned = await og.problems.assign(
      problem.id,
      { assignmentGroupId: group, assigneeId: member },
      { actor: admin },
    );
    expect(assigned).toMatchObject({ assignmentGroupId: group, assigneeId: member });
    const refused = await og.problems
      .assign(problem.id, { assignmentGroupId: group, assigneeId: outsider }, { actor: admin })
      .catch((e) => e);
    expect((refused as ValidationError).issues).toEqual([
      { path: 'assigneeId', message: 'Otto is not a member of the assignment group' },
    ]);
    expect((await og.problems.problem(problem.id))?.assigneeId).toBe(member);
  });

  it('links and unlinks incidents (many to many, recorded); an incident shows its problems', async () => {
    const i1 = await openIncident(ci['db-01']);
    const i2 = await openIncident(ci.billing);
    const p1 = await log({ incidentIds: [i1.id] });
    const p2 = await log();
    expect(await og.problems.linkIncidents(p1.id, [i1.id, i2.id], { actor: admin })).toEqual([i2.id]);
    expect(await og.problems.linkIncidents(p2.id, [i1.id], { actor: admin })).toEqual([i1.id]);
    const links = await og.problems.incidentLinksOf(p1.number);
    expect(links.map((l) => l.incidentId).sort()).toEqual([i1.id, i2.id].sort());
    expect(links[0]!.linkedBy).toMatchObject({ kind: 'system', name: 'test' });
    expect((await og.problems.problemsOfIncident(i1.id)).map((p) => p.number)).toEqual([
      p1.number,
      p2.number,
    ]);
    const listed = await og.problems.problems({ incidentId: i1.id });
    expect(listed.edges.map((e) => e.node.id).sort()).toEqual([p1.id, p2.id].sort());

    expect(await og.problems.unlinkIncidents(p1.id, [i1.id], { actor: admin })).toEqual([i1.id]);
    expect((await og.problems.problemsOfIncident(i1.id)).map((p) => p.id)).toEqual([p2.id]);
    const events = await og.activity.list({
      types: ['problem.incidents_linked', 'problem.incidents_unlinked'],
      limit: 1000,
    });
    expect(
      events
        .filter((e) => e.subject?.id === p1.id)
        .map((e) => [e.type, (e.payload as { incidentIds: string[] }).incidentIds]),
    ).toEqual([
      ['problem.incidents_linked', [i1.id]],
      ['problem.incidents_linked', [i2.id]],
      ['problem.incidents_unlinked', [i1.id]],
    ]);
    const bad = await og.problems
      .linkIncidents(p1.id, [crypto.randomUUID()], { actor: admin })
      .catch((e) => e);
    expect(bad).toMatchObject({ field: 'incidentIds.0' });
    const cancelled = await inState('cancelled');
    await expect(og.problems.linkIncidents(cancelled.id, [i1.id], { actor: admin })).rejects.toBeInstanceOf(
      ConflictError,
    );
  });

  it('resolving resolves incidents awaiting it, notes the other open ones, and leaves ended ones', async () => {
    const waiting = await openIncident(ci['db-01']);
    await og.incidents.transition(
      waiting.id,
      { to: 'on_hold', holdReason: 'awaiting_problem' },
      { actor: admin },
    );
    const working = await openIncident(ci['db-01']);
    await og.incidents.transition(working.id, { to: 'in_progress' }, { actor: admin });
    const done = await openIncident(ci['db-01']);
    await og.incidents.transition(done.id, { to: 'cancelled', reason: 'Raised twice.' }, { actor: admin });
    const problem = await inState('fix_in_progress', { incidentIds: [waiting.id, working.id, done.id] });
    const resolved = await og.problems.transition(problem.id, move('fix_in_progress', 'resolved'), {
      actor: admin,
    });
    expect(resolved).toMatchObject({ state: 'resolved', resolutionCode: 'fix_applied' });
    expect(await og.incidents.incident(waiting.id)).toMatchObject({
      state: 'resolved',
      resolutionCode: 'solved_permanently',
      resolutionNotes: `Resolved by problem ${problem.number}: Pool patched.`,
    });
    expect((await og.incidents.incident(working.id))?.state).toBe('in_progress');
    expect((await og.incidents.notesOf(working.id)).map((n) => n.body)).toEqual([
      expect.stringContaining(`Problem ${problem.number} was resolved with a fix applied: Pool patched.`),
    ]);
    expect((await og.incidents.incident(done.id))?.state).toBe('cancelled');
    const [event] = (await og.activity.list({ types: ['problem.state_changed'], limit: 1000 })).filter(
      (e) =>
        e.subject?.id === problem.id &&
        (e.payload as unknown as { problem: Problem }).problem.state === 'resolved',
    );
    expect((event!.payload as { incidents: unknown }).incidents).toEqual({
      resolved: [waiting.id],
      noted: [working.id],
      skipped: [],
    });
  });

  it('leaves linked incidents the resolver may not work alone, and says so', async () => {
    const waiting = await openIncident(ci['db-01']);
    await og.incidents.transition(
      waiting.id,
      { to: 'on_hold', holdReason: 'awaiting_problem' },
      { actor: admin },
    );
    const problem = await inState('fix_in_progress', { incidentIds: [waiting.id] });
    const problemOnly: Actor = {
      kind: 'token',
      id: 'p',
      name: 'problem only',
      permissions: ['problem:read', 'problem:write', 'incident:read'],
    };
    await og.problems.transition(problem.id, move('fix_in_progress', 'resolved'), { actor: problemOnly });
    expect(await og.incidents.incident(waiting.id)).toMatchObject({ state: 'on_hold', version: 2 });
    const [event] = (await og.activity.list({ types: ['problem.state_changed'], limit: 1000 })).filter(
      (e) => e.subject?.id === problem.id && e.actor.name === 'problem only',
    );
    expect((event!.payload as unknown as { incidents: unknown }).incidents).toEqual({
      resolved: [],
      noted: [],
      skipped: [waiting.id],
    });
  });

  it('publishes known errors and offers them to incidents on the same CI, its dependencies and its services', async () => {
    const problem = await inState('root_cause_analysis', { title: 'DB connections leak' });
    const noCause = await og.problems
      .publishKnownError(problem.id, { workaround: 'Restart the pool.' }, { actor: admin })
      .catch((e) => e);
    expect(noCause).toBeInstanceOf(ValidationError);
    expect((noCause as ValidationError).issues.map((i) => i.path)).toEqual(['rootCause']);
    await og.problems.update(
      problem.id,
      { rootCause: 'Driver 4.2 never returns connections.' },
      { actor: admin },
    );
    const noWorkaround = await og.problems
      .publishKnownError(problem.id, {}, { actor: admin })
      .catch((e) => e);
    expect((noWorkaround as ValidationError).issues.map((i) => i.path)).toEqual(['workaround']);
    expect(await og.problems.knownErrors({ ciId: ci['db-01'] })).toEqual([]);

    const known = await og.problems.publishKnownError(
      problem.id,
      { workaround: 'Restart the billing connection pool.' },
      { actor: admin },
    );
    expect(known).toMatchObject({
      number: expect.stringMatching(/^KE\d{7}$/),
      problemNumber: problem.number,
      title: 'DB connections leak',
      state: 'published',
      rootCause: 'Driver 4.2 never returns connections.',
      ciId: ci['db-01'],
      serviceIds: [ci.shop],
      version: 1,
    });

    // The known-error database: by CI, by business service, by text.
    const numbers = async (filter: Parameters<typeof og.problems.knownErrors>[0]) =>
      (await og.problems.knownErrors(filter)).map((k) => k.number);
    expect(await numbers({ ciId: ci['db-01'] })).toEqual([known.number]);
    expect(await numbers({ ciId: ci.other })).toEqual([]);
    expect(await numbers({ serviceId: ci.shop })).toEqual([known.number]);
    expect(await numbers({ text: 'CONNECTION POOL' })).toEqual([known.number]);
    expect(await numbers({ text: 'driver 4.2' })).toEqual([known.number]);
    expect(await numbers({ text: 'kernel panic' })).toEqual([]);
    expect((await og.problems.problems({ knownError: true })).edges.map((e) => e.node.id)).toEqual([
      problem.id,
    ]);

    // A new incident is offered it: same CI, a CI that depends on it, another CI of the same service.
    const offered = async (ciId: string) =>
      (await og.problems.matchingKnownErrors((await openIncident(ciId)).id)).map((m) => [
        m.knownError.number,
        m.match,
        m.depth,
      ]);
    expect(await offered(ci['db-01']!)).toEqual([[known.number, 'same_ci', 0]]);
    expect(await offered(ci.billing!)).toEqual([[known.number, 'dependency', 1]]);
    expect(await offered(ci['web-01']!)).toEqual([[known.number, 'business_service', null]]);
    expect(await offered(ci.other!)).toEqual([]);
    const noCi = await openIncident(undefined);
    expect(await og.problems.matchingKnownErrors(noCi.number)).toEqual([]);

    // Publishing again updates it (version guarded).
    const stale = await og.problems
      .publishKnownError(problem.id, { title: 'Old' }, { actor: admin, version: 7 })
      .catch((e) => e);
    expect(stale).toMatchObject({ field: 'version', currentVersion: 1 });
    const renamed = await og.problems.publishKnownError(
      problem.id,
      { title: 'Billing DB connections leak' },
      { actor: admin, version: 1 },
    );
    expect(renamed).toMatchObject({ title: 'Billing DB connections leak', version: 2 });
  });

  it('retires known errors explicitly, when their problem is closed with a fix, or cancelled', async () => {
    const publish = async (state: ProblemState) => {
      const problem = await inState(state, {
        ciId: ci['web-01'],
        title: `Web cache poisoning ${state}`,
      });
      await og.problems.update(
        problem.id,
        { rootCause: 'Cache key ignores the host header.', workaround: 'Purge the cache.' },
        { actor: admin },
      );
      return { problem, known: await og.problems.publishKnownError(problem.id, {}, { actor: admin }) };
    };
    const offeredFor = async () =>
      (await og.problems.matchingKnownErrors((await openIncident(ci['web-01'])).id)).map(
        (m) => m.knownError.id,
      );

    // Explicitly.
    const a = await publish('root_cause_analysis');
    expect(await offeredFor()).toContain(a.known.id);
    const retired = await og.problems.retireKnownError(
      a.known.number,
      { reason: 'Superseded by KB article.' },
      { actor: admin },
    );
    expect(retired).toMatchObject({ state: 'retired', retiredReason: 'Superseded by KB article.' });
    expect(await offeredFor()).not.toContain(a.known.id);
    expect((await og.problems.knownErrors({ ciId: ci['web-01'] })).map((k) => k.id)).not.toContain(
      a.known.id,
    );
    expect(
      (await og.problems.knownErrors({ ciId: ci['web-01'], state: ['retired'] })).map((k) => k.id),
    ).toContain(a.known.id);
    await expect(
      og.problems.retireKnownError(a.known.id, { reason: 'again' }, { actor: admin }),
    ).rejects.toBeInstanceOf(ConflictError);
    // Republished.
    const again = await og.problems.publishKnownError(a.problem.id, {}, { actor: admin });
    expect(again).toMatchObject({ state: 'published', retiredAt: null, version: retired.version + 1 });

    // Closed with a fix applied: retired. Closed with the risk accepted: kept.
    const b = await publish('resolved');
    await og.problems.transition(b.problem.id, { to: 'closed' }, { actor: admin });
    expect(await og.problems.knownError(b.known.id)).toMatchObject({
      state: 'retired',
      retiredReason: `Problem ${b.problem.number} was closed with a permanent fix applied`,
    });
    const c = await publish('fix_in_progress');
    await og.problems.transition(
      c.problem.id,
      { to: 'resolved', resolutionCode: 'risk_accepted', resolutionNotes: 'Replacing the cache next year.' },
      { actor: admin },
    );
    await og.problems.transition(c.problem.id, { to: 'closed' }, { actor: admin });
    expect((await og.problems.knownError(c.known.number))?.state).toBe('published');
    expect(await offeredFor()).toContain(c.known.id);
    await expect(og.problems.publishKnownError(c.problem.id, {}, { actor: admin })).rejects.toBeInstanceOf(
      ConflictError,
    );

    // Cancelled: retired.
    const d = await publish('assess');
    await og.problems.transition(
      d.problem.id,
      { to: 'cancelled', reason: 'Duplicate of another.' },
      { actor: admin },
    );
    expect((await og.problems.knownError(d.problem.number))?.state).toBe('retired');
    const kinds = (await og.activity.list({ types: ['known_error.retired'], limit: 1000 })).map(
      (e) => (e.payload as { knownError: { id: string } }).knownError.id,
    );
    expect(kinds).toEqual(expect.arrayContaining([a.known.id, b.known.id, d.known.id]));
    expect(kinds).not.toContain(c.known.id);
  });

  it('orders and pages problems with cursors of their order', async () => {
    const made: Problem[] = [];
    for (const [impact, urgency] of [
      [3, 3],
      [1, 1],
      [2, 2],
    ] as const) {
      clock.advance(1000);
      made.push(await log({ impact, urgency, category: 'paging', ciId: ci.other }));
    }
    const byPriority = await og.problems.problems(
      { ciId: ci.other, priority: [1, 3, 5] },
      { orderBy: { field: 'priority', direction: 'asc' }, first: 2 },
    );
    expect(byPriority.edges.map((e) => e.node.id)).toEqual([made[1]!.id, made[2]!.id]);
    expect(byPriority.hasNextPage).toBe(true);
    const next = await og.problems.problems(
      { ciId: ci.other, priority: [1, 3, 5] },
      { orderBy: { field: 'priority', direction: 'asc' }, first: 2, after: byPriority.endCursor },
    );
    expect(next.edges.map((e) => e.node.id)).toEqual([made[0]!.id]);
    await expect(
      og.problems.problems({}, { orderBy: { field: 'number' }, after: byPriority.endCursor }),
    ).rejects.toMatchObject({ field: 'after' });
    const byNumber = await og.problems.problems(
      { ciId: ci.other, priority: [1, 3, 5] },
      { orderBy: { field: 'number', direction: 'asc' } },
    );
    expect(byNumber.edges.map((e) => e.node.id)).toEqual(made.map((p) => p.id));
  });

  it('scopes problems and known errors to the CIs an actor holds problem permissions on', async () => {
    const mine = await log({ ciId: ci['db-01'] });
    const theirs = await log({ ciId: ci.other });
    const scoped = await scopedTestActor(og, 'db problem manager', [
      {
        ciId: ci['db-01']!,
        mode: 'contains',
        permissions: ['problem:read', 'problem:write', 'incident:read', 'activity:read'],
      },
    ]);
    const seen = await og.problems.problems({}, { first: 500 }, { actor: scoped });
    expect(seen.edges.some((e) => e.node.id === mine.id)).toBe(true);
    expect(seen.edges.some((e) => e.node.id === theirs.id)).toBe(false);
    expect(await og.problems.problem(theirs.id, { actor: scoped })).toBeNull();
    await expect(
      og.problems.transition(theirs.id, { to: 'assess' }, { actor: scoped }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      og.problems.create({ title: 'x', ciId: ci.other }, { actor: scoped }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect((await og.problems.transition(mine.id, { to: 'assess' }, { actor: scoped })).state).toBe('assess');
    const reader: Actor = { kind: 'token', id: 'r', name: 'reader', permissions: ['problem:read'] };
    await expect(
      og.problems.transition(mine.id, { to: 'cancelled', reason: 'x' }, { actor: reader }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const nobody: Actor = { kind: 'token', id: 'n', name: 'nobody', permissions: ['incident:read'] };
    await expect(og.problems.knownErrors({}, { actor: nobody })).rejects.toBeInstanceOf(ForbiddenError);
    // Activity: problem events are seen by who may read the problem's CI.
    const visible = await og.activity.list({ types: ['problem.created'], limit: 1000 }, { actor: scoped });
    const ids = visible.map((e) => e.subject?.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(theirs.id);
  });
});
