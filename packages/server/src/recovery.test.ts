import { type ManualClock, systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

// What a DR dashboard shows for each plan: its service, owner, runbook with CIs, last test, whether a
// test is overdue, and the recovery order computed from topology.
const LIST = `query ($first: Int, $after: String) {
  drPlans(first: $first, after: $after) {
    edges { node {
      rto rpo testEvery testOverdue
      service { name }
      ownerGroup { name }
      steps { position title ci { name } ownerGroup { name } }
      lastTest { passed achievedRto recordedBy { name } }
      recoveryOrder { stages { position cycle cis { name } } cycles { ciIds } truncated warnings { code step otherStep } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const DEFINE = `mutation ($input: DefineDrPlanInput!) {
  defineDrPlan(input: $input) {
    __typename
    ... on MutationDefineDrPlanSuccess { data { id version rto rpo service { name } } }
    ... on ValidationError { issues { path message } }
    ... on Error { code field }
  }
}`;

describe('disaster-recovery plans over GraphQL', () => {
  let t: TestServer;
  const reports: OperationQueries[] = [];
  const actor = systemActor('test');
  const services: string[] = [];
  let operator: string;
  let outsider: string;

  beforeAll(async () => {
    t = await startTestServer({ onOperationQueries: (report) => reports.push(report) });
    // Six services, each with its own chain (service -> app -> host -> storage), owner group and plan
    // whose runbook names the app and the storage (in the wrong order) and has one passed test, so a
    // resolver reading one at a time shows up as six queries.
    for (let i = 0; i < 6; i++) {
      (t.og.clock as ManualClock).advance(1000);
      const make = async (cls: string, name: string) =>
        (await t.og.cmdb.create({ class: cls, name }, { actor })).id;
      const service = await make('business_service', `service-${i}`);
      const app = await make('application', `app-${i}`);
      const host = await make('linux_server', `host-${i}`);
      const storage = await make('hardware', `storage-${i}`);
      await t.og.cmdb.relate({ type: 'depends_on', sourceId: service, targetId: app }, { actor });
      await t.og.cmdb.relate({ type: 'runs_on', sourceId: app, targetId: host }, { actor });
      await t.og.cmdb.relate({ type: 'connected_to', sourceId: host, targetId: storage }, { actor });
      const group = await t.og.access.createGroup({ name: `dr-${i}` }, { actor });
      const plan = await t.og.recovery.definePlan(
        {
          serviceId: service,
          rto: 'PT4H',
          rpo: 'PT15M',
          testEvery: 'P90D',
          ownerGroupId: group.id,
          steps: [
            { title: 'Start the app', ciId: app, ownerGroupId: group.id },
            { title: 'Mount the storage', ciId: storage },
          ],
        },
        { actor },
      );
      const now = t.og.clock.now().getTime();
      await t.og.recovery.recordTest(
        plan.id,
        {
          startedAt: new Date(now - 7_200_000),
          endedAt: new Date(now - 3_600_000),
          achievedRto: 'PT1H',
          achievedRpo: 'PT5M',
        },
        { actor },
      );
      services.push(service);
    }
    const token = async (name: string, permissions: string[]) =>
      (await t.og.access.createToken({ name, permissions }, { actor })).secret;
    operator = await token('dr-operator', ['operations:read', 'cmdb:read', 'access:read']);
    outsider = await token('outsider', ['cmdb:read', 'incident:read']);
  });
  afterAll(() => t?.close());

  const page = async (first: number, token: string) => {
    reports.length = 0;
    const body = (await t.gql(LIST, { first }, token)).body;
    expect(body.errors).toBeUndefined();
    expect(reports).toHaveLength(1);
    return { connection: body.data?.drPlans, queries: reports[0]!.queries.length };
  };

  it('serves a page of plans with everything a dashboard shows in a constant number of SQL statements', async () => {
    const one = await page(1, operator);
    const six = await page(6, operator);
    expect(one.connection.edges).toHaveLength(1);
    expect(one.connection.pageInfo.hasNextPage).toBe(true);
    expect(six.connection.edges).toHaveLength(6);
    expect(six.queries).toBe(one.queries);
    // Newest first: service-5 … service-0, each resolved in full.
    six.connection.edges.forEach(({ node }: { node: any }, n: number) => {
      const i = 5 - n;
      expect(node).toEqual({
        rto: 'PT4H',
        rpo: 'PT15M',
        testEvery: 'P90D',
        testOverdue: false,
        service: { name: `service-${i}` },
        ownerGroup: { name: `dr-${i}` },
        steps: [
          { position: 1, title: 'Start the app', ci: { name: `app-${i}` }, ownerGroup: { name: `dr-${i}` } },
          { position: 2, title: 'Mount the storage', ci: { name: `storage-${i}` }, ownerGroup: null },
        ],
        lastTest: { passed: true, achievedRto: 'PT1H', recordedBy: { name: 'test' } },
        recoveryOrder: {
          stages: [
            { position: 1, cycle: false, cis: [{ name: `storage-${i}` }] },
            { position: 2, cycle: false, cis: [{ name: `host-${i}` }] },
            { position: 3, cycle: false, cis: [{ name: `app-${i}` }] },
            { position: 4, cycle: false, cis: [{ name: `service-${i}` }] },
          ],
          cycles: [],
          truncated: false,
          warnings: [{ code: 'STEP_ORDER', step: 1, otherStep: 2 }],
        },
      });
    });
    const rest = (await t.gql(LIST, { first: 6, after: one.connection.pageInfo.endCursor }, operator)).body;
    expect(rest.data?.drPlans.edges.map((e: any) => e.node.service.name)).toEqual([
      'service-4',
      'service-3',
      'service-2',
      'service-1',
      'service-0',
    ]);
  });

  it('refuses a caller without operations:read, and writes without operations:write', async () => {
    const refused = await t.gql('{ drPlans(first: 5) { edges { node { rto } } } }', {}, outsider);
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    const write = await t.gql(
      DEFINE,
      { input: { serviceId: services[0], rto: 'PT1H', rpo: 'PT0S' } },
      operator,
    );
    expect(write.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
  });

  it('defines, updates, tests and retires a plan, with typed errors naming the field', async () => {
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const { body } = await t.gql(query, variables, t.tokens.admin);
      expect(body.errors).toBeUndefined();
      return body.data!;
    };
    const second = await gql(DEFINE, { input: { serviceId: services[0], rto: 'PT1H', rpo: 'PT0S' } });
    expect(second.defineDrPlan).toMatchObject({
      __typename: 'ValidationError',
      field: 'serviceId',
      issues: [{ path: 'serviceId', message: expect.stringMatching(/^already has a live DR plan/) }],
    });
    const bad = await gql(DEFINE, {
      input: {
        serviceId: services[0],
        rto: 'four hours',
        rpo: 'PT0S',
        steps: [{ title: 'x', expectedDuration: 'P1Y' }],
      },
    });
    expect(bad.defineDrPlan.issues.map((i: { path: string }) => i.path)).toEqual([
      'rto',
      'steps.0.expectedDuration',
    ]);

    const service = (await t.og.cmdb.create({ class: 'business_service', name: 'Payroll' }, { actor })).id;
    const defined = (await gql(DEFINE, { input: { serviceId: service, rto: 'P1D', rpo: 'PT1H' } }))
      .defineDrPlan;
    expect(defined).toMatchObject({
      __typename: 'MutationDefineDrPlanSuccess',
      data: { version: 1, rto: 'P1D', rpo: 'PT1H', service: { name: 'Payroll' } },
    });
    const id = defined.data.id;

    const UPDATE = `mutation ($id: ID!, $version: Int!, $input: UpdateDrPlanInput!) {
      updateDrPlan(id: $id, version: $version, input: $input) {
        __typename
        ... on MutationUpdateDrPlanSuccess { data { version rto testEvery } }
        ... on ConflictError { field currentVersion }
      }
    }`;
    expect(
      (await gql(UPDATE, { id, version: 1, input: { rto: 'PT12H', testEvery: 'P30D' } })).updateDrPlan,
    ).toEqual({
      __typename: 'MutationUpdateDrPlanSuccess',
      data: { version: 2, rto: 'PT12H', testEvery: 'P30D' },
    });
    expect((await gql(UPDATE, { id, version: 1, input: { rto: 'PT6H' } })).updateDrPlan).toEqual({
      __typename: 'ConflictError',
      field: 'version',
      currentVersion: 2,
    });

    const RECORD = `mutation ($planId: ID!, $input: RecordDrTestInput!) {
      recordDrTest(planId: $planId, input: $input) {
        __typename
        ... on MutationRecordDrTestSuccess { data { passed outcome rtoMet rpoMet planVersion } }
        ... on ValidationError { issues { path } }
      }
    }`;
    const now = t.og.clock.now().getTime();
    const span = { startedAt: new Date(now - 60_000).toISOString(), endedAt: new Date(now).toISOString() };
    expect(
      (await gql(RECORD, { planId: id, input: { ...span, achievedRto: 'PT13H', achievedRpo: 'PT30M' } }))
        .recordDrTest,
    ).toEqual({
      __typename: 'MutationRecordDrTestSuccess',
      data: { passed: false, outcome: 'FAILED', rtoMet: false, rpoMet: true, planVersion: 2 },
    });
    expect(
      (await gql(RECORD, { planId: id, input: { ...span, achievedRto: 'PT12H', achievedRpo: 'PT1H' } }))
        .recordDrTest.data,
    ).toMatchObject({ passed: true, outcome: 'PASSED' });
    expect(
      (
        await gql(RECORD, {
          planId: id,
          input: { ...span, achievedRto: 'PT13H', achievedRpo: 'PT1H', outcome: 'PASSED' },
        })
      ).recordDrTest,
    ).toEqual({ __typename: 'ValidationError', issues: [{ path: 'outcome' }] });

    const tests = await gql(
      `query ($id: ID!) { drPlan(id: $id) { lastTest { passed } tests(first: 5) { edges { node { achievedRto } } } } }`,
      { id },
    );
    expect(tests.drPlan.tests.edges).toHaveLength(2);

    const retired = await gql(
      `mutation ($id: ID!) { retireDrPlan(id: $id, version: 2, reason: "Payroll outsourced") {
        ... on MutationRetireDrPlanSuccess { data { state retiredReason } } } }`,
      { id },
    );
    expect(retired.retireDrPlan.data).toEqual({ state: 'RETIRED', retiredReason: 'Payroll outsourced' });
    const listed = await gql(`{ drPlans(filter: { state: [RETIRED] }) { edges { node { id } } } }`, {});
    expect(listed.drPlans.edges.map((e: any) => e.node.id)).toEqual([id]);
  });
  it('reads the DR tests of a page of plans in a constant number of SQL statements; after a cursor, per plan', async () => {
    // A second, newer test on the plans of service-5 and service-3: pages of tests differ per plan.
    const plans = (await t.og.recovery.plans({}, { first: 6 })).edges.map((e) => e.node);
    const planOf = (name: string) => plans.find((p) => p.serviceId === services[Number(name.split('-')[1])])!;
    for (const [name, rto] of [
      ['service-5', 'PT2H'],
      ['service-3', 'PT3H'],
    ] as const) {
      const now = t.og.clock.now().getTime();
      await t.og.recovery.recordTest(
        planOf(name).id,
        {
          startedAt: new Date(now - 1_800_000),
          endedAt: new Date(now),
          achievedRto: rto,
          achievedRpo: 'PT0S',
        },
        { actor },
      );
    }
    const TESTS = `query ($first: Int) {
      drPlans(first: $first) {
        edges { node { id service { name } tests(first: 1) { edges { cursor node { achievedRto passed } } pageInfo { hasNextPage } } } }
      }
    }`;
    const measure = async (first: number) => {
      reports.length = 0;
      const { body } = await t.gql(TESTS, { first }, operator);
      expect(body.errors).toBeUndefined();
      expect(reports).toHaveLength(1);
      return { edges: body.data?.drPlans.edges, queries: reports[0]!.queries.length };
    };
    const one = await measure(1);
    const six = await measure(6);
    expect(six.queries).toBe(one.queries);
    const shape = (edges: any[]) =>
      edges.map(({ node }) => [
        node.service.name,
        node.tests.edges.map((e: any) => e.node.achievedRto),
        node.tests.pageInfo.hasNextPage,
      ]);
    expect(shape(one.edges)).toEqual([['service-5', ['PT2H'], true]]);
    expect(shape(six.edges)).toEqual([
      ['service-5', ['PT2H'], true],
      ['service-4', ['PT1H'], false],
      ['service-3', ['PT3H'], true],
      ['service-2', ['PT1H'], false],
      ['service-1', ['PT1H'], false],
      ['service-0', ['PT1H'], false],
    ]);
    // After a cursor: the rest of that one plan's list.
    const [first] = six.edges;
    const rest = await t.gql(
      `query ($id: ID!, $after: String) { drPlan(id: $id) { tests(first: 5, after: $after) { edges { node { achievedRto } } pageInfo { hasNextPage hasPreviousPage } } } }`,
      { id: first.node.id, after: first.node.tests.edges[0].cursor },
      operator,
    );
    expect(rest.body.data?.drPlan.tests).toEqual({
      edges: [{ node: { achievedRto: 'PT1H' } }],
      pageInfo: { hasNextPage: false, hasPreviousPage: true },
    });
  });
});
