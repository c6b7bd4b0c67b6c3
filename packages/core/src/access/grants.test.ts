import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, can, canOn, reachOf, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');
const HOUR = 3_600_000;
let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

describe.each(testBackends())('grants on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  /** CI ids by name. */
  const ci: Record<string, string> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    // shop → shop-app → (web-1, shop-db); billing → billing-app → web-2;
    // rack-a contains web-1 and enclosure-1, which contains web-2.
    const make = async (name: string, cls: string) => {
      ci[name] = (await og.cmdb.create({ class: cls, name }, { actor: admin })).id;
    };
    await make('shop', 'business_service');
    await make('shop-app', 'application');
    await make('shop-db', 'database');
    await make('web-1', 'server');
    await make('billing', 'business_service');
    await make('billing-app', 'application');
    await make('web-2', 'server');
    await make('rack-a', 'hardware');
    await make('enclosure-1', 'hardware');
    await make('old', 'server');
    const relate = (type: string, source: string, target: string) =>
      og.cmdb.relate({ type, sourceId: ci[source]!, targetId: ci[target]! }, { actor: admin });
    await relate('depends_on', 'shop', 'shop-app');
    await relate('runs_on', 'shop-app', 'web-1');
    await relate('depends_on', 'shop-app', 'shop-db');
    await relate('depends_on', 'billing', 'billing-app');
    await relate('runs_on', 'billing-app', 'web-2');
    await relate('contains', 'rack-a', 'web-1');
    await relate('contains', 'rack-a', 'enclosure-1');
    await relate('contains', 'enclosure-1', 'web-2');
    const old = (await og.cmdb.get(ci.old!))!;
    await og.cmdb.retire(old.id, old.version, { actor: admin });
  });
  afterAll(() => og?.close());

  const newUser = async () => {
    const name = unique('user');
    return og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
  };
  const actorOf = async (userId: string) => (await og.access.actorForUser({ id: userId }))!;
  const names = (ids: ReadonlySet<string>) =>
    [...ids].map((id) => Object.entries(ci).find(([, v]) => v === id)?.[0] ?? id).sort();
  const grantCount = async () =>
    Number(
      (await sql<{ n: number }>`select count(*)::int as n from access_grants`.execute(og.db)).rows[0]!.n,
    );

  it('a grant on a business service covers what it depends on, and only that', async () => {
    const user = await newUser();
    const grant = await og.access.grant(
      {
        role: 'operator',
        userId: user.id,
        scope: { ciId: ci.shop!, mode: 'dependencies' },
        reason: 'on call',
      },
      { actor: admin },
    );
    expect(grant).toMatchObject({
      role: 'operator',
      userId: user.id,
      groupId: null,
      scope: { ciId: ci.shop, mode: 'dependencies' },
      reason: 'on call',
      createdBy: 'system:test',
    });
    const actor = await actorOf(user.id);
    expect(actor.permissions).toEqual([]);
    expect(actor.scopes).toHaveLength(1);
    const [scope] = actor.scopes!;
    expect(scope).toMatchObject({ ciId: ci.shop, mode: 'dependencies' });
    // The service and its topology downstream: the app, its server and database, and the rack holding the server.
    expect(names(scope!.ciIds)).toEqual(['rack-a', 'shop', 'shop-app', 'shop-db', 'web-1']);
    const downstream = await og.topology.downstream(ci.shop!);
    expect(names(scope!.ciIds)).toEqual(names(new Set([ci.shop!, ...downstream.map((c) => c.id)])));

    expect(canOn(actor, 'cmdb:write', ci['web-1']!)).toBe(true);
    expect(canOn(actor, 'incident:write', ci['shop-db']!)).toBe(true);
    expect(canOn(actor, 'cmdb:write', ci['web-2']!)).toBe(false);
    expect(canOn(actor, 'cmdb:write', ci.billing!)).toBe(false);
    expect(canOn(actor, 'cmdb:admin', ci.shop!)).toBe(false);
    expect(can(actor, 'cmdb:write')).toBe(false);
    const reach = reachOf(actor, 'cmdb:read');
    expect(reach).not.toBe('all');
    expect(names(reach as ReadonlySet<string>)).toEqual(names(scope!.ciIds));
    // A global write still needs the global permission.
    await expect(og.cmdb.create({ class: 'server', name: 'x' }, { actor })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
  });

  it('a contains grant covers the CI and what it contains, transitively, and nothing it runs', async () => {
    const user = await newUser();
    await og.access.grant(
      { role: 'viewer', userId: user.id, scope: { ciId: ci['rack-a']!, mode: 'contains' } },
      { actor: admin },
    );
    const actor = await actorOf(user.id);
    expect(names(actor.scopes![0]!.ciIds)).toEqual(['enclosure-1', 'rack-a', 'web-1', 'web-2']);
    expect(canOn(actor, 'cmdb:read', ci['web-2']!)).toBe(true);
    expect(canOn(actor, 'cmdb:read', ci['shop-app']!)).toBe(false);
  });

  it('merges global and scoped grants of the user and of its (nested) groups', async () => {
    const user = await newUser();
    const outer = await og.access.createGroup({ name: unique('outer') }, { actor: admin });
    const inner = await og.access.createGroup({ name: unique('inner') }, { actor: admin });
    await og.access.addGroupMember(outer.id, { groupId: inner.id }, { actor: admin });
    await og.access.addGroupMember(inner.id, { userId: user.id }, { actor: admin });
    await og.access.grant({ role: 'requester', userId: user.id }, { actor: admin });
    await og.access.grant({ role: 'viewer', groupId: outer.id }, { actor: admin });
    await og.access.grant(
      { role: 'operator', groupId: inner.id, scope: { ciId: ci.billing!, mode: 'dependencies' } },
      { actor: admin },
    );
    const actor = await actorOf(user.id);
    expect(can(actor, 'request:create')).toBe(true);
    expect(can(actor, 'cmdb:read')).toBe(true);
    expect(can(actor, 'cmdb:write')).toBe(false);
    expect(canOn(actor, 'cmdb:write', ci['web-2']!)).toBe(true);
    // Held everywhere already: a scope lists only what it adds.
    expect(actor.scopes![0]!.permissions).not.toContain('cmdb:read');
    expect(actor.scopes![0]!.permissions).toContain('cmdb:write');
    const listed = await og.access.grants({ userId: user.id, includeGroups: true });
    expect(listed.map((g) => g.role).sort()).toEqual(['operator', 'requester', 'viewer']);
    expect((await og.access.grants({ userId: user.id })).map((g) => g.role)).toEqual(['requester']);
    expect((await og.access.grants({ groupId: inner.id })).map((g) => g.role)).toEqual(['operator']);
  });

  it('time-bound access stops counting at expiresAt, at once; the sweep announces it exactly once', async () => {
    const user = await newUser();
    const expiresAt = new Date(clock.now().getTime() + HOUR);
    const grant = await og.access.grant({ role: 'operator', userId: user.id, expiresAt }, { actor: admin });
    const other = await og.access.grant(
      { role: 'viewer', userId: (await newUser()).id, expiresAt: new Date(expiresAt.getTime() + 1000) },
      { actor: admin },
    );
    expect(can(await actorOf(user.id), 'cmdb:write')).toBe(true);
    clock.advance(HOUR - 1);
    expect(can(await actorOf(user.id), 'cmdb:write')).toBe(true);
    expect(await og.access.sweepExpired()).toEqual([]);
    clock.advance(1);
    // No sweep has run: the check compares with the clock.
    expect(can(await actorOf(user.id), 'cmdb:write')).toBe(false);
    expect((await og.access.grants({ userId: user.id, active: true })).length).toBe(0);
    expect((await og.access.grants({ userId: user.id, active: false })).map((g) => g.id)).toEqual([grant.id]);

    clock.advance(1000);
    // Two replicas' timers at once, then one more: each grant is marked and announced once.
    const [a, b] = await Promise.all([og.access.sweepExpired(), og.access.sweepExpired()]);
    expect([...a, ...b].map((g) => g.id).sort()).toEqual([grant.id, other.id].sort());
    expect(await og.access.sweepExpired()).toEqual([]);
    for (const g of [grant, other]) {
      const events = await og.activity.list({ subject: { type: 'grant', id: g.id } });
      expect(events.map((e) => e.type)).toEqual(['grant.created', 'grant.expired']);
      expect(events[1]!.actor).toMatchObject({ kind: 'system', id: 'access-expiry' });
    }
    expect((await og.access.grantById(grant.id))!.expiredAt).toEqual(clock.now());
  });

  it('revoking stops a grant at once; twice is harmless and records one event', async () => {
    const user = await newUser();
    const grant = await og.access.grant({ role: 'operator', userId: user.id }, { actor: admin });
    const revoked = await og.access.revokeGrant(grant.id, { actor: admin });
    expect(revoked).toMatchObject({ revokedAt: clock.now(), revokedBy: 'system:test' });
    expect(can(await actorOf(user.id), 'cmdb:read')).toBe(false);
    expect((await og.access.revokeGrant(grant.id, { actor: admin })).revokedAt).toEqual(revoked.revokedAt);
    const events = await og.activity.list({ subject: { type: 'grant', id: grant.id } });
    expect(events.map((e) => e.type)).toEqual(['grant.created', 'grant.revoked']);
    await expect(og.access.revokeGrant(crypto.randomUUID(), { actor: admin })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      field: 'id',
    });
  });

  it('never lets an actor grant a role with permissions it does not hold where the grant applies', async () => {
    await og.access.defineRole(
      { name: 'access_manager', permissions: ['access:admin', 'access:read', 'cmdb:read'] },
      { actor: admin },
    );
    await og.access.defineRole({ name: 'cmdb_reader', permissions: ['cmdb:read'] }, { actor: admin });
    const manager = await newUser();
    await og.access.grant({ role: 'access_manager', userId: manager.id }, { actor: admin });
    await og.access.grant(
      { role: 'operator', userId: manager.id, scope: { ciId: ci.shop!, mode: 'dependencies' } },
      { actor: admin },
    );
    const actor = await actorOf(manager.id);
    const target = await newUser();
    const before = await grantCount();
    await expect(og.access.grant({ role: 'viewer', userId: target.id }, { actor })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      field: 'role',
      permission: 'activity:read',
    });
    await expect(og.access.grant({ role: 'admin', userId: target.id }, { actor })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      field: 'role',
      permission: '*',
    });
    // What it holds only on the shop's CIs, it may grant there (or on part of it), not elsewhere.
    await expect(
      og.access.grant(
        { role: 'operator', userId: target.id, scope: { ciId: ci.billing!, mode: 'dependencies' } },
        { actor },
      ),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', field: 'role' });
    expect(await grantCount()).toBe(before);
    await og.access.grant({ role: 'cmdb_reader', userId: target.id }, { actor });
    await og.access.grant(
      { role: 'operator', userId: target.id, scope: { ciId: ci['shop-app']!, mode: 'dependencies' } },
      { actor },
    );
    expect(canOn(await actorOf(target.id), 'cmdb:write', ci['shop-db']!)).toBe(true);
    // Without access:admin at all.
    const viewer = await newUser();
    await og.access.grant({ role: 'viewer', userId: viewer.id }, { actor: admin });
    await expect(
      og.access.grant({ role: 'cmdb_reader', userId: target.id }, { actor: await actorOf(viewer.id) }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', permission: 'access:admin' });
  });

  it('names the field at fault in every bad input, and writes nothing', async () => {
    const user = await newUser();
    const group = await og.access.createGroup({ name: unique('g') }, { actor: admin });
    const past = new Date(clock.now().getTime() - 1);
    const cases: [Record<string, unknown>, new (...a: never[]) => Error, string][] = [
      [{ role: 'operator' }, ValidationError, 'userId'],
      [{ role: 'operator', userId: user.id, groupId: group.id }, ValidationError, 'userId'],
      [{ role: 'Operator!', userId: user.id }, ValidationError, 'role'],
      [{ role: 'no_such_role', userId: user.id }, NotFoundError, 'role'],
      [{ role: 'operator', userId: 'nope' }, ValidationError, 'userId'],
      [{ role: 'operator', userId: crypto.randomUUID() }, NotFoundError, 'userId'],
      [{ role: 'operator', groupId: crypto.randomUUID() }, NotFoundError, 'groupId'],
      [{ role: 'operator', userId: user.id, expiresAt: past }, ValidationError, 'expiresAt'],
      [{ role: 'operator', userId: user.id, expiresAt: clock.now() }, ValidationError, 'expiresAt'],
      [{ role: 'operator', userId: user.id, expiresAt: 'soon' }, ValidationError, 'expiresAt'],
      [
        { role: 'operator', userId: user.id, scope: { ciId: crypto.randomUUID(), mode: 'contains' } },
        NotFoundError,
        'scope.ciId',
      ],
      [
        { role: 'operator', userId: user.id, scope: { ciId: ci.old, mode: 'contains' } },
        NotFoundError,
        'scope.ciId',
      ],
      [
        { role: 'operator', userId: user.id, scope: { ciId: 'x', mode: 'contains' } },
        ValidationError,
        'scope.ciId',
      ],
      [
        { role: 'operator', userId: user.id, scope: { ciId: ci.shop, mode: 'everything' } },
        ValidationError,
        'scope.mode',
      ],
      [{ role: 'operator', userId: user.id, scope: { ciId: ci.shop } }, ValidationError, 'scope.mode'],
      [{ role: 'operator', userId: user.id, reason: '' }, ValidationError, 'reason'],
      [{ role: 'operator', userId: user.id, until: past }, ValidationError, 'until'],
    ];
    const before = await grantCount();
    const seq = await og.activity.latestSeq();
    for (const [input, type, field] of cases) {
      const attempt = og.access.grant(input as never, { actor: admin });
      await expect(attempt, JSON.stringify(input)).rejects.toBeInstanceOf(type);
      await expect(attempt, JSON.stringify(input)).rejects.toMatchObject({ field });
    }
    expect(await grantCount()).toBe(before);
    expect(await og.activity.latestSeq()).toBe(seq);
  });

  it('reading grants needs access:read, except one reading its own', async () => {
    const user = await newUser();
    await og.access.grant({ role: 'requester', userId: user.id }, { actor: admin });
    const actor = await actorOf(user.id);
    expect((await og.access.grants({ userId: user.id }, { actor })).map((g) => g.role)).toEqual([
      'requester',
    ]);
    await expect(og.access.grants({}, { actor })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(og.access.grants({ userId: (await newUser()).id }, { actor })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    // Their events are access:read's too.
    const reader: Actor = { kind: 'user', id: 'r', name: 'R', permissions: ['activity:read'] };
    const events = await og.activity.list({ types: ['grant.created'] }, { actor: reader });
    expect(events).toEqual([]);
    const both: Actor = { ...reader, permissions: ['activity:read', 'access:read'] };
    expect((await og.activity.list({ types: ['grant.created'] }, { actor: both })).length).toBeGreaterThan(0);
  });
});
