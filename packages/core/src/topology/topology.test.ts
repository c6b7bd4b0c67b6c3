import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ci } from '../cmdb/model.js';
import { systemActor } from '../kernel/actor.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { definePlugin } from '../kernel/plugins.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { ImpactAnalysis } from './model.js';
import { dotString, mermaidText } from './render.js';

const actor = systemActor('test');
const reader = { kind: 'token' as const, id: 'r', name: 'reader', permissions: ['cmdb:read'] };
const stranger = { kind: 'token' as const, id: 's', name: 'stranger', permissions: ['activity:read'] };

// Types a plugin brings: the engine must read their propagation, never know their names.
const wan = definePlugin({
  name: 'wan',
  ciClasses: [
    { name: 'wan_db_cluster', label: 'Database cluster', parent: 'cluster' },
    { name: 'wan_portal', label: 'Customer portal', parent: 'business_service' },
  ],
  relationshipTypes: [
    { name: 'wan_feeds', label: 'feeds', propagation: 'to_target' },
    { name: 'wan_documents', label: 'documents', propagation: 'none' },
  ],
});

describe.each(testBackends())('topology on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [wan] });
  });
  afterAll(() => og?.close());

  /** Creates CIs by name (`name:class`, default class server) and returns them by name. */
  async function cis(...specs: string[]): Promise<Record<string, Ci>> {
    const out: Record<string, Ci> = {};
    for (const spec of specs) {
      const [name, cls = 'server', quorum] = spec.split(':');
      out[name!] = await og.cmdb.create(
        { class: cls, name: name!, attributes: quorum ? { quorum: Number(quorum) } : {} },
        { actor },
      );
    }
    return out;
  }
  const relate = (type: string, source: Ci, target: Ci) =>
    og.cmdb.relate({ type, sourceId: source.id, targetId: target.id }, { actor });
  /** Test names of CIs or CI ids. */
  const names = (list: readonly (string | { id: string })[], all: Record<string, Ci>) => {
    const byId = new Map(Object.entries(all).map(([n, c]) => [c.id, n]));
    return list.map((c) => (typeof c === 'string' ? c : c.id)).map((id) => byId.get(id) ?? id);
  };
  const states = (impact: ImpactAnalysis, all: Record<string, Ci>) =>
    Object.fromEntries(impact.affected.map((a) => [names([a], all)[0], a.state]));

  it('walks upstream (dependents) and downstream (dependencies) by each type’s propagation', async () => {
    const g = await cis(
      'u-shop:business_service',
      'u-app:application',
      'u-vm',
      'u-host',
      'u-rack:hardware',
      'u-sw1:hardware',
      'u-sw2:hardware',
    );
    await relate('depends_on', g['u-shop']!, g['u-app']!); // to_source: app failing reaches shop
    await relate('runs_on', g['u-app']!, g['u-vm']!);
    await relate('hosted_on', g['u-vm']!, g['u-host']!);
    await relate('contains', g['u-rack']!, g['u-host']!); // to_target: rack failing reaches host
    await relate('connected_to', g['u-host']!, g['u-sw1']!); // both
    await relate('connected_to', g['u-sw1']!, g['u-sw2']!);

    const up = await og.topology.upstream(g['u-host']!.id, {}, { actor: reader });
    expect(up.map((c) => [c.name, c.depth])).toEqual([
      ['u-sw1', 1],
      ['u-vm', 1],
      ['u-app', 2],
      ['u-sw2', 2],
      ['u-shop', 3],
    ]);
    expect(names(up.find((c) => c.name === 'u-shop')!.path, g)).toEqual([
      'u-host',
      'u-vm',
      'u-app',
      'u-shop',
    ]);
    expect(up[0]).toMatchObject({ class: 'hardware', status: 'operational' });

    const down = await og.topology.downstream(g['u-shop']!.id);
    expect(down.map((c) => [c.name, c.depth])).toEqual([
      ['u-app', 1],
      ['u-vm', 2],
      ['u-host', 3],
      ['u-rack', 4],
      ['u-sw1', 4],
      ['u-sw2', 5],
    ]);
    // The rack's failure reaches the host, not the other way round.
    expect((await og.topology.upstream(g['u-rack']!.id)).map((c) => c.name)).toContain('u-shop');
    expect(await og.topology.downstream(g['u-rack']!.id)).toEqual([]);
    expect(await og.topology.upstream(g['u-shop']!.id)).toEqual([]);
  });

  it('honours plugin and runtime relationship types and never follows `none`', async () => {
    const g = await cis('p-feed', 'p-sink', 'p-doc', 'p-peer1', 'p-peer2');
    await relate('wan_feeds', g['p-feed']!, g['p-sink']!); // to_target
    await relate('wan_documents', g['p-doc']!, g['p-sink']!); // none
    // A type defined at runtime.
    await og.cmdb.defineRelationshipType(
      { name: 'rt_mirrors', label: 'mirrors', inverseLabel: 'mirrored by', propagation: 'both' },
      { actor },
    );
    await relate('rt_mirrors', g['p-peer1']!, g['p-sink']!);

    expect((await og.topology.upstream(g['p-feed']!.id)).map((c) => c.name)).toEqual(['p-sink', 'p-peer1']);
    expect((await og.topology.downstream(g['p-sink']!.id)).map((c) => c.name)).toEqual(['p-feed', 'p-peer1']);
    expect(await og.topology.upstream(g['p-doc']!.id)).toEqual([]);
    expect((await og.topology.downstream(g['p-doc']!.id)).map((c) => c.name)).toEqual([]);
    // Only the asked types are followed.
    expect(
      (await og.topology.upstream(g['p-feed']!.id, { types: ['rt_mirrors'] })).map((c) => c.name),
    ).toEqual([]);
    expect(
      (await og.topology.upstream(g['p-peer1']!.id, { types: ['rt_mirrors'] })).map((c) => c.name),
    ).toEqual(['p-sink']);
  });

  it('filters by class with subclasses, limits depth, and passes through filtered-out CIs', async () => {
    const g = await cis(
      'f-portal:wan_portal',
      'f-svc:business_service',
      'f-app:application',
      'f-box:linux_server',
    );
    await relate('depends_on', g['f-portal']!, g['f-app']!);
    await relate('depends_on', g['f-svc']!, g['f-app']!);
    await relate('runs_on', g['f-app']!, g['f-box']!);

    const services = await og.topology.upstream(g['f-box']!.id, { classes: ['business_service'] });
    expect(services.map((c) => [c.name, c.depth])).toEqual([
      ['f-portal', 2],
      ['f-svc', 2],
    ]);
    expect(names(services[0]!.path, g)).toEqual(['f-box', 'f-app', 'f-portal']);
    expect((await og.topology.upstream(g['f-box']!.id, { maxDepth: 1 })).map((c) => c.name)).toEqual([
      'f-app',
    ]);
    expect(await og.topology.upstream(g['f-box']!.id, { maxDepth: 0 })).toEqual([]);
    const servers = await og.topology.downstream(g['f-portal']!.id, { classes: ['server'] });
    expect(servers.map((c) => c.name)).toEqual(['f-box']);
  });

  it('takes the shortest depth through diamonds and ends on cycles', async () => {
    const g = await cis('d-top', 'd-left', 'd-right', 'd-mid', 'd-bottom', 'c-a', 'c-b', 'c-c');
    // top -> left -> bottom, top -> right -> mid -> bottom: bottom is at depth 2.
    await relate('depends_on', g['d-top']!, g['d-left']!);
    await relate('depends_on', g['d-top']!, g['d-right']!);
    await relate('depends_on', g['d-left']!, g['d-bottom']!);
    await relate('depends_on', g['d-right']!, g['d-mid']!);
    await relate('depends_on', g['d-mid']!, g['d-bottom']!);
    const down = await og.topology.downstream(g['d-top']!.id);
    expect(down.map((c) => [c.name, c.depth])).toEqual([
      ['d-left', 1],
      ['d-right', 1],
      ['d-bottom', 2],
      ['d-mid', 2],
    ]);
    expect(names(down.find((c) => c.name === 'd-bottom')!.path, g)).toEqual(['d-top', 'd-left', 'd-bottom']);

    // a -> b -> c -> a: mutual dependencies exist in real estates.
    await relate('depends_on', g['c-a']!, g['c-b']!);
    await relate('depends_on', g['c-b']!, g['c-c']!);
    await relate('depends_on', g['c-c']!, g['c-a']!);
    const cycle = await og.topology.upstream(g['c-a']!.id);
    expect(cycle.map((c) => [c.name, c.depth])).toEqual([
      ['c-c', 1],
      ['c-b', 2],
    ]);
    const impact = await og.topology.impactOf([g['c-b']!.id]);
    expect(impact.affected.map((a) => [a.name, a.depth, a.state])).toEqual([
      ['c-b', 0, 'down'],
      ['c-a', 1, 'down'],
      ['c-c', 2, 'down'],
    ]);
  });

  it('never traverses retired CIs', async () => {
    const g = await cis('r-app:application', 'r-old', 'r-db:database', 'r-new');
    await relate('runs_on', g['r-app']!, g['r-old']!);
    await relate('hosted_on', g['r-old']!, g['r-new']!);
    await relate('depends_on', g['r-app']!, g['r-db']!);
    expect((await og.topology.downstream(g['r-app']!.id)).map((c) => c.name)).toEqual([
      'r-db',
      'r-old',
      'r-new',
    ]);
    await og.cmdb.retire(g['r-old']!.id, g['r-old']!.version, { actor });
    expect((await og.topology.downstream(g['r-app']!.id)).map((c) => c.name)).toEqual(['r-db']);
    expect(await og.topology.upstream(g['r-new']!.id)).toEqual([]);
    // A retired CI is outside the topology: nothing starts from it.
    expect(await og.topology.downstream(g['r-old']!.id)).toEqual([]);
    expect(await og.topology.impactOf(g['r-old']!.id)).toEqual({ affected: [], services: [] });
    expect(await og.topology.path(g['r-app']!.id, g['r-new']!.id)).toBeNull();
  });

  it('finds the shortest dependency path with the relationships it uses', async () => {
    const g = await cis(
      's-web:application',
      's-api:application',
      's-cache',
      's-db:database',
      's-disk:hardware',
    );
    const r1 = await relate('depends_on', g['s-web']!, g['s-api']!);
    await relate('depends_on', g['s-api']!, g['s-cache']!);
    await relate('depends_on', g['s-cache']!, g['s-db']!);
    const r2 = await relate('depends_on', g['s-api']!, g['s-db']!);
    const r3 = await relate('contains', g['s-disk']!, g['s-db']!); // the disk's failure reaches the db
    const path = await og.topology.path(g['s-web']!.id, g['s-disk']!.id, {}, { actor: reader });
    expect(path?.cis.map((c) => c.name)).toEqual(['s-web', 's-api', 's-db', 's-disk']);
    expect(path?.relationships.map((r) => r.id)).toEqual([r1.id, r2.id, r3.id]);
    expect(path?.relationships[2]).toMatchObject({ type: 'contains', sourceId: g['s-disk']!.id });
    // The disk does not depend on the web app.
    expect(await og.topology.path(g['s-disk']!.id, g['s-web']!.id)).toBeNull();
    expect(await og.topology.path(g['s-web']!.id, g['s-disk']!.id, { maxDepth: 2 })).toBeNull();
    expect((await og.topology.path(g['s-web']!.id, g['s-web']!.id))?.cis.map((c) => c.name)).toEqual([
      's-web',
    ]);
    // Upper-case ids are the same CIs.
    expect(
      (await og.topology.path(g['s-web']!.id.toUpperCase(), g['s-db']!.id.toUpperCase()))?.cis.length,
    ).toBe(3);
  });

  it('cluster quorum: 3 members, quorum 2: one member down degrades it, two take it down', async () => {
    const g = await cis(
      'q-shop:business_service',
      'q-app:application',
      'q-cluster:cluster:2',
      'q-n1',
      'q-n2',
      'q-n3',
    );
    for (const node of ['q-n1', 'q-n2', 'q-n3']) await relate('member_of', g[node]!, g['q-cluster']!);
    await relate('runs_on', g['q-app']!, g['q-cluster']!);
    await relate('depends_on', g['q-shop']!, g['q-app']!);

    const one = await og.topology.impactOf([g['q-n1']!.id], {}, { actor: reader });
    expect(states(one, g)).toEqual({
      'q-n1': 'down',
      'q-cluster': 'degraded',
      'q-app': 'degraded',
      'q-shop': 'degraded',
    });
    expect(one.affected.map((a) => [a.name, a.depth])).toEqual([
      ['q-n1', 0],
      ['q-cluster', 1],
      ['q-app', 2],
      ['q-shop', 3],
    ]);
    expect(names(one.affected.at(-1)!.path, g)).toEqual(['q-n1', 'q-cluster', 'q-app', 'q-shop']);
    expect(one.services.map((s) => [s.name, s.state])).toEqual([['q-shop', 'degraded']]);

    const two = await og.topology.impactOf([g['q-n1']!.id, g['q-n2']!.id]);
    expect(states(two, g)).toEqual({
      'q-n1': 'down',
      'q-n2': 'down',
      'q-cluster': 'down',
      'q-app': 'down',
      'q-shop': 'down',
    });
    expect(two.services.map((s) => [s.name, s.state])).toEqual([['q-shop', 'down']]);

    // A retired member no longer counts: two live members left, one down is below quorum.
    await og.cmdb.retire(g['q-n3']!.id, g['q-n3']!.version, { actor });
    expect(states(await og.topology.impactOf(g['q-n1']!.id), g)['q-cluster']).toBe('down');
  });

  it('quorum defaults to 1, reads subclasses of cluster, and lets down win over degraded', async () => {
    const g = await cis(
      'w-dbc:wan_db_cluster:2',
      'w-m1',
      'w-m2',
      'w-m3',
      'w-app:application',
      'w-lb',
      'w-web:application',
      'w-pool:cluster',
      'w-p1',
      'w-p2',
    );
    for (const m of ['w-m1', 'w-m2', 'w-m3']) await relate('member_of', g[m]!, g['w-dbc']!);
    await relate('depends_on', g['w-app']!, g['w-dbc']!);
    // The app also depends on a load balancer: its failure takes the app down whatever the cluster does.
    await relate('depends_on', g['w-app']!, g['w-lb']!);
    await relate('depends_on', g['w-web']!, g['w-app']!);
    const degraded = await og.topology.impactOf([g['w-m1']!.id]);
    expect(states(degraded, g)).toMatchObject({
      'w-dbc': 'degraded',
      'w-app': 'degraded',
      'w-web': 'degraded',
    });
    const both = await og.topology.impactOf([g['w-m1']!.id, g['w-lb']!.id]);
    expect(states(both, g)).toMatchObject({ 'w-dbc': 'degraded', 'w-app': 'down', 'w-web': 'down' });

    // No quorum attribute: 1. Two members, one down: still one up, degraded; both down: down.
    for (const m of ['w-p1', 'w-p2']) await relate('member_of', g[m]!, g['w-pool']!);
    expect(states(await og.topology.impactOf(g['w-p1']!.id), g)['w-pool']).toBe('degraded');
    expect(states(await og.topology.impactOf([g['w-p1']!.id, g['w-p2']!.id]), g)['w-pool']).toBe('down');
    // A failing cluster is down whatever its members.
    expect(states(await og.topology.impactOf(g['w-pool']!.id), g)['w-pool']).toBe('down');
  });

  it('takes a CI down when a longer chain of down CIs reaches it after a shorter degraded one', async () => {
    const g = await cis(
      'l-k:cluster:2',
      'l-k1',
      'l-k2',
      'l-k3',
      'l-s1',
      'l-s2',
      'l-a:application',
      'l-b:application',
    );
    for (const m of ['l-k1', 'l-k2', 'l-k3']) await relate('member_of', g[m]!, g['l-k']!);
    await relate('depends_on', g['l-a']!, g['l-k']!); // k1 -> k (degraded) -> a: depth 2
    await relate('depends_on', g['l-s1']!, g['l-k1']!);
    await relate('depends_on', g['l-s2']!, g['l-s1']!);
    await relate('depends_on', g['l-a']!, g['l-s2']!); // k1 -> s1 -> s2 -> a, all down: depth 3
    await relate('depends_on', g['l-b']!, g['l-a']!);
    const impact = await og.topology.impactOf(g['l-k1']!.id);
    expect(impact.affected.map((a) => [a.name, a.depth, a.state])).toEqual([
      ['l-k1', 0, 'down'],
      ['l-k', 1, 'degraded'],
      ['l-s1', 1, 'down'],
      ['l-a', 2, 'down'],
      ['l-s2', 2, 'down'],
      ['l-b', 3, 'down'],
    ]);
    // The path is a shortest one, even though the state came along a longer one.
    expect(names(impact.affected[3]!.path, g)).toEqual(['l-k1', 'l-k', 'l-a']);
  });

  it('settles nested clusters: an inner cluster that loses quorum counts as a down member', async () => {
    const g = await cis(
      'n-outer:cluster:2',
      'n-inner:cluster:2',
      'n-i1',
      'n-i2',
      'n-i3',
      'n-o2',
      'n-o3',
      'n-svc:business_service',
    );
    for (const m of ['n-i1', 'n-i2', 'n-i3']) await relate('member_of', g[m]!, g['n-inner']!);
    for (const m of ['n-inner', 'n-o2', 'n-o3']) await relate('member_of', g[m]!, g['n-outer']!);
    await relate('depends_on', g['n-svc']!, g['n-outer']!);

    // Inner degraded (2 of 3 up) is still an up member: outer degraded.
    expect(states(await og.topology.impactOf(g['n-i1']!.id), g)).toMatchObject({
      'n-inner': 'degraded',
      'n-outer': 'degraded',
      'n-svc': 'degraded',
    });
    // Inner down plus one outer member down: outer has 1 of 3 up, below 2.
    const deep = await og.topology.impactOf([g['n-i1']!.id, g['n-i2']!.id, g['n-o2']!.id]);
    expect(states(deep, g)).toMatchObject({ 'n-inner': 'down', 'n-outer': 'down', 'n-svc': 'down' });
    expect(deep.affected.find((a) => a.name === 'n-outer')?.depth).toBe(1);
    // Inner down alone: outer keeps 2 of 3.
    expect(states(await og.topology.impactOf([g['n-i1']!.id, g['n-i2']!.id]), g)).toMatchObject({
      'n-inner': 'down',
      'n-outer': 'degraded',
      'n-svc': 'degraded',
    });
  });

  it('names the root causes among failing CIs', async () => {
    const g = await cis(
      'x-db:database',
      'x-api:application',
      'x-web:application',
      'x-batch:application',
      'x-printer:hardware',
      'x-l1',
      'x-l2',
      'x-l2app:application',
    );
    await relate('depends_on', g['x-api']!, g['x-db']!);
    await relate('depends_on', g['x-web']!, g['x-api']!);
    await relate('depends_on', g['x-batch']!, g['x-db']!);
    // Two that depend on each other explain each other: both are candidates.
    await relate('depends_on', g['x-l1']!, g['x-l2']!);
    await relate('depends_on', g['x-l2']!, g['x-l1']!);
    await relate('runs_on', g['x-l2app']!, g['x-l2']!);
    const failing = ['x-web', 'x-db', 'x-batch', 'x-printer', 'x-l1', 'x-l2', 'x-l2app'].map((n) => g[n]!.id);
    const candidates = await og.topology.rootCauseCandidates(failing, { actor: reader });
    expect(candidates.map((c) => [c.ci.name, names(c.explains, g)])).toEqual([
      ['x-db', ['x-batch', 'x-web']],
      ['x-l1', ['x-l2', 'x-l2app']],
      ['x-l2', ['x-l1', 'x-l2app']],
      ['x-printer', []],
    ]);
  });

  it('exports a service map as JSON, Mermaid and DOT, escaping any name', async () => {
    const evil = 'Pay "now"] --> x[[oops]]\n<b>#1</b> `code` \\ end';
    const g = await cis(`m-svc:business_service`, 'm-app:application', 'm-db:database', 'm-far');
    await og.cmdb.update(g['m-app']!.id, { version: 1, name: evil }, { actor });
    await relate('depends_on', g['m-svc']!, g['m-app']!);
    await relate('depends_on', g['m-app']!, g['m-db']!);
    await relate('depends_on', g['m-svc']!, g['m-db']!);
    await relate('runs_on', g['m-db']!, g['m-far']!);

    const json = await og.topology.serviceMap(g['m-svc']!.id, { maxDepth: 1 }, { actor: reader });
    expect(json.format).toBe('json');
    expect(json.nodes.map((n) => [n.name, n.depth])).toEqual([
      ['m-svc', 0],
      [evil, 1],
      ['m-db', 1],
    ]);
    expect(json.edges.map((e) => e.type)).toEqual(['depends_on', 'depends_on', 'depends_on']);
    expect(JSON.parse(json.content)).toEqual({
      rootId: g['m-svc']!.id,
      nodes: json.nodes,
      edges: json.edges,
    });

    const mermaid = await og.topology.serviceMap(g['m-svc']!.id, { format: 'mermaid' });
    expect(mermaid.nodes).toHaveLength(4);
    const lines = mermaid.content.trimEnd().split('\n');
    expect(lines[0]).toBe('flowchart TD');
    expect(lines.slice(1, 5).every((l) => /^ {2}n\d+\["[^"]*"\]$/.test(l))).toBe(true);
    expect(lines.slice(5).every((l) => /^ {2}n\d+ -->\|"[^"]*"\| n\d+$/.test(l))).toBe(true);
    expect(lines).toHaveLength(1 + 4 + 4);
    expect(mermaid.content).toContain(mermaidText(evil));
    expect(mermaidText('a "b" [c]\nd')).toBe('a #34;b#34; #91;c#93;<br/>d');

    const dot = await og.topology.serviceMap(g['m-svc']!.id, { format: 'dot' });
    expect(dot.content.startsWith('digraph service_map {\n')).toBe(true);
    // Outside its double-quoted strings, a DOT file here holds only syntax: no piece of a name leaks.
    const outside = dot.content.replace(/"(?:[^"\\]|\\.)*"/g, 'S');
    expect(outside).toMatch(/^digraph service_map \{\n {2}rankdir=TB;\n {2}node \[shape=box\];\n/);
    expect(outside.split('\n').slice(3, -2)).toEqual([
      ...Array(4).fill('  S [label=S];'),
      ...Array(4).fill('  S -> S [label=S];'),
    ]);
    expect(dotString('say "hi"\\\nbye')).toBe('"say \\"hi\\"\\\\\\nbye"');
  });

  it('refuses bad input naming the field', async () => {
    const g = await cis('v-a');
    const ghost = crypto.randomUUID();
    const refused = async (fn: () => Promise<unknown>, kind: unknown, field: string) => {
      const error = await fn().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(kind);
      expect(error).toMatchObject({ field });
    };
    await refused(() => og.topology.upstream('nope'), ValidationError, 'ciId');
    await refused(() => og.topology.upstream(ghost), NotFoundError, 'ciId');
    await refused(() => og.topology.downstream(g['v-a']!.id, { maxDepth: 51 }), ValidationError, 'maxDepth');
    await refused(() => og.topology.downstream(g['v-a']!.id, { maxDepth: 1.5 }), ValidationError, 'maxDepth');
    await refused(
      () => og.topology.upstream(g['v-a']!.id, { classes: ['unicorn'] }),
      ValidationError,
      'classes.0',
    );
    await refused(
      () => og.topology.upstream(g['v-a']!.id, { types: ['depends_on', 'likes'] }),
      ValidationError,
      'types.1',
    );
    await refused(() => og.topology.impactOf([]), ValidationError, 'ciIds');
    await refused(() => og.topology.impactOf([g['v-a']!.id, 'x']), ValidationError, 'ciIds.1');
    await refused(() => og.topology.impactOf([g['v-a']!.id, ghost]), NotFoundError, 'ciIds.1');
    await refused(
      () => og.topology.impactOf(Array.from({ length: 1001 }, () => crypto.randomUUID())),
      ValidationError,
      'ciIds',
    );
    await refused(() => og.topology.impactOf(g['v-a']!.id, { maxDepth: -1 }), ValidationError, 'maxDepth');
    await refused(() => og.topology.path(g['v-a']!.id, ghost), NotFoundError, 'toId');
    await refused(() => og.topology.path('x', g['v-a']!.id), ValidationError, 'fromId');
    await refused(() => og.topology.rootCauseCandidates([ghost]), NotFoundError, 'ciIds.0');
    await refused(() => og.topology.serviceMap(ghost), NotFoundError, 'rootId');
    await refused(
      () => og.topology.serviceMap(g['v-a']!.id, { format: 'png' as 'dot' }),
      ValidationError,
      'format',
    );
    await refused(
      () => og.topology.upstream(g['v-a']!.id, {}, { actor: stranger }),
      ForbiddenError,
      undefined!,
    );
  });

  it('batches upstream of many CIs in one call, in their order', async () => {
    const g = await cis('b-app:application', 'b-vm', 'b-host');
    await relate('runs_on', g['b-app']!, g['b-vm']!);
    await relate('hosted_on', g['b-vm']!, g['b-host']!);
    const ids = [g['b-host']!.id, 'not-an-id', g['b-app']!.id, g['b-vm']!.id];
    const [host, bad, app, vm] = await og.topology.upstreamOf(ids);
    expect(host!.map((c) => c.name)).toEqual(['b-vm', 'b-app']);
    expect(bad).toEqual([]);
    expect(app).toEqual([]);
    expect(vm).toEqual(await og.topology.upstream(g['b-vm']!.id));
    const [deps] = await og.topology.downstreamOf([g['b-app']!.id], { classes: ['server'] });
    expect(deps!.map((c) => c.name)).toEqual(['b-vm', 'b-host']);
  });
});
