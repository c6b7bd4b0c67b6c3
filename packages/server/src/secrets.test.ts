// Secrets never leak: not into a log line (at trace level, so every line is written), not into an
// error answer, not into the database in clear.

import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearerTokenAuth } from './auth.js';
import { collect, startTestServer, type TestServer } from './test-support.js';

const CREATE_TOKEN = /* GraphQL */ `
  mutation ($name: String!, $permissions: [String!]!) {
    createApiToken(name: $name, permissions: $permissions) {
      ... on MutationCreateApiTokenSuccess { data { secret token { id prefix } } }
      ... on Error { message code }
    }
  }
`;

/** Where a secret could show up, and the secret and its part after `og_` must not. */
function expectNowhere(secret: string, places: Record<string, string>): void {
  const tail = secret.slice('og_'.length);
  for (const [place, text] of Object.entries(places)) {
    expect(text.includes(secret), `the secret is in ${place}`).toBe(false);
    expect(text.includes(tail), `the secret's part after og_ is in ${place}`).toBe(false);
  }
}

describe('secrets never leak', () => {
  const lines: string[] = [];
  const responses: string[] = [];
  let og: TestOpsGraph;
  let t: TestServer;
  /** A server whose authenticate hook fails quoting the Authorization header, as careless code does. */
  let careless: TestServer;
  const wrong = `og_${randomBytes(32).toString('base64url')}`;
  const created: string[] = [];

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    og = await createTestOpsGraph({ logger: createLogger({ level: 'trace' }, stream) });
    t = await startTestServer({ og });
    careless = await startTestServer({
      og,
      authenticate: async (request, opsgraph) => {
        const actor = await bearerTokenAuth(request, opsgraph);
        if (request.headers.get('x-fail')) {
          throw new Error(`SSO lookup failed for ${request.headers.get('authorization')}`);
        }
        return actor;
      },
    });
  });
  afterAll(async () => {
    await careless?.close();
    await t?.close();
    await og?.close();
  });

  it('a wrong token: the 401 and the socket close say nothing of it, and no log line has it', async () => {
    const response = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${wrong}` },
      body: JSON.stringify({ query: '{ me { kind } }' }),
    });
    expect(response.status).toBe(401);
    responses.push(await response.text());
    const client = t.wsClient({ token: wrong });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      client.on('closed', (event) => resolve(event as never)),
    );
    void collect(client, { query: '{ me { kind } }' }).done;
    const close = await closed;
    expect(close.code).toBe(4403);
    responses.push(close.reason);
    expectNowhere(wrong, { 'the answers': responses.join('\n'), 'the log': lines.join('') });
  });

  it('a valid token whose request fails with a masked internal error (one quoting the request)', async () => {
    // An error that carries the request's headers, as HTTP client errors do.
    vi.spyOn(og.cmdb, 'list').mockRejectedValueOnce(
      Object.assign(new Error('upstream exploded'), {
        request: { headers: { authorization: `Bearer ${t.tokens.reader}` } },
        config: { headers: { Authorization: `Bearer ${t.tokens.reader}` } },
      }),
    );
    const masked = await t.gql('{ cis { edges { node { id } } } }', undefined, t.tokens.reader);
    expect(masked.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^Unexpected error\. \(request id [0-9a-f-]{36}\)$/),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
    responses.push(JSON.stringify(masked.body));

    const failed = await fetch(careless.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${t.tokens.reader}`,
        'x-fail': '1',
      },
      body: JSON.stringify({ query: '{ me { kind } }' }),
    });
    expect(failed.status).toBe(500);
    responses.push(await failed.text());

    const log = lines.join('');
    // The errors were logged, with their request ids, but not the credentials they quoted.
    expect(log).toContain('upstream exploded');
    expect(log).toContain('SSO lookup failed for Bearer [redacted]');
    expectNowhere(t.tokens.reader, { 'the answers': responses.join('\n'), 'the log': log });
  });

  it('createApiToken: the secret is in its answer only, never in the log or the database', async () => {
    const { body } = await t.gql(
      CREATE_TOKEN,
      { name: 'leak-check', permissions: ['cmdb:read'] },
      t.tokens.admin,
    );
    const { secret, token } = body.data?.createApiToken.data ?? {};
    expect(secret).toMatch(/^og_[A-Za-z0-9_-]{43}$/);
    expect(token.prefix).toBe(secret.slice(0, 9));
    created.push(secret);
    // The new token works, over HTTP and WebSocket (both authenticate and log at trace level).
    expect((await t.gql('{ me { name } }', undefined, secret)).body.data?.me.name).toBe('token "leak-check"');
    const ws = await collect(t.wsClient({ token: secret }), { query: '{ me { name } }' }).done;
    expect(ws.results).toEqual([{ data: { me: { name: 'token "leak-check"' } } }]);

    const tokens = JSON.stringify(await og.db.selectFrom('apiTokens').selectAll().execute());
    const activity = JSON.stringify(await og.db.selectFrom('activity').selectAll().execute());
    expect(tokens).toContain(token.id);
    for (const s of [secret, ...Object.values(t.tokens), wrong]) {
      expectNowhere(s, { api_tokens: tokens, activity, 'the log': lines.join('') });
    }
  });

  it('wrote log lines at all (the capture works)', () => {
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.join('')).toMatch(/"level":10|"level":20/); // trace/debug lines were written too
  });
});
