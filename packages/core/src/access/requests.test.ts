import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, canOn, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');
const HOUR = 3_600_000;

describe.each(testBackends())('access requests on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  let shop: string;
  let db: string;
  let billing: string;
  /** Actors by person: alice asks, bob approves (through nested groups), carol administers, dave looks on. */
  const people: Record<string, { id: string; actor: () => Promise<Actor> }> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    shop = (await og.cmdb.create({ class: 'business_service', name: 'shop' }, { actor: admin })).id;
    db = (await og.cmdb.create({ class: 'database', name: 'shop-db' }, { actor: admin })).id;
    billing = (await og.cmdb.create({ class: 'business_service', name: 'billing' }, { actor: admin })).id;
    await og.cmdb.relate({ type: 'depends_on', sourceId: shop, targetId: db }, { actor: admin });

    for (const [name, role] of [
      ['alice', 'requester'],
      ['bob', 'agent'],
      ['carol', 'admin'],
      ['dave', 'viewer'],
    ] as const) {
      const user = await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
      await og.access.grant({ role, userId: user.id }, { actor: admin });
      people[name] = { id: user.id, actor: async () => (await og.access.actorForUser({ id: user.id }))! };
    }
    // dba-leads ⊃ dba-oncall ∋ bob: bob is an approver through the nesting.
    const leads = await og.access.createGroup({ name: 'dba-leads' }, { actor: admin });
    const oncall = await og.access.createGroup({ name: 'dba-oncall' }, { actor: admin });
    await og.access.addGroupMember(leads.id, { groupId: oncall.id }, { actor: admin });
    await og.access.addGroupMember(oncall.id, { userId: people.bob!.id }, { actor: admin });
    await og.access.defineRole(
      { name: 'db_operator', permissions: ['cmdb:read', 'cmdb:write'], approverGroup: 'dba-leads' },
      { actor: admin },
    );
  });
  afterAll(() => og?.close());

  const as = (name: string) => people[name]!.actor();
  const requestCount = async () =>
    Number(
      (await sql<{ n: number }>`select count(*)::int as n from access_requests`.execute(og.db)).rows[0]!.n,
    );

  it('runs the lifecycle: request, approval by a nested group member, grant with the duration, expiry', async () => {
    const alice = await as('alice');
    const request = await og.access.requestAccess(
      {
        role: 'db_operator',
        scope: { ciId: shop, mode: 'dependencies' },
        reason: 'INC-42 needs a fix',
        durationSeconds: 3600,
      },
      { actor: alice },
    );
    expect(request).toMatchObject({
      requesterId: people.alice!.id,
      role: 'db_operator',
      scope: { ciId: shop, mode: 'dependencies' },
      state: 'pending',
      version: 1,
      durationSeconds: 3600,
      grantId: null,
    });
    expect(canOn(alice, 'cmdb:write', db)).toBe(false);

    // Neither the requester nor someone without authority over the role may decide it.
    await expect(og.access.approveAccessRequest(request.id, {}, { actor: alice })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    await expect(
      og.access.approveAccessRequest(request.id, {}, { actor: await as('dave') }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    expect((await og.access.accessRequest(request.id))!.state).toBe('pending');

    clock.advance(10 * 60_000);
    const approvedAt = clock.now();
    const { request: approved, grant } = await og.access.approveAccessRequest(
      request.id,
      { note: 'ok for the incident', version: 1 },
      { actor: await as('bob') },
    );
    expect(approved).toMatchObject({
      state: 'approved',
      version: 2,
      decidedBy: `user:${people.bob!.id}`,
      decidedAt: approvedAt,
      decisionNote: 'ok for the incident',
      grantId: grant.id,
    });
    expect(grant).toMatchObject({
      role: 'db_operator',
      userId: people.alice!.id,
      scope: { ciId: shop, mode: 'dependencies' },
      requestId: request.id,
      expiresAt: new Date(approvedAt.getTime() + HOUR),
      reason: 'INC-42 needs a fix',
    });
    expect(canOn(await as('alice'), 'cmdb:write', db)).toBe(true);
    expect(canOn(await as('alice'), 'cmdb:write', billing)).toBe(false);

    // Decided once.
    await expect(
      og.access.approveAccessRequest(request.id, {}, { actor: await as('carol') }),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(
      og.access.rejectAccessRequest(request.id, { note: 'no' }, { actor: await as('carol') }),
    ).rejects.toBeInstanceOf(ConflictError);

    clock.advance(HOUR);
    expect(canOn(await as('alice'), 'cmdb:write', db)).toBe(false);
    await og.access.sweepExpired();
    const history = await og.access.accessRequestHistory(request.id);
    expect(history.map((e) => [e.type, e.actor.name])).toEqual([
      ['access_request.created', 'alice'],
      ['grant.created', 'bob'],
      ['access_request.approved', 'bob'],
      ['grant.expired', 'access-expiry'],
    ]);
  });

  it('a requester can never approve their own request, even as an approver or an admin', async () => {
    for (const name of ['bob', 'carol']) {
      const me = await as(name);
      const request = await og.access.requestAccess({ role: 'db_operator', reason: 'myself' }, { actor: me });
      const attempt = og.access.approveAccessRequest(request.id, {}, { actor: me });
      await expect(attempt).rejects.toBeInstanceOf(ForbiddenError);
      await expect(attempt).rejects.toThrow(/own access request/);
      await expect(
        og.access.rejectAccessRequest(request.id, { note: 'x' }, { actor: me }),
      ).rejects.toBeInstanceOf(ForbiddenError);
      expect((await og.access.accessRequest(request.id))!.state).toBe('pending');
      expect(await og.access.grants({ userId: people[name]!.id, role: 'db_operator' })).toEqual([]);
    }
  });

  it('defaults to access:admin holders as approvers, who must hold what they grant', async () => {
    const alice = await as('alice');
    const until = new Date(clock.now().getTime() + 2 * HOUR);
    const request = await og.access.requestAccess(
      { role: 'operator', reason: 'cover for bob', until },
      { actor: alice },
    );
    // bob approves db_operator requests, not operator ones.
    await expect(
      og.access.approveAccessRequest(request.id, {}, { actor: await as('bob') }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    // An access:admin holder without the role's permissions may not hand them out.
    const manager = await og.access.createUser({ email: 'mgr@example.com', name: 'mgr' }, { actor: admin });
    await og.access.defineRole({ name: 'access_only', permissions: ['access:*'] }, { actor: admin });
    await og.access.grant({ role: 'access_only', userId: manager.id }, { actor: admin });
    const mgr = (await og.access.actorForUser({ id: manager.id }))!;
    await expect(og.access.approveAccessRequest(request.id, {}, { actor: mgr })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      field: 'role',
    });
    const { grant } = await og.access.approveAccessRequest(request.id, {}, { actor: await as('carol') });
    expect(grant.expiresAt).toEqual(until);
    expect(grant.scope).toBeNull();
  });

  it('an approver role decides for the roles naming it', async () => {
    await og.access.defineRole(
      { name: 'release_manager', permissions: ['change:*'], approverRole: 'operator' },
      { actor: admin },
    );
    const request = await og.access.requestAccess(
      { role: 'release_manager', reason: 'CAB' },
      { actor: await as('alice') },
    );
    await expect(
      og.access.approveAccessRequest(request.id, {}, { actor: await as('dave') }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const erin = await og.access.createUser({ email: 'erin@example.com', name: 'erin' }, { actor: admin });
    await og.access.grant({ role: 'operator', userId: erin.id }, { actor: admin });
    const { grant } = await og.access.approveAccessRequest(
      request.id,
      {},
      {
        actor: (await og.access.actorForUser({ id: erin.id }))!,
      },
    );
    expect(grant).toMatchObject({ role: 'release_manager', expiresAt: null });
  });

  it('rejects with a note, and cancels only by the requester', async () => {
    const alice = await as('alice');
    const first = await og.access.requestAccess({ role: 'db_operator', reason: 'curious' }, { actor: alice });
    await expect(
      og.access.rejectAccessRequest(first.id, {} as never, { actor: await as('bob') }),
    ).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'note',
    });
    const rejected = await og.access.rejectAccessRequest(
      first.id,
      { note: 'not needed' },
      { actor: await as('bob') },
    );
    expect(rejected).toMatchObject({
      state: 'rejected',
      decisionNote: 'not needed',
      version: 2,
      grantId: null,
    });

    const second = await og.access.requestAccess({ role: 'db_operator', reason: 'again' }, { actor: alice });
    await expect(
      og.access.cancelAccessRequest(second.id, { actor: await as('carol') }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      og.access.cancelAccessRequest(second.id, { actor: alice, version: 7 }),
    ).rejects.toBeInstanceOf(ConflictError);
    const cancelled = await og.access.cancelAccessRequest(second.id, { actor: alice });
    expect(cancelled).toMatchObject({ state: 'cancelled', decidedBy: `user:${people.alice!.id}` });
    const events = await og.activity.list({ subject: { type: 'access_request', id: second.id } });
    expect(events.map((e) => e.type)).toEqual(['access_request.created', 'access_request.cancelled']);
    await expect(
      og.access.approveAccessRequest(second.id, {}, { actor: await as('carol') }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('lists requests: everything with access:read, one’s own otherwise', async () => {
    // alice holds operator (with access:read) by now: frank only asks.
    const frankUser = await og.access.createUser(
      { email: 'frank@example.com', name: 'frank' },
      { actor: admin },
    );
    await og.access.grant({ role: 'requester', userId: frankUser.id }, { actor: admin });
    const frank = (await og.access.actorForUser({ id: frankUser.id }))!;
    people.frank = { id: frankUser.id, actor: async () => frank };
    await og.access.requestAccess({ role: 'viewer', reason: 'to read' }, { actor: frank });
    const mine = await og.access.accessRequests({}, { actor: frank });
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.requesterId === frankUser.id)).toBe(true);
    await expect(
      og.access.accessRequests({ requesterId: people.bob!.id }, { actor: frank }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const all = await og.access.accessRequests({}, { actor: await as('dave') });
    expect(new Set(all.map((r) => r.requesterId)).size).toBeGreaterThan(1);
    const pending = await og.access.accessRequests({ state: 'pending' });
    expect(pending.every((r) => r.state === 'pending')).toBe(true);
    await expect(og.access.accessRequests({ state: 'open' as never })).rejects.toMatchObject({
      field: 'state',
    });
    const other = all.find((r) => r.requesterId !== frankUser.id)!;
    await expect(og.access.accessRequest(other.id, { actor: frank })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(og.access.accessRequestHistory(other.id, { actor: frank })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
  });

  it('only users (or their tokens) with access:request ask, and bad input names its field and writes nothing', async () => {
    const alice = await as('alice');
    const before = await requestCount();
    const seq = await og.activity.latestSeq();
    await expect(
      og.access.requestAccess({ role: 'viewer', reason: 'x' }, { actor: admin }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    const noRight: Actor = { ...alice, permissions: ['cmdb:read'], scopes: [] };
    await expect(
      og.access.requestAccess({ role: 'viewer', reason: 'x' }, { actor: noRight }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'access:request',
    });
    const past = new Date(clock.now().getTime() - 1000);
    const cases: [Record<string, unknown>, new (...a: never[]) => Error, string][] = [
      [{ role: 'viewer' }, ValidationError, 'reason'],
      [{ role: 'viewer', reason: '  ' }, ValidationError, 'reason'],
      [{ reason: 'x' }, ValidationError, 'role'],
      [{ role: 'ghost', reason: 'x' }, NotFoundError, 'role'],
      [{ role: 'viewer', reason: 'x', durationSeconds: 10 }, ValidationError, 'durationSeconds'],
      [{ role: 'viewer', reason: 'x', durationSeconds: 1.5 }, ValidationError, 'durationSeconds'],
      [{ role: 'viewer', reason: 'x', durationSeconds: 10 ** 9 }, ValidationError, 'durationSeconds'],
      [{ role: 'viewer', reason: 'x', until: past }, ValidationError, 'until'],
      [
        { role: 'viewer', reason: 'x', durationSeconds: 600, until: new Date(clock.now().getTime() + HOUR) },
        ValidationError,
        'until',
      ],
      [
        { role: 'viewer', reason: 'x', scope: { ciId: crypto.randomUUID(), mode: 'contains' } },
        NotFoundError,
        'scope.ciId',
      ],
      [
        { role: 'viewer', reason: 'x', scope: { ciId: shop, mode: 'sideways' } },
        ValidationError,
        'scope.mode',
      ],
      [{ role: 'viewer', reason: 'x', userId: people.bob!.id }, ValidationError, 'userId'],
    ];
    for (const [input, type, field] of cases) {
      const attempt = og.access.requestAccess(input as never, { actor: alice });
      await expect(attempt, JSON.stringify(input)).rejects.toBeInstanceOf(type);
      await expect(attempt, JSON.stringify(input)).rejects.toMatchObject({ field });
    }
    for (const id of [crypto.randomUUID(), 'nope']) {
      await expect(og.access.approveAccessRequest(id, {}, { actor: admin })).rejects.toMatchObject({
        code: 'NOT_FOUND',
        field: 'id',
      });
    }
    expect(await requestCount()).toBe(before);
    expect(await og.activity.latestSeq()).toBe(seq);
  });

  it('a token of a user asks as that user', async () => {
    const carol = await as('carol');
    const { secret } = await og.access.createToken(
      { name: 'cli', permissions: ['access:request'] },
      { actor: carol },
    );
    const token = (await og.access.authenticate(secret))!;
    expect(token.userId).toBe(people.carol!.id);
    // carol's own request for db_operator (made in an earlier test) is still pending: one is enough.
    await expect(
      og.access.requestAccess({ role: 'db_operator', reason: 'from the CLI' }, { actor: token }),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'role' });
    const request = await og.access.requestAccess(
      { role: 'db_operator', reason: 'from the CLI', scope: { ciId: db, mode: 'contains' } },
      { actor: token },
    );
    expect(request.requesterId).toBe(people.carol!.id);
    await expect(og.access.approveAccessRequest(request.id, {}, { actor: carol })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
  });

  it('streams each request change to the requester, its approvers and access:read holders only', async () => {
    const follower = await og.access.createUser(
      { email: 'follower@example.com', name: 'follower' },
      { actor: admin },
    );
    await og.access.grant({ role: 'requester', userId: follower.id }, { actor: admin });
    const [alice, bob, dave, followerActor] = [
      await as('alice'),
      await as('bob'),
      await as('dave'),
      (await og.access.actorForUser({ id: follower.id }))!,
    ];
    const streams = [alice, bob, dave, followerActor].map((actor) =>
      og.access.followAccessRequests({ actor }),
    );
    const request = await og.access.requestAccess(
      {
        role: 'db_operator',
        scope: { ciId: shop, mode: 'dependencies' },
        reason: 'streams',
        durationSeconds: 600,
      },
      { actor: alice },
    );
    await og.access.approveAccessRequest(request.id, { note: 'ok' }, { actor: bob });
    // What each follower sees within a short wait: items, or nothing.
    const within = async (stream: AsyncIterableIterator<unknown>, n: number) => {
      const seen: unknown[] = [];
      while (seen.length < n) {
        const next = await Promise.race([
          stream.next(),
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 500)),
        ]);
        if (!next || next.done) break;
        seen.push(next.value);
      }
      await stream.return?.();
      return seen as {
        kind: string;
        request: { id: string; state: string };
        grant: { role: string } | null;
      }[];
    };
    for (const stream of streams.slice(0, 3)) {
      const seen = await within(stream, 2);
      expect(seen.map((c) => [c.kind, c.request.id, c.request.state])).toEqual([
        ['created', request.id, 'pending'],
        ['approved', request.id, 'approved'],
      ]);
      expect(seen[1]!.grant).toMatchObject({ role: 'db_operator' });
    }
    expect(await within(streams[3]!, 1)).toEqual([]);
  });
});
