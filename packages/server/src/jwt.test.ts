import { systemActor } from '@opsgraph/core';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtAuth } from './jwt.js';
import { collect, startTestServer, type TestServer } from './test-support.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'opsgraph';
const ME = '{ me { kind id name permissions } }';

function sign(
  claims: Record<string, unknown>,
  options: { secret?: string; issuer?: string; audience?: string; expiresIn?: string | number } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setExpirationTime(options.expiresIn ?? '10m')
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

async function post(t: TestServer, authorization: string, query = ME) {
  const response = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('jwtAuth', () => {
  let t: TestServer;
  let aliceId: string;
  const admin = systemActor('test');

  beforeAll(async () => {
    t = await startTestServer({
      authenticate: jwtAuth({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE }),
    });
    const alice = await t.og.access.createUser(
      { externalId: 'idp|alice', email: 'alice@example.test', name: 'Alice' },
      { actor: admin },
    );
    aliceId = alice.id;
    await t.og.access.grant({ role: 'viewer', userId: alice.id }, { actor: admin });
  });
  afterAll(() => t?.close());

  it('maps a valid token to the user whose external id is its subject, with its roles', async () => {
    const { status, body } = await post(t, `Bearer ${await sign({ sub: 'idp|alice' })}`);
    expect(status).toBe(200);
    expect(body.data.me).toMatchObject({ kind: 'user', id: aliceId, name: 'Alice' });
    expect(body.data.me.permissions).toContain('cmdb:read');
    expect(body.data.me.permissions).not.toContain('cmdb:write');
  });

  it('refuses expired, foreign, tampered and malformed tokens with 401 and says why, without echoing them', async () => {
    const cases: [string, RegExp][] = [
      [await sign({ sub: 'idp|alice' }, { expiresIn: Math.floor(Date.now() / 1000) - 120 }), /expired/],
      [await sign({ sub: 'idp|alice' }, { audience: 'another-api' }), /"aud" claim/],
      [await sign({ sub: 'idp|alice' }, { issuer: 'https://evil.example' }), /"iss" claim/],
      [
        await sign({ sub: 'idp|alice' }, { secret: 'another-secret-of-at-least-32-bytes!' }),
        /not signed by a key/,
      ],
      ['not.a.jwt', /not a valid JWT/],
    ];
    for (const [token, reason] of cases) {
      const { status, body } = await post(t, `Bearer ${token}`);
      expect(status, token).toBe(401);
      expect(body.errors[0].message).toMatch(reason);
      expect(JSON.stringify(body)).not.toContain(token);
    }
  });

  it('refuses an unsigned token (alg none)', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({ sub: 'idp|alice', iss: ISSUER, aud: AUDIENCE, exp: Date.now() / 1000 + 600 }),
    ).toString('base64url');
    const { status } = await post(t, `Bearer ${header}.${payload}.`);
    expect(status).toBe(401);
  });

  it('refuses a subject with no user, and a deactivated user', async () => {
    const unknown = await post(t, `Bearer ${await sign({ sub: 'idp|nobody' })}`);
    expect(unknown.status).toBe(401);
    expect(unknown.body.errors[0].message).toMatch(/No active OpsGraph user/);

    const bob = await t.og.access.createUser(
      { externalId: 'idp|bob', email: 'bob@example.test', name: 'Bob' },
      { actor: admin },
    );
    expect((await post(t, `Bearer ${await sign({ sub: 'idp|bob' })}`)).status).toBe(200);
    await t.og.access.updateUser(bob.id, { version: bob.version, active: false }, { actor: admin });
    expect((await post(t, `Bearer ${await sign({ sub: 'idp|bob' })}`)).status).toBe(401);
  });

  it('still accepts OpsGraph API tokens, and no header means anonymous', async () => {
    const token = await post(t, `Bearer ${t.tokens.reader}`);
    expect(token.body.data.me.kind).toBe('token');
    const response = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: ME }),
    });
    expect(((await response.json()) as any).data.me.kind).toBe('anonymous');
  });

  it('authenticates a WebSocket by the JWT in connection_init', async () => {
    const client = t.wsClient({ authorization: `Bearer ${await sign({ sub: 'idp|alice' })}` });
    const { done } = collect(client, { query: ME }, () => true);
    const { results, error } = await done;
    expect(error).toBeUndefined();
    expect(results[0]?.data?.me).toMatchObject({ kind: 'user', id: aliceId });

    const refused = t.wsClient({ authorization: `Bearer ${await sign({ sub: 'idp|nobody' })}` });
    const outcome = await collect(refused, { query: ME }).done;
    expect((outcome.error as { code?: number } | undefined)?.code).toBe(4403);
  });
});

describe('jwtAuth with provisioning', () => {
  it('creates the user on first sight from the sub, email and name claims', async () => {
    const t = await startTestServer({
      authenticate: jwtAuth({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE, provision: true }),
    });
    try {
      const token = await sign({ sub: 'idp|carol', email: 'carol@example.test', name: 'Carol' });
      const { status, body } = await post(t, `Bearer ${token}`);
      expect(status).toBe(200);
      expect(body.data.me).toMatchObject({ kind: 'user', name: 'Carol', permissions: [] });
      const carol = await t.og.access.userByExternalId('idp|carol');
      expect(carol).toMatchObject({ email: 'carol@example.test', active: true });
    } finally {
      await t.close();
    }
  });

  it('refuses a configuration that could not verify anything safely', () => {
    expect(() => jwtAuth({})).toThrow(/exactly one of/);
    expect(() => jwtAuth({ secret: 'short' })).toThrow(/at least 32 bytes/);
  });
});
