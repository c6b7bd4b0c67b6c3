// Resumable `subscribe` for every stream, and the load-balanced client (`endpoints`), against real servers.
import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  AlertChangedDocument,
  ApiTokensDocument,
  CiChangedDocument,
  CreateCiDocument,
  createOpsGraphClient,
  MeDocument,
  type OpsGraphClientError,
  StreamHeadDocument,
  unwrap,
} from './index.js';
import { pullUntil, waitFor } from './test-support.js';

const actor = systemActor('client-test');

/** Records the URL of each socket opened, to see where (re)connections went. */
const socketUrls: string[] = [];
class RecordingWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    socketUrls.push(String(args[0]));
  }
}

/** The real fetch, recording which URL each request went to (and whether it got an answer). */
const fetched: string[] = [];
const recordingFetch: typeof fetch = async (input, init) => {
  const url = String(input);
  try {
    const response = await fetch(input, init);
    fetched.push(`${url} ok`);
    return response;
  } catch (error) {
    fetched.push(`${url} unreachable`);
    throw error;
  }
};

/** Lets the event loop see closed keep-alive sockets (PGlite work never yields to I/O). */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 50));

describe('client.subscribe resumes any stream that declares $after', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  let port: number;
  let token: string;

  beforeAll(async () => {
    og = await createTestOpsGraph();
    ({ secret: token } = await og.access.createToken({ name: 'resume', permissions: ['*'] }, { actor }));
    server = createOpsGraphServer({ opsgraph: og });
    ({ url, port } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it('without `after`, starts at streamHead: a restart before the first payload loses nothing, none twice', async () => {
    const client = createOpsGraphClient({ url, token, webSocketImpl: RecordingWebSocket, retryWait: settle });
    const ingest = (dedupKey: string, severity: 'critical' | 'warning' = 'critical') =>
      og.events.ingest({ source: 'resume', node: 'db-01', type: 'disk', severity, dedupKey }, { actor });
    const opened = socketUrls.length;
    const stream = client.subscribe(AlertChangedDocument, { filter: { source: 'resume' } });
    const items: { alertChanged: { seq: number; kind: string; alert: { dedupKey: string } } }[] = [];
    const first = pullUntil(stream, items, (i) => i.length >= 1, 15_000);
    // The head is fixed and the subscription sent once its socket is open; nothing has arrived yet.
    await waitFor(() => socketUrls.length > opened, 10_000);
    const head = (await client.request(StreamHeadDocument)).streamHead;

    await server.close();
    await settle();
    await ingest('r-1'); // while the server is down, before any payload reached the client
    await ingest('r-2');
    server = createOpsGraphServer({ opsgraph: og });
    await server.listen(port, '127.0.0.1');
    await first;
    await ingest('r-1', 'warning'); // a repeat: UPDATED
    await ingest('r-3');
    await pullUntil(stream, items, (i) => i.length >= 4, 15_000);
    await client.close();

    const expected = (await og.activity.list({ after: head, limit: 1000 }))
      .filter((e) => e.type.startsWith('alert.'))
      .map((e) => e.seq);
    expect(socketUrls.length - opened).toBeGreaterThanOrEqual(2); // it did reconnect
    expect(items.map((i) => `${i.alertChanged.kind} ${i.alertChanged.alert.dedupKey}`)).toEqual([
      'OPENED r-1',
      'OPENED r-2',
      'UPDATED r-1',
      'OPENED r-3',
    ]);
    expect(items.map((i) => i.alertChanged.seq)).toEqual(expected);
  });

  it('started while the server is down, waits for it (asking the head again) instead of failing', async () => {
    const client = createOpsGraphClient({ url, token, retryWait: settle, webSocketImpl: RecordingWebSocket });
    const opened = socketUrls.length;
    await server.close();
    await settle();
    const stream = client.subscribe(AlertChangedDocument, { filter: { source: 'late' } });
    const items = pullUntil(stream, [], (i) => i.length >= 1, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few refused head requests
    server = createOpsGraphServer({ opsgraph: og });
    await server.listen(port, '127.0.0.1');
    // The socket opens once the head was read (the server is back): an alert after it arrives.
    await waitFor(() => socketUrls.length > opened, 10_000);
    await og.events.ingest({ source: 'late', node: 'db-02', type: 'disk', severity: 'critical' }, { actor });
    const [first] = await items;
    await client.close();
    expect(first?.alertChanged).toMatchObject({ kind: 'OPENED', alert: { dedupKey: expect.any(String) } });
  });

  it('passes a payload without `after` through as it is, and keeps a given `after`', async () => {
    const client = createOpsGraphClient({ url, token });
    const start = await og.activity.latestSeq();
    await og.cmdb.create({ class: 'linux_server', name: 'given-after-1' }, { actor });
    await og.cmdb.create({ class: 'linux_server', name: 'given-after-2' }, { actor });
    const stream = client.subscribe(CiChangedDocument, { after: start, filter: { class: 'linux_server' } });
    const items = await pullUntil(stream, [], (i) => i.length >= 2, 15_000);
    await client.close();
    expect(items.map((i) => i.ciChanged.ci.name)).toEqual(['given-after-1', 'given-after-2']);
  });
});

describe('a load-balanced client (endpoints)', () => {
  let og: TestOpsGraph;
  let a: OpsGraphServer | undefined;
  let b: OpsGraphServer;
  let urlA: string;
  let urlB: string;
  let token: string;
  let reader: string;

  beforeAll(async () => {
    og = await createTestOpsGraph();
    ({ secret: token } = await og.access.createToken({ name: 'lb', permissions: ['*'] }, { actor }));
    ({ secret: reader } = await og.access.createToken(
      { name: 'lb-reader', permissions: ['cmdb:read'] },
      { actor },
    ));
    // Two replicas of one OpsGraph, as two processes on one database would be.
    a = createOpsGraphServer({ opsgraph: og });
    b = createOpsGraphServer({ opsgraph: og });
    ({ url: urlA } = await a!.listen(0, '127.0.0.1'));
    ({ url: urlB } = await b.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await og?.close();
  });

  it('refuses `url` with `endpoints`, and no endpoint at all', () => {
    expect(() => createOpsGraphClient({ url: urlA, endpoints: [{ url: urlB }] })).toThrow(
      /give `url` \(and `wsUrl`\) or `endpoints`, not both/,
    );
    expect(() => createOpsGraphClient({ endpoints: [] })).toThrow(/at least one/);
    expect(() => createOpsGraphClient({ endpoints: [{ url: 'ftp://x' }] })).toThrow(/endpoints\[0\]\.url/);
  });

  it('takes the endpoints in turn; a GraphQL error is not retried elsewhere', async () => {
    const client = createOpsGraphClient({
      endpoints: [{ url: urlA }, { url: urlB }],
      token,
      fetch: recordingFetch,
    });
    fetched.length = 0;
    for (let i = 0; i < 4; i++) await client.request(MeDocument);
    expect(fetched).toEqual([`${urlA} ok`, `${urlB} ok`, `${urlA} ok`, `${urlB} ok`]);

    const weak = createOpsGraphClient({
      endpoints: [{ url: urlA }, { url: urlB }],
      token: reader,
      fetch: recordingFetch,
    });
    fetched.length = 0;
    const error = await weak.request(ApiTokensDocument).catch((e: unknown) => e);
    expect((error as OpsGraphClientError).code).toBe('FORBIDDEN');
    expect(fetched).toEqual([`${urlA} ok`]);
    await client.close();
    await weak.close();
  });

  it('when a replica dies: requests go to the other, and its subscriptions reconnect there and resume', async () => {
    const client = createOpsGraphClient({
      endpoints: [{ url: urlA }, { url: urlB }],
      token,
      fetch: recordingFetch,
      webSocketImpl: RecordingWebSocket,
      retryWait: settle,
    });
    const create = async (name: string) =>
      unwrap(
        (await client.request(CreateCiDocument, { input: { class: 'linux_server', name, tags: ['lb'] } }))
          .createCI,
      );
    const start = await og.activity.latestSeq();
    const opened = socketUrls.length;
    const stream = client.subscribe(CiChangedDocument, { after: start, filter: { tag: 'lb' } });
    const items: { ciChanged: { seq: number; ci: { name: string } } }[] = [];
    await create('lb-1');
    await create('lb-2');
    await pullUntil(stream, items, (i) => i.length >= 2, 15_000);
    expect(socketUrls.slice(opened)).toEqual([urlA.replace(/^http/, 'ws')]);

    await a!.close(); // replica A goes away
    a = undefined;
    await settle();
    await og.cmdb.create({ class: 'linux_server', name: 'lb-3', tags: ['lb'] }, { actor }); // meanwhile
    fetched.length = 0;
    // Each request starts at the next endpoint; those that start at A move on to B.
    await create('lb-4');
    await create('lb-5');
    expect(fetched.filter((f) => f.endsWith('ok'))).toEqual([`${urlB} ok`, `${urlB} ok`]);
    expect(fetched).toContain(`${urlA} unreachable`);
    await pullUntil(stream, items, (i) => i.length >= 5, 15_000);
    await client.close();

    expect(socketUrls.slice(opened)).toEqual([urlA, urlB].map((u) => u.replace(/^http/, 'ws')));
    expect(items.map((i) => i.ciChanged.ci.name)).toEqual(['lb-1', 'lb-2', 'lb-3', 'lb-4', 'lb-5']);
    const expected = (await og.activity.list({ after: start, limit: 1000, types: ['ci.created'] })).map(
      (e) => e.seq,
    );
    expect(items.map((i) => i.ciChanged.seq)).toEqual(expected);
  });
});
