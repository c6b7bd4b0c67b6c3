import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');
let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

describe.each(testBackends())('users and groups on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  const count = async (table: string) =>
    Number(
      (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(og.db)).rows[0]!
        .n,
    );
  /** Expects `attempt` to fail with `type` naming `field`, and nothing written (rows, events). */
  const refused = async (
    attempt: () => Promise<unknown>,
    type: new (...args: never[]) => Error,
    field: string | undefined,
  ) => {
    const tables = ['access_users', 'access_groups', 'access_group_members', 'access_roles'];
    const before = await Promise.all(tables.map(count));
    const seq = await og.activity.latestSeq();
    const error = await attempt().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error, `expected ${type.name} on ${field}`).toBeInstanceOf(type);
    expect((error as { field?: string }).field).toBe(field);
    expect(await Promise.all(tables.map(count))).toEqual(before);
    expect(await og.activity.latestSeq()).toBe(seq);
    return error as Error;
  };
  const newUser = (name = unique('user')) =>
    og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
  const newGroup = (name = unique('group')) => og.access.createGroup({ name }, { actor: admin });

  describe('users', () => {
    it('creates a user, audited, and finds it by id and external id', async () => {
      const user = await og.access.createUser(
        { email: ' Ada@Example.com ', name: 'Ada Lovelace', externalId: 'oidc|ada' },
        { actor: admin },
      );
      expect(user).toMatchObject({
        email: 'Ada@Example.com',
        name: 'Ada Lovelace',
        externalId: 'oidc|ada',
        active: true,
        version: 1,
      });
      expect(await og.access.user(user.id)).toEqual(user);
      expect(await og.access.user(user.id.toUpperCase())).toEqual(user);
      expect(await og.access.userByExternalId('oidc|ada')).toEqual(user);
      expect(await og.access.user('not-a-uuid')).toBeNull();
      expect(await og.access.user(crypto.randomUUID())).toBeNull();
      const events = await og.activity.list({ subject: { type: 'user', id: user.id } });
      expect(events.map((e) => [e.type, e.actor.id])).toEqual([['user.created', 'test']]);
    });

    it('keeps email unique case-insensitively and external id unique, naming the field', async () => {
      await og.access.createUser(
        { email: 'grace@example.com', name: 'Grace', externalId: 'g' },
        { actor: admin },
      );
      await refused(
        () => og.access.createUser({ email: 'GRACE@example.COM', name: 'Other' }, { actor: admin }),
        ValidationError,
        'email',
      );
      await refused(
        () =>
          og.access.createUser({ email: 'x@example.com', name: 'Other', externalId: 'g' }, { actor: admin }),
        ValidationError,
        'externalId',
      );
    });

    it('names the field at fault in bad input, and writes nothing', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ email: 'not-an-email', name: 'x' }, 'email'],
        [{ name: 'x' }, 'email'],
        [{ email: 'a@example.com' }, 'name'],
        [{ email: 'a@example.com', name: '   ' }, 'name'],
        [{ email: 'a@example.com', name: 'x', externalId: '' }, 'externalId'],
        [{ email: 'a@example.com', name: 'x', active: 'yes' }, 'active'],
        [{ email: 'a@example.com', name: 'x', role: 'admin' }, 'role'],
      ];
      for (const [input, field] of cases) {
        await refused(() => og.access.createUser(input as never, { actor: admin }), ValidationError, field);
      }
    });

    it('updates with optimistic concurrency: a stale version is a ConflictError', async () => {
      const user = await newUser();
      const renamed = await og.access.updateUser(user.id, { version: 1, name: 'Renamed' }, { actor: admin });
      expect(renamed).toMatchObject({ name: 'Renamed', version: 2 });
      await refused(
        () => og.access.updateUser(user.id, { version: 1, name: 'Stale' }, { actor: admin }),
        ConflictError,
        'version',
      );
      // Two writers that read the same version: one wins, the other is told.
      const results = await Promise.allSettled([
        og.access.updateUser(user.id, { version: 2, name: 'First' }, { actor: admin }),
        og.access.updateUser(user.id, { version: 2, name: 'Second' }, { actor: admin }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(failure.reason).toBeInstanceOf(ConflictError);
      expect((await og.access.user(user.id))!.version).toBe(3);
      const events = await og.activity.list({ subject: { type: 'user', id: user.id } });
      expect(events.map((e) => e.type)).toEqual(['user.created', 'user.updated', 'user.updated']);
      // Nothing to change: no new version, no event.
      const same = await og.access.updateUser(
        user.id,
        { version: 3, name: (await og.access.user(user.id))!.name },
        { actor: admin },
      );
      expect(same.version).toBe(3);
      await refused(
        () => og.access.updateUser(crypto.randomUUID(), { version: 1, name: 'x' }, { actor: admin }),
        NotFoundError,
        'id',
      );
      await refused(
        () => og.access.updateUser(user.id, { name: 'no version' } as never, { actor: admin }),
        ValidationError,
        'version',
      );
      const other = await newUser();
      await refused(
        () =>
          og.access.updateUser(user.id, { version: 3, email: other.email.toUpperCase() }, { actor: admin }),
        ValidationError,
        'email',
      );
    });

    it('deactivates through update, and lists by name with keyset pages, search and the active filter', async () => {
      const tag = unique('zz-page');
      const made = [];
      for (const name of ['c', 'a', 'd', 'b']) made.push(await newUser(`${tag}-${name}`));
      await og.access.updateUser(made[2]!.id, { version: 1, active: false }, { actor: admin });
      const first = await og.access.users({ search: tag, first: 2 });
      expect(first.edges.map((e) => e.node.name)).toEqual([`${tag}-a`, `${tag}-b`]);
      expect(first.hasNextPage).toBe(true);
      const second = await og.access.users({ search: tag, first: 2, after: first.endCursor });
      expect(second.edges.map((e) => e.node.name)).toEqual([`${tag}-c`, `${tag}-d`]);
      expect(second.hasNextPage).toBe(false);
      const active = await og.access.users({ search: tag, active: true });
      expect(active.edges.map((e) => e.node.name)).toEqual([`${tag}-a`, `${tag}-b`, `${tag}-c`]);
      expect((await og.access.users({ search: `${tag}-a@EXAMPLE` })).edges).toHaveLength(1);
      expect((await og.access.users({ search: '%' })).edges).toHaveLength(0);
      await expect(og.access.users({ after: 'garbage' })).rejects.toMatchObject({ field: 'after' });
      await expect(og.access.users({ first: 10_000 })).rejects.toMatchObject({ field: 'first' });
    });

    it('reading needs access:read, except one reading itself; writing needs access:admin', async () => {
      const user = await newUser();
      const self: Actor = { kind: 'user', id: user.id, name: user.name, userId: user.id, permissions: [] };
      expect(await og.access.user(user.id, { actor: self })).toMatchObject({ id: user.id });
      await expect(og.access.users({}, { actor: self })).rejects.toBeInstanceOf(ForbiddenError);
      await expect(og.access.user((await newUser()).id, { actor: self })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      const reader: Actor = { kind: 'user', id: 'r', name: 'Reader', permissions: ['access:read'] };
      expect((await og.access.users({}, { actor: reader })).edges.length).toBeGreaterThan(0);
      await refused(
        () => og.access.createUser({ email: 'r@example.com', name: 'r' }, { actor: reader }),
        ForbiddenError,
        undefined,
      );
    });
  });

  it('reads users and groups by id in one query each, null where unknown or not visible', async () => {
    const [a, b] = [await newUser(), await newUser()];
    const group = await og.access.createGroup({ name: unique('by-id') }, { actor: admin });
    const unknown = '00000000-0000-4000-8000-000000000000';
    const { result, queries } = await og.queries.measure(() =>
      og.access.usersById([b.id, 'not-a-uuid', a.id.toUpperCase(), unknown, b.id], { actor: admin }),
    );
    expect(result.map((u) => u?.id ?? null)).toEqual([b.id, null, a.id, null, b.id]);
    expect(queries).toHaveLength(1);
    // Without access:read a user sees only themselves, and no group.
    const self: Actor = { kind: 'user', id: a.id, name: a.name, userId: a.id, permissions: [] };
    expect((await og.access.usersById([a.id, b.id], { actor: self })).map((u) => u?.id ?? null)).toEqual([
      a.id,
      null,
    ]);
    expect(await og.access.groupsById([group.id], { actor: self })).toEqual([null]);
    expect(
      (await og.access.groupsById([group.id, unknown], { actor: admin })).map((g) => g?.name ?? null),
    ).toEqual([group.name, null]);
  });

  describe('groups', () => {
    it('creates groups with case-insensitively unique names', async () => {
      const group = await og.access.createGroup(
        { name: 'Network Ops', description: 'L2 network' },
        { actor: admin },
      );
      expect(group).toMatchObject({ name: 'Network Ops', description: 'L2 network', version: 1 });
      await refused(
        () => og.access.createGroup({ name: 'network ops' }, { actor: admin }),
        ValidationError,
        'name',
      );
      await refused(() => og.access.createGroup({ name: '' }, { actor: admin }), ValidationError, 'name');
      await refused(
        () => og.access.updateGroup(group.id, { version: 2, name: 'x' }, { actor: admin }),
        ConflictError,
        'version',
      );
      const other = await newGroup();
      await refused(
        () => og.access.updateGroup(other.id, { version: 1, name: 'NETWORK OPS' }, { actor: admin }),
        ValidationError,
        'name',
      );
      expect((await og.access.groups({ search: 'network o' })).edges.map((e) => e.node.id)).toEqual([
        group.id,
      ]);
    });

    it('nests groups: a user in an inner group is in every outer one, found by one recursive query', async () => {
      const [outer, middle, inner, aside] = [
        await newGroup(),
        await newGroup(),
        await newGroup(),
        await newGroup(),
      ];
      const user = await newUser();
      const direct = await newUser();
      await og.access.addGroupMember(outer.id, { groupId: middle.id }, { actor: admin });
      await og.access.addGroupMember(middle.id, { groupId: inner.id }, { actor: admin });
      const members = await og.access.addGroupMember(inner.id, { userId: user.id }, { actor: admin });
      expect(members.users.map((u) => u.id)).toEqual([user.id]);
      await og.access.addGroupMember(outer.id, { userId: direct.id }, { actor: admin });

      const { result, queries } = await og.queries.measure(() => og.access.groupsOfUser(user.id));
      expect(result.map((g) => g.id).sort()).toEqual([outer.id, middle.id, inner.id].sort());
      expect(queries).toHaveLength(1);
      expect(result.map((g) => g.id)).not.toContain(aside.id);

      expect(await og.access.groupMembers(outer.id)).toEqual({
        users: [expect.objectContaining({ id: direct.id })],
        groups: [expect.objectContaining({ id: middle.id })],
      });
      const all = await og.access.groupMembers(outer.id, { transitive: true });
      expect(all.users.map((u) => u.id).sort()).toEqual([user.id, direct.id].sort());

      await og.access.removeGroupMember(middle.id, { groupId: inner.id }, { actor: admin });
      expect((await og.access.groupsOfUser(user.id)).map((g) => g.id)).toEqual([inner.id]);
      await refused(
        () => og.access.removeGroupMember(middle.id, { groupId: inner.id }, { actor: admin }),
        NotFoundError,
        'groupId',
      );
      const events = await og.activity.list({ subject: { type: 'group', id: middle.id } });
      expect(events.map((e) => e.type)).toEqual([
        'group.created',
        'group.member_added',
        'group.member_removed',
      ]);
    });

    it('refuses a group inside itself, directly or through others, naming groupId', async () => {
      const [a, b, c] = [await newGroup(), await newGroup(), await newGroup()];
      await og.access.addGroupMember(a.id, { groupId: b.id }, { actor: admin });
      await og.access.addGroupMember(b.id, { groupId: c.id }, { actor: admin });
      await refused(
        () => og.access.addGroupMember(a.id, { groupId: a.id }, { actor: admin }),
        ValidationError,
        'groupId',
      );
      await refused(
        () => og.access.addGroupMember(b.id, { groupId: a.id }, { actor: admin }),
        ValidationError,
        'groupId',
      );
      const error = await refused(
        () => og.access.addGroupMember(c.id, { groupId: a.id }, { actor: admin }),
        ValidationError,
        'groupId',
      );
      expect(error.message).toContain('cycle');
      // A diamond is not a cycle.
      await og.access.addGroupMember(a.id, { groupId: c.id }, { actor: admin });
    });

    it('refuses a cycle closed by two writers at once', async () => {
      const [a, b] = [await newGroup(), await newGroup()];
      const results = await Promise.allSettled([
        og.access.addGroupMember(a.id, { groupId: b.id }, { actor: admin }),
        og.access.addGroupMember(b.id, { groupId: a.id }, { actor: admin }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
        ValidationError,
      );
    });

    it('refuses duplicates and bad members clearly, naming the field', async () => {
      const group = await newGroup();
      const user = await newUser();
      await og.access.addGroupMember(group.id, { userId: user.id }, { actor: admin });
      const duplicate = await refused(
        () => og.access.addGroupMember(group.id, { userId: user.id }, { actor: admin }),
        ValidationError,
        'userId',
      );
      expect(duplicate.message).toContain('already a member');
      await refused(
        () => og.access.addGroupMember(group.id, { userId: crypto.randomUUID() }, { actor: admin }),
        NotFoundError,
        'userId',
      );
      await refused(
        () => og.access.addGroupMember(group.id, { groupId: 'nope' }, { actor: admin }),
        NotFoundError,
        'groupId',
      );
      await refused(
        () => og.access.addGroupMember(crypto.randomUUID(), { userId: user.id }, { actor: admin }),
        NotFoundError,
        'id',
      );
      await refused(
        () =>
          og.access.addGroupMember(group.id, { userId: user.id, groupId: group.id } as never, {
            actor: admin,
          }),
        ValidationError,
        'userId',
      );
      await refused(
        () => og.access.addGroupMember(group.id, {} as never, { actor: admin }),
        ValidationError,
        'userId',
      );
      await refused(
        () =>
          og.access.addGroupMember(
            group.id,
            { userId: user.id },
            { actor: { ...admin, permissions: ['access:read'] } },
          ),
        ForbiddenError,
        undefined,
      );
    });

    it('a renamed group stays the approver of the roles naming it', async () => {
      const group = await newGroup('Approvers');
      await og.access.defineRole(
        { name: 'guarded', permissions: ['cmdb:read'], approverGroup: 'approvers' },
        { actor: admin },
      );
      expect((await og.access.role('guarded'))!.approverGroup).toBe('Approvers');
      await og.access.updateGroup(group.id, { version: 1, name: 'Gatekeepers' }, { actor: admin });
      expect((await og.access.role('guarded'))!.approverGroup).toBe('Gatekeepers');
    });
  });
});
