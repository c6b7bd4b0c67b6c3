import { systemActor, UnauthenticatedError } from '@opsgraph/core';
import { createTestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const CREATE_CI = /* GraphQL */ `
  mutation ($input: CreateCIInput!) {
    createCI(input: $input) {
      __typename
      ... on MutationCreateCISuccess { data { id name version } }
      ... on Error { message code field }
      ... on ValidationError { issues { path message } }
    }
  }
`;

const UPDATE_CI = /* GraphQL */ `
  mutation ($id: ID!, $input: UpdateCIInput!) {
    updateCI(id: $id, input: $input) {
      __typename
      ... on MutationUpdateCISuccess { data { id name version } }
      ... on Error { message code field }
      ... on ConflictError { currentVersion }
    }
  }
`;

describe.each(testBackends())('HTTP API on %s', (backend) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ backend });
  });
  afterAll(() => t?.close());

  it('answers /healthz, and /readyz when migrated', async () => {
    const health = await fetch(`${t.origin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.origin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('refuses an authorized field to an anonymous caller with FORBIDDEN and no data', async () => {
    const { status, body } = await t.gql('{ cis { edges { node { id } } } }');
    expect(status).toBe(200);
    expect(body.data ?? null).toBeNull(); // `cis` is non-null, so the refusal nulls the whole result
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(body.errors?.[0]?.path).toEqual(['cis']);
    expect(body.errors?.[0]?.message).toMatch(/Query\.cis needs the permission cmdb:read: send an API token/);
  });

  it('answers a bad bearer token with HTTP 401 and a message', async () => {
    for (const authorization of ['Bearer og_not-a-real-token', 'Bearer', 'Basic dXNlcjpwYXNz']) {
      const response = await fetch(t.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ query: '{ me { kind } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: { message: string }[] };
      expect(body.errors[0]?.message).toMatch(/not valid.*send a valid API token/);
    }
  });

  it('serves a caller with a valid token', async () => {
    const { status, body } = await t.gql(
      '{ me { kind name permissions } cis { edges { node { id } } } }',
      undefined,
      t.tokens.reader,
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data?.me).toEqual({ kind: 'token', name: 'token "reader"', permissions: ['cmdb:read'] });
    expect(body.data?.cis.edges).toEqual([]);
  });

  it('refuses createCI to a token without cmdb:write, writing nothing', async () => {
    const { body } = await t.gql(
      CREATE_CI,
      { input: { class: 'linux_server', name: 'forbidden-01' } },
      t.tokens.reader,
    );
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(body.data?.createCI ?? null).toBeNull();
    expect((await t.og.cmdb.list({ search: 'forbidden-01' })).edges).toEqual([]);
  });

  it('answers createCI with an unknown class with a ValidationError naming `class`, writing nothing', async () => {
    const before = await t.og.activity.latestSeq();
    const { body } = await t.gql(
      CREATE_CI,
      { input: { class: 'no_such_class', name: 'ghost-01' } },
      t.tokens.writer,
    );
    expect(body.errors).toBeUndefined();
    expect(body.data?.createCI).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION',
      field: 'class',
      issues: [{ path: 'class', message: expect.stringContaining('no_such_class') }],
    });
    const after = await t.gql(
      `query ($after: Seq) { cis(filter: { search: "ghost" }) { edges { node { id } } } activity(after: $after) { seq type } }`,
      { after: before },
      t.tokens.admin,
    );
    expect(after.body.errors).toBeUndefined();
    expect(after.body.data).toEqual({ cis: { edges: [] }, activity: [] });
  });

  it('refuses a second updateCI with the same version with a ConflictError carrying currentVersion', async () => {
    const created = await t.gql(
      CREATE_CI,
      { input: { class: 'linux_server', name: 'conflict-01' } },
      t.tokens.writer,
    );
    const ci = created.body.data?.createCI.data;
    expect(ci).toMatchObject({ name: 'conflict-01', version: 1 });

    const first = await t.gql(
      UPDATE_CI,
      { id: ci.id, input: { version: 1, name: 'conflict-01a' } },
      t.tokens.writer,
    );
    expect(first.body.data?.updateCI).toMatchObject({
      __typename: 'MutationUpdateCISuccess',
      data: { name: 'conflict-01a', version: 2 },
    });

    const second = await t.gql(
      UPDATE_CI,
      { id: ci.id, input: { version: 1, name: 'conflict-01b' } },
      t.tokens.writer,
    );
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data?.updateCI).toMatchObject({
      __typename: 'ConflictError',
      code: 'CONFLICT',
      field: 'version',
      currentVersion: 2,
    });
    expect((await t.og.cmdb.get(ci.id))?.name).toBe('conflict-01a');
  });
});

describe('introspection and field suggestions', () => {
  let prod: TestServer;
  let dev: TestServer;
  beforeAll(async () => {
    prod = await startTestServer();
    dev = await startTestServer({ og: prod.og, development: true });
  });
  afterAll(async () => {
    await dev?.close();
    await prod?.close();
  });

  it('refuses introspection when development is off, over HTTP', async () => {
    const { body } = await prod.gql('{ __schema { types { name } } }', undefined, prod.tokens.admin);
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.message).toMatch(/introspection/i);
    const typeQuery = await prod.gql(
      '{ __type(name: "CI") { fields { name } } }',
      undefined,
      prod.tokens.admin,
    );
    expect(typeQuery.body.errors?.[0]?.message).toMatch(/introspection/i);
  });

  it('allows introspection in development', async () => {
    const { body } = await dev.gql('{ __schema { queryType { name } } }');
    expect(body.errors).toBeUndefined();
    expect(body.data?.__schema.queryType.name).toBe('Query');
  });

  it('hides "Did you mean" field suggestions when development is off, shows them in development', async () => {
    const hidden = await prod.gql('{ me { kinf } }', undefined, prod.tokens.admin);
    expect(hidden.body.errors?.[0]?.message).toContain('Cannot query field "kinf"');
    expect(hidden.body.errors?.[0]?.message).not.toContain('Did you mean');
    expect(hidden.body.errors?.[0]?.message).not.toContain('"kind"');
    const shown = await dev.gql('{ me { kinf } }');
    expect(shown.body.errors?.[0]?.message).toContain('Did you mean "kind"?');
  });
});

describe('a custom authenticate hook', () => {
  it('answers UnauthenticatedError with HTTP 401 and its message, and closes a socket with 4403', async () => {
    const t = await startTestServer({
      authenticate: async (request) => {
        if (request.headers.get('authorization') === 'Bearer good') return systemActor('sso-user');
        if (request.headers.get('authorization'))
          throw new UnauthenticatedError('SSO session expired: sign in again');
        return null;
      },
    });
    try {
      const bad = await fetch(t.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bad' },
        body: JSON.stringify({ query: '{ me { kind } }' }),
      });
      expect(bad.status).toBe(401);
      expect(await bad.json()).toEqual({ errors: [{ message: 'SSO session expired: sign in again' }] });
      expect((await t.gql('{ me { name } }', undefined, 'good')).body.data).toEqual({
        me: { name: 'sso-user' },
      });

      const client = t.wsClient({ token: 'bad' });
      const closed = new Promise<number>((resolve) =>
        client.on('closed', (e) => resolve((e as { code: number }).code)),
      );
      client.subscribe({ query: '{ me { kind } }' }, { next: () => {}, error: () => {}, complete: () => {} });
      expect(await closed).toBe(4403);
    } finally {
      await t.close();
    }
  });
});

describe('masked internal errors', () => {
  it('masks an error thrown by the authenticate hook: generic message with a request id', async () => {
    const t = await startTestServer({
      authenticate: async () => {
        throw new Error('secret-internal-detail: connection to 10.0.0.7 refused');
      },
    });
    try {
      const { status, body } = await t.gql('{ me { kind } }');
      expect(status).toBe(500);
      const text = JSON.stringify(body);
      expect(text).not.toContain('secret-internal-detail');
      expect(body.errors?.[0]?.message).toMatch(/^Internal server error \(request id [0-9a-f-]{36}\)$/);
      expect(body.errors?.[0]?.extensions?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await t.close();
    }
  });

  it('masks a resolver failing on a closed database: generic message with a request id; /readyz 503', async () => {
    const og = await createTestOpsGraph();
    const t = await startTestServer({ og, authenticate: async () => systemActor('test-caller') });
    try {
      await og.close();
      const { body } = await t.gql('{ cis { edges { node { id } } } }');
      expect(body.data ?? null).toBeNull();
      const error = body.errors?.[0];
      expect(error?.message).toMatch(/^Unexpected error\. \(request id [0-9a-f-]{36}\)$/);
      expect(error?.extensions).toEqual({
        code: 'INTERNAL_SERVER_ERROR',
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
      const ready = await fetch(`${t.origin}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'database unavailable' });
    } finally {
      await t.close();
    }
  });
});
