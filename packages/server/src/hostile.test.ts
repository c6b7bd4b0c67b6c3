// Hostile corpus: each test sends one kind of abuse to a real server (production mode, 127.0.0.1),
// checks it is refused with a clear error (status, code, a message saying what to do), then checks the
// server is still serving (/healthz 200 and an authorised query answers).

import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  closeOf,
  collect,
  expectServing,
  openRawSocket,
  startTestServer,
  type TestServer,
} from './test-support.js';

const CREATE_CI = /* GraphQL */ `
  mutation ($input: CreateCIInput!) {
    createCI(input: $input) { ... on MutationCreateCISuccess { data { id } } ... on Error { message code } }
  }
`;

const nested = (depth: number) =>
  `{ me { ${'... on Actor { '.repeat(depth - 2)}kind${' }'.repeat(depth - 2)} } }`;

const thousandAliases = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: me { kind }`).join(' ')} }`;

/** POSTs `body` as is with these headers. */
async function post(t: TestServer, headers: Record<string, string>, body: BodyInit) {
  const response = await fetch(t.url, { method: 'POST', headers, body });
  const text = await response.text();
  return { response, status: response.status, text, body: text ? JSON.parse(text) : undefined };
}

/** A raw graphql-transport-ws socket after `connection_init`: acknowledged, or closed with a code. */
async function initSocket(
  t: TestServer,
  payload: Record<string, unknown>,
): Promise<
  { acked: true; socket: WebSocket } | { acked: false; socket: WebSocket; code: number; reason: string }
> {
  const outcome = await openRawSocket(t.wsUrl);
  if (outcome.kind !== 'open') throw new Error(`upgrade refused: ${outcome.status} ${outcome.body}`);
  const { socket } = outcome;
  return new Promise((resolve) => {
    const closed = (code: number, reason: Buffer) =>
      resolve({ acked: false, socket, code, reason: reason.toString() });
    socket.once('close', closed);
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') {
        socket.off('close', closed);
        resolve({ acked: true, socket });
      }
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload }));
  });
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map((socket) => {
      if (socket.readyState === WebSocket.CLOSED) return undefined;
      const closed = closeOf(socket);
      socket.close();
      return closed;
    }),
  );
}

describe('hostile operations against a production-mode server', () => {
  let t: TestServer;
  /** Same database, small limits: sockets, mutations per minute, and a token limit that lets aliases be counted. */
  let small: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    small = await startTestServer({
      og: t.og,
      websocket: { maxConnections: 4, maxConnectionsPerActor: 2 },
      rateLimit: { mutationsPerMinute: 5 },
      limits: { maxTokens: 10_000 },
    });
  });
  afterAll(async () => {
    await small?.close();
    await t?.close();
  });

  it('deep nesting: refused with LIMIT_EXCEEDED maxDepth (HTTP 400)', async () => {
    const { status, body } = await t.gql(nested(40), undefined, t.tokens.reader);
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors).toContainEqual(
      expect.objectContaining({
        message: expect.stringMatching(/nested 40 levels deep; the limit is 12 \(maxDepth\)\. Select fewer/),
        extensions: expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'maxDepth', max: 12 }),
      }),
    );
    await expectServing(t);
  });

  it('1,000 aliases: refused while parsing (maxTokens), and by maxAliases when the token limit is higher', async () => {
    const parsed = await t.gql(thousandAliases, undefined, t.tokens.reader);
    expect(parsed.status).toBe(400);
    expect(parsed.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('more than 1000 tokens (maxTokens)'),
        extensions: expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'maxTokens' }),
      }),
    ]);
    const counted = await small.gql(thousandAliases, undefined, t.tokens.reader);
    expect(counted.status).toBe(400);
    expect(counted.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('uses 1000 aliases; the limit is 15 (maxAliases)'),
        extensions: expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'maxAliases' }),
      }),
    ]);
    await expectServing(t);
    await expectServing(small);
  });

  it('batched operations (a JSON array body): refused with 400 BATCHING_NOT_SUPPORTED, none run', async () => {
    const before = await t.og.activity.latestSeq();
    const batch = Array.from({ length: 20 }, (_, i) => ({
      query: CREATE_CI,
      variables: { input: { class: 'linux_server', name: `batched-${i}` } },
    }));
    const { status, body } = await post(
      t,
      { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.writer}` },
      JSON.stringify(batch),
    );
    expect(status).toBe(400);
    expect(body.errors).toEqual([
      {
        message: expect.stringMatching(
          /^Batched operations are not accepted .*send one operation per request/,
        ),
        extensions: { code: 'BATCHING_NOT_SUPPORTED' },
      },
    ]);
    expect(await t.og.activity.latestSeq()).toBe(before);
    await expectServing(t);
  });

  it('a huge `first`: refused naming the argument, as a literal (cost) and as a variable (VALIDATION)', async () => {
    const literal = await t.gql(
      '{ cis(first: 1000000) { edges { node { id } } } }',
      undefined,
      t.tokens.reader,
    );
    expect(literal.body.data ?? null).toBeNull();
    expect(literal.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/limit is 10000 \(maxCost\)\. Ask for smaller pages \(first\/last\)/),
        extensions: expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'maxCost' }),
      }),
    ]);
    const variable = await t.gql(
      'query ($first: Int) { cis(first: $first) { edges { node { id } } } }',
      { first: 1_000_000 },
      t.tokens.reader,
    );
    expect(variable.body.data ?? null).toBeNull();
    expect(variable.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('first: must be an integer from 0 to 500'),
        extensions: { code: 'VALIDATION', field: 'first' },
      }),
    ]);
    await expectServing(t);
  });

  it('introspection in production mode over HTTP: refused', async () => {
    const { body } = await t.gql(
      '{ __schema { types { name fields { name } } } }',
      undefined,
      t.tokens.admin,
    );
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.message).toMatch(/GraphQL introspection has been disabled.*"__schema"/);
    expect(JSON.stringify(body)).not.toContain('CreateCIInput');
    await expectServing(t);
  });

  it('introspection in production mode over WebSocket: refused for that operation, the socket lives on', async () => {
    const client = t.wsClient({ token: t.tokens.admin });
    const { results, error } = await collect(client, { query: '{ __type(name: "CI") { fields { name } } }' })
      .done;
    expect(results).toEqual([]);
    expect(error).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          message: expect.stringMatching(/introspection has been disabled.*"__type"/),
        }),
      ]),
    );
    const after = await collect(client, { query: '{ me { kind } }' }).done;
    expect(after.results).toEqual([{ data: { me: { kind: 'token' } } }]);
    await expectServing(t);
  });

  it('field suggestions: a misspelt field does not reveal the names near it', async () => {
    const { status, body } = await t.gql(
      '{ me { nam permission } cis { edgs { id } } }',
      undefined,
      t.tokens.admin,
    );
    expect(status).toBe(400);
    expect(body.errors?.map((e) => e.message)).toEqual([
      'Cannot query field "nam" on type "Actor". [Suggestion hidden]',
      'Cannot query field "permission" on type "Actor". [Suggestion hidden]',
      'Cannot query field "edgs" on type "QueryCisConnection". [Suggestion hidden]',
    ]);
    expect(JSON.stringify(body)).not.toMatch(/Did you mean|"name"|"permissions"|"edges"/);
    await expectServing(t);
  });

  it('a cross-site HTML form POST (urlencoded, multipart): refused with 403 CSRF_PREVENTED, nothing run', async () => {
    const query = '{ me { kind } }';
    const urlencoded = await post(
      t,
      { 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({ query }).toString(),
    );
    const form = new FormData();
    form.set('query', query);
    const multipart = await post(t, {}, form); // fetch sets multipart/form-data; boundary=…
    for (const [refused, type] of [
      [urlencoded, 'application/x-www-form-urlencoded'],
      [multipart, 'multipart/form-data'],
    ] as const) {
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({
        errors: [
          {
            message: expect.stringContaining(`cross-site request forgery: a POST with Content-Type ${type}`),
            extensions: { code: 'CSRF_PREVENTED' },
          },
        ],
      });
      expect(refused.body.errors[0].message).toContain(
        'Send the operation as JSON in a POST (Content-Type: application/json), or add the header x-graphql-yoga-csrf',
      );
    }
    await expectServing(t);
  });

  it('a text/plain POST (a simple cross-site request): 403 CSRF_PREVENTED; with the header, 415 saying what to send', async () => {
    const body = JSON.stringify({ query: '{ me { kind } }' });
    const refused = await post(t, { 'content-type': 'text/plain' }, body);
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0]).toMatchObject({
      message: expect.stringContaining('a POST with Content-Type text/plain could come from another site'),
      extensions: { code: 'CSRF_PREVENTED' },
    });
    const unsupported = await post(t, { 'content-type': 'text/plain', 'x-graphql-yoga-csrf': '1' }, body);
    expect(unsupported.status).toBe(415);
    expect(unsupported.body.errors[0]).toEqual({
      message: expect.stringMatching(
        /^Unsupported request: POST with Content-Type text\/plain\. Send the operation as JSON/,
      ),
      extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' },
    });
    await expectServing(t);
  });

  it('a GET carrying an operation: 403 without the CSRF header; a GET mutation is 405 even with it', async () => {
    const get = (query: string, headers: Record<string, string> = {}) =>
      fetch(`${t.url}?query=${encodeURIComponent(query)}`, {
        headers: { authorization: `Bearer ${t.tokens.writer}`, ...headers },
      });
    const mutation = 'mutation { createCI(input: { class: "linux_server", name: "get-01" }) { __typename } }';
    for (const query of ['{ me { kind } }', mutation]) {
      const refused = await get(query);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as any).errors[0]).toMatchObject({
        message: expect.stringContaining('a GET request could come from another site'),
        extensions: { code: 'CSRF_PREVENTED' },
      });
    }
    const viaGet = await get(mutation, { 'x-graphql-yoga-csrf': '1' });
    expect(viaGet.status).toBe(405);
    expect(((await viaGet.json()) as any).errors[0].message).toBe(
      'Can only perform a mutation operation from a POST request.',
    );
    expect((await t.og.cmdb.list({ search: 'get-01' })).edges).toEqual([]);
    const query = await get('{ me { kind } }', { 'x-graphql-yoga-csrf': '1' });
    expect(query.status).toBe(200);
    expect(await query.json()).toEqual({ data: { me: { kind: 'token' } } });
    await expectServing(t);
  });

  it('an oversized body (2 MB): refused with 413 REQUEST_ENTITY_TOO_LARGE saying the limit', async () => {
    const { status, body } = await post(
      t,
      { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.reader}` },
      JSON.stringify({ query: '{ me { kind } }', variables: { padding: 'x'.repeat(2 * 1024 * 1024) } }),
    );
    expect(status).toBe(413);
    expect(body.errors).toEqual([
      {
        message: expect.stringMatching(/^The request body is larger than 1 MB .*split the work/),
        extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', max: 1024 * 1024 },
      },
    ]);
    await expectServing(t);
  });

  it('malformed JSON: refused with 400 BAD_REQUEST showing the expected shape', async () => {
    const { status, body } = await post(
      t,
      { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.reader}` },
      '{"query": "{ me { kind } }", "variables": {',
    );
    expect(status).toBe(400);
    expect(body).toEqual({
      errors: [
        {
          message: expect.stringMatching(/^The request body is not valid JSON: send a JSON object such as/),
          extensions: { code: 'BAD_REQUEST' },
        },
      ],
    });
    await expectServing(t);
  });

  it('an oversized WebSocket message (over 64 KiB): the socket is closed with 1009', async () => {
    const init = await initSocket(t, { token: t.tokens.reader });
    expect(init.acked).toBe(true);
    const closed = closeOf(init.socket);
    init.socket.send(
      JSON.stringify({
        id: '1',
        type: 'subscribe',
        payload: { query: '{ me { kind } }', variables: { padding: 'x'.repeat(70 * 1024) } },
      }),
    );
    expect((await closed).code).toBe(1009); // Message Too Big
    await expectServing(t);
  });

  it('too many subscriptions on one socket: the 51st is refused alone; the others keep delivering', async () => {
    const client = t.wsClient({ token: t.tokens.admin });
    const closes: number[] = [];
    client.on('closed', (event) => closes.push((event as { code: number }).code));
    const after = await t.og.activity.latestSeq();
    const query =
      'subscription ($after: Seq) { activity(after: $after, types: ["ci.created"]) { subjectId } }';
    let id: string | undefined;
    const running = Array.from({ length: 50 }, () =>
      collect(
        client,
        { query, variables: { after } },
        (r) => id !== undefined && r.data?.activity?.subjectId === id,
      ),
    );
    const refused = await collect(client, { query, variables: { after } }).done;
    expect(refused.results).toEqual([]);
    expect(refused.error).toEqual([
      expect.objectContaining({
        message:
          'Too many subscriptions on this socket: 50 are running and the limit is 50 (maxSubscriptionsPerSocket). Complete one first, or open another socket.',
        extensions: { code: 'LIMIT_EXCEEDED', limit: 'maxSubscriptionsPerSocket', max: 50 },
      }),
    ]);

    // Completing one frees a place.
    running[0]!.stop();
    const replacement = collect(
      client,
      { query, variables: { after } },
      (r) => id !== undefined && r.data?.activity?.subjectId === id,
    );
    const created = await t.gql(
      CREATE_CI,
      { input: { class: 'linux_server', name: 'cap-01' } },
      t.tokens.writer,
    );
    id = created.body.data?.createCI.data.id;
    expect(id).toBeTypeOf('string');
    const delivered = await Promise.all([...running.slice(1), replacement].map((r) => r.done));
    for (const { results, error } of delivered) {
      expect(error).toBeUndefined();
      expect(results.at(-1)?.data?.activity.subjectId).toBe(id);
    }
    expect(closes).toEqual([]);
    await expectServing(t);
  });

  it('a bad Origin on the upgrade: refused with HTTP 403 before graphql-ws, saying which origins may connect', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const outcome = await openRawSocket(t.wsUrl, { origin });
      expect(outcome.kind).toBe('refused');
      if (outcome.kind !== 'refused') continue;
      expect(outcome.status).toBe(403);
      expect(JSON.parse(outcome.body)).toEqual({
        errors: [
          {
            message: `WebSocket connections from the origin ${origin} are not allowed: connect from this server's own origin or one of its corsOrigins.`,
            extensions: { code: 'ORIGIN_NOT_ALLOWED' },
          },
        ],
      });
    }
    // The graphql-ws client sees a failed connection, not a session.
    const client = t.wsClient({ token: t.tokens.reader }, { origin: 'https://evil.example' });
    const { results, error } = await collect(client, { query: '{ me { kind } }' }).done;
    expect(results).toEqual([]);
    expect(error).toBeDefined();
    await expectServing(t);
  });

  it('too many sockets: over the per-actor limit closed with 4429, over the total with 1013', async () => {
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const ok = await initSocket(small, { token: t.tokens.reader });
        sockets.push(ok.socket);
        expect(ok.acked).toBe(true);
      }
      const third = await initSocket(small, { token: t.tokens.reader });
      sockets.push(third.socket);
      expect(third).toMatchObject({
        acked: false,
        code: 4429,
        reason: 'Too many WebSocket connections for this caller (limit 2): close one, or share one',
      });
      // Another actor still gets in, up to the total of 4.
      for (let i = 0; i < 2; i++) {
        const ok = await initSocket(small, { token: t.tokens.writer });
        sockets.push(ok.socket);
        expect(ok.acked).toBe(true);
      }
      const outcome = await openRawSocket(small.wsUrl);
      expect(outcome.kind).toBe('open');
      if (outcome.kind === 'open') {
        sockets.push(outcome.socket);
        expect(await closeOf(outcome.socket)).toEqual({
          code: 1013,
          reason: 'Server busy: 4 WebSocket connections open; try again later',
        });
      }
    } finally {
      await closeAll(sockets);
    }
    // Closed sockets give their places back.
    await expect
      .poll(async () => {
        const again = await initSocket(small, { token: t.tokens.reader });
        again.socket.close();
        return again.acked;
      })
      .toBe(true);
    await expectServing(small);
  });

  it('a mutation flood: over the budget refused with HTTP 429 RATE_LIMITED and retryAfter, over HTTP and WebSocket', async () => {
    const create = (name: string, token = t.tokens.writer) =>
      small.gql(CREATE_CI, { input: { class: 'linux_server', name } }, token);
    for (let i = 0; i < 5; i++) {
      const { status, body } = await create(`flood-${i}`);
      expect(status).toBe(200);
      expect(body.data?.createCI.data.id).toBeTypeOf('string');
    }
    const response = await fetch(small.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.writer}` },
      body: JSON.stringify({
        query: CREATE_CI,
        variables: { input: { class: 'linux_server', name: 'flood-x' } },
      }),
    });
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = (await response.json()) as any;
    expect(body.data ?? null).toBeNull();
    expect(body.errors).toEqual([
      {
        message: `Too many mutations: token "writer" may run 5 a minute. Try again in ${retryAfter} s (extensions.retryAfter).`,
        extensions: { code: 'RATE_LIMITED', retryAfter, limit: 5 },
      },
    ]);
    expect((await t.og.cmdb.list({ search: 'flood-x' })).edges).toEqual([]);

    // The same budget over the WebSocket; the error carries no HTTP details there.
    const ws = await collect(small.wsClient({ token: t.tokens.writer }), {
      query: CREATE_CI,
      variables: { input: { class: 'linux_server', name: 'flood-ws' } },
    }).done;
    expect(ws.results).toEqual([
      {
        errors: [
          expect.objectContaining({
            extensions: { code: 'RATE_LIMITED', retryAfter: expect.any(Number), limit: 5 },
          }),
        ],
      },
    ]);
    // Another actor's budget and queries are untouched.
    expect((await create('flood-admin', t.tokens.admin)).body.data?.createCI.data.id).toBeTypeOf('string');
    await expectServing(small);
  });

  it('an unknown or revoked token: HTTP 401 and WebSocket close 4403, each saying to send a valid token', async () => {
    const actor = systemActor('test');
    const { secret, token } = await t.og.access.createToken(
      { name: 'revoked', permissions: ['cmdb:read'] },
      { actor },
    );
    expect((await t.gql('{ me { name } }', undefined, secret)).body.data?.me.name).toBe('token "revoked"');
    await t.og.access.revokeToken(token.id, { actor });
    for (const bad of [secret, `og_${'x'.repeat(43)}`]) {
      const { status, body } = await t.gql('{ me { name } }', undefined, bad);
      expect(status).toBe(401);
      expect(body).toEqual({
        errors: [
          {
            message:
              'The credentials sent are not valid (unknown, revoked or expired token): send a valid API token',
          },
        ],
      });
      const client = t.wsClient({ token: bad });
      const closed = new Promise<number>((resolve) =>
        client.on('closed', (event) => resolve((event as { code: number }).code)),
      );
      void collect(client, { query: '{ me { kind } }' }).done;
      expect(await closed).toBe(4403);
    }
    await expectServing(t);
  });

  it("a token scoped to another tenant's service: reads and writes outside it refused, naming the CI", async () => {
    const actor = systemActor('test');
    const ci = async (name: string, cls: string) => t.og.cmdb.create({ class: cls, name }, { actor });
    const [svcA, appA, svcB, appB] = [
      await ci('tenant-a', 'business_service'),
      await ci('tenant-a-app', 'application'),
      await ci('tenant-b', 'business_service'),
      await ci('tenant-b-app', 'application'),
    ];
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: svcA.id, targetId: appA.id }, { actor });
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: svcB.id, targetId: appB.id }, { actor });
    // A user operating tenant A, through a grant scoped to its service, and a token of theirs.
    const user = await t.og.access.createUser({ email: 'ops-a@example.test', name: 'Ops A' }, { actor });
    await t.og.access.grant(
      { role: 'operator', userId: user.id, scope: { ciId: svcA.id, mode: 'dependencies' } },
      { actor },
    );
    // Managing one's tokens is a global right; what a token may do stays within the owner's scope.
    await t.og.access.defineRole({ name: 'integrator', permissions: ['access:tokens'] }, { actor });
    await t.og.access.grant({ role: 'integrator', userId: user.id }, { actor });
    const owner = (await t.og.access.actorForUser({ id: user.id }))!;
    const { secret } = await t.og.access.createToken(
      { name: 'tenant-a', permissions: ['cmdb:read', 'cmdb:write'] },
      { actor: owner },
    );
    const read = (id: string) => t.gql('query ($id: ID!) { ci(id: $id) { name } }', { id }, secret);
    expect((await read(appA.id)).body.data?.ci.name).toBe('tenant-a-app');
    const refused = await read(appB.id);
    expect(refused.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    expect(refused.body.errors?.[0]?.message).toContain(appB.id);
    const list = await t.gql('{ cis(first: 100) { edges { node { name } } } }', undefined, secret);
    const names = list.body.data?.cis.edges.map((e: { node: { name: string } }) => e.node.name);
    expect(names).toEqual(['tenant-a', 'tenant-a-app']);
    const update = await t.gql(
      `mutation ($id: ID!) { updateCI(id: $id, input: { version: 1, tags: ["x"] }) {
         __typename ... on ForbiddenError { permission field } } }`,
      { id: appB.id },
      secret,
    );
    expect(update.body.data?.updateCI).toEqual({
      __typename: 'ForbiddenError',
      permission: 'cmdb:write',
      field: 'id',
    });
    expect((await t.og.cmdb.get(appB.id))!.version).toBe(1);
    await expectServing(t);
  });
});
