import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CiDownstreamDocument,
  CiUpstreamDocument,
  createOpsGraphClient,
  DependencyPathDocument,
  ImpactAnalysisDocument,
  type OpsGraphClient,
  OpsGraphClientError,
  RootCauseCandidatesDocument,
  ServiceMapDocument,
} from './index.js';

const actor = systemActor('client-test');

describe('topology documents against a real server', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let client: OpsGraphClient;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph();
    const { secret } = await og.access.createToken({ name: 'reader', permissions: ['cmdb:read'] }, { actor });
    server = createOpsGraphServer({ opsgraph: og });
    const { url } = await server.listen(0, '127.0.0.1');
    client = createOpsGraphClient({ url, token: secret });
    for (const [name, cls] of [
      ['portal', 'business_service'],
      ['api', 'application'],
      ['vm', 'linux_server'],
    ] as const) {
      ids[name] = (await og.cmdb.create({ class: cls, name }, { actor })).id;
    }
    await og.cmdb.relate({ type: 'depends_on', sourceId: ids.portal!, targetId: ids.api! }, { actor });
    await og.cmdb.relate({ type: 'runs_on', sourceId: ids.api!, targetId: ids.vm! }, { actor });
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await og?.close();
  });

  it('runs every topology operation with typed results', async () => {
    const { impactAnalysis } = await client.request(ImpactAnalysisDocument, { ciIds: [ids.vm!] });
    expect(impactAnalysis.affected.map((a) => [a.ci.name, a.depth, a.state])).toEqual([
      ['vm', 0, 'down'],
      ['api', 1, 'down'],
      ['portal', 2, 'down'],
    ]);
    expect(impactAnalysis.serviceImpacts.map((s) => s.ci.name)).toEqual(['portal']);

    const { dependencyPath } = await client.request(DependencyPathDocument, {
      from: ids.portal!,
      to: ids.vm!,
    });
    expect(dependencyPath?.cis.map((c) => c.name)).toEqual(['portal', 'api', 'vm']);
    expect(dependencyPath?.relationships.map((r) => r.type)).toEqual(['depends_on', 'runs_on']);

    const { serviceMap } = await client.request(ServiceMapDocument, { rootId: ids.portal!, format: 'dot' });
    expect(serviceMap.format).toBe('dot');
    expect(serviceMap.nodes.map((n) => n.name)).toEqual(['portal', 'api', 'vm']);
    expect(serviceMap.content).toContain('digraph');

    const { rootCauseCandidates } = await client.request(RootCauseCandidatesDocument, {
      ciIds: [ids.portal!, ids.vm!],
    });
    expect(rootCauseCandidates.map((c) => [c.ci.name, c.explains.map((e) => e.name)])).toEqual([
      ['vm', ['portal']],
    ]);

    const up = await client.request(CiUpstreamDocument, { id: ids.vm!, classes: ['business_service'] });
    expect(up.ci?.upstream.map((u) => [u.ci.name, u.depth, u.path.length])).toEqual([['portal', 2, 3]]);
    const down = await client.request(CiDownstreamDocument, { id: ids.portal!, maxDepth: 1 });
    expect(down.ci?.downstream.map((d) => d.ci.name)).toEqual(['api']);
  });

  it('throws a typed error naming the argument', async () => {
    const error = await client
      .request(ImpactAnalysisDocument, { ciIds: [ids.vm!], maxDepth: 99 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsGraphClientError);
    expect(error).toMatchObject({ code: 'VALIDATION', field: 'maxDepth' });
  });
});
