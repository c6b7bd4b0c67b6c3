// End to end: the real server on 127.0.0.1, the real client over HTTP and WebSocket, SSE over fetch,
// on PGlite and on a real PostgreSQL.

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  ActivityStreamDocument,
  type ActivityStreamEvent,
  CreateCiDocument,
  createOpsGraphClient,
  type OpsGraphClient,
  OpsGraphClientError,
  UpdateCiDocument,
  unwrap,
} from '@opsgraph/client';
import { createOpsGraph, definePlugin, PluginLoadError, systemActor, systemClock } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { runbooksPlugin } from '@opsgraph/example-runbook-plugin';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { parse } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const admin = systemActor('e2e');

/** Reads an SSE response until `until` accepts an event's data; returns the `next` payloads seen. */
async function readSse(response: Response, until: (data: any) => boolean): Promise<any[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const seen: any[] = [];
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`SSE stream ended before the expected event; saw ${JSON.stringify(seen)}`);
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const lines = block.split('\n');
        if (!lines.includes('event: next')) continue;
        const data = JSON.parse(
          lines
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n'),
        );
        seen.push(data);
        if (until(data)) return seen;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** Takes the next `count` items of an iterator, failing after `ms` rather than hanging the run. */
async function take<T>(iterator: AsyncIterator<T>, count: number, ms = 20_000): Promise<T[]> {
  const items: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`waited ${ms} ms for ${count} items, got ${items.length}`)),
      ms,
    );
  });
  try {
    while (items.length < count) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next.done) throw new Error(`the iterator ended after ${items.length} of ${count} items`);
      items.push(next.value);
    }
    return items;
  } finally {
    clearTimeout(timer);
  }
}

describe.each(testBackends())('OpsGraph end to end on %s', (backend) => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  let port: number;
  let token: string;
  const clients: OpsGraphClient[] = [];
  const newClient = (options: { token?: string } = {}) => {
    const client = createOpsGraphClient({ url, token: options.token ?? token, retryWait: () => sleep(100) });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [runbooksPlugin()], clock: systemClock });
    ({ secret: token } = await og.access.createToken({ name: 'e2e', permissions: ['*'] }, { actor: admin }));
    server = createOpsGraphServer({ opsgraph: og });
    ({ url, port } = await server.listen(0, '127.0.0.1'));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it("delivers a mutation's event to a graphql-ws subscriber and to an SSE subscriber", async () => {
    const client = newClient();
    const after = await og.activity.latestSeq();
    // `after` makes the subscription start exactly there, so the mutation cannot race past it.
    const ws = client.subscribe(ActivityStreamDocument, { after, types: ['ci.created'] });
    const sse = fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'text/event-stream',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        query:
          'subscription ($after: Seq) { activity(after: $after, types: ["ci.created"]) { seq type subjectId } }',
        variables: { after },
      }),
    });

    const ci = unwrap(
      (await client.request(CreateCiDocument, { input: { class: 'server', name: 'e2e-01' } })).createCI,
    );

    const [fromWs] = await take(ws, 1);
    expect(fromWs?.activity).toMatchObject({ type: 'ci.created', subjectId: ci.id, seq: after + 1 });
    expect(fromWs?.activity.actor).toMatchObject({ kind: 'token', name: 'token "e2e"' });
    await ws.return?.();

    const response = await sse;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await readSse(response, (d) => d.data?.activity?.subjectId === ci.id);
    expect(events.at(-1).data.activity).toEqual({ seq: after + 1, type: 'ci.created', subjectId: ci.id });
  });

  it('resumes the activity stream after a server restart: every missed event, in order, none twice', async () => {
    const client = newClient();
    const start = await og.activity.latestSeq();
    const stream = client.followActivity({ after: start });
    const writes = async (n: number, prefix: string) => {
      for (let i = 0; i < n; i++)
        await og.cmdb.create({ class: 'server', name: `${prefix}-${i}` }, { actor: admin });
    };

    await writes(3, 'before');
    const first = await take(stream, 3);

    // The server goes away (every socket closes); writes go on meanwhile and must not be lost.
    await server.close();
    await writes(4, 'during');
    server = createOpsGraphServer({ opsgraph: og });
    await server.listen(port, '127.0.0.1');
    await writes(2, 'after');

    const rest = await take(stream, 6);
    await stream.return?.();

    const seqs = [...first, ...rest].map((e: ActivityStreamEvent) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 9 }, (_, i) => start + 1 + i));
    const names = [...first, ...rest].map((e) => (e.payload as { ci: { name: string } }).ci.name);
    expect(names).toEqual([
      ...['before-0', 'before-1', 'before-2'],
      ...['during-0', 'during-1', 'during-2', 'during-3'],
      ...['after-0', 'after-1'],
    ]);
  });

  it('without `after`, starts at the head and still misses nothing when the server restarts before any event', async () => {
    const client = newClient();
    const start = await og.activity.latestSeq();
    const stream = client.followActivity({ types: ['ci.created'] });
    const first = stream.next(); // starts the stream: head query, then the subscription
    await sleep(500); // no event to wait for yet: give it time to subscribe before the restart

    await server.close();
    const a = await og.cmdb.create({ class: 'server', name: 'while-down-a' }, { actor: admin });
    const b = await og.cmdb.create({ class: 'server', name: 'while-down-b' }, { actor: admin });
    server = createOpsGraphServer({ opsgraph: og });
    await server.listen(port, '127.0.0.1');

    const events = [(await first).value, ...(await take(stream, 1))] as ActivityStreamEvent[];
    await stream.return?.();
    expect(events.map((e) => [e.seq, e.subjectId])).toEqual([
      [start + 1, a.id],
      [start + 2, b.id],
    ]);
  });

  it("serves a plugin's GraphQL fields backed by its migration and service", async () => {
    const client = newClient();
    const ci = unwrap(
      (await client.request(CreateCiDocument, { input: { class: 'application', name: 'wiki' } })).createCI,
    );
    const Attach = parse(`
      mutation ($input: RunbooksAttachInput!) {
        runbooksAttach(input: $input) { __typename ... on MutationRunbooksAttachSuccess { data { id title } } }
      }`) as TypedDocumentNode<
      { runbooksAttach: { __typename: string; data?: { id: string; title: string } } },
      any
    >;
    const List = parse('query ($ciId: ID!) { runbooks(ciId: $ciId) { title url } }') as TypedDocumentNode<
      { runbooks: { title: string; url: string }[] },
      { ciId: string }
    >;
    const attached = await client.request(Attach, {
      input: { ciId: ci.id, title: 'Restore', url: 'https://wiki.example.com/restore' },
    });
    expect(attached.runbooksAttach).toMatchObject({
      __typename: 'MutationRunbooksAttachSuccess',
      data: { title: 'Restore' },
    });
    expect((await client.request(List, { ciId: ci.id })).runbooks).toEqual([
      { title: 'Restore', url: 'https://wiki.example.com/restore' },
    ]);
  });

  it('answers a stale version with ConflictError and bad credentials with 401', async () => {
    const client = newClient();
    const ci = unwrap(
      (await client.request(CreateCiDocument, { input: { class: 'server', name: 'db-01' } })).createCI,
    );
    unwrap(
      (await client.request(UpdateCiDocument, { id: ci.id, input: { version: 1, environment: 'prod' } }))
        .updateCI,
    );
    const stale = (
      await client.request(UpdateCiDocument, { id: ci.id, input: { version: 1, environment: 'dev' } })
    ).updateCI;
    expect(stale).toMatchObject({ __typename: 'ConflictError', currentVersion: 2 });

    const stranger = newClient({ token: 'og_not-a-real-token' });
    const error = await stranger
      .request(CreateCiDocument, { input: { class: 'server', name: 'x' } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpsGraphClientError);
    expect(error.status).toBe(401);
  });
});

describe('plugin start-up', () => {
  it('stops with a message naming the plugin and the dependency it is missing', async () => {
    const dashboards = definePlugin({ name: 'dashboards', dependsOn: ['runbooks'] });
    const error = await createOpsGraph({ database: 'pglite://memory', plugins: [dashboards] }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(PluginLoadError);
    expect(error.message).toMatch(/dashboards/);
    expect(error.message).toMatch(/runbooks/);
  });
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
