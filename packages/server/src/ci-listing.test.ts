import { type Ci, type ManualClock, systemActor } from '@opsgraph/core';
import { testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

const actor = systemActor('test');

/** The acceptance query of issue 3: a page of CIs with their classes and relationships. */
const PAGE = /* GraphQL */ `{
  cis(first: 100) {
    edges { node { id name ciClass { name label } relationships { type source { name } target { name } } } }
  }
}`;

describe.each(testBackends())('listing CIs over GraphQL on %s', (backend) => {
  let t: TestServer;
  const reports: OperationQueries[] = [];
  const cis: Ci[] = [];

  beforeAll(async () => {
    t = await startTestServer({
      backend,
      // Default limits: the acceptance query must pass them as they ship.
      onOperationQueries: (report) => reports.push(report),
    });
  });
  afterAll(() => t?.close());

  /** Runs an operation and returns its result with the SQL its execution ran. */
  async function measured(query: string, variables?: Record<string, unknown>) {
    const requestId = crypto.randomUUID();
    const response = await fetch(t.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${t.tokens.reader}`,
        'x-request-id': requestId,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: any[] };
    const report = reports.find((r) => r.requestId === requestId);
    // A statement's shape, whatever the length of its `in (…)` lists.
    return { body, queries: report?.queries.map((q) => q.sql.replace(/\$\d+(, \$\d+)*/g, '…')) };
  }

  /** Grows the estate to `total` CIs of mixed classes, each related to its neighbours. */
  async function growTo(total: number) {
    const clock = t.og.clock as ManualClock;
    const classes = ['linux_server', 'windows_server', 'application', 'database', 'cluster'];
    while (cis.length < total) {
      const i = cis.length;
      clock.advance(1_000);
      const ci = await t.og.cmdb.create(
        { class: classes[i % classes.length]!, name: `pg-${String(i).padStart(3, '0')}` },
        { actor },
      );
      cis.push(ci);
      if (i > 0)
        await t.og.cmdb.relate({ type: 'depends_on', sourceId: ci.id, targetId: cis[i - 1]!.id }, { actor });
      if (i > 1)
        await t.og.cmdb.relate({ type: 'connected_to', sourceId: ci.id, targetId: cis[0]!.id }, { actor });
    }
  }

  it('lists 10 and 100 CIs with their classes and relationships in the same few SQL queries', async () => {
    await growTo(10);
    const ten = await measured(PAGE);
    expect(ten.body.errors).toBeUndefined();
    expect(ten.body.data.cis.edges).toHaveLength(10);

    await growTo(100);
    const hundred = await measured(PAGE);
    expect(hundred.body.errors).toBeUndefined();
    const nodes = hundred.body.data.cis.edges.map((e: any) => e.node);
    expect(nodes).toHaveLength(100);
    // The answer is complete: classes, and relationships with both ends' names.
    const third = nodes.find((n: any) => n.name === 'pg-002');
    expect(third.ciClass).toEqual({ name: 'application', label: 'Application' });
    expect(third.relationships.map((r: any) => `${r.source.name} ${r.type} ${r.target.name}`).sort()).toEqual(
      ['pg-002 connected_to pg-000', 'pg-002 depends_on pg-001', 'pg-003 depends_on pg-002'],
    );
    expect(nodes.find((n: any) => n.name === 'pg-000').relationships).toHaveLength(99);

    // One query for the page, one for its classes, one for its relationships; the relationships' ends
    // are the page's own CIs, already loaded. Ten times the CIs, not one query more. The two batches
    // run side by side, so they may reach the database in either order.
    expect([...(hundred.queries ?? [])].sort(), hundred.queries?.join('\n')).toEqual(
      [...(ten.queries ?? [])].sort(),
    );
    expect(hundred.queries).toHaveLength(3);
  });

  it('filters by class below, attributes and status, and orders with cursors that stay in their order', async () => {
    await growTo(100);
    (t.og.clock as ManualClock).advance(1_000);
    const vm = await t.og.cmdb.create(
      { class: 'linux_server', name: 'attr-vm', attributes: { os: 'debian 12', cpu_count: 12 } },
      { actor },
    );
    const LIST = /* GraphQL */ `
      query ($filter: CIFilter, $orderBy: CIOrder, $first: Int, $after: String) {
        cis(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
          edges { cursor node { name class } }
          pageInfo { hasNextPage endCursor }
        }
      }`;
    const list = (variables: Record<string, unknown>) => t.gql(LIST, variables, t.tokens.reader);

    const byAttribute = await list({
      filter: {
        class: 'server',
        attributes: [
          { name: 'os', value: 'debian 12' },
          { name: 'cpu_count', value: 12 },
        ],
      },
    });
    expect(byAttribute.body.data?.cis.edges.map((e: any) => e.node.name)).toEqual(['attr-vm']);
    const servers = await list({ filter: { class: 'hardware' }, first: 500 });
    expect(new Set(servers.body.data?.cis.edges.map((e: any) => e.node.class))).toEqual(
      new Set(['linux_server', 'windows_server']),
    );

    // Every CI once, newest first, through pages of 7.
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const { body } = await list({ orderBy: { field: 'CREATED_AT', direction: 'DESC' }, first: 7, after });
      expect(body.errors).toBeUndefined();
      seen.push(...(body.data?.cis.edges ?? []).map((e: any) => e.node.name));
      after = body.data?.cis.pageInfo.hasNextPage ? body.data.cis.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual([...cis.map((c) => c.name), vm.name].reverse());

    // A cursor of one order, reused under another, is refused naming `after`.
    const first = await list({ orderBy: { field: 'NAME' }, first: 2 });
    const refused = await list({
      orderBy: { field: 'STATUS' },
      after: first.body.data?.cis.pageInfo.endCursor,
    });
    expect(refused.body.errors?.[0]).toMatchObject({ extensions: { code: 'VALIDATION', field: 'after' } });
    expect(refused.body.errors?.[0]?.message).toMatch(/order name:asc/);
  });

  it('answers bad listing input with VALIDATION naming the field', async () => {
    const cases: [string, string][] = [
      ['{ cis(filter: { class: "toaster" }) { edges { cursor } } }', 'filter.class'],
      ['{ cis(filter: { attributes: [{ name: "os" }] }) { edges { cursor } } }', 'filter.attributes.0.value'],
      ['{ cis(last: 2) { edges { cursor } } }', 'last'],
      ['{ cis(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }', 'after'],
    ];
    for (const [query, field] of cases) {
      const { body } = await t.gql(query, undefined, t.tokens.reader);
      expect(body.errors?.[0], query).toMatchObject({ extensions: { code: 'VALIDATION', field } });
    }
  });
});
