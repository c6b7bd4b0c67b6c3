// The allowed side and the options of the protections the hostile corpus (hostile.test.ts) attacks.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousWith } from './auth.js';
import { CSRF_HEADER } from './http-protections.js';
import { actorRateLimitKey, createRateLimiter, DEFAULT_MUTATIONS_PER_MINUTE } from './rate-limit.js';
import { collect, openRawSocket, startTestServer, subscribeSse, type TestServer } from './test-support.js';
import { DEFAULT_WEBSOCKET_LIMITS, isAllowedOrigin, resolveWebSocketLimits } from './ws.js';

const CREATE_CI = /* GraphQL */ `
  mutation ($input: CreateCIInput!) {
    createCI(input: $input) { ... on MutationCreateCISuccess { data { id } } ... on Error { message code } }
  }
`;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ corsOrigins: ['https://dashboard.example'] });
});
afterAll(() => t?.close());

describe('CSRF prevention', () => {
  it('lets JSON POSTs through without any extra header, SSE included', async () => {
    const { status, body } = await t.gql('{ me { kind } }', undefined, t.tokens.reader);
    expect(status).toBe(200);
    expect(body).toEqual({ data: { me: { kind: 'token' } } });
    const { response, close } = await subscribeSse(t.url, t.tokens.reader, {
      query: 'subscription { ciChanged { seq } }',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    close();
  });

  it('lets a GET through with the x-graphql-yoga-csrf header, an SSE subscription by GET too', async () => {
    const query = await fetch(`${t.url}?query=${encodeURIComponent('{ me { kind } }')}`, {
      headers: { [CSRF_HEADER]: '1', authorization: `Bearer ${t.tokens.reader}` },
    });
    expect(query.status).toBe(200);
    expect(await query.json()).toEqual({ data: { me: { kind: 'token' } } });

    const controller = new AbortController();
    const sse = await fetch(`${t.url}?query=${encodeURIComponent('subscription { ciChanged { seq } }')}`, {
      headers: {
        [CSRF_HEADER]: '1',
        accept: 'text/event-stream',
        authorization: `Bearer ${t.tokens.reader}`,
      },
      signal: controller.signal,
    });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    controller.abort();
  });

  it('has GraphiQL (development) send the header, so its GETs and SSE subscriptions pass', async () => {
    const dev = await startTestServer({ og: t.og, development: true });
    try {
      const page = await fetch(dev.url, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('"additionalHeaders":{"x-graphql-yoga-csrf":"graphiql"}');
    } finally {
      await dev.close();
    }
  });
});

describe('WebSocket origin check', () => {
  it('allows no Origin (not a browser), the same origin and the corsOrigins allow-list', async () => {
    for (const origin of [undefined, t.origin, 'https://dashboard.example']) {
      const outcome = await openRawSocket(t.wsUrl, origin ? { origin } : {});
      expect(outcome.kind, `origin ${origin}`).toBe('open');
      if (outcome.kind === 'open') outcome.socket.close();
    }
    const client = t.wsClient({ token: t.tokens.reader }, { origin: 'https://dashboard.example' });
    expect((await collect(client, { query: '{ me { kind } }' }).done).results).toEqual([
      { data: { me: { kind: 'token' } } },
    ]);
  });

  it('compares scheme-less host and port with the Host header, and refuses "null" and junk', () => {
    expect(isAllowedOrigin(undefined, 'api.example:4000', [])).toBe(true);
    expect(isAllowedOrigin('https://api.example:4000', 'api.example:4000', [])).toBe(true);
    expect(isAllowedOrigin('http://api.example', 'api.example', [])).toBe(true);
    expect(isAllowedOrigin('https://api.example:4001', 'api.example:4000', [])).toBe(false);
    expect(isAllowedOrigin('https://evil.example', 'api.example', [])).toBe(false);
    expect(isAllowedOrigin('https://evil.example', undefined, [])).toBe(false);
    expect(isAllowedOrigin('null', 'api.example', [])).toBe(false);
    expect(isAllowedOrigin('chrome-extension://abc', 'abc', [])).toBe(false);
    expect(isAllowedOrigin('https://dash.example', 'api.example', ['https://dash.example'])).toBe(true);
  });
});

describe('WebSocket limits', () => {
  it('has sane defaults and refuses nonsense', async () => {
    expect(DEFAULT_WEBSOCKET_LIMITS).toEqual({
      maxConnections: 1000,
      maxConnectionsPerActor: 50,
      maxSubscriptionsPerSocket: 50,
      maxPayload: 64 * 1024,
    });
    expect(resolveWebSocketLimits({ maxSubscriptionsPerSocket: 5 })).toEqual({
      ...DEFAULT_WEBSOCKET_LIMITS,
      maxSubscriptionsPerSocket: 5,
    });
    expect(() => resolveWebSocketLimits({ maxConnections: 0 })).toThrow(
      /websocket.maxConnections must be a positive integer, got 0/,
    );
    await expect(startTestServer({ og: t.og, websocket: { maxPayload: -1 } })).rejects.toThrow(
      /websocket.maxPayload/,
    );
  });

  it('takes maxSubscriptionsPerSocket from the options; queries and mutations on the socket do not count', async () => {
    const capped = await startTestServer({ og: t.og, websocket: { maxSubscriptionsPerSocket: 1 } });
    try {
      const client = capped.wsClient({ token: t.tokens.writer });
      const first = collect(client, { query: 'subscription { ciChanged { seq } }' });
      const second = await collect(client, { query: 'subscription { ciChanged { seq } }' }).done;
      expect(second.error).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({ limit: 'maxSubscriptionsPerSocket', max: 1 }),
        }),
      ]);
      expect((await collect(client, { query: '{ me { kind } }' }).done).results).toEqual([
        { data: { me: { kind: 'token' } } },
      ]);
      const mutation = await collect(client, {
        query: CREATE_CI,
        variables: { input: { class: 'linux_server', name: 'ws-mutation-01' } },
      }).done;
      expect(mutation.results[0]?.data?.createCI.data.id).toBeTypeOf('string');
      first.stop();
    } finally {
      await capped.close();
    }
  });
});

describe('mutation rate limit', () => {
  it('defaults to 600 a minute; a limiter says how long to wait, per key', async () => {
    expect(DEFAULT_MUTATIONS_PER_MINUTE).toBe(600);
    expect(t.server.mutationLimiter).toMatchObject({ points: 600, durationSeconds: 60 });
    const limiter = createRateLimiter({ points: 2 });
    expect(await limiter.consume('token:a')).toEqual({ allowed: true, remaining: 1 });
    expect(await limiter.consume('token:a')).toEqual({ allowed: true, remaining: 0 });
    const refused = await limiter.consume('token:a');
    expect(refused).toEqual({ allowed: false, retryAfter: expect.any(Number), limit: 2 });
    if (!refused.allowed) expect(refused.retryAfter).toBeGreaterThanOrEqual(59);
    expect((await limiter.consume('token:b')).allowed).toBe(true);
    expect(() => createRateLimiter({ points: 0 })).toThrow(/rate limit points must be a positive integer/);
  });

  it('keys a token or user by id and anonymous callers by address', () => {
    expect(actorRateLimitKey({ kind: 'token', id: 't1', name: 'x', permissions: [] }, '10.0.0.1')).toBe(
      'token:t1',
    );
    expect(actorRateLimitKey({ kind: 'user', id: 'u1', name: 'x', permissions: [] }, undefined)).toBe(
      'user:u1',
    );
    expect(actorRateLimitKey(anonymousWith(), '10.0.0.1')).toBe('anonymous@10.0.0.1');
  });

  it('counts mutations only, anonymous ones by address; `rateLimit: false` turns it off', async () => {
    const limited = await startTestServer({
      og: t.og,
      rateLimit: { mutationsPerMinute: 1 },
      anonymousPermissions: ['cmdb:read', 'cmdb:write'],
    });
    const unlimited = await startTestServer({ og: t.og, rateLimit: false });
    try {
      for (let i = 0; i < 3; i++) {
        expect((await limited.gql('{ me { kind } }', undefined, t.tokens.writer)).status).toBe(200);
      }
      const create = (server: TestServer, name: string, token?: string) =>
        server.gql(CREATE_CI, { input: { class: 'linux_server', name } }, token);
      expect((await create(limited, 'rl-anon-1')).body.data?.createCI.data.id).toBeTypeOf('string');
      const refused = await create(limited, 'rl-anon-2');
      expect(refused.status).toBe(429);
      expect(refused.body.errors?.[0]?.message).toMatch(
        /^Too many mutations: an anonymous caller \(counted by network address\) may run 1 a minute\. Try again in \d+ s/,
      );
      // A token has its own budget.
      expect((await create(limited, 'rl-writer-1', t.tokens.writer)).status).toBe(200);

      expect(unlimited.server.mutationLimiter).toBeUndefined();
      for (let i = 0; i < 3; i++) {
        expect(
          (await create(unlimited, `rl-off-${i}`, t.tokens.writer)).body.data?.createCI.data.id,
        ).toBeTypeOf('string');
      }
    } finally {
      await unlimited.close();
      await limited.close();
    }
  });
});

describe('anonymous callers', () => {
  it('hold no permission by default', async () => {
    const me = await t.gql('{ me { kind permissions } }');
    expect(me.body).toEqual({ data: { me: { kind: 'anonymous', permissions: [] } } });
    const cis = await t.gql('{ cis { edges { node { id } } } }');
    expect(cis.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('hold anonymousPermissions when set, over HTTP and WebSocket', async () => {
    const open = await startTestServer({ og: t.og, anonymousPermissions: ['cmdb:read'] });
    try {
      const me = await open.gql('{ me { kind permissions } cis(first: 1) { edges { node { id } } } }');
      expect(me.body.errors).toBeUndefined();
      expect(me.body.data?.me).toEqual({ kind: 'anonymous', permissions: ['cmdb:read'] });
      const ws = await collect(open.wsClient(), { query: '{ me { permissions } }' }).done;
      expect(ws.results).toEqual([{ data: { me: { permissions: ['cmdb:read'] } } }]);
      const write = await open.gql(CREATE_CI, { input: { class: 'linux_server', name: 'anon-write' } });
      expect(write.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await open.close();
    }
    expect(() => anonymousWith(['cmdb read'])).toThrow(
      'anonymousPermissions.0 must look like "cmdb:read", "cmdb:*" or "*", got "cmdb read"',
    );
  });
});
