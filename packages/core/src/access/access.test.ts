import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { hashSecret } from './service.js';

const admin = systemActor('test');
const user = (permissions: string[]): Actor => ({ kind: 'user', id: 'u-1', name: 'Ada', permissions });
const HOUR = 3_600_000;

describe.each(testBackends())('API tokens on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
  });
  afterAll(() => og?.close());

  const rawTokens = async () =>
    (await sql<Record<string, unknown>>`select * from api_tokens`.execute(og.db.withoutPlugins())).rows;
  const tokenCount = async () => (await rawTokens()).length;

  it('never stores the secret: only its SHA-256 and a short display prefix', async () => {
    const { secret, token } = await og.access.createToken(
      { name: 'ci-runner', permissions: ['cmdb:read'] },
      { actor: admin },
    );
    expect(secret).toMatch(/^og_[A-Za-z0-9_-]{43}$/);
    const row = (await rawTokens()).find((r) => r.id === token.id)!;
    expect(row).toBeDefined();
    for (const [column, value] of Object.entries(row)) {
      expect(JSON.stringify(value) ?? '', `column ${column}`).not.toContain(secret);
      // Not even most of it: the prefix shown in listings is a few characters.
      expect(JSON.stringify(value) ?? '', `column ${column}`).not.toContain(secret.slice(0, 16));
    }
    const sha256 = createHash('sha256').update(secret).digest('hex');
    expect(row.token_hash).toBe(sha256);
    expect(hashSecret(secret)).toBe(sha256);
    expect(secret.startsWith(String(row.prefix))).toBe(true);
    expect(String(row.prefix).length).toBeLessThanOrEqual(10);
    // What the API hands back and what the activity stream records carry neither secret nor hash.
    expect(JSON.stringify(token)).not.toContain(secret);
    expect(JSON.stringify(token)).not.toContain(sha256);
    const events = await og.activity.list({ subject: { type: 'token', id: token.id } });
    expect(events.map((e) => e.type)).toEqual(['token.created']);
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(JSON.stringify(events)).not.toContain(sha256);
  });

  it('authenticates a secret as a token actor carrying the granted permissions', async () => {
    const { secret, token } = await og.access.createToken(
      { name: 'importer', permissions: ['cmdb:read', 'cmdb:write', 'cmdb:read'] },
      { actor: admin },
    );
    expect(token.permissions).toEqual(['cmdb:read', 'cmdb:write']);
    const actor = await og.access.authenticate(secret);
    expect(actor).toEqual({
      kind: 'token',
      id: token.id,
      name: 'token "importer"',
      permissions: ['cmdb:read', 'cmdb:write'],
    });
    // The actor can do what it was granted, and nothing else.
    const ci = await og.cmdb.create({ class: 'server', name: 'via-token' }, { actor: actor! });
    const [event] = await og.activity.list({ subject: { type: 'ci', id: ci.id } });
    expect(event!.actor).toEqual({ kind: 'token', id: token.id, name: 'token "importer"' });
    await expect(og.access.listTokens({ actor: actor! })).rejects.toBeInstanceOf(ForbiddenError);
    // Use is recorded.
    expect((await og.access.listTokens()).find((t) => t.id === token.id)!.lastUsedAt).toEqual(clock.now());
  });

  it('refuses unknown, altered and malformed secrets', async () => {
    const { secret } = await og.access.createToken({ name: 'real', permissions: ['*'] }, { actor: admin });
    const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    for (const attempt of [flipped, `${secret}x`, secret.slice(3), '', 'og_', `og_${'a'.repeat(500)}`]) {
      expect(await og.access.authenticate(attempt), attempt.slice(0, 20)).toBeNull();
    }
    // The stored hash is not a secret that authenticates.
    expect(await og.access.authenticate(hashSecret(secret))).toBeNull();
  });

  it('refuses a revoked token; revoking twice is harmless and records one event', async () => {
    const { secret, token } = await og.access.createToken(
      { name: 'leaked', permissions: ['cmdb:read'] },
      { actor: admin },
    );
    expect(await og.access.authenticate(secret)).not.toBeNull();
    const revoked = await og.access.revokeToken(token.id, { actor: admin });
    expect(revoked.revokedAt).toEqual(clock.now());
    expect(await og.access.authenticate(secret)).toBeNull();
    expect((await og.access.revokeToken(token.id, { actor: admin })).revokedAt).toEqual(revoked.revokedAt);
    const events = await og.activity.list({ subject: { type: 'token', id: token.id } });
    expect(events.map((e) => e.type)).toEqual(['token.created', 'token.revoked']);
  });

  it('looks a secret up about once a second: a repeat costs no query, a revocation ends it at once', async () => {
    const { secret, token } = await og.access.createToken(
      { name: 'busy', permissions: ['cmdb:read'] },
      { actor: admin },
    );
    const first = await og.queries.measure(() => og.access.authenticate(secret));
    expect(first.result?.id).toBe(token.id);
    expect(first.queries.length).toBeGreaterThan(0);
    const again = await og.queries.measure(() => og.access.authenticate(secret));
    expect(again.result).toEqual(first.result);
    expect(again.queries).toHaveLength(0);
    await og.access.revokeToken(token.id, { actor: admin });
    expect(await og.access.authenticate(secret)).toBeNull();
  });

  it('refuses an expired token once the clock passes expiresAt', async () => {
    const expiresAt = new Date(clock.now().getTime() + HOUR);
    const { secret, token } = await og.access.createToken(
      { name: 'short-lived', permissions: ['cmdb:read'], expiresAt },
      { actor: admin },
    );
    expect(token.expiresAt).toEqual(expiresAt);
    clock.advance(HOUR - 1000);
    expect(await og.access.authenticate(secret)).not.toBeNull();
    clock.advance(1000);
    expect(await og.access.authenticate(secret)).toBeNull();
    clock.advance(HOUR);
    expect(await og.access.authenticate(secret)).toBeNull();
  });

  it('lets no one grant a permission they lack, and writes nothing when refused', async () => {
    const before = await tokenCount();
    const manager = user(['access:tokens', 'cmdb:read']);
    const refused = og.access.createToken(
      { name: 'escalate', permissions: ['cmdb:read', 'cmdb:write'] },
      { actor: manager },
    );
    await expect(refused).rejects.toBeInstanceOf(ForbiddenError);
    await expect(refused).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'cmdb:write',
      field: 'permissions.1',
    });
    await expect(
      og.access.createToken({ name: 'everything', permissions: ['*'] }, { actor: manager }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', permission: '*' });
    // Without the right to manage tokens at all.
    await expect(
      og.access.createToken({ name: 'x', permissions: ['cmdb:read'] }, { actor: user(['cmdb:read']) }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', permission: 'access:tokens' });
    expect(await tokenCount()).toBe(before);

    // What it holds, it may pass on; and so may a token it made, within the same bounds.
    const { secret } = await og.access.createToken(
      { name: 'delegate', permissions: ['access:tokens', 'cmdb:read'] },
      { actor: manager },
    );
    const tokenActor = (await og.access.authenticate(secret))!;
    await expect(
      og.access.createToken({ name: 'child', permissions: ['cmdb:read'] }, { actor: tokenActor }),
    ).resolves.toMatchObject({ token: { createdBy: `token:${tokenActor.id}` } });
    await expect(
      og.access.createToken({ name: 'child2', permissions: ['cmdb:write'] }, { actor: tokenActor }),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('names the field at fault in validation errors, and writes nothing', async () => {
    const before = await tokenCount();
    const cases: [Record<string, unknown>, string][] = [
      [{ name: '   ', permissions: ['cmdb:read'] }, 'name'],
      [{ name: 'x'.repeat(101), permissions: ['cmdb:read'] }, 'name'],
      [{ permissions: ['cmdb:read'] }, 'name'],
      [{ name: 'ok', permissions: [] }, 'permissions'],
      [{ name: 'ok' }, 'permissions'],
      [{ name: 'ok', permissions: ['cmdb:read', 'CMDB WRITE'] }, 'permissions.1'],
      [{ name: 'ok', permissions: ['cmdb:read'], expiresAt: 'not a date' }, 'expiresAt'],
      [
        { name: 'ok', permissions: ['cmdb:read'], expiresAt: new Date(clock.now().getTime() - 1) },
        'expiresAt',
      ],
      [{ name: 'ok', permissions: ['cmdb:read'], expiresAt: clock.now() }, 'expiresAt'],
      [{ name: 'ok', permissions: ['cmdb:read'], owner: 'someone' }, 'owner'],
    ];
    for (const [input, field] of cases) {
      const attempt = og.access.createToken(input as never, { actor: admin });
      await expect(attempt, JSON.stringify(input)).rejects.toBeInstanceOf(ValidationError);
      await expect(attempt, JSON.stringify(input)).rejects.toMatchObject({ code: 'VALIDATION', field });
    }
    expect(await tokenCount()).toBe(before);
  });

  it('reports a missing or malformed token id as not found, naming the id field', async () => {
    for (const id of [crypto.randomUUID(), 'not-a-uuid', "'; drop table api_tokens; --"]) {
      const attempt = og.access.revokeToken(id, { actor: admin });
      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    }
    await expect(og.access.revokeToken(crypto.randomUUID(), { actor: user([]) })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
  });

  it('lists tokens without their hashes', async () => {
    const tokens = await og.access.listTokens({ actor: admin });
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) expect(Object.keys(token)).not.toContain('tokenHash');
  });
});
