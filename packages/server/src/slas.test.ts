import { type ManualClock, systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

const LIST = `query ($first: Int) {
  incidents(first: $first) { edges { node { number slaTimers { kind state targetMinutes warned dueAt } } } }
}`;

describe('incident SLAs over GraphQL', () => {
  let t: TestServer;
  const reports: OperationQueries[] = [];
  const actor = systemActor('test');
  const open = () => t.og.incidents.create({ shortDescription: 'Down', impact: 1, urgency: 1 }, { actor });

  beforeAll(async () => {
    t = await startTestServer({
      slaSweepIntervalMs: 20,
      onOperationQueries: (report) => reports.push(report),
    });
  });
  afterAll(() => t?.close());

  it('lists the definitions and each incident’s timers, a page of incidents in constant queries', async () => {
    const slas = (
      await t.gql(
        '{ slas(priority: 1) { name responseMinutes resolutionMinutes active } }',
        {},
        t.tokens.admin,
      )
    ).body.data?.slas;
    expect(slas).toEqual([
      { name: 'P1 critical', responseMinutes: 15, resolutionMinutes: 240, active: true },
    ]);
    await open();
    const count = async (first: number) => {
      reports.length = 0;
      const body = (await t.gql(LIST, { first }, t.tokens.admin)).body;
      expect(body.errors).toBeUndefined();
      return { nodes: body.data?.incidents.edges.length, queries: reports[0]!.queries.length, body };
    };
    const one = await count(1);
    expect(one.body.data?.incidents.edges[0].node.slaTimers).toMatchObject([
      { kind: 'RESPONSE', state: 'RUNNING', targetMinutes: 15, warned: false },
      { kind: 'RESOLUTION', state: 'RUNNING', targetMinutes: 240 },
    ]);
    for (let i = 0; i < 4; i++) await open();
    const five = await count(5);
    expect(five.nodes).toBe(5);
    expect(five.queries).toBe(one.queries);
  });

  it('sweeps on a timer: a due timer is breached and announced once', async () => {
    const incident = await open();
    (t.og.clock as ManualClock).advance(20 * 60_000);
    const breaches = async () =>
      (await t.og.activity.list({ types: ['sla.breached'], limit: 1000 })).filter(
        (e) => e.subject?.id === incident.id,
      );
    const deadline = Date.now() + 5000;
    while ((await breaches()).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await breaches()).toHaveLength(1);
  });
});
