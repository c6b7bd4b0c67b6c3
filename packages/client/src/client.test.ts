import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  ActivityStreamDocument,
  ApiTokensDocument,
  type CiChangeEvent,
  CiClassesDocument,
  CreateCiDocument,
  createOpsGraphClient,
  GetCiDocument,
  ListCisDocument,
  MeDocument,
  type OpsGraphClient,
  OpsGraphClientError,
  OpsGraphUnauthorizedError,
  UpdateCiDocument,
  unwrap,
} from './index.js';
import { pullUntil, waitFor } from './test-support.js';

const actor = systemActor('client-test');

/** A WebSocket that counts the sockets it has open, to check that nothing leaks. */
const liveSockets = new Set<WebSocket>();
let socketsOpened = 0;
class CountingWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    socketsOpened++;
    liveSockets.add(this);
    this.addEventListener('close', () => liveSockets.delete(this));
  }
}

describe('@opsgraph/client against a real server', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  let port: number;
  let token: string;
  let client: OpsGraphClient;

  beforeAll(async () => {
    og = await createTestOpsGraph();
    ({ secret: token } = await og.access.createToken({ name: 'client-test', permissions: ['*'] }, { actor }));
    server = createOpsGraphServer({ opsgraph: og });
    ({ url, port } = await server.listen(0, '127.0.0.1'));
    client = createOpsGraphClient({ url, token, webSocketImpl: CountingWebSocket });
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await og?.close();
  });

  it('runs typed queries', async () => {
    const { me } = await client.request(MeDocument);
    expect(me?.kind).toBe('token');
    expect(me?.permissions).toContain('*');

    const { ciClasses } = await client.request(CiClassesDocument);
    expect(ciClasses?.map((c) => c.name)).toContain('linux_server');
  });

  it('runs typed mutations and reads back what they wrote', async () => {
    const created = unwrap(
      (
        await client.request(CreateCiDocument, {
          input: { class: 'linux_server', name: 'client-web-01', tags: ['client-test'] },
        })
      ).createCI,
    );
    expect(created.name).toBe('client-web-01');
    expect(created.version).toBe(1);

    const { ci } = await client.request(GetCiDocument, { id: created.id! });
    expect(ci).toMatchObject({ id: created.id, name: 'client-web-01', status: created.status });

    const { cis } = await client.request(ListCisDocument, { first: 10, filter: { tag: 'client-test' } });
    expect(cis?.edges.map((e) => e.node.name)).toEqual(['client-web-01']);

    const updated = unwrap(
      (
        await client.request(UpdateCiDocument, {
          id: created.id!,
          input: { version: created.version!, environment: 'staging' },
        })
      ).updateCI,
    );
    expect(updated).toMatchObject({ environment: 'staging', version: 2 });

    // A stale version comes back as a typed ConflictError; unwrap turns it into a client error.
    const stale = await client.request(UpdateCiDocument, {
      id: created.id!,
      input: { version: 1, environment: 'production' },
    });
    expect(stale.updateCI?.__typename).toBe('ConflictError');
    const error = (() => {
      try {
        unwrap(stale.updateCI);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(OpsGraphClientError);
    expect((error as OpsGraphClientError).code).toBe('CONFLICT');
  });

  it('lists CIs in an order, with their classes, page after page', async () => {
    for (const name of ['order-b', 'order-a', 'order-c']) {
      await og.cmdb.create({ class: 'linux_server', name, tags: ['client-order'] }, { actor });
    }
    const page = async (after: string | null) =>
      (
        await client.request(ListCisDocument, {
          first: 2,
          after,
          filter: { class: 'server', tag: 'client-order' },
          orderBy: { field: 'NAME', direction: 'DESC' },
        })
      ).cis;
    const names: string[] = [];
    let after: string | null = null;
    do {
      const cis = await page(after);
      names.push(...cis.edges.map((e) => `${e.node.name} (${e.node.ciClass.label})`));
      after = cis.pageInfo.hasNextPage ? (cis.pageInfo.endCursor ?? null) : null;
    } while (after);
    expect(names).toEqual(['order-c (Linux server)', 'order-b (Linux server)', 'order-a (Linux server)']);
  });

  it('followCiChanges follows the changes of a class with cmdb:read only, from now on', async () => {
    const { secret } = await og.access.createToken(
      { name: 'ci-reader', permissions: ['cmdb:read'] },
      { actor },
    );
    const reader = createOpsGraphClient({ url, token: secret, webSocketImpl: CountingWebSocket });
    const opened = socketsOpened;
    const stream = reader.followCiChanges({ filter: { class: 'server', tag: 'client-follow' } });
    const pending: CiChangeEvent[] = [];
    void stream.next().then((first) => pending.push(first.value!));
    // The stream has fixed its starting point once its socket opens.
    await waitFor(() => socketsOpened > opened);
    const ci = await og.cmdb.create(
      { class: 'linux_server', name: 'follow-me', tags: ['client-follow'] },
      { actor },
    );
    await og.cmdb.create({ class: 'database', name: 'not-me', tags: ['client-follow'] }, { actor });
    await og.cmdb.update(ci.id, { version: 1, environment: 'prod' }, { actor });
    await waitFor(() => pending.length === 1);
    await pullUntil(stream, pending, (items) => items.length >= 2);
    await reader.close();
    expect(pending.map((c) => `${c.kind} ${c.ci.name}`)).toEqual(['CREATED follow-me', 'UPDATED follow-me']);
    expect(pending[1]?.changes).toEqual([{ field: 'environment', before: null, after: 'prod' }]);
    expect(pending[1]!.seq).toBeGreaterThan(pending[0]!.seq);
  });

  it('throws OpsGraphClientError with the code of a GraphQL error', async () => {
    const { secret } = await og.access.createToken(
      { name: 'read-only', permissions: ['cmdb:read'] },
      { actor },
    );
    const weak = createOpsGraphClient({ url, token: secret });
    const error = await weak.request(ApiTokensDocument).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsGraphClientError);
    expect(error).not.toBeInstanceOf(OpsGraphUnauthorizedError);
    const clientError = error as OpsGraphClientError;
    expect(clientError.code).toBe('FORBIDDEN');
    expect(clientError.errors[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(clientError.status).toBe(200);
    expect(clientError.message).toContain('FORBIDDEN');
    await weak.close();
  });

  it('reports a refused token as a 401 that says what to do', async () => {
    const bad = createOpsGraphClient({ url, token: 'og_not-a-real-token' });
    const error = await bad.request(MeDocument).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsGraphUnauthorizedError);
    expect((error as OpsGraphUnauthorizedError).status).toBe(401);
    expect((error as Error).message).toMatch(/send a valid API token/);
    await bad.close();
  });

  it('ends a subscription with an error (no endless retry) when the socket refuses the token', async () => {
    const bad = createOpsGraphClient({ url, token: 'og_not-a-real-token', webSocketImpl: CountingWebSocket });
    const started = Date.now();
    // With `after` given no head is asked over HTTP first: this is the socket's own refusal.
    const error = await bad
      .subscribe(ActivityStreamDocument, { after: 0 })
      .next()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsGraphUnauthorizedError);
    expect((error as OpsGraphUnauthorizedError).closeCode).toBe(4403);
    expect(Date.now() - started).toBeLessThan(5_000);

    // Without `after` the head request over HTTP is refused first (401).
    const followError = await bad
      .followActivity()
      .next()
      .catch((e: unknown) => e);
    expect(followError).toBeInstanceOf(OpsGraphUnauthorizedError);
    expect((followError as OpsGraphUnauthorizedError).status).toBe(401);
    await bad.close();
  });

  it('delivers a subscription event caused by a mutation', async () => {
    const after = await og.activity.latestSeq();
    const stream = client.subscribe(ActivityStreamDocument, { after, types: ['ci.created'] });
    await client.request(CreateCiDocument, { input: { class: 'linux_server', name: 'client-sub-01' } });
    const [event] = await pullUntil(stream, [], (items) => items.length >= 1);
    await stream.return?.();
    expect(event?.activity).toMatchObject({ type: 'ci.created', subjectType: 'ci' });
    expect(event?.activity?.seq).toBeGreaterThan(after);
    expect(event?.activity?.payload).toBeDefined();
  });

  it('closes its socket when the consumer leaves the loop', async () => {
    await waitFor(() => liveSockets.size === 0);
    const after = await og.activity.latestSeq();
    for await (const event of client.followActivity({ after: 0 })) {
      expect(event.seq).toBeGreaterThan(0);
      expect(liveSockets.size).toBe(1);
      break;
    }
    const stream = client.subscribe(ActivityStreamDocument, { after: after - 1 });
    for await (const _ of stream) break;
    await waitFor(() => liveSockets.size === 0);
  });

  it('followActivity resumes after the server restarts: every event, in order, none twice', async () => {
    const start = await og.activity.latestSeq();
    const create = (name: string) =>
      client
        .request(CreateCiDocument, { input: { class: 'linux_server', name } })
        .then((r) => unwrap(r.createCI));
    const openedBefore = socketsOpened;
    const stream = client.followActivity({ after: start });
    const seen: number[] = [];
    const events: { seq: number }[] = [];
    const collect = async (until: number) => {
      await pullUntil(stream, events, (items) => (items.at(-1)?.seq ?? 0) >= until, 15_000);
      seen.splice(0, seen.length, ...events.map((e) => e.seq));
    };

    await create('resume-01');
    await create('resume-02');
    await collect(await og.activity.latestSeq());

    // The server goes away; writes go on meanwhile (another replica, a batch job…).
    await server.close();
    // Let the event loop see the closed keep-alive sockets (PGlite work below never yields to I/O), as
    // any real restart would; otherwise the next fetch reuses a dead pooled socket.
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const name of ['resume-03', 'resume-04', 'resume-05']) {
      await og.cmdb.create({ class: 'linux_server', name }, { actor });
    }
    server = createOpsGraphServer({ opsgraph: og });
    await server.listen(port, '127.0.0.1');
    await create('resume-06');
    await create('resume-07');

    const last = await og.activity.latestSeq();
    await collect(last);
    await stream.return?.();

    const expected = (await og.activity.list({ after: start, limit: 1000 })).map((e) => e.seq);
    expect(socketsOpened - openedBefore).toBeGreaterThanOrEqual(2); // it did reconnect
    expect(expected.length).toBeGreaterThanOrEqual(7);
    expect(seen).toEqual(expected);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!);
  });
});
