import { type Actor, type Ci, systemActor } from '@opsgraph/core';
import { scopedTestActor, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerTokenAuth } from './auth.js';
import type { OperationQueries } from './query-count.js';
import { collect, readSseUntil, startTestServer, subscribeSse, type TestServer } from './test-support.js';

const admin = systemActor('test');

/**
 * Scoped actors over the real server. The CMDB (as in core's scoped suite):
 *
 *   svc-a depends_on app-a runs_on srv-a        svc-b depends_on app-b runs_on srv-b
 *                                               app-b depends_on srv-a
 *   rack contains srv-a, srv-b
 *   svc-big depends_on big-000 … big-119 (each depending on the one before), and app-b on a few of them
 *
 * `Authorization: Bearer <name>` authenticates as a hand-built actor whose scopes are resolved with the
 * topology, as the access process will: reader-a and writer-a hold A's dependencies, reader-big those
 * of svc-big.
 */
describe.each(testBackends())('scoped authorization over GraphQL on %s', (backend) => {
  let t: TestServer;
  const actors = new Map<string, Actor>();
  const reports: OperationQueries[] = [];
  const ci: Record<string, Ci> = {};
  const nameOf = (id: string) => Object.entries(ci).find(([, c]) => c.id === id)?.[0] ?? id;
  const A = ['app-a', 'rack', 'srv-a', 'svc-a'];

  beforeAll(async () => {
    t = await startTestServer({
      backend,
      authenticate: async (request, og) => {
        const name = /^Bearer (\S+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
        return (name && actors.get(name)) || bearerTokenAuth(request, og);
      },
      onOperationQueries: (report) => reports.push(report),
    });
    const og = t.og;
    await og.cmdb.defineClass({ name: 'rack', label: 'Rack', parent: 'hardware' }, { actor: admin });
    for (const [name, cls] of [
      ['svc-a', 'business_service'],
      ['app-a', 'application'],
      ['srv-a', 'server'],
      ['svc-b', 'business_service'],
      ['app-b', 'application'],
      ['srv-b', 'server'],
      ['rack', 'rack'],
      ['svc-big', 'business_service'],
    ] as const) {
      ci[name] = await og.cmdb.create({ class: cls, name }, { actor: admin });
    }
    // 120 CIs in one go, each depending on the one before; svc-big needs them all.
    await og.cmdb.defineSource({ name: 'seed', priority: 10 }, { actor: admin });
    const big = Array.from({ length: 120 }, (_, i) => `big-${String(i).padStart(3, '0')}`);
    const report = await og.cmdb.reconcile(
      {
        cis: big.map((name) => ({ ref: name, class: 'application', name })),
        relationships: big.flatMap((name, i) => [
          { type: 'depends_on', source: { ciId: ci['svc-big']!.id }, target: name },
          ...(i > 0 ? [{ type: 'depends_on', source: name, target: big[i - 1]! }] : []),
        ]),
      },
      { actor: admin, source: 'seed' },
    );
    report.items.forEach((item, i) => {
      ci[big[i]!] = { id: item.ciId! } as Ci;
    });
    for (const [source, type, target] of [
      ['svc-a', 'depends_on', 'app-a'],
      ['app-a', 'runs_on', 'srv-a'],
      ['svc-b', 'depends_on', 'app-b'],
      ['app-b', 'runs_on', 'srv-b'],
      ['app-b', 'depends_on', 'srv-a'],
      ['rack', 'contains', 'srv-a'],
      ['rack', 'contains', 'srv-b'],
      // B uses some of the big service's CIs: relationships a reader of the big service must not see.
      ['app-b', 'depends_on', 'big-003'],
      ['app-b', 'depends_on', 'big-077'],
    ] as const) {
      await og.cmdb.relate({ type, sourceId: ci[source]!.id, targetId: ci[target]!.id }, { actor: admin });
    }
    const dependencies = (name: string, permissions: string[]) => [
      { ciId: ci[name]!.id, mode: 'dependencies' as const, permissions },
    ];
    for (const actor of [
      await scopedTestActor(og, 'reader-a', dependencies('svc-a', ['cmdb:read', 'activity:read'])),
      await scopedTestActor(og, 'writer-a', dependencies('svc-a', ['cmdb:read', 'cmdb:write'])),
      await scopedTestActor(og, 'reader-big', dependencies('svc-big', ['cmdb:read'])),
    ])
      actors.set(actor.name, actor);
  });
  afterAll(() => t?.close());

  it('lists only the CIs in reach in `cis`, with their classes and readable relationships', async () => {
    const { body } = await t.gql(
      `{ cis(first: 50) { edges { node { name ciClass { name } relationships { source { name } type target { name } } } } } }`,
      undefined,
      'reader-a',
    );
    expect(body.errors).toBeUndefined();
    const nodes = body.data?.cis.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => n.name)).toEqual(A);
    const server = nodes.find((n: any) => n.name === 'srv-a');
    // app-b depends_on srv-a exists, and is not shown: its source is B's.
    expect(
      server.relationships.map((r: any) => `${r.source.name} ${r.type} ${r.target.name}`).sort(),
    ).toEqual(['app-a runs_on srv-a', 'rack contains srv-a']);
    const all = await t.gql('{ cis(first: 500) { edges { node { name } } } }', undefined, t.tokens.reader);
    expect(all.body.data?.cis.edges).toHaveLength(128);
  });

  it('refuses `ci` outside reach with FORBIDDEN naming the permission, the CI and the argument', async () => {
    const srvB = ci['srv-b']!.id;
    const { body } = await t.gql('query ($id: ID!) { ci(id: $id) { name } }', { id: srvB }, 'reader-a');
    expect(body.data?.ci).toBeNull();
    expect(body.errors?.[0]).toMatchObject({
      message: `reader-a lacks the permission cmdb:read on CI ${srvB}`,
      path: ['ci'],
      extensions: { code: 'FORBIDDEN', field: 'id' },
    });
    const own = await t.gql(
      `query ($id: ID!) { ci(id: $id) { name history { kind relationship { sourceId } } stateAt(at: "2100-01-01T00:00:00Z") { relationships { sourceId } } upstream { ci { name } path } } }`,
      { id: ci['srv-a']!.id },
      'reader-a',
    );
    expect(own.body.errors).toBeUndefined();
    const srvA = own.body.data?.ci;
    expect(srvA.upstream.map((r: any) => r.ci.name)).toEqual(['app-a', 'svc-a']);
    const sources = (list: any[]) =>
      list
        .filter((h) => h.relationship ?? h.sourceId)
        .map((h) => nameOf(h.relationship?.sourceId ?? h.sourceId));
    expect(sources(srvA.history).sort()).toEqual(['app-a', 'rack']);
    expect(sources(srvA.stateAt.relationships).sort()).toEqual(['app-a', 'rack']);

    // A CI reached through another path is checked too: the type itself needs cmdb:read on it.
    const reached = await t.gql(
      'query ($ids: [ID!]!) { rootCauseCandidates(ciIds: $ids) { ci { name } } }',
      { ids: [ci['srv-a']!.id, srvB] },
      'reader-a',
    );
    expect(reached.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN', field: 'ciIds.1' } });
  });

  it("answers impact analysis of A's server without revealing B's CIs", async () => {
    const IMPACT = `query ($ciIds: [ID!]!) {
      impactAnalysis(ciIds: $ciIds) { affected { ci { name } path state } services { name } down }
    }`;
    const scoped = await t.gql(IMPACT, { ciIds: [ci['srv-a']!.id] }, 'reader-a');
    expect(scoped.body.errors).toBeUndefined();
    const analysis = scoped.body.data?.impactAnalysis;
    expect(analysis.affected.map((a: any) => a.ci.name)).toEqual(['srv-a', 'app-a', 'svc-a']);
    expect(
      analysis.affected
        .flatMap((a: any) => a.path)
        .map(nameOf)
        .sort(),
    ).not.toContain('app-b');
    expect(analysis.services).toEqual([{ name: 'svc-a' }]);
    expect(analysis.down).toBe(3);
    // Everything it hides is there for a reader of the whole CMDB.
    const full = await t.gql(IMPACT, { ciIds: [ci['srv-a']!.id] }, t.tokens.reader);
    expect(full.body.data?.impactAnalysis.affected.map((a: any) => a.ci.name).sort()).toEqual([
      'app-a',
      'app-b',
      'srv-a',
      'svc-a',
      'svc-b',
    ]);
    // The rack takes B down too; the scoped answer still names none of it.
    const rack = await t.gql(IMPACT, { ciIds: [ci.rack!.id] }, 'reader-a');
    expect(rack.body.data?.impactAnalysis.affected.map((a: any) => a.ci.name)).toEqual([
      'rack',
      'srv-a',
      'app-a',
      'svc-a',
    ]);
    const serviceMap = await t.gql(
      'query ($id: ID!) { serviceMap(rootId: $id) { nodes { name } edges { sourceId targetId } } }',
      { id: ci['svc-a']!.id },
      'reader-a',
    );
    expect(serviceMap.body.data?.serviceMap.nodes.map((n: any) => n.name)).toEqual([
      'svc-a',
      'app-a',
      'srv-a',
      'rack',
    ]);
    const path = await t.gql(
      'query ($from: ID!, $to: ID!) { dependencyPath(from: $from, to: $to) { cis { name } } }',
      { from: ci['svc-b']!.id, to: ci['srv-a']!.id },
      'reader-a',
    );
    expect(path.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN', field: 'from' } });
  });

  it("lets a scoped writer update A's server and answers ForbiddenError for B's", async () => {
    const UPDATE = `mutation ($id: ID!, $version: Int!) {
      updateCI(id: $id, input: { version: $version, tags: ["patched"] }) {
        __typename
        ... on MutationUpdateCISuccess { data { name tags } }
        ... on ForbiddenError { message permission field }
      }
    }`;
    const srvA = (await t.og.cmdb.get(ci['srv-a']!.id))!;
    const ok = await t.gql(UPDATE, { id: srvA.id, version: srvA.version }, 'writer-a');
    expect(ok.body.data?.updateCI).toEqual({
      __typename: 'MutationUpdateCISuccess',
      data: { name: 'srv-a', tags: ['patched'] },
    });
    const srvB = (await t.og.cmdb.get(ci['srv-b']!.id))!;
    const refused = await t.gql(UPDATE, { id: srvB.id, version: srvB.version }, 'writer-a');
    expect(refused.body.data?.updateCI).toEqual({
      __typename: 'ForbiddenError',
      message: `writer-a lacks the permission cmdb:write on CI ${srvB.id}`,
      permission: 'cmdb:write',
      field: 'id',
    });
    expect((await t.og.cmdb.get(srvB.id))!.version).toBe(srvB.version);
    // Creating stays global: a new CI is in no scope yet.
    const create = await t.gql(
      'mutation { createCI(input: { class: "server", name: "nope" }) { __typename } }',
      undefined,
      'writer-a',
    );
    expect(create.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(create.body.errors?.[0]?.message).toMatch(/cmdb:write/);
  });

  it("streams A's changes over SSE to a scoped subscriber, and not B's", async () => {
    const { response, close } = await subscribeSse(t.url, 'reader-a', {
      query:
        'subscription { ciChanged { kind ci { name } relationship { source { name } target { name } } } }',
    });
    expect(response.status).toBe(200);
    // B's changes first: were they delivered, they would arrive before A's.
    const srvB = (await t.og.cmdb.get(ci['srv-b']!.id))!;
    await t.og.cmdb.update(srvB.id, { version: srvB.version, tags: ['sse-b'] }, { actor: admin });
    const cross = await t.og.cmdb.relate(
      { type: 'connected_to', sourceId: ci['app-a']!.id, targetId: srvB.id },
      { actor: admin },
    );
    await t.og.cmdb.unrelate(cross.id, { actor: admin });
    const appA = (await t.og.cmdb.get(ci['app-a']!.id))!;
    await t.og.cmdb.update(appA.id, { version: appA.version, tags: ['sse-a'] }, { actor: admin });
    const received: any[] = [];
    const last = await readSseUntil(response, (result) => {
      received.push(result);
      return result.data?.ciChanged?.ci.name === 'app-a' ? result : undefined;
    });
    close();
    expect(last).toBeDefined();
    expect(received).toEqual([
      { data: { ciChanged: { kind: 'UPDATED', ci: { name: 'app-a' }, relationship: null } } },
    ]);
  });

  it('filters each activity event over graphql-ws with the subscriber’s scopes', async () => {
    const after = await t.og.activity.latestSeq();
    const { done } = collect(
      t.wsClient({ authorization: 'Bearer reader-a' }),
      {
        query: 'subscription ($after: Seq) { activity(after: $after) { type subjectId } }',
        variables: { after },
      },
      (result) => result.data?.activity?.subjectId === ci['svc-a']!.id,
    );
    for (const name of ['svc-b', 'app-b', 'svc-a']) {
      const current = (await t.og.cmdb.get(ci[name]!.id))!;
      await t.og.cmdb.update(current.id, { version: current.version, tags: ['ws'] }, { actor: admin });
    }
    const { results, error } = await done;
    expect(error).toBeUndefined();
    expect(results).toEqual([{ data: { activity: { type: 'ci.updated', subjectId: ci['svc-a']!.id } } }]);
  });

  it('shows a scoped reader the activity of its CIs only', async () => {
    const { body } = await t.gql(
      '{ activity(limit: 1000) { type subjectId payload } }',
      undefined,
      'reader-a',
    );
    expect(body.errors).toBeUndefined();
    const inA = actors.get('reader-a')!.scopes![0]!.ciIds;
    const events = body.data?.activity as any[];
    expect(events.filter((e) => e.type === 'ci.created').map((e) => nameOf(e.subjectId))).toEqual([
      'svc-a',
      'app-a',
      'srv-a',
      'rack',
    ]);
    for (const event of events) {
      expect(inA.has(event.subjectId), `${event.type} ${nameOf(event.subjectId)}`).toBe(true);
      const relationship = event.payload.relationship;
      if (relationship) expect(inA.has(relationship.targetId)).toBe(true);
    }
  });

  it('costs the same few SQL queries for a scoped page of 10 CIs and of 100', async () => {
    const PAGE = `query ($first: Int!) {
      cis(first: $first) {
        edges { node { id name ciClass { name } relationships { type source { name } target { name } } } }
      }
    }`;
    const measured = async (first: number) => {
      const requestId = crypto.randomUUID();
      const response = await fetch(t.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer reader-big',
          'x-request-id': requestId,
        },
        body: JSON.stringify({ query: PAGE, variables: { first } }),
      });
      const body = (await response.json()) as { data?: any; errors?: any[] };
      const queries = reports
        .find((r) => r.requestId === requestId)
        ?.queries.map((q) => q.sql.replace(/\$\d+(, \$\d+)*/g, '…'));
      return { body, queries: queries ?? [] };
    };
    const ten = await measured(10);
    const hundred = await measured(100);
    for (const { body } of [ten, hundred]) expect(body.errors).toBeUndefined();
    const nodes = hundred.body.data.cis.edges.map((e: any) => e.node);
    expect(nodes).toHaveLength(100);
    expect(nodes.every((n: any) => n.name.startsWith('big-'))).toBe(true);
    // B's relationships to big-003 and big-077 exist, and are not listed: both ends must be readable.
    const rels = nodes.flatMap((n: any) => n.relationships);
    expect(rels.some((r: any) => r.source.name === 'app-b')).toBe(false);
    const b003 = nodes.find((n: any) => n.name === 'big-003');
    expect(b003.relationships.map((r: any) => `${r.source.name} ${r.type} ${r.target.name}`).sort()).toEqual([
      'big-003 depends_on big-002',
      'big-004 depends_on big-003',
      'svc-big depends_on big-003',
    ]);
    // The page, its classes, its relationships, and the ends off the page: ten times the CIs, the same
    // statements.
    expect([...hundred.queries].sort(), hundred.queries.join('\n')).toEqual([...ten.queries].sort());
    expect(hundred.queries.length).toBeLessThanOrEqual(4);
  });
});
