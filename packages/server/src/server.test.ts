import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createDemoToken, createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('GraphQL over HTTP', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  let token: string;

  beforeAll(async () => {
    og = await createTestOpsGraph();
    token = await createDemoToken(og);
    server = createOpsGraphServer({ opsgraph: og });
    ({ url } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  const post = (query: string, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(5_000),
    });

  it('answers a POSTed operation (the response is sent, not only computed)', async () => {
    const response = await post('{ __typename }');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('resolves the actor from a Bearer token', async () => {
    const response = await post('{ me { kind } }', { authorization: `Bearer ${token}` });
    expect(await response.json()).toEqual({ data: { me: { kind: 'token' } } });
  });

  it('refuses a wrong token with 401', async () => {
    const response = await post('{ __typename }', { authorization: 'Bearer og_wrong' });
    expect(response.status).toBe(401);
  });
});
