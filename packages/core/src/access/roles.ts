import type { Kysely } from 'kysely';
import { RUNTIME_OWNER } from '../cmdb/service.js';
import type { Database } from '../db/database.js';
import { can, permissions, type ReadOptions, reachOf, type WriteOptions } from '../kernel/actor.js';
import { ConflictError, isOpsGraphError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { type OpsGraphPlugin, PluginLoadError } from '../kernel/plugins.js';
import { parseInput } from '../kernel/validation.js';
import { assertAdmin, forbidden } from './common.js';
import { findGroupByName } from './groups-store.js';
import { type DefineRoleInput, type Role, roleDefinitionInput } from './model.js';
import * as store from './roles-store.js';

/** Roles seeded by migration; they can't be redefined. */
export const CORE_ROLES = ['admin', 'operator', 'agent', 'requester', 'viewer'] as const;

/** Seeing roles: access:read, or access:request (one must know what one may ask for). */
function assertCanSeeRoles(options: ReadOptions): void {
  const { actor } = options;
  if (!actor || can(actor, permissions.accessRequest)) return;
  if (!can(actor, permissions.accessRead)) throw forbidden(actor, permissions.accessRead, undefined);
}

export async function listRoles(kernel: Kernel, options: ReadOptions = {}): Promise<Role[]> {
  assertCanSeeRoles(options);
  return store.listRoles(kernel.db);
}

export async function getRole(kernel: Kernel, name: string, options: ReadOptions = {}): Promise<Role | null> {
  assertCanSeeRoles(options);
  if (typeof name !== 'string') return null;
  return (await store.findRole(kernel.db, name)) ?? null;
}

/**
 * Refuses, as forbidden naming `field`, a role with a permission the actor does not hold wherever the
 * role would apply: everywhere (`ciIds` undefined), or on each of `ciIds`.
 */
export function assertHoldsRole(
  actor: WriteOptions['actor'],
  role: { readonly permissions: readonly string[] },
  field: string,
  ciIds?: ReadonlySet<string>,
): void {
  for (const permission of role.permissions) {
    const reach = reachOf(actor, permission);
    if (reach === 'all') continue;
    if (ciIds && [...ciIds].every((id) => reach.has(id))) continue;
    throw forbidden(actor, permission, field);
  }
}

/**
 * Defines a role (owner `runtime`), or redefines one defined this way (give `version` to guard against a
 * concurrent change). Core and plugin roles can't be redefined. The definer must hold every permission
 * it puts in the role. Approvers: `approverGroup` (a group's name) and `approverRole` must exist.
 */
export async function defineRole(
  kernel: Kernel,
  input: DefineRoleInput,
  { actor }: WriteOptions,
): Promise<Role> {
  assertAdmin(actor);
  const { version, ...def } = parseInput(roleDefinitionInput, input);
  def.permissions.forEach((permission, index) => {
    if (!can(actor, permission)) throw forbidden(actor, permission, `permissions.${index}`);
  });
  return kernel.write(actor, async ({ db, now, emit }) => {
    const existing = await store.findRole(db, def.name);
    if (existing && existing.owner !== RUNTIME_OWNER)
      throw ValidationError.field(
        'name',
        `role ${def.name} belongs to ${existing.owner} and can't be changed here`,
      );
    if (existing && version !== undefined && existing.version !== version)
      throw ConflictError.staleVersion('role', def.name, version, existing.version);
    let approverGroup: string | null = null;
    if (def.approverGroup) {
      const group = await findGroupByName(db, def.approverGroup);
      if (!group) throw new NotFoundError('group', def.approverGroup, 'approverGroup');
      approverGroup = group.name;
    }
    if (def.approverRole && def.approverRole !== def.name && !(await store.findRole(db, def.approverRole)))
      throw new NotFoundError('role', def.approverRole, 'approverRole');
    if (def.approverRole === def.name && !existing)
      throw ValidationError.field('approverRole', 'a new role cannot approve itself: nobody holds it yet');
    const row: store.RoleRow = {
      name: def.name,
      description: def.description,
      permissions: [...new Set(def.permissions)],
      approverGroup,
      approverRole: def.approverRole ?? null,
    };
    if (existing && store.sameRole(existing, row)) return existing;
    const role = existing
      ? await store.updateRoleIfVersion(db, RUNTIME_OWNER, existing.version, row, now)
      : await store.insertRole(db, RUNTIME_OWNER, row, now).catch((error: { code?: string }) => {
          throw error.code === '23505'
            ? new ConflictError(`role ${def.name} was just defined by someone else`, 'name')
            : error;
        });
    if (!role) {
      const latest = (await store.findRole(db, def.name))!;
      throw ConflictError.staleVersion('role', def.name, existing!.version, latest.version);
    }
    emit('role.defined', { type: 'role', id: role.name }, { role, created: !existing });
    return role;
  });
}

/**
 * Registers each plugin's `roles` (owner: the plugin) in one transaction, at `migrate()`: a bad
 * definition, a name another owner already has, or an unknown `approverRole` stops start-up naming the
 * plugin (and the other owner). A changed definition replaces the stored one (new version).
 */
export async function registerPluginRoles(
  db: Kysely<Database>,
  plugins: readonly OpsGraphPlugin[],
): Promise<void> {
  const owners = plugins.filter((p) => p.roles?.length);
  if (owners.length === 0) return;
  await db.transaction().execute(async (trx) => {
    const now = new Date();
    for (const plugin of owners) {
      const fail = (role: string, reason: string): never => {
        throw new PluginLoadError(`Plugin "${plugin.name}" brings an invalid role "${role}": ${reason}`, [
          plugin.name,
        ]);
      };
      const rows: store.RoleRow[] = [];
      for (const raw of plugin.roles ?? []) {
        let def: ReturnType<typeof roleDefinitionInput.parse>;
        try {
          def = parseInput(roleDefinitionInput, raw);
        } catch (error) {
          return fail(String(raw?.name), isOpsGraphError(error) ? error.message : String(error));
        }
        if (def.version !== undefined) fail(def.name, 'version: a plugin role has no version to give');
        if (rows.some((r) => r.name === def.name)) fail(def.name, 'it is declared twice');
        rows.push({
          name: def.name,
          description: def.description,
          permissions: [...new Set(def.permissions)],
          approverGroup: def.approverGroup ?? null,
          approverRole: def.approverRole ?? null,
        });
      }
      const changed: store.RoleRow[] = [];
      for (const row of rows) {
        const existing = await store.findRole(trx, row.name);
        if (existing && existing.owner !== plugin.name) {
          throw new PluginLoadError(
            `Plugin "${plugin.name}" brings the role "${row.name}", which "${existing.owner}" already has: rename it in one of them`,
            [plugin.name, existing.owner],
          );
        }
        if (existing && store.sameRole(existing, row)) continue;
        changed.push(row);
        // Approver roles are set once all of the plugin's roles are in: one may name another.
        const bare = { ...row, approverRole: null };
        if (existing) await store.updateRoleIfVersion(trx, plugin.name, existing.version, bare, now);
        else await store.insertRole(trx, plugin.name, bare, now);
      }
      for (const row of changed) {
        if (!row.approverRole) continue;
        if (!(await store.findRole(trx, row.approverRole)))
          fail(row.name, `approverRole: unknown role "${row.approverRole}"`);
        await store.setApproverRole(trx, row.name, row.approverRole);
      }
    }
  });
}
