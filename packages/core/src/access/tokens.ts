import { createHash, randomBytes } from 'node:crypto';
import {
  type Actor,
  assertCan,
  can,
  canSomewhere,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '../kernel/actor.js';
import { NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { actorKey, canAdmin, forbidden, isUuid } from './common.js';
import { activeUserOf, resolveToken } from './effective.js';
import { actorCacheOf } from './freshness.js';
import { checkedScope } from './grants.js';
import { type ApiToken, type CreatedApiToken, type CreateTokenInput, createTokenInput } from './model.js';
import { assertHoldsRole } from './roles.js';
import * as store from './store.js';

const SECRET_PREFIX = 'og_';
/** Recording every use would turn each read into a write: record at most this often. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Secrets are 32 random bytes, so a fast hash is enough: there is nothing to brute-force that a slow
 * password hash would protect. The hash is what the database keeps.
 */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/**
 * Creates a token; the secret is returned once. A token never carries a permission its creator lacks
 * (a user's: anywhere, as the token is cut to the user's grants at each use; an ownerless token's:
 * everywhere; with a `scope`: on every CI of it). Created by a user (or a user's token), it belongs
 * to that user and holds at most what the user holds at each use.
 */
export async function createToken(
  kernel: Kernel,
  input: CreateTokenInput,
  { actor }: WriteOptions,
): Promise<CreatedApiToken> {
  assertCan(actor, permissions.tokensManage);
  const data = parseInput(createTokenInput, input);
  // Granting what one lacks is an escalation attempt, not a typo: refuse it as forbidden.
  if (!data.scope) {
    // A user's token holds at most what the user holds at each use (their scopes too), so holding a
    // permission somewhere is enough; an ownerless token keeps what it is given, so that needs it everywhere.
    data.permissions.forEach((permission, index) => {
      const holds = actor.userId ? canSomewhere(actor, permission) : can(actor, permission);
      if (!holds) throw forbidden(actor, permission, `permissions.${index}`);
    });
  }
  if (data.expiresAt && data.expiresAt <= kernel.clock.now()) {
    throw ValidationError.field('expiresAt', 'must be in the future');
  }
  const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
  return kernel.write(actor, async (scope) => {
    const { db, now, emit } = scope;
    const owner = await activeUserOf(scope.kernel, actor);
    if (data.scope) {
      const covered = await checkedScope(scope, data.scope);
      data.permissions.forEach((permission, index) => {
        assertHoldsRole(actor, { permissions: [permission] }, `permissions.${index}`, covered);
      });
    }
    const token = await store.insertToken(db, {
      id: crypto.randomUUID(),
      name: data.name,
      tokenHash: hashSecret(secret),
      prefix: secret.slice(0, SECRET_PREFIX.length + 6),
      permissions: [...new Set(data.permissions)],
      createdBy: actorKey(actor),
      createdAt: now,
      expiresAt: data.expiresAt ?? null,
      ownerUserId: owner?.id ?? null,
      scope: data.scope ?? null,
    });
    emit('token.created', { type: 'token', id: token.id }, { token });
    return { secret, token };
  });
}

/** The actor a secret stands for now, or null when it is unknown, revoked, expired, or its owner inactive. */
export async function authenticate(kernel: Kernel, secret: string): Promise<Actor | null> {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX) || secret.length > 200) return null;
  const hash = hashSecret(secret);
  // The same cache as `currentActor`: a token used by request after request is looked up about once a
  // second, and any access change (a revocation included, from any replica) drops it at once.
  const cache = actorCacheOf(kernel.bus);
  const key = `secret:${hash}`;
  const cached = cache.get(key, kernel.clock.now());
  if (cached !== undefined) return cached;
  return cache.resolve(key, async () => {
    const token = await store.findByHash(kernel.db, hash);
    if (!token) return null;
    const resolved = await resolveToken(kernel, token);
    if (!resolved) return null;
    const now = kernel.clock.now();
    if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await store.touchToken(kernel.db, token.id, now);
    }
    return resolved;
  });
}

/** Whether the token is the actor's own: owned by its user, or created by it. */
const isOwnToken = (actor: Actor, token: ApiToken) =>
  (actor.userId !== undefined && token.ownerUserId === actor.userId.toLowerCase()) ||
  token.createdBy === actorKey(actor);

/** Every token for access:admin; for access:tokens, the actor's own. */
export async function listTokens(kernel: Kernel, { actor }: ReadOptions = {}): Promise<ApiToken[]> {
  if (!actor || canAdmin(actor)) return store.listTokens(kernel.db);
  assertCan(actor, permissions.tokensManage);
  return store.listTokens(kernel.db, {
    ownerUserId: actor.userId?.toLowerCase() ?? null,
    createdBy: actorKey(actor),
  });
}

/** Revokes a token (one's own with access:tokens, any with access:admin); twice is harmless. */
export async function revokeToken(kernel: Kernel, id: string, { actor }: WriteOptions): Promise<ApiToken> {
  const admin = canAdmin(actor);
  if (!admin) assertCan(actor, permissions.tokensManage);
  return kernel.write(actor, async ({ db, now, emit }) => {
    const existing = isUuid(id) ? await store.findToken(db, id.toLowerCase()) : undefined;
    if (!existing) throw new NotFoundError('API token', id, 'id');
    if (!admin && !isOwnToken(actor, existing)) {
      throw forbidden(actor, permissions.accessAdmin, 'id', 'the token is not yours');
    }
    if (existing.revokedAt) return existing;
    const revoked = await store.revokeToken(db, existing.id, now);
    // A concurrent revocation won the race: the token is revoked either way.
    if (!revoked) return (await store.findToken(db, existing.id))!;
    emit('token.revoked', { type: 'token', id: existing.id }, { token: revoked });
    return revoked;
  });
}

/** A token by id, for re-resolving a token actor. */
export const findToken = (kernel: Kernel, id: string): Promise<ApiToken | undefined> =>
  isUuid(id) ? store.findToken(kernel.db, id.toLowerCase()) : Promise.resolve(undefined);
