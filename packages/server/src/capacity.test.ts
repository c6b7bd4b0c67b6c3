import { capacityDedupKey, systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

const DAY = 86_400_000;

const DEFINE = `mutation ($input: DefineCapacityMetricInput!) {
  defineCapacityMetric(input: $input) {
    __typename
    ... on MutationDefineCapacityMetricSuccess { data { id name kind level version } }
    ... on ValidationError { issues { path message } }
    ... on Error { code message }
  }
}`;
const RECORD = `mutation ($metricId: ID!, $samples: [CapacitySampleInput!]!) {
  recordCapacitySamples(metricId: $metricId, samples: $samples) {
    __typename
    ... on MutationRecordCapacitySamplesSuccess { data { recorded metric { level latest { at value } } } }
    ... on ValidationError { issues { path message } }
    ... on Error { code message }
  }
}`;
const UPDATE = `mutation ($id: ID!, $version: Int, $input: UpdateCapacityMetricInput!) {
  updateCapacityMetric(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationUpdateCapacityMetricSuccess { data { capacity version level } }
    ... on Error { code message }
  }
}`;
const RETIRE = `mutation ($id: ID!) {
  retireCapacityMetric(id: $id) {
    __typename
    ... on MutationRetireCapacityMetricSuccess { data { retiredAt } }
    ... on Error { code message }
  }
}`;
const LIST = `query ($first: Int, $ciId: ID) {
  capacityMetrics(first: $first, filter: { ciId: $ciId }) {
    edges { node {
      name kind unit capacity level
      ci { name }
      latest { value }
      samples(first: 2) { at value }
      forecast { status sampleCount slopePerDay intercept rSquared exhaustionAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`;

describe('capacity over GraphQL', () => {
  let t: TestServer;
  let operator: string;
  let ciId: string;
  const reports: OperationQueries[] = [];
  const actor = systemActor('test');
  const at = (days: number) => new Date(t.og.clock.now().getTime() + days * DAY).toISOString();

  beforeAll(async () => {
    t = await startTestServer({ onOperationQueries: (report) => reports.push(report) });
    // Recording needs operations:write only: the threshold alert is raised by the system, not the caller.
    operator = (
      await t.og.access.createToken(
        { name: 'operator', permissions: ['operations:read', 'operations:write', 'cmdb:read'] },
        { actor },
      )
    ).secret;
    ciId = (await t.og.cmdb.create({ class: 'linux_server', name: 'nas-01' }, { actor })).id;
  });
  afterAll(() => t?.close());

  const define = async (name: string, capacity = 1000, token = operator) =>
    (
      await t.gql(
        DEFINE,
        {
          input: {
            ciId,
            kind: 'STORAGE',
            name,
            unit: 'GB',
            capacity,
            warningPercent: 80,
            criticalPercent: 90,
          },
        },
        token,
      )
    ).body;

  it('defines metrics, records samples and reads level, samples and forecast with operations scopes', async () => {
    const body = await define('/data');
    const metric = body.data?.defineCapacityMetric;
    expect(metric).toMatchObject({
      __typename: 'MutationDefineCapacityMetricSuccess',
      data: { name: '/data', kind: 'STORAGE', level: 'OK', version: 1 },
    });
    const id = metric.data.id;
    // +10 GB a day for 30 days, 490 GB now: full 51 days from now.
    const samples = Array.from({ length: 30 }, (_, k) => ({ at: at(k - 29), value: 200 + 10 * k }));
    const recorded = (await t.gql(RECORD, { metricId: id, samples }, operator)).body.data
      ?.recordCapacitySamples;
    expect(recorded).toEqual({
      __typename: 'MutationRecordCapacitySamplesSuccess',
      data: { recorded: 30, metric: { level: 'OK', latest: { at: at(0), value: 490 } } },
    });
    const warn = (await t.gql(RECORD, { metricId: id, samples: [{ at: at(0.5), value: 850 }] }, operator))
      .body.data?.recordCapacitySamples;
    expect(warn.data.metric.level).toBe('WARNING');
    const [alert] = (await t.og.events.alerts({ dedupKey: capacityDedupKey(id) })).edges.map((e) => e.node);
    expect(alert).toMatchObject({ severity: 'warning', status: 'open', ciId });

    const list = (await t.gql(LIST, { first: 10, ciId }, operator)).body;
    expect(list.errors).toBeUndefined();
    expect(list.data?.capacityMetrics.edges).toEqual([
      {
        node: {
          name: '/data',
          kind: 'STORAGE',
          unit: 'GB',
          capacity: 1000,
          level: 'WARNING',
          ci: { name: 'nas-01' },
          latest: { value: 850 },
          samples: [
            { at: at(-29), value: 200 },
            { at: at(-28), value: 210 },
          ],
          forecast: {
            status: 'EXHAUSTING',
            sampleCount: 30,
            slopePerDay: 10,
            intercept: 490,
            rSquared: 1,
            exhaustionAt: at(51),
          },
        },
      },
    ]);
    const ci = (
      await t.gql(
        'query ($id: ID!) { ci(id: $id) { capacityMetrics { name forecast(window: "P7D") { sampleCount } } } }',
        { id: ciId },
        operator,
      )
    ).body;
    expect(ci.errors).toBeUndefined();
    expect(ci.data?.ci.capacityMetrics).toEqual([{ name: '/data', forecast: { sampleCount: 7 } }]);
  });

  it('reads a page of metrics with their CI, samples and forecast in constant queries', async () => {
    const other = (await t.og.cmdb.create({ class: 'linux_server', name: 'nas-02' }, { actor })).id;
    const count = async (first: number) => {
      reports.length = 0;
      const body = (await t.gql(LIST, { first }, operator)).body;
      expect(body.errors).toBeUndefined();
      return { nodes: body.data?.capacityMetrics.edges.length, queries: reports[0]!.queries.length };
    };
    for (const name of ['a', 'b', 'c', 'd']) {
      const m = await t.og.capacity.defineMetric(
        { ciId: other, kind: 'power', name, unit: 'W', capacity: 100 },
        { actor },
      );
      await t.og.capacity.recordSamples(
        m.id,
        [
          { at: at(-1), value: 10 },
          { at: at(0), value: 20 },
        ],
        { actor },
      );
    }
    const one = await count(1);
    const five = await count(5);
    expect(five.nodes).toBe(5);
    expect(five.queries).toBe(one.queries);
  });

  it('names the field at fault, refuses a stale version, and needs operations scopes', async () => {
    const id = (await define('/logs')).data?.defineCapacityMetric.data.id;
    const bad = (
      await t.gql(
        RECORD,
        {
          metricId: id,
          samples: [
            { at: at(0), value: 1 },
            { at: at(0), value: -5 },
          ],
        },
        operator,
      )
    ).body.data?.recordCapacitySamples;
    expect(bad.__typename).toBe('ValidationError');
    expect(bad.issues.map((i: { path: string }) => i.path)).toEqual(['samples.1.value']);
    const zero = (await define('/zero', 0)).data?.defineCapacityMetric;
    expect(zero.issues.map((i: { path: string }) => i.path)).toEqual(['capacity']);

    const updated = (await t.gql(UPDATE, { id, version: 1, input: { capacity: 2000 } }, operator)).body.data
      ?.updateCapacityMetric;
    expect(updated).toMatchObject({ data: { capacity: 2000, version: 2 } });
    const stale = (await t.gql(UPDATE, { id, version: 1, input: { capacity: 3000 } }, operator)).body.data
      ?.updateCapacityMetric;
    expect(stale).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect((await t.og.capacity.metric(id))?.capacity).toBe(2000);
    expect((await t.gql(RETIRE, { id }, operator)).body.data?.retireCapacityMetric.data.retiredAt).toBe(
      at(0),
    );

    // cmdb:read alone neither reads nor writes capacity.
    const list = (await t.gql(LIST, { first: 1 }, t.tokens.reader)).body;
    expect(list.data?.capacityMetrics ?? null).toBeNull();
    expect(list.errors?.[0].extensions).toMatchObject({ code: 'FORBIDDEN' });
    const denied = await define('/nope', 10, t.tokens.reader);
    expect(denied.data?.defineCapacityMetric ?? null).toBeNull();
    expect(denied.errors?.[0].extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect((await t.og.capacity.metrics({ ciId })).edges.map((e) => e.node.name)).toEqual(['/data']);
  });
});
