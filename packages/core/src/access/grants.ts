import { type Actor, type ReadOptions, systemActor, type WriteOptions } from '../kernel/actor.js';
import { NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { actorKey, assertAdmin, assertCanRead, isSelf, isUuid } from './common.js';
import { resolveScopes, scopeKey } from './effective-store.js';
import * as store from './grants-store.js';
import { findGroup } from './groups-store.js';
import {
  type AccessScope,
  type Grant,
  type GrantFilter,
  type GrantInput,
  grantInput,
  MAX_SCOPE_CIS,
  type Role,
} from './model.js';
import { assertHoldsRole } from './roles.js';
import { findRole } from './roles-store.js';
import { findUser } from './users-store.js';

/** The actor the expiry sweep writes as. */
export const expiryActor: Actor = systemActor('access-expiry');

/**
 * The CIs a scope covers now, checked: its CI must exist and not be retired (NotFoundError on `field`),
 * and it may cover at most MAX_SCOPE_CIS CIs (ValidationError on `field`).
 */
export async function checkedScope(
  scope: WriteScope,
  target: AccessScope,
  field = 'scope.ciId',
): Promise<ReadonlySet<string>> {
  const ci = await scope.kernel.services.cmdb.get(target.ciId);
  if (!ci || ci.status === 'retired') throw new NotFoundError('CI', target.ciId, field);
  const { covered, truncated } = await resolveScopes(scope.db, [target], MAX_SCOPE_CIS);
  if (truncated) {
    throw ValidationError.field(
      field,
      `the scope covers more than ${MAX_SCOPE_CIS} CIs: grant a narrower one`,
    );
  }
  return covered.get(scopeKey(target))!;
}

export interface GiveRole {
  readonly role: string;
  readonly userId?: string | undefined;
  readonly groupId?: string | undefined;
  readonly scope?: AccessScope | null | undefined;
  readonly expiresAt?: Date | null | undefined;
  readonly reason?: string | null | undefined;
  readonly requestId?: string | null;
}

/**
 * Gives a role in the write `scope`, checking role, holder, expiry and scope (each error names its
 * field). With `escalation`, the writer must hold every permission of the role wherever the grant applies.
 */
export async function giveRole(
  scope: WriteScope,
  data: GiveRole,
  { escalation }: { readonly escalation: boolean },
): Promise<{ grant: Grant; role: Role }> {
  const { db, now, actor, emit } = scope;
  const role = await findRole(db, data.role);
  if (!role) throw new NotFoundError('role', data.role, 'role');
  if (data.userId && !(await findUser(db, data.userId.toLowerCase())))
    throw new NotFoundError('user', data.userId, 'userId');
  if (data.groupId && !(await findGroup(db, data.groupId.toLowerCase())))
    throw new NotFoundError('group', data.groupId, 'groupId');
  if (data.expiresAt && data.expiresAt <= now)
    throw ValidationError.field('expiresAt', 'must be in the future');
  const covered = data.scope ? await checkedScope(scope, data.scope) : undefined;
  if (escalation) assertHoldsRole(actor, role, 'role', covered);
  const grant = await store.insertGrant(db, {
    id: crypto.randomUUID(),
    role: role.name,
    userId: data.userId?.toLowerCase() ?? null,
    groupId: data.groupId?.toLowerCase() ?? null,
    scope: data.scope ?? null,
    expiresAt: data.expiresAt ?? null,
    reason: data.reason ?? null,
    requestId: data.requestId ?? null,
    createdBy: actorKey(actor),
    createdAt: now,
  });
  emit('grant.created', { type: 'grant', id: grant.id }, { grant });
  return { grant, role };
}

/**
 * Gives a role to a user or a group (exactly one), everywhere or on a scope, maybe until `expiresAt`.
 * Needs access:admin, and the actor must itself hold every permission of the role wherever the grant
 * applies (else ForbiddenError on `role`).
 */
export async function createGrant(
  kernel: Kernel,
  input: GrantInput,
  { actor }: WriteOptions,
): Promise<Grant> {
  assertAdmin(actor);
  const data = parseInput(grantInput, input);
  return kernel.write(actor, async (scope) => (await giveRole(scope, data, { escalation: true })).grant);
}

/** Revokes a grant: it stops counting at once. Revoking twice is harmless (one event). */
export async function revokeGrant(kernel: Kernel, id: string, { actor }: WriteOptions): Promise<Grant> {
  assertAdmin(actor);
  return kernel.write(actor, async ({ db, now, emit }) => {
    const existing = isUuid(id) ? await store.findGrant(db, id.toLowerCase()) : undefined;
    if (!existing) throw new NotFoundError('grant', String(id), 'id');
    if (existing.revokedAt) return existing;
    const revoked = await store.revokeGrant(db, existing.id, now, actorKey(actor));
    if (!revoked) return (await store.findGrant(db, existing.id))!;
    emit('grant.revoked', { type: 'grant', id: revoked.id }, { grant: revoked });
    return revoked;
  });
}

export async function getGrant(
  kernel: Kernel,
  id: string,
  { actor }: ReadOptions = {},
): Promise<Grant | null> {
  const grant = isUuid(id) ? await store.findGrant(kernel.db, id.toLowerCase()) : undefined;
  assertCanRead(actor, isSelf(actor, grant?.userId));
  return grant ?? null;
}

/**
 * Grants, newest first. `active: true` keeps those that count now, `false` those revoked or expired.
 * `includeGroups` with `userId` adds the grants of the user's groups (nested). A user may list its own.
 */
export async function listGrants(
  kernel: Kernel,
  filter: GrantFilter & { readonly includeGroups?: boolean } = {},
  { actor }: ReadOptions = {},
): Promise<Grant[]> {
  assertCanRead(actor, isSelf(actor, filter.userId));
  for (const field of ['userId', 'groupId'] as const) {
    if (filter[field] !== undefined && !isUuid(filter[field]))
      throw ValidationError.field(field, 'must be a UUID');
  }
  if (filter.active !== undefined && typeof filter.active !== 'boolean')
    throw ValidationError.field('active', 'must be true or false');
  return store.listGrants(
    kernel.db,
    {
      userId: filter.userId?.toLowerCase(),
      viaGroups: filter.includeGroups === true,
      groupId: filter.groupId?.toLowerCase(),
      role: filter.role,
      active: filter.active,
    },
    kernel.clock.now(),
  );
}

/**
 * Marks the grants whose time is up as expired and emits one `grant.expired` for each; what a timer
 * calls. Idempotent and safe from several replicas at once: each grant is marked, and announced, once.
 * (An expired grant already stopped counting at its `expiresAt`: checks compare with the clock.)
 */
export async function sweepExpired(kernel: Kernel, at?: Date, actor: Actor = expiryActor): Promise<Grant[]> {
  return kernel.write(actor, async ({ db, now, emit }) => {
    const expired = await store.markExpired(db, at ?? now);
    for (const grant of expired) emit('grant.expired', { type: 'grant', id: grant.id }, { grant });
    return expired;
  });
}
