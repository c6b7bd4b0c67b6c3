import { testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, readSseUntil, startTestServer, subscribeSse, type TestServer } from './test-support.js';

const ACTIVITY = /* GraphQL */ `
  subscription ($after: Seq) { activity(after: $after) { seq type subjectId } }
`;

async function createCi(t: TestServer, name: string): Promise<string> {
  const { body } = await t.gql(
    `mutation ($input: CreateCIInput!) {
      createCI(input: $input) { ... on MutationCreateCISuccess { data { id } } ... on Error { message } }
    }`,
    { input: { class: 'linux_server', name } },
    t.tokens.writer,
  );
  const id = body.data?.createCI?.data?.id;
  if (!id) throw new Error(`createCI failed: ${JSON.stringify(body)}`);
  return id;
}

describe.each(testBackends())('WebSocket and SSE on %s', (backend) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ backend });
  });
  afterAll(() => t?.close());

  it('closes the socket with 4403 on a bad token', async () => {
    const client = t.wsClient({ authorization: 'Bearer og_not-a-real-token' });
    const closed = new Promise<{ code: number }>((resolve) =>
      client.on('closed', (e) => resolve(e as never)),
    );
    const { done } = collect(client, { query: '{ me { kind } }' });
    expect((await closed).code).toBe(4403);
    const { results, error } = await done;
    expect(results).toEqual([]);
    expect((error as { code?: number }).code).toBe(4403);
  });

  it('accepts a token in connectionParams as `token` or `authorization`', async () => {
    for (const params of [{ token: t.tokens.reader }, { authorization: `Bearer ${t.tokens.reader}` }]) {
      const { done } = collect(t.wsClient(params), { query: '{ me { name } }' });
      expect((await done).results).toEqual([{ data: { me: { name: 'token "reader"' } } }]);
    }
  });

  it('delivers the activity event of a createCI mutation to a subscriber', async () => {
    const after = await t.og.activity.latestSeq();
    const client = t.wsClient({ token: t.tokens.writer });
    let id: string | undefined;
    const { done } = collect(
      client,
      { query: ACTIVITY, variables: { after } },
      (result) => result.data?.activity?.subjectId === id,
    );
    id = await createCi(t, 'ws-sub-01');
    const { results, error } = await done;
    expect(error).toBeUndefined();
    const event = results.at(-1)?.data?.activity;
    expect(event).toMatchObject({ type: 'ci.created', subjectId: id });
    expect(event.seq).toBeGreaterThan(after);
  });

  it('refuses the activity subscription with FORBIDDEN to a token without activity:read', async () => {
    const client = t.wsClient({ token: t.tokens.reader });
    const { done } = collect(client, { query: ACTIVITY });
    const { results, error } = await done;
    // graphql-ws delivers a refused subscription as one result with errors, then completes.
    expect(error).toBeUndefined();
    expect(results).toHaveLength(1);
    expect(results[0]?.data ?? null).toBeNull();
    expect(results[0]?.errors).toEqual([
      expect.objectContaining({ path: ['activity'], extensions: { code: 'FORBIDDEN' } }),
    ]);
    // The socket is still usable: the refusal concerned that operation only.
    const { done: next } = collect(client, { query: '{ me { kind } }' });
    expect((await next).results).toEqual([{ data: { me: { kind: 'token' } } }]);
  });

  it('streams the event of a mutation over SSE (POST, accept: text/event-stream)', async () => {
    const { response, close } = await subscribeSse(t.url, t.tokens.writer, {
      query: 'subscription { activity { seq type subjectId } }',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // The response has started, so the subscription has fixed its starting point: mutate now.
    const id = await createCi(t, 'sse-01');
    type ActivityEvent = { seq: number; type: string; subjectId: string };
    const event = await readSseUntil(response, (result) => {
      expect(result.errors).toBeUndefined();
      const activity = result.data?.activity as ActivityEvent | undefined;
      return activity?.subjectId === id ? activity : undefined;
    });
    close();
    expect(event).toMatchObject({ type: 'ci.created', subjectId: id });
  });
});
