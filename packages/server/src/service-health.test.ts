import { readFile } from 'node:fs/promises';
import { type Actor, type Ci, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerTokenAuth } from './auth.js';
import type { OperationQueries } from './query-count.js';
import { collect, startTestServer, type TestServer } from './test-support.js';

const admin = systemActor('test');

const HEALTH_FIELDS = /* GraphQL */ `
  service { name } state since
  causes { ci { name } alert { id severity message } state }`;
const QUERY = /* GraphQL */ `
  query ($filter: ServiceHealthFilter) {
    serviceHealthHead
    serviceHealth(filter: $filter) { ${HEALTH_FIELDS} }
  }`;
const CHANGED = /* GraphQL */ `
  subscription ($filter: ServiceHealthFilter, $after: Seq) {
    serviceHealthChanged(filter: $filter, after: $after) {
      seq previousState occurredAt health { ${HEALTH_FIELDS} }
    }
  }`;
const INGEST = /* GraphQL */ `
  mutation ($events: [EventInput!]!) {
    ingestEvents(events: $events) {
      __typename
      ... on MutationIngestEventsSuccess { data { alertId outcome } }
    }
  }`;

type Result = { data?: Record<string, any> | null; errors?: readonly any[] };
const brief = (r: Result) => {
  const c = r.data?.serviceHealthChanged;
  return `${c?.health.service.name} ${c?.previousState}->${c?.health.state}`;
};

/**
 * Service health over the real server, its live refresh on. `Bearer shop-viewer` authenticates as a
 * hand-built actor with event:read and cmdb:read on the shop and what it depends on only.
 */
describe.each(testBackends())('service health over GraphQL on %s', (backend) => {
  let og: TestOpsGraph;
  let t: TestServer;
  const actors = new Map<string, Actor>();
  const g: Record<string, Ci> = {};
  const reports: OperationQueries[] = [];

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
    t = await startTestServer({
      og,
      authenticate: async (request, og) => {
        const name = /^Bearer (\S+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
        return (name && actors.get(name)) || bearerTokenAuth(request, og);
      },
      onOperationQueries: (report) => reports.push(report),
    });
    for (const [name, cls] of [
      ['sh-shop', 'business_service'],
      ['sh-web', 'server'],
      ['sh-other', 'business_service'],
      ['sh-odb', 'server'],
    ] as const)
      g[name] = await og.cmdb.create({ class: cls, name }, { actor: admin });
    await og.cmdb.relate(
      { type: 'depends_on', sourceId: g['sh-shop']!.id, targetId: g['sh-web']!.id },
      { actor: admin },
    );
    await og.cmdb.relate(
      { type: 'depends_on', sourceId: g['sh-other']!.id, targetId: g['sh-odb']!.id },
      { actor: admin },
    );
    const viewer = await scopedTestActor(og, 'shop-viewer', [
      { ciId: g['sh-shop']!.id, mode: 'dependencies', permissions: ['event:read', 'cmdb:read'] },
    ]);
    actors.set(viewer.name, viewer);
    await og.serviceHealth.refresh();
  });
  afterAll(async () => {
    await t?.close();
    await og?.close();
  });

  const ingest = async (node: string, dedupKey: string, severity: string) => {
    const { body } = await t.gql(
      INGEST,
      {
        events: [
          { source: 'sh', node, type: 'check', severity, dedupKey, ciId: g[node]!.id, message: dedupKey },
        ],
      },
      t.tokens.admin,
    );
    expect(body.data?.ingestEvents.__typename).toBe('MutationIngestEventsSuccess');
    return body.data!.ingestEvents.data[0].alertId as string;
  };

  it('lists every service the caller may read, with the head to subscribe after', async () => {
    const { body } = await t.gql(QUERY, {}, t.tokens.admin);
    expect(body.errors).toBeUndefined();
    expect(body.data!.serviceHealthHead).toBe(0);
    expect(body.data!.serviceHealth).toEqual([
      {
        service: { name: 'sh-other' },
        state: 'UP',
        since: g['sh-other']!.createdAt.toISOString(),
        causes: [],
      },
      { service: { name: 'sh-shop' }, state: 'UP', since: g['sh-shop']!.createdAt.toISOString(), causes: [] },
    ]);
    const scoped = (await t.gql(QUERY, {}, 'shop-viewer')).body;
    expect(scoped.errors).toBeUndefined();
    expect(scoped.data!.serviceHealth.map((h: any) => h.service.name)).toEqual(['sh-shop']);
    // Asking for the other by id gives nothing either.
    const asked = (await t.gql(QUERY, { filter: { serviceIds: [g['sh-other']!.id] } }, 'shop-viewer')).body;
    expect(asked.data!.serviceHealth).toEqual([]);
    // cmdb:read alone does not read health (it is derived from alerts).
    const reader = (await t.gql(QUERY, {}, t.tokens.reader)).body;
    expect(reader.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
  });

  it('streams changes over WebSocket from `after`, live within a second; a viewer gets only its services; resumes by seq', async () => {
    const head = (await t.gql(QUERY, {}, t.tokens.admin)).body.data!.serviceHealthHead;
    const all = collect(
      t.wsClient({ token: t.tokens.admin }),
      { query: CHANGED, variables: { after: head } },
      (r) => brief(r) === 'sh-shop UP->DOWN',
    );
    const viewer = collect(
      t.wsClient({ authorization: 'Bearer shop-viewer' }),
      { query: CHANGED, variables: { after: head } },
      (r) => brief(r) === 'sh-shop UP->DOWN',
    );
    const otherAlert = await ingest('sh-odb', 'odb-down', 'CRITICAL');
    const started = performance.now();
    const webAlert = await ingest('sh-web', 'web-down', 'CRITICAL');
    const seen = await all.done;
    // The live refresh publishes within the delivery goal (a sweep would take seconds).
    expect(performance.now() - started).toBeLessThan(1000);
    expect(seen.error).toBeUndefined();
    expect(seen.results.map(brief)).toEqual(['sh-other UP->DOWN', 'sh-shop UP->DOWN']);
    const shop = seen.results[1]!.data!.serviceHealthChanged;
    expect(shop.health.causes).toEqual([
      {
        ci: { name: 'sh-web' },
        alert: { id: webAlert, severity: 'CRITICAL', message: 'web-down' },
        state: 'DOWN',
      },
    ]);
    expect(seen.results[0]!.data!.serviceHealthChanged.health.causes[0].alert.id).toBe(otherAlert);
    // The viewer may not read sh-other: its first (and only) change is the shop's.
    const scoped = await viewer.done;
    expect(scoped.results.map(brief)).toEqual(['sh-shop UP->DOWN']);
    expect(scoped.results[0]!.data!.serviceHealthChanged.seq).toBe(shop.seq);

    // Resume after the first change: the second comes first, nothing twice.
    const resumed = collect(
      t.wsClient({ token: t.tokens.admin }),
      { query: CHANGED, variables: { after: seen.results[0]!.data!.serviceHealthChanged.seq } },
      () => true,
    );
    expect((await resumed.done).results.map(brief)).toEqual(['sh-shop UP->DOWN']);

    // The list shows the same; the viewer still sees only the shop.
    const { body } = await t.gql(QUERY, {}, t.tokens.admin);
    expect(body.data!.serviceHealthHead).toBe(shop.seq);
    expect(body.data!.serviceHealth.map((h: any) => [h.service.name, h.state, h.causes.length])).toEqual([
      ['sh-other', 'DOWN', 1],
      ['sh-shop', 'DOWN', 1],
    ]);

    // Clearing brings it back up, live.
    const back = collect(
      t.wsClient({ authorization: 'Bearer shop-viewer' }),
      { query: CHANGED, variables: { after: shop.seq } },
      (r) => brief(r) === 'sh-shop DOWN->UP',
    );
    await ingest('sh-odb', 'odb-down', 'CLEAR');
    await ingest('sh-web', 'web-down', 'CLEAR');
    expect((await back.done).results.map(brief)).toEqual(['sh-shop DOWN->UP']);
  });

  it('refuses the subscription to a caller without event:read anywhere', async () => {
    const refused = await collect(t.wsClient({ token: t.tokens.reader }), { query: CHANGED }).done;
    expect(refused.results[0]?.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
  });

  /** Services depending on a new failing server; resolves once the live refresh has them down. */
  const failingServices = async (prefix: string, count: number) => {
    const server = await og.cmdb.create({ class: 'server', name: `${prefix}-srv` }, { actor: admin });
    g[server.name] = server;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const s = await og.cmdb.create(
        { class: 'business_service', name: `${prefix}-svc-${i}` },
        { actor: admin },
      );
      await og.cmdb.relate({ type: 'depends_on', sourceId: s.id, targetId: server.id }, { actor: admin });
      ids.push(s.id);
    }
    await ingest(server.name, `${prefix}-down`, 'CRITICAL');
    for (let tries = 0; tries < 100; tries++) {
      const list = await og.serviceHealth.list({ serviceIds: ids });
      if (list.every((h) => h.state === 'down')) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${prefix}: the services did not go down`);
  };
  const queriesOf = async () => {
    reports.length = 0;
    const { body } = await t.gql(QUERY, {}, t.tokens.admin);
    expect(body.errors).toBeUndefined();
    return { count: reports.at(-1)!.queries.length, rows: body.data!.serviceHealth.length };
  };

  it('costs the same number of SQL queries however many services, causes, CIs and alerts it shows', async () => {
    await failingServices('nq-a', 2);
    const before = await queriesOf();
    await failingServices('nq-b', 5);
    const after = await queriesOf();
    expect(after.rows).toBe(before.rows + 5);
    expect(after.count).toBe(before.count);
  });

  it("runs the server README's operations as written", async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Business-service health over GraphQL'));
    const block = /```graphql\n([\s\S]*?)```/.exec(section)![1]!;
    const [query, subscription] = block.split(/\n(?=subscription )/);
    const { body } = await t.gql(query!, undefined, t.tokens.admin);
    expect(body.errors).toBeUndefined();
    expect(body.data!.serviceHealth.map((h: any) => h.service.name)).toContain('sh-shop');
    const first = await collect(
      t.wsClient({ token: t.tokens.admin }),
      { query: subscription!, variables: { after: 0 } },
      () => true,
    ).done;
    expect(first.results[0]!.errors).toBeUndefined();
    expect(brief(first.results[0]!)).toBe('sh-other UP->DOWN');
  });
});
