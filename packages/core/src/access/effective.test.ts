import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, anonymousActor, can, canOn, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { intersect } from './effective.js';

const admin = systemActor('test');
const HOUR = 3_600_000;
let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

describe('intersect', () => {
  it('keeps what both lists give, wildcards narrowed', () => {
    expect(intersect(['*'], ['cmdb:read', 'incident:*'])).toEqual(['cmdb:read', 'incident:*']);
    expect(intersect(['cmdb:*', 'incident:read'], ['cmdb:read', 'incident:*'])).toEqual([
      'cmdb:read',
      'incident:read',
    ]);
    expect(intersect(['cmdb:write'], ['cmdb:read'])).toEqual([]);
    expect(intersect(['cmdb:read', 'cmdb:write'], ['*'])).toEqual(['cmdb:read', 'cmdb:write']);
  });
});

describe.each(testBackends())('effective access on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  let shop: string;
  let app: string;
  let server: string;
  let other: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    shop = (await og.cmdb.create({ class: 'business_service', name: 'shop' }, { actor: admin })).id;
    app = (await og.cmdb.create({ class: 'application', name: 'shop-app' }, { actor: admin })).id;
    server = (await og.cmdb.create({ class: 'server', name: 'web-1' }, { actor: admin })).id;
    other = (await og.cmdb.create({ class: 'server', name: 'elsewhere' }, { actor: admin })).id;
    await og.cmdb.relate({ type: 'depends_on', sourceId: shop, targetId: app }, { actor: admin });
    await og.cmdb.relate({ type: 'runs_on', sourceId: app, targetId: server }, { actor: admin });
  });
  afterAll(() => og?.close());

  const newUser = async (role?: string, scope?: { ciId: string; mode: 'contains' | 'dependencies' }) => {
    const name = unique('user');
    const user = await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
    const grant = role
      ? await og.access.grant({ role, userId: user.id, scope }, { actor: admin })
      : undefined;
    return { user, grant, actor: async () => (await og.access.actorForUser({ id: user.id }))! };
  };

  describe('actorForUser', () => {
    it('builds the actor of a user; null for an unknown, malformed or inactive one', async () => {
      const { user, actor } = await newUser('agent');
      expect(await actor()).toEqual({
        kind: 'user',
        id: user.id,
        name: user.name,
        userId: user.id,
        permissions: expect.arrayContaining(['cmdb:read', 'incident:*', 'access:tokens']),
        scopes: [],
      });
      expect(await og.access.actorForUser({ id: crypto.randomUUID() })).toBeNull();
      expect(await og.access.actorForUser({ id: 'nope' })).toBeNull();
      expect(await og.access.actorForUser({ externalId: 'nobody' })).toBeNull();
      await og.access.updateUser(user.id, { version: 1, active: false }, { actor: admin });
      expect(await og.access.actorForUser({ id: user.id })).toBeNull();
    });

    it('provisions an unknown external id as the system, once', async () => {
      const ref = { externalId: 'oidc|new', provision: { email: 'new@example.com', name: 'Newcomer' } };
      const [a, b] = await Promise.all([og.access.actorForUser(ref), og.access.actorForUser(ref)]);
      expect(a).toMatchObject({ kind: 'user', name: 'Newcomer', permissions: [] });
      expect(b!.id).toBe(a!.id);
      expect((await og.access.actorForUser(ref))!.id).toBe(a!.id);
      const events = await og.activity.list({ subject: { type: 'user', id: a!.id } });
      expect(events.map((e) => [e.type, e.actor.kind, e.actor.id])).toEqual([
        ['user.created', 'system', 'access-provisioning'],
      ]);
    });
  });

  describe('tokens of users', () => {
    it('a token belongs to its creator and holds at most what the owner holds now', async () => {
      const owner = await newUser('operator');
      const { secret, token } = await og.access.createToken(
        { name: 'laptop', permissions: ['cmdb:read', 'cmdb:write'] },
        { actor: await owner.actor() },
      );
      expect(token.ownerUserId).toBe(owner.user.id);
      const tokenActor = (await og.access.authenticate(secret))!;
      expect(tokenActor).toMatchObject({
        kind: 'token',
        id: token.id,
        userId: owner.user.id,
        permissions: ['cmdb:read', 'cmdb:write'],
      });
      await og.cmdb.create({ class: 'server', name: unique('via-token') }, { actor: tokenActor });

      // Revoking the owner's grant cuts the token at once.
      await og.access.revokeGrant(owner.grant!.id, { actor: admin });
      const cut = (await og.access.authenticate(secret))!;
      expect(cut.permissions).toEqual([]);
      await expect(og.cmdb.create({ class: 'server', name: 'x' }, { actor: cut })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      // A narrower grant gives the token only the overlap.
      await og.access.grant({ role: 'viewer', userId: owner.user.id }, { actor: admin });
      expect((await og.access.authenticate(secret))!.permissions).toEqual(['cmdb:read']);
      // Deactivating the owner: the secret no longer authenticates.
      const user = (await og.access.user(owner.user.id))!;
      await og.access.updateUser(user.id, { version: user.version, active: false }, { actor: admin });
      expect(await og.access.authenticate(secret)).toBeNull();
    });

    it('where the owner holds a permission only on a scope, so does the token', async () => {
      const owner = await newUser('operator', { ciId: shop, mode: 'dependencies' });
      const ownerActor = await owner.actor();
      // Creating a token still refuses what the creator lacks (everywhere).
      await expect(
        og.access.createToken({ name: 'wide', permissions: ['cmdb:write'] }, { actor: ownerActor }),
      ).rejects.toBeInstanceOf(ForbiddenError);
      // Scoped to a CI where the owner holds it, it may.
      const { secret, token } = await og.access.createToken(
        { name: 'scoped', permissions: ['cmdb:write'], scope: { ciId: app, mode: 'dependencies' } },
        { actor: { ...ownerActor, permissions: [...ownerActor.permissions, 'access:tokens'] } },
      );
      expect(token.scope).toEqual({ ciId: app, mode: 'dependencies' });
      const tokenActor = (await og.access.authenticate(secret))!;
      expect(tokenActor.permissions).toEqual([]);
      expect(canOn(tokenActor, 'cmdb:write', server)).toBe(true);
      expect(canOn(tokenActor, 'cmdb:write', app)).toBe(true);
      // The token's scope (the app and below) is narrower than the owner's (the shop and below).
      expect(canOn(tokenActor, 'cmdb:write', shop)).toBe(false);
      expect(canOn(tokenActor, 'cmdb:read', server)).toBe(false);
      await expect(
        og.access.createToken(
          { name: 'elsewhere', permissions: ['cmdb:write'], scope: { ciId: other, mode: 'contains' } },
          { actor: { ...ownerActor, permissions: ['access:tokens'] } },
        ),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', field: 'permissions.0' });
    });

    it('a token without an owner keeps its permissions, limited to its scope', async () => {
      const { secret } = await og.access.createToken(
        { name: 'integration', permissions: ['cmdb:write'], scope: { ciId: shop, mode: 'dependencies' } },
        { actor: admin },
      );
      const actor = (await og.access.authenticate(secret))!;
      expect(actor.userId).toBeUndefined();
      expect(actor.permissions).toEqual([]);
      expect([...actor.scopes![0]!.ciIds].sort()).toEqual([shop, app, server].sort());
      expect(canOn(actor, 'cmdb:write', other)).toBe(false);
      await expect(
        og.access.createToken(
          { name: 'bad', permissions: ['cmdb:read'], scope: { ciId: crypto.randomUUID(), mode: 'contains' } },
          { actor: admin },
        ),
      ).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'scope.ciId' });
    });

    it('lists and revokes one’s own tokens with access:tokens; others’ need access:admin', async () => {
      const a = await newUser('agent');
      const b = await newUser('agent');
      const mine = await og.access.createToken(
        { name: 'mine', permissions: ['cmdb:read'] },
        { actor: await a.actor() },
      );
      const theirs = await og.access.createToken(
        { name: 'theirs', permissions: ['cmdb:read'] },
        { actor: await b.actor() },
      );
      const listed = await og.access.listTokens({ actor: await a.actor() });
      expect(listed.map((t) => t.id)).toEqual([mine.token.id]);
      await expect(og.access.revokeToken(theirs.token.id, { actor: await a.actor() })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        field: 'id',
      });
      await og.access.revokeToken(mine.token.id, { actor: await a.actor() });
      expect(await og.access.authenticate(mine.secret)).toBeNull();
    });
  });

  describe('currentActor', () => {
    it('reflects a revocation at once, and answers repeats from a cache without a query', async () => {
      const { grant, actor } = await newUser('operator');
      const before = await actor();
      const current = await og.access.currentActor(before);
      expect(can(current!, 'cmdb:write')).toBe(true);
      const { result, queries } = await og.queries.measure(() => og.access.currentActor(before));
      expect(result).toEqual(current);
      expect(queries).toHaveLength(0);
      await og.access.revokeGrant(grant!.id, { actor: admin });
      expect(can((await og.access.currentActor(before))!, 'cmdb:write')).toBe(false);
      expect(can(before, 'cmdb:write')).toBe(true);
    });

    it('drops a cached actor when its grant expires by the clock', async () => {
      const { user } = await newUser();
      await og.access.grant(
        { role: 'operator', userId: user.id, expiresAt: new Date(clock.now().getTime() + HOUR) },
        { actor: admin },
      );
      const actor = (await og.access.actorForUser({ id: user.id }))!;
      expect(can((await og.access.currentActor(actor))!, 'cmdb:write')).toBe(true);
      clock.advance(HOUR);
      expect(can((await og.access.currentActor(actor))!, 'cmdb:write')).toBe(false);
    });

    it('follows the CMDB: a CI related into a scope is covered at once', async () => {
      const { actor } = await newUser('operator', { ciId: shop, mode: 'dependencies' });
      const before = await actor();
      const db = (await og.cmdb.create({ class: 'database', name: unique('db') }, { actor: admin })).id;
      expect(canOn((await og.access.currentActor(before))!, 'cmdb:write', db)).toBe(false);
      await og.cmdb.relate({ type: 'depends_on', sourceId: app, targetId: db }, { actor: admin });
      expect(canOn((await og.access.currentActor(before))!, 'cmdb:write', db)).toBe(true);
    });

    it('is null for a deactivated user and a revoked or expired token; other actors are themselves', async () => {
      const { user, actor } = await newUser('agent');
      const before = await actor();
      const { secret, token } = await og.access.createToken(
        { name: 'short', permissions: ['cmdb:read'], expiresAt: new Date(clock.now().getTime() + HOUR) },
        { actor: before },
      );
      const tokenActor = (await og.access.authenticate(secret))!;
      expect((await og.access.currentActor(tokenActor))!.permissions).toEqual(['cmdb:read']);
      clock.advance(HOUR);
      expect(await og.access.currentActor(tokenActor)).toBeNull();

      const second = await og.access.createToken(
        { name: 'second', permissions: ['cmdb:read'] },
        { actor: before },
      );
      const secondActor = (await og.access.authenticate(second.secret))!;
      expect(await og.access.currentActor(secondActor)).not.toBeNull();
      await og.access.revokeToken(second.token.id, { actor: admin });
      expect(await og.access.currentActor(secondActor)).toBeNull();

      await og.access.updateUser(user.id, { version: 1, active: false }, { actor: admin });
      expect(await og.access.currentActor(before)).toBeNull();
      expect(token.ownerUserId).toBe(user.id);

      const appMade: Actor = { kind: 'user', id: 'app-user', name: 'App user', permissions: ['cmdb:read'] };
      for (const same of [admin, anonymousActor, appMade])
        expect(await og.access.currentActor(same)).toBe(same);
    });
  });
});
