import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, can, systemActor } from '../kernel/actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { definePlugin, PluginLoadError } from '../kernel/plugins.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { registerPluginRoles } from './roles.js';

const admin = systemActor('test');
let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

type Operation =
  | 'cmdbRead'
  | 'cmdbWrite'
  | 'cmdbAdmin'
  | 'activityRead'
  | 'accessRead'
  | 'accessAdmin'
  | 'tokens'
  | 'request'
  | 'grant';

/** What each core role may do among the operations that exist; everything else is refused. */
const allowed: Record<string, readonly Operation[]> = {
  admin: [
    'cmdbRead',
    'cmdbWrite',
    'cmdbAdmin',
    'activityRead',
    'accessRead',
    'accessAdmin',
    'tokens',
    'request',
    'grant',
  ],
  operator: ['cmdbRead', 'cmdbWrite', 'activityRead', 'accessRead', 'tokens', 'request'],
  agent: ['cmdbRead', 'activityRead', 'tokens', 'request'],
  requester: ['request'],
  viewer: ['cmdbRead', 'activityRead', 'accessRead', 'request'],
};
const operations: readonly Operation[] = allowed.admin!;

describe.each(testBackends())('roles on %s', (backend) => {
  let og: TestOpsGraph;
  let service: string;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
    service = (await og.cmdb.create({ class: 'business_service', name: 'shop' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  /** A stored user holding `role` everywhere, as its actor. */
  const userWith = async (role: string): Promise<Actor> => {
    const name = unique(role);
    const user = await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
    await og.access.grant({ role, userId: user.id }, { actor: admin });
    return (await og.access.actorForUser({ id: user.id }))!;
  };

  const run: Record<Operation, (actor: Actor) => Promise<unknown>> = {
    cmdbRead: (actor) => og.cmdb.list({}, {}, { actor }),
    cmdbWrite: (actor) => og.cmdb.create({ class: 'server', name: unique('srv') }, { actor }),
    cmdbAdmin: (actor) =>
      og.cmdb.defineClass({ name: unique('cls').replace('-', '_'), label: 'X' }, { actor }),
    activityRead: (actor) => og.activity.list({}, { actor }),
    accessRead: (actor) => og.access.users({}, { actor }),
    accessAdmin: (actor) =>
      og.access.createUser({ email: `${unique('made')}@example.com`, name: 'Made' }, { actor }),
    tokens: (actor) => og.access.createToken({ name: 'mine', permissions: ['access:tokens'] }, { actor }),
    request: (actor) => og.access.requestAccess({ role: 'viewer', reason: 'to look around' }, { actor }),
    grant: async (actor) =>
      og.access.grant(
        {
          role: 'viewer',
          userId: (
            await og.access.createUser({ email: `${unique('g')}@example.com`, name: 'G' }, { actor: admin })
          ).id,
        },
        { actor },
      ),
  };

  it('seeds the core roles, owned by core', async () => {
    const roles = await og.access.roles();
    expect(roles.filter((r) => r.owner === 'core').map((r) => r.name)).toEqual([
      'admin',
      'agent',
      'change_manager',
      'operator',
      'requester',
      'viewer',
    ]);
    expect((await og.access.role('admin'))!.permissions).toEqual(['*']);
    expect((await og.access.role('viewer'))!.permissions).toEqual(
      expect.arrayContaining(['cmdb:read', 'incident:read', 'access:read', 'access:request']),
    );
  });

  for (const role of Object.keys(allowed)) {
    it(`a user holding ${role} can do what it should, and is refused the rest`, async () => {
      const actor = await userWith(role);
      expect(actor.kind).toBe('user');
      expect(actor.userId).toBe(actor.id);
      for (const operation of operations) {
        const attempt = run[operation](actor);
        if (allowed[role]!.includes(operation)) {
          await expect(attempt, `${role} ${operation}`).resolves.toBeDefined();
        } else {
          await expect(attempt, `${role} ${operation}`).rejects.toBeInstanceOf(ForbiddenError);
        }
      }
    });
  }

  it('role permission sets follow ITIL duties', async () => {
    const agent = await userWith('agent');
    expect(can(agent, 'incident:assign')).toBe(true);
    expect(can(agent, 'problem:write')).toBe(true);
    expect(can(agent, 'change:approve')).toBe(false);
    expect(can(agent, 'request:fulfil')).toBe(true);
    const requester = await userWith('requester');
    expect(can(requester, 'request:create')).toBe(true);
    expect(can(requester, 'incident:write')).toBe(false);
    const operator = await userWith('operator');
    expect(can(operator, 'change:approve')).toBe(true);
    expect(can(operator, 'operations:write')).toBe(true);
    expect(can(operator, 'cmdb:admin')).toBe(false);
    expect(can(operator, 'access:admin')).toBe(false);
  });

  describe('defineRole', () => {
    it('defines and redefines a runtime role, emitting role.defined; needs access:admin', async () => {
      const role = await og.access.defineRole(
        { name: 'cmdb_editor', description: 'Edits the CMDB', permissions: ['cmdb:read', 'cmdb:write'] },
        { actor: admin },
      );
      expect(role).toMatchObject({ name: 'cmdb_editor', owner: 'runtime', version: 1 });
      const again = await og.access.defineRole(
        { name: 'cmdb_editor', description: 'Edits the CMDB', permissions: ['cmdb:*'], version: 1 },
        { actor: admin },
      );
      expect(again).toMatchObject({ permissions: ['cmdb:*'], version: 2 });
      await expect(
        og.access.defineRole(
          { name: 'cmdb_editor', permissions: ['cmdb:read'], version: 1 },
          { actor: admin },
        ),
      ).rejects.toBeInstanceOf(ConflictError);
      const events = await og.activity.list({ subject: { type: 'role', id: 'cmdb_editor' } });
      expect(events.map((e) => [e.type, (e.payload as { created: boolean }).created])).toEqual([
        ['role.defined', true],
        ['role.defined', false],
      ]);
      const viewer = await userWith('viewer');
      await expect(
        og.access.defineRole({ name: 'x', permissions: ['cmdb:read'] }, { actor: viewer }),
      ).rejects.toMatchObject({
        code: 'FORBIDDEN',
        permission: 'access:admin',
      });
    });

    it('never redefines a core role, and refuses bad definitions naming the field', async () => {
      const seq = await og.activity.latestSeq();
      await expect(
        og.access.defineRole({ name: 'admin', permissions: ['cmdb:read'] }, { actor: admin }),
      ).rejects.toMatchObject({ code: 'VALIDATION', field: 'name' });
      const cases: [Record<string, unknown>, string, new (...a: never[]) => Error][] = [
        [{ name: 'Bad Name', permissions: ['cmdb:read'] }, 'name', ValidationError],
        [{ name: 'ok', permissions: [] }, 'permissions', ValidationError],
        [{ name: 'ok', permissions: ['cmdb:read', 'nope'] }, 'permissions.1', ValidationError],
        [
          { name: 'ok', permissions: ['cmdb:read'], approverGroup: 'no such group' },
          'approverGroup',
          NotFoundError,
        ],
        [
          { name: 'ok', permissions: ['cmdb:read'], approverRole: 'no_such_role' },
          'approverRole',
          NotFoundError,
        ],
        [{ name: 'ok', permissions: ['cmdb:read'], owner: 'core' }, 'owner', ValidationError],
      ];
      for (const [input, field, type] of cases) {
        const attempt = og.access.defineRole(input as never, { actor: admin });
        await expect(attempt, field).rejects.toBeInstanceOf(type);
        await expect(attempt, field).rejects.toMatchObject({ field });
      }
      expect(await og.access.role('ok')).toBeNull();
      expect(await og.activity.latestSeq()).toBe(seq);
    });

    it('refuses a role carrying a permission the definer lacks', async () => {
      const manager: Actor = {
        kind: 'user',
        id: 'm',
        name: 'Manager',
        permissions: ['access:admin', 'cmdb:read'],
      };
      await expect(
        og.access.defineRole(
          { name: 'sneaky', permissions: ['cmdb:read', 'cmdb:write'] },
          { actor: manager },
        ),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', permission: 'cmdb:write', field: 'permissions.1' });
      await expect(
        og.access.defineRole({ name: 'reader', permissions: ['cmdb:read'] }, { actor: manager }),
      ).resolves.toMatchObject({ name: 'reader' });
    });
  });

  describe('plugin roles', () => {
    const plugin = (roles: unknown[], name = 'network') => definePlugin({ name, roles: roles as never });

    it('registers a plugin role at migrate, owned by the plugin, grantable, not redefinable', async () => {
      const withPlugin = await createTestOpsGraph({
        backend,
        plugins: [
          plugin([
            {
              name: 'network_engineer',
              description: 'Runs the network',
              permissions: ['network:*', 'cmdb:read'],
              approverRole: 'network_lead',
            },
            { name: 'network_lead', permissions: ['network:*', 'cmdb:*'] },
          ]),
        ],
      });
      try {
        expect(await withPlugin.access.role('network_engineer')).toMatchObject({
          owner: 'network',
          permissions: ['network:*', 'cmdb:read'],
          approverRole: 'network_lead',
        });
        const user = await withPlugin.access.createUser(
          { email: 'n@example.com', name: 'N' },
          { actor: admin },
        );
        await withPlugin.access.grant({ role: 'network_engineer', userId: user.id }, { actor: admin });
        const actor = (await withPlugin.access.actorForUser({ id: user.id }))!;
        expect(can(actor, 'network:configure')).toBe(true);
        await expect(
          withPlugin.access.defineRole({ name: 'network_engineer', permissions: ['*'] }, { actor: admin }),
        ).rejects.toMatchObject({ code: 'VALIDATION', field: 'name' });
        // migrate() again (a restart) changes nothing.
        await withPlugin.migrate();
        expect((await withPlugin.access.role('network_engineer'))!.version).toBe(1);
      } finally {
        await withPlugin.close();
      }
    });

    it('stops start-up naming the plugin on a bad role, and both owners on a clash; writes nothing', async () => {
      // What migrate() runs after the migrations, on this instance's database.
      const register = (roles: unknown[]) => registerPluginRoles(og.db, [plugin(roles)]);
      const before = await og.access.roles();
      await expect(register([{ name: 'net', permissions: ['BAD'] }])).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof PluginLoadError && e.plugins.includes('network') && /"net"/.test(e.message),
      );
      await expect(register([{ name: 'admin', permissions: ['network:read'] }])).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof PluginLoadError && e.plugins.includes('network') && e.plugins.includes('core'),
      );
      await expect(
        register([
          { name: 'net_ok', permissions: ['network:read'] },
          { name: 'net', permissions: ['network:read'], approverRole: 'ghost' },
        ]),
      ).rejects.toBeInstanceOf(PluginLoadError);
      await expect(
        register([
          { name: 'net', permissions: ['network:read'] },
          { name: 'net', permissions: ['network:read'] },
        ]),
      ).rejects.toBeInstanceOf(PluginLoadError);
      expect(await og.access.roles()).toEqual(before);
      // Through start-up too.
      await expect(
        createTestOpsGraph({
          backend,
          plugins: [plugin([{ name: 'viewer', permissions: ['network:read'] }])],
        }),
      ).rejects.toBeInstanceOf(PluginLoadError);
    });
  });

  it('roles can be seen with access:read or access:request', async () => {
    const requester = await userWith('requester');
    expect((await og.access.roles({ actor: requester })).length).toBeGreaterThan(4);
    const nobody: Actor = { kind: 'user', id: 'x', name: 'Nobody', permissions: ['cmdb:read'] };
    await expect(og.access.roles({ actor: nobody })).rejects.toBeInstanceOf(ForbiddenError);
    expect(service).toBeDefined();
  });
});
