import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OperationQueries, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationsPlugin } from './index.js';

// What an application list view asks for: each application with its components, environments, health
// checks (with their latest results), SLOs and latest deployment (with the CIs it runs on).
const LIST = `query ($first: Int) {
  applications(first: $first) {
    edges { node {
      name
      components { name role ci { name } }
      environments { name currentRelease }
      healthChecks { name url results(limit: 2) { ok statusCode checkedAt } }
      slos { name }
      deployments(first: 1) {
        edges { node { release status targets { name } } }
        pageInfo { hasNextPage }
      }
    } }
  }
}`;

const actor = systemActor('test');

describe('a page of applications with everything a list view shows', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let probed: Server;
  let url: string;
  let token: string;
  const reports: OperationQueries[] = [];

  beforeAll(async () => {
    // The endpoint checked answers check i with HTTP 500 + i: each check's results are its own.
    probed = createServer((req, res) => {
      res.statusCode = 500 + Number(req.url!.slice(1));
      res.end();
    });
    await new Promise<void>((resolve) => probed.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(probed.address() as AddressInfo).port}`;
    og = await createTestOpsGraph({
      plugins: [applicationsPlugin()],
      clock: new ManualClock('2026-03-02T00:00:00Z'),
    });
    const { applications, deployments, healthChecks } = og.plugins.applications;
    // 5 applications, each with its own component, environment, check (probed three times), two SLOs on
    // its own service and two deployments, so a resolver that reads one application (or check) at a time
    // would cost more for 5 than for 1.
    for (let i = 0; i < 5; i++) {
      const service = await og.cmdb.create({ class: 'business_service', name: `svc-${i}` }, { actor });
      const app = await applications.create({ name: `app-${i}`, serviceId: service.id }, { actor });
      await applications.addComponent(app.id, { name: `api-${i}`, role: 'api' }, { actor });
      await applications.defineEnvironment(app.id, { name: 'production' }, { actor });
      await healthChecks.define(
        { applicationId: app.id, name: `home-${i}`, url: `${base}/${i}`, intervalMs: 60_000 },
        { actor },
      );
      for (const name of [`uptime-${i}`, `latency-${i}`])
        await applications.defineSlo(app.id, { name, objective: 99 }, { actor });
      const host = await og.cmdb.create({ class: 'linux_server', name: `host-${i}` }, { actor });
      for (const [release, startedAt] of [
        [`${i}.0`, '2026-01-01T00:00:00Z'],
        [`${i}.1`, '2026-01-02T00:00:00Z'],
      ] as const)
        await deployments.record(
          {
            applicationId: app.id,
            environment: 'production',
            release,
            status: 'succeeded',
            targetCiIds: [host.id],
            startedAt: new Date(startedAt),
          },
          { actor },
        );
    }
    for (const minute of [0, 1, 2])
      expect(await healthChecks.sweep({ now: new Date(`2026-03-02T00:0${minute}:00Z`) })).toMatchObject({
        probed: 5,
      });
    token = (
      await og.access.createToken(
        { name: 'viewer', permissions: ['applications:read', 'cmdb:read', 'operations:read'] },
        { actor },
      )
    ).secret;
    server = createOpsGraphServer({ opsgraph: og, onOperationQueries: (report) => reports.push(report) });
    ({ url } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
    probed?.closeAllConnections();
    await new Promise((resolve) => probed?.close(resolve));
  });

  const page = async (first: number) => {
    reports.length = 0;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: LIST, variables: { first } }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(reports).toHaveLength(1);
    return {
      nodes: body.data.applications.edges.map((e: { node: unknown }) => e.node),
      queries: reports[0]!.queries.length,
    };
  };

  const expected = (i: number) => ({
    name: `app-${i}`,
    components: [{ name: `api-${i}`, role: 'api', ci: { name: `api-${i}` } }],
    environments: [{ name: 'production', currentRelease: `${i}.1` }],
    healthChecks: [
      {
        name: `home-${i}`,
        url: expect.stringMatching(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${i}$`)),
        // The latest two of three probes, newest first.
        results: ['2026-03-02T00:02:00.000Z', '2026-03-02T00:01:00.000Z'].map((checkedAt) => ({
          ok: false,
          statusCode: 500 + i,
          checkedAt,
        })),
      },
    ],
    slos: [{ name: `latency-${i}` }, { name: `uptime-${i}` }],
    deployments: {
      edges: [{ node: { release: `${i}.1`, status: 'SUCCEEDED', targets: [{ name: `host-${i}` }] } }],
      pageInfo: { hasNextPage: true },
    },
  });

  it('costs the same number of SQL statements for 1 application as for 5', async () => {
    const one = await page(1);
    const five = await page(5);
    expect(one.nodes).toEqual([expected(0)]);
    expect(five.nodes).toEqual([0, 1, 2, 3, 4].map(expected));
    // The page, its components, environments, checks, their results, SLOs, deployments, their targets,
    // and one batch of the CIs named (components' and targets' together).
    expect(one.queries).toBe(9);
    expect(five.queries).toBe(one.queries);
  });

  it('reads a later page of one application’s deployments after its cursor', async () => {
    const first = await page(1);
    expect(first.nodes[0].deployments.pageInfo.hasNextPage).toBe(true);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `query { applications(first: 2) { edges { node { name
          deployments(first: 1) { edges { cursor node { release } } pageInfo { endCursor } } } } } }`,
      }),
    });
    const { data } = (await response.json()) as { data: any };
    const [a0, a1] = data.applications.edges.map((e: any) => e.node);
    expect(a0.deployments.edges.map((e: any) => e.node.release)).toEqual(['0.1']);
    expect(a1.deployments.edges.map((e: any) => e.node.release)).toEqual(['1.1']);
    const after = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `query ($id: ID!, $after: String) { applicationsApplication(id: $id) {
          deployments(first: 5, after: $after) { edges { node { release } } pageInfo { hasNextPage } } } }`,
        variables: {
          id: (await og.plugins.applications.applications.list({}, { first: 1 })).edges[0]!.node.id,
          after: a0.deployments.pageInfo.endCursor,
        },
      }),
    });
    const later = (await after.json()) as { data: any };
    expect(later.data.applicationsApplication.deployments).toEqual({
      edges: [{ node: { release: '0.0' } }],
      pageInfo: { hasNextPage: false },
    });
  });
});
