import { type Actor, type ActorScope, grantsPermission, systemActor } from '../kernel/actor.js';
import { NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { isUuid } from './common.js';
import { type HeldGrant, loadUserGrants, resolveScopes, scopeKey } from './effective-store.js';
import { type AccessScope, type ApiToken, MAX_SCOPE_CIS, type User, type UserRef } from './model.js';
import { provisionUser } from './users.js';
import { findUser } from './users-store.js';

/** An actor and the moment (domain time) its permissions change by themselves: a grant's or token's expiry. */
export interface ResolvedActor {
  readonly actor: Actor;
  readonly validUntil: Date | null;
}

const earliest = (dates: readonly (Date | null)[]): Date | null =>
  dates.reduce<Date | null>((min, d) => (d && (!min || d < min) ? d : min), null);

/** The CIs each scope covers; a scope cut short by the size guard is logged (it covers fewer CIs, never more). */
export async function coveredBy(
  kernel: Kernel,
  scopes: readonly AccessScope[],
): Promise<Map<string, Set<string>>> {
  const { covered, truncated } = await resolveScopes(
    kernel.db,
    scopes,
    MAX_SCOPE_CIS * Math.max(1, scopes.length),
  );
  if (truncated) {
    kernel.logger.warn(
      { scopes: scopes.map(scopeKey) },
      `access scopes cover more than ${MAX_SCOPE_CIS} CIs each: some CIs were left out`,
    );
  }
  return covered;
}

/** Global permissions and scopes (grouped by scope, permissions merged) from held grants. */
function permissionsOf(
  grants: readonly HeldGrant[],
  covered: ReadonlyMap<string, ReadonlySet<string>>,
): { permissions: string[]; scopes: ActorScope[] } {
  const global = new Set<string>();
  const scoped = new Map<string, { scope: AccessScope; permissions: Set<string> }>();
  for (const grant of grants) {
    if (!grant.scope) {
      for (const p of grant.permissions) global.add(p);
      continue;
    }
    const key = scopeKey(grant.scope);
    const entry = scoped.get(key) ?? { scope: grant.scope, permissions: new Set<string>() };
    for (const p of grant.permissions) entry.permissions.add(p);
    scoped.set(key, entry);
  }
  const permissions = simplify([...global]);
  const scopes = [...scoped.entries()].map(([key, { scope, permissions: held }]) => ({
    ciId: scope.ciId,
    mode: scope.mode,
    // What is held everywhere needs no scope.
    permissions: simplify([...held].filter((p) => !grantsPermission(permissions, p))),
    ciIds: covered.get(key) ?? new Set<string>(),
  }));
  return { permissions, scopes: scopes.filter((s) => s.permissions.length > 0) };
}

/** Drops permissions another in the list already gives (`cmdb:read` beside `cmdb:*`, anything beside `*`). */
export function simplify(list: readonly string[]): string[] {
  const unique = [...new Set(list)];
  return unique.filter((p) => !unique.some((q) => q !== p && grantsPermission([q], p))).sort();
}

/** What both patterns give: `*` ∩ x = x, `cmdb:*` ∩ `cmdb:read` = `cmdb:read`, else equal or nothing. */
function meetOne(a: string, b: string): string | null {
  if (grantsPermission([a], b)) return b;
  if (grantsPermission([b], a)) return a;
  return null;
}

/** The permissions both lists give. */
export function intersect(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of a) {
    for (const q of b) {
      const m = meetOne(p, q);
      if (m) out.push(m);
    }
  }
  return simplify(out);
}

/** A user's actor from its grants; null when the user is inactive. */
export async function resolveUser(
  kernel: Kernel,
  ref: { readonly id: string } | { readonly externalId: string },
): Promise<(ResolvedActor & { user: User }) | null> {
  const now = kernel.clock.now();
  const loaded = await loadUserGrants(kernel.db, ref, now);
  if (!loaded?.user.active) return null;
  const { user, grants } = loaded;
  const scopes = grants.flatMap((g) => (g.scope ? [g.scope] : []));
  const covered = scopes.length > 0 ? await coveredBy(kernel, scopes) : new Map<string, Set<string>>();
  const held = permissionsOf(grants, covered);
  return {
    user,
    actor: { kind: 'user', id: user.id, name: user.name, userId: user.id, ...held },
    validUntil: earliest(grants.map((g) => g.expiresAt)),
  };
}

/**
 * The actor of a user: permissions held everywhere, and scopes (with the CIs each covers now) from the
 * grants of the user and of all its groups (nested), revoked and expired ones left out. Null for an
 * unknown or inactive user. With `provision`, an unknown `externalId` creates the user first (audited as
 * the system).
 */
export async function actorForUser(kernel: Kernel, ref: UserRef): Promise<Actor | null> {
  if (typeof ref !== 'object' || ref === null) throw ValidationError.field('id', 'give id or externalId');
  if ('id' in ref) {
    if (!isUuid(ref.id)) return null;
    return (await resolveUser(kernel, { id: ref.id.toLowerCase() }))?.actor ?? null;
  }
  if (typeof ref.externalId !== 'string' || ref.externalId.length === 0)
    throw ValidationError.field('externalId', 'must not be empty');
  const resolved = await resolveUser(kernel, { externalId: ref.externalId });
  if (resolved || !ref.provision) return resolved?.actor ?? null;
  const user = await provisionUser(kernel, ref.externalId, ref.provision, systemActor('access-provisioning'));
  return (await resolveUser(kernel, { id: user.id }))?.actor ?? null;
}

const tokenName = (token: ApiToken) => `token "${token.name}"`;

/**
 * The actor a token stands for now, or null when it is revoked, expired, or its owner is inactive or
 * gone. An owned token holds its permissions intersected with the owner's current ones: everywhere
 * where the owner holds them everywhere, on the owner's scopes where only there. A token's own scope
 * limits all of that to the CIs it covers. A token without an owner (made by a system or plugin) keeps
 * its permissions, limited to its scope.
 */
export async function resolveToken(kernel: Kernel, token: ApiToken): Promise<ResolvedActor | null> {
  const now = kernel.clock.now();
  if (token.revokedAt || (token.expiresAt && token.expiresAt <= now)) return null;
  let owner: ResolvedActor | null = null;
  if (token.ownerUserId) {
    owner = await resolveUser(kernel, { id: token.ownerUserId });
    if (!owner) return null;
  }
  let permissions = owner ? intersect(token.permissions, owner.actor.permissions) : [...token.permissions];
  let scopes: ActorScope[] = (owner?.actor.scopes ?? [])
    .map((s) => ({ ...s, permissions: intersect(token.permissions, s.permissions) }))
    .filter((s) => s.permissions.length > 0);
  if (token.scope) {
    const within = (await coveredBy(kernel, [token.scope])).get(scopeKey(token.scope)) ?? new Set<string>();
    scopes = [
      ...(permissions.length > 0 ? [{ ...token.scope, permissions, ciIds: within }] : []),
      ...scopes.map((s) => ({ ...s, ciIds: new Set([...s.ciIds].filter((id) => within.has(id))) })),
    ].filter((s) => s.ciIds.size > 0);
    permissions = [];
  }
  const actor: Actor = {
    kind: 'token',
    id: token.id,
    name: tokenName(token),
    permissions,
    ...(scopes.length > 0 || token.scope ? { scopes } : {}),
    ...(token.ownerUserId ? { userId: token.ownerUserId } : {}),
  };
  return { actor, validUntil: earliest([token.expiresAt, owner?.validUntil ?? null]) };
}

/** The user an actor acts for, checked to exist and be active (NotFoundError on `field`). */
export async function activeUserOf(kernel: Kernel, actor: Actor, field = 'actor'): Promise<User | null> {
  if (!actor.userId) return null;
  const user = isUuid(actor.userId) ? await findUser(kernel.db, actor.userId.toLowerCase()) : undefined;
  if (!user?.active) throw new NotFoundError('active user', actor.userId, field);
  return user;
}
