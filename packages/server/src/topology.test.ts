import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const actor = systemActor('test');

describe('topology over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  const name = (id: string) => Object.entries(ids).find(([, v]) => v === id)?.[0] ?? id;
  let stranger: string;

  beforeAll(async () => {
    t = await startTestServer();
    for (const [n, cls, attributes] of [
      ['shop', 'business_service', {}],
      ['shop-app', 'application', {}],
      ['db-cluster', 'cluster', { quorum: 2 }],
      ['db-1', 'linux_server', {}],
      ['db-2', 'linux_server', {}],
      ['db-3', 'linux_server', {}],
      ['lb', 'hardware', {}],
    ] as const) {
      ids[n] = (await t.og.cmdb.create({ class: cls, name: n, attributes }, { actor })).id;
    }
    const relate = (type: string, source: string, target: string) =>
      t.og.cmdb.relate({ type, sourceId: ids[source]!, targetId: ids[target]! }, { actor });
    await relate('depends_on', 'shop', 'shop-app');
    await relate('runs_on', 'shop-app', 'db-cluster');
    await relate('depends_on', 'shop-app', 'lb');
    for (const node of ['db-1', 'db-2', 'db-3']) await relate('member_of', node, 'db-cluster');
    stranger = (
      await t.og.access.createToken({ name: 'stranger', permissions: ['activity:read'] }, { actor })
    ).secret;
  });
  afterAll(() => t?.close());

  const IMPACT = `query ($ciIds: [ID!]!, $maxDepth: Int) {
    impactAnalysis(ciIds: $ciIds, maxDepth: $maxDepth) {
      affected { ci { name class } depth state path }
      services { name }
      serviceImpacts { ci { name } state depth }
      down
      degraded
    }
  }`;

  it('answers impactAnalysis with states, depths, paths and services, redundancy-aware', async () => {
    const one = await t.gql(IMPACT, { ciIds: [ids['db-1']] }, t.tokens.reader);
    expect(one.body.errors).toBeUndefined();
    const analysis = one.body.data?.impactAnalysis;
    expect(analysis.affected.map((a: any) => [a.ci.name, a.depth, a.state])).toEqual([
      ['db-1', 0, 'down'],
      ['db-cluster', 1, 'degraded'],
      ['shop-app', 2, 'degraded'],
      ['shop', 3, 'degraded'],
    ]);
    expect(analysis.affected[3].path.map(name)).toEqual(['db-1', 'db-cluster', 'shop-app', 'shop']);
    expect(analysis.services).toEqual([{ name: 'shop' }]);
    expect(analysis.serviceImpacts).toEqual([{ ci: { name: 'shop' }, state: 'degraded', depth: 3 }]);
    expect([analysis.down, analysis.degraded]).toEqual([1, 3]);

    const two = await t.gql(IMPACT, { ciIds: [ids['db-1'], ids['db-2']] }, t.tokens.reader);
    expect(two.body.data?.impactAnalysis.affected.map((a: any) => [a.ci.name, a.state])).toEqual([
      ['db-1', 'down'],
      ['db-2', 'down'],
      ['db-cluster', 'down'],
      ['shop-app', 'down'],
      ['shop', 'down'],
    ]);
  });

  it('walks CI.upstream and CI.downstream, for a page of CIs at once', async () => {
    const upstreamOf = vi.spyOn(t.og.topology, 'upstreamOf');
    const { body } = await t.gql(
      `{ cis(first: 20) { edges { node { name
          upstream(classes: ["business_service"]) { ci { name } depth path }
          downstream(maxDepth: 1) { ci { name } depth }
      } } } }`,
      undefined,
      t.tokens.reader,
    );
    expect(body.errors).toBeUndefined();
    const byName = Object.fromEntries(body.data?.cis.edges.map((e: any) => [e.node.name, e.node]));
    expect(byName['db-2'].upstream).toEqual([
      { ci: { name: 'shop' }, depth: 3, path: [ids['db-2'], ids['db-cluster'], ids['shop-app'], ids.shop] },
    ]);
    expect(byName.shop.upstream).toEqual([]);
    expect(byName['shop-app'].downstream.map((d: any) => d.ci.name)).toEqual(['db-cluster', 'lb']);
    expect(byName['db-cluster'].downstream.map((d: any) => d.ci.name)).toEqual(['db-1', 'db-2', 'db-3']);
    // The page's CIs are walked in one batch (one query), not one walk per CI.
    expect(upstreamOf).toHaveBeenCalledTimes(1);
    expect(upstreamOf.mock.calls[0]?.[0]).toHaveLength(7);
    upstreamOf.mockRestore();
  });

  it('finds dependency paths, exports service maps and names root causes', async () => {
    const path = await t.gql(
      `query ($from: ID!, $to: ID!) { dependencyPath(from: $from, to: $to) {
          cis { name } relationships { type source { name } target { name } } } }`,
      { from: ids.shop, to: ids['db-3'] },
      t.tokens.reader,
    );
    expect(path.body.data?.dependencyPath).toEqual({
      cis: [{ name: 'shop' }, { name: 'shop-app' }, { name: 'db-cluster' }, { name: 'db-3' }],
      relationships: [
        { type: 'depends_on', source: { name: 'shop' }, target: { name: 'shop-app' } },
        { type: 'runs_on', source: { name: 'shop-app' }, target: { name: 'db-cluster' } },
        { type: 'member_of', source: { name: 'db-3' }, target: { name: 'db-cluster' } },
      ],
    });
    const none = await t.gql(
      'query ($from: ID!, $to: ID!) { dependencyPath(from: $from, to: $to) { cis { name } } }',
      { from: ids.lb, to: ids.shop },
      t.tokens.reader,
    );
    expect(none.body).toEqual({ data: { dependencyPath: null } });

    const MAP = `query ($rootId: ID!, $depth: Int, $format: ServiceMapFormat) {
      serviceMap(rootId: $rootId, depth: $depth, format: $format) {
        format content nodes { name depth ci { id } } edges { type sourceId targetId } } }`;
    const mermaid = await t.gql(MAP, { rootId: ids.shop, depth: 2, format: 'mermaid' }, t.tokens.reader);
    const map = mermaid.body.data?.serviceMap;
    expect(map.format).toBe('mermaid');
    expect(map.content.startsWith('flowchart TD\n')).toBe(true);
    expect(map.nodes.map((n: any) => [n.name, n.depth])).toEqual([
      ['shop', 0],
      ['shop-app', 1],
      ['db-cluster', 2],
      ['lb', 2],
    ]);
    expect(map.nodes[0].ci.id).toBe(ids.shop);
    expect(map.edges).toHaveLength(3);
    const dot = await t.gql(MAP, { rootId: ids.shop, format: 'dot' }, t.tokens.reader);
    expect(dot.body.data?.serviceMap.content).toMatch(/^digraph service_map \{/);
    expect(dot.body.data?.serviceMap.nodes).toHaveLength(7);
    const json = await t.gql(MAP, { rootId: ids.lb }, t.tokens.reader);
    expect(JSON.parse(json.body.data?.serviceMap.content).nodes).toHaveLength(1);

    const causes = await t.gql(
      'query ($ciIds: [ID!]!) { rootCauseCandidates(ciIds: $ciIds) { ci { name } explains { name } } }',
      { ciIds: [ids.shop, ids.lb, ids['shop-app']] },
      t.tokens.reader,
    );
    expect(causes.body.data?.rootCauseCandidates).toEqual([
      { ci: { name: 'lb' }, explains: [{ name: 'shop' }, { name: 'shop-app' }] },
    ]);
  });

  it('answers bad input with a typed error naming the argument', async () => {
    const bad = await t.gql(IMPACT, { ciIds: [ids.shop, 'nope'] }, t.tokens.reader);
    expect(bad.body.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION', field: 'ciIds.1' });
    const missing = await t.gql(IMPACT, { ciIds: [crypto.randomUUID()] }, t.tokens.reader);
    expect(missing.body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'ciIds.0' });
    const deep = await t.gql(IMPACT, { ciIds: [ids.shop], maxDepth: 51 }, t.tokens.reader);
    expect(deep.body.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION', field: 'maxDepth' });
    const map = await t.gql(
      `{ serviceMap(rootId: "${ids.shop}", depth: 99) { content } }`,
      undefined,
      t.tokens.reader,
    );
    expect(map.body.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION', field: 'depth' });
    const path = await t.gql(
      `{ dependencyPath(from: "${ids.shop}", to: "${crypto.randomUUID()}") { cis { id } } }`,
      undefined,
      t.tokens.reader,
    );
    expect(path.body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'to' });
    const klass = await t.gql(
      `{ ci(id: "${ids.shop}") { downstream(classes: ["unicorn"]) { depth } } }`,
      undefined,
      t.tokens.reader,
    );
    expect(klass.body.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION', field: 'classes.0' });
  });

  it('needs cmdb:read for every topology field', async () => {
    for (const query of [
      `{ impactAnalysis(ciIds: ["${ids.shop}"]) { down } }`,
      `{ serviceMap(rootId: "${ids.shop}") { content } }`,
      `{ dependencyPath(from: "${ids.shop}", to: "${ids.lb}") { cis { id } } }`,
      `{ rootCauseCandidates(ciIds: ["${ids.shop}"]) { explains { id } } }`,
    ]) {
      for (const token of [undefined, stranger]) {
        const { body } = await t.gql(query, undefined, token);
        expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        expect(body.errors?.[0]?.message).toMatch(/cmdb:read/);
      }
    }
  });
});
