import { type Actor, systemActor } from '@opsgraph/core';
import { testBackends } from '@opsgraph/core/testing';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerTokenAuth } from './auth.js';
import { collect, readSseUntil, startTestServer, subscribeSse, type TestServer } from './test-support.js';

const actor = systemActor('test');

const CHANGED = /* GraphQL */ `
  subscription ($filter: CIChangedFilter, $after: Seq) {
    ciChanged(filter: $filter, after: $after) {
      seq kind
      ci { id name class ciClass { name } relationships { type } }
      changes { field before after }
      relationship { type source { name } target { name } }
      actor { name }
    }
  }`;

type Result = { data?: Record<string, any> | null; errors?: readonly any[] };
const summary = (r: Result) => {
  const c = r.data?.ciChanged;
  return c.relationship
    ? `${c.kind} ${c.ci.name}: ${c.relationship.source.name} ${c.relationship.type} ${c.relationship.target.name}`
    : `${c.kind} ${c.ci.name}`;
};

/** A subscription that keeps running: `arrived(n)` waits for its n-th result; `ended` for its end. */
function follow(client: Client, payload: { query: string; variables?: Record<string, unknown> }) {
  const results: Result[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const ended = new Promise<{ error?: unknown }>((resolve) => {
    client.subscribe(payload, {
      next: (result) => {
        results.push(result as Result);
        for (const w of waiters.filter((w) => results.length >= w.count)) w.resolve();
      },
      error: (error) => resolve({ error }),
      complete: () => resolve({}),
    });
  });
  const arrived = (count: number) =>
    results.length >= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ count, resolve }));
  return { results, arrived, ended };
}

describe.each(testBackends())('ciChanged on %s', (backend) => {
  let t: TestServer;
  // An actor whose cmdb:read can be taken away while it is subscribed, as a revoked grant would be.
  const fadingPermissions = ['cmdb:read'];
  const fading: Actor = { kind: 'user', id: 'fading', name: 'Fading', permissions: fadingPermissions };
  beforeAll(async () => {
    t = await startTestServer({
      backend,
      authenticate: async (request, og) =>
        request.headers.get('authorization') === 'Bearer fading' ? fading : bearerTokenAuth(request, og),
    });
  });
  afterAll(() => t?.close());

  const create = (cls: string, name: string, tags: string[] = []) =>
    t.og.cmdb.create({ class: cls, name, tags }, { actor });

  it('delivers each kind of change of the CIs a class filter takes in, over graphql-ws, in order', async () => {
    const after = await t.og.cmdb.changesHead();
    const { done } = collect(
      t.wsClient({ token: t.tokens.reader }),
      { query: CHANGED, variables: { filter: { class: 'server' }, after } },
      (r) => r.data?.ciChanged?.kind === 'RETIRED',
    );
    const vm = await create('linux_server', 'cc-vm');
    await create('application', 'cc-other'); // not a server: filtered out
    const app = await create('application', 'cc-app');
    await t.og.cmdb.update(vm.id, { version: 1, tags: ['web'] }, { actor });
    const rel = await t.og.cmdb.relate({ type: 'runs_on', sourceId: app.id, targetId: vm.id }, { actor });
    await t.og.cmdb.unrelate(rel.id, { actor });
    await t.og.cmdb.retire(vm.id, 2, { actor });

    const { results, error } = await done;
    expect(error).toBeUndefined();
    expect(results.map(summary)).toEqual([
      'CREATED cc-vm',
      'UPDATED cc-vm',
      'RELATED cc-vm: cc-app runs_on cc-vm',
      'UNRELATED cc-vm: cc-app runs_on cc-vm',
      'RETIRED cc-vm',
    ]);
    const changes = results.map((r) => r.data?.ciChanged);
    expect(changes[1].changes).toEqual([{ field: 'tags', before: [], after: ['web'] }]);
    expect(changes[0].changes).toBeNull();
    expect(changes[0].relationship).toBeNull();
    expect(changes[0].ci.ciClass).toEqual({ name: 'linux_server' });
    expect(changes[0].actor).toEqual({ name: 'test' });
    const seqs = changes.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs[0]).toBeGreaterThan(after);
  });

  it('resumes after a seq with nothing lost, backlog first', async () => {
    const start = await t.og.cmdb.changesHead();
    const a = await create('database', 'cc-db-a', ['resume']);
    const b = await create('database', 'cc-db-b', ['resume']);
    const c = await create('database', 'cc-db-c', ['resume']);
    const all = collect(
      t.wsClient({ token: t.tokens.reader }),
      { query: CHANGED, variables: { filter: { tag: 'resume' }, after: start } },
      (r) => r.data?.ciChanged?.ci.id === c.id,
    );
    const first = (await all.done).results.map((r) => r.data?.ciChanged);
    expect(first.map((x) => x.ci.id)).toEqual([a.id, b.id, c.id]);
    // As a client that saw the first one and then lost its connection would ask.
    const resumed = collect(
      t.wsClient({ token: t.tokens.reader }),
      { query: CHANGED, variables: { filter: { tag: 'resume' }, after: first[0].seq } },
      (r) => r.data?.ciChanged?.ci.id === c.id,
    );
    expect((await resumed.done).results.map((r) => r.data?.ciChanged.ci.id)).toEqual([b.id, c.id]);
  });

  it('answers each change with fresh data, not what an earlier change of the subscription loaded', async () => {
    const hub = await create('cluster', 'cc-hub');
    const left = await create('linux_server', 'cc-left');
    const right = await create('linux_server', 'cc-right');
    const sub = follow(t.wsClient({ token: t.tokens.reader }), {
      query: CHANGED,
      variables: { filter: { ids: [hub.id] }, after: await t.og.cmdb.changesHead() },
    });
    await t.og.cmdb.relate({ type: 'member_of', sourceId: left.id, targetId: hub.id }, { actor });
    await sub.arrived(1);
    await t.og.cmdb.relate({ type: 'member_of', sourceId: right.id, targetId: hub.id }, { actor });
    await sub.arrived(2);
    // The hub's relationships as each change found them: one, then two (a stale loader says one twice).
    expect(sub.results.map((r) => r.data?.ciChanged.ci.relationships.length)).toEqual([1, 2]);
  });

  it('refuses without cmdb:read, and an unknown class, for that operation only', async () => {
    const client = t.wsClient({ token: t.tokens.writer });
    const noToken = t.wsClient();
    const refused = await collect(noToken, { query: CHANGED }).done;
    expect(refused.results[0]?.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    const unknown = await collect(client, { query: CHANGED, variables: { filter: { class: 'toaster' } } })
      .done;
    expect(unknown.error).toBeUndefined();
    expect(unknown.results[0]?.errors?.[0]).toMatchObject({
      extensions: { code: 'VALIDATION', field: 'filter.class' },
    });
    const { done } = collect(client, { query: '{ me { name } }' });
    expect((await done).results).toEqual([{ data: { me: { name: 'token "writer"' } } }]);
  });

  it('checks cmdb:read on every change: a subscriber that loses it gets FORBIDDEN, and the socket lives on', async () => {
    const start = await t.og.cmdb.changesHead();
    const client = t.wsClient({ authorization: 'Bearer fading' });
    const sub = follow(client, { query: CHANGED, variables: { filter: { tag: 'fade' }, after: start } });
    await create('server', 'cc-fade-1', ['fade']);
    await sub.arrived(1);
    fadingPermissions.length = 0;
    await create('server', 'cc-fade-2', ['fade']);
    const { results } = sub;
    const ended = sub.ended;
    // One error result for this subscription, then it completes; nothing of cc-fade-2 is delivered.
    expect(await ended).toEqual({});
    expect(results.map((r) => r.data?.ciChanged?.ci?.name ?? r.errors?.[0]?.extensions?.code)).toEqual([
      'cc-fade-1',
      'FORBIDDEN',
    ]);
    fadingPermissions.push('cmdb:read');
    const { done } = collect(client, { query: '{ me { name } }' });
    expect((await done).results).toEqual([{ data: { me: { name: 'Fading' } } }]);
  });

  it('streams over SSE as well', async () => {
    const { response, close } = await subscribeSse(t.url, t.tokens.reader, {
      query: CHANGED,
      variables: { filter: { tag: 'sse' } },
    });
    expect(response.status).toBe(200);
    // The response has started: the subscription has fixed its starting point.
    const ci = await create('server', 'cc-sse', ['sse']);
    const change = await readSseUntil(response, (result) =>
      result.data?.ciChanged?.ci.id === ci.id ? result.data.ciChanged : undefined,
    );
    close();
    expect(change).toMatchObject({ kind: 'CREATED', ci: { name: 'cc-sse', class: 'server' } });
  });
});
