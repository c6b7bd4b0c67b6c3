import { createHash, randomBytes } from 'node:crypto';
import { isUuid } from '../cmdb/service.js';
import {
  type Actor,
  assertCan,
  can,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '../kernel/actor.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { type ApiToken, type CreatedApiToken, type CreateTokenInput, createTokenInput } from './model.js';
import * as store from './store.js';

const SECRET_PREFIX = 'og_';
/** Recording every use would turn each read into a write: record at most this often. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Secrets are 32 random bytes, so a fast hash is enough: there is nothing to brute-force that a slow
 * password hash would protect. The hash is what the database keeps.
 */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** API tokens: how scripts, integrations and webhooks authenticate. */
export class AccessService {
  constructor(private readonly kernel: Kernel) {}

  /** Creates a token. The secret is returned once; a token never grants more than its creator holds. */
  async createToken(input: CreateTokenInput, { actor }: WriteOptions): Promise<CreatedApiToken> {
    assertCan(actor, permissions.tokensManage);
    const data = parseInput(createTokenInput, input);
    // Granting what one lacks is an escalation attempt, not a typo: refuse it as forbidden.
    data.permissions.forEach((permission, index) => {
      if (!can(actor, permission)) throw new ForbiddenError(permission, actor.name, `permissions.${index}`);
    });
    if (data.expiresAt && data.expiresAt <= this.kernel.clock.now()) {
      throw ValidationError.field('expiresAt', 'must be in the future');
    }
    const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const token = await store.insertToken(db, {
        id: crypto.randomUUID(),
        name: data.name,
        tokenHash: hashSecret(secret),
        prefix: secret.slice(0, SECRET_PREFIX.length + 6),
        permissions: [...new Set(data.permissions)],
        createdBy: `${actor.kind}:${actor.id}`,
        createdAt: now,
        expiresAt: data.expiresAt ?? null,
      });
      emit('token.created', { type: 'token', id: token.id }, { token });
      return { secret, token };
    });
  }

  /** The actor a secret stands for, or null when it is unknown, revoked or expired. */
  async authenticate(secret: string): Promise<Actor | null> {
    if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) return null;
    const token = await store.findByHash(this.kernel.db, hashSecret(secret));
    const now = this.kernel.clock.now();
    if (!token || token.revokedAt || (token.expiresAt && token.expiresAt <= now)) return null;
    if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await store.touchToken(this.kernel.db, token.id, now);
    }
    return { kind: 'token', id: token.id, name: `token "${token.name}"`, permissions: token.permissions };
  }

  async listTokens(options: ReadOptions = {}): Promise<ApiToken[]> {
    if (options.actor) assertCan(options.actor, permissions.tokensManage);
    return store.listTokens(this.kernel.db);
  }

  async revokeToken(id: string, { actor }: WriteOptions): Promise<ApiToken> {
    assertCan(actor, permissions.tokensManage);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const existing = isUuid(id) ? await store.findToken(db, id) : undefined;
      if (!existing) throw new NotFoundError('API token', id, 'id');
      if (existing.revokedAt) return existing;
      const revoked = await store.revokeToken(db, id, now);
      // A concurrent revocation won the race: the token is revoked either way.
      if (!revoked) return (await store.findToken(db, id))!;
      emit('token.revoked', { type: 'token', id }, { token: revoked });
      return revoked;
    });
  }
}
