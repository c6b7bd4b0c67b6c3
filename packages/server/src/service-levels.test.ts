import { ManualClock, systemActor } from '@opsgraph/core';
import { createTestOpsGraph } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

const DEFINE = `mutation ($input: DefineSloInput!) {
  defineSlo(input: $input) {
    __typename
    ... on MutationDefineSloSuccess { data { id name objective period timeZone incidentPriorities alertSeverities version } }
    ... on ValidationError { issues { path message } }
    ... on Error { code message }
  }
}`;
const UPDATE = `mutation ($id: ID!, $version: Int!, $input: UpdateSloInput!) {
  updateSlo(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationUpdateSloSuccess { data { objective version } }
    ... on Error { code message }
  }
}`;
const RETIRE = `mutation ($id: ID!, $version: Int!) {
  retireSlo(id: $id, version: $version) {
    __typename
    ... on MutationRetireSloSuccess { data { retiredAt version } }
    ... on Error { code message }
  }
}`;
const LIST = `query ($period: String) {
  slos(first: 10) {
    edges { node {
      name service { name }
      availability(period: $period) { from to elapsedMs downtimeMs uptimePercent outages { start end durationMs incidentIds } }
      errorBudget(period: $period) { allowedMs consumedMs remainingMs burnRate }
    } }
  }
}`;

describe('SLOs and availability over GraphQL', () => {
  let t: TestServer;
  const clock = new ManualClock('2026-11-10T10:00:00Z');
  const actor = systemActor('test');
  let shop: string;
  let opsReader: string;
  const reports: OperationQueries[] = [];

  beforeAll(async () => {
    const og = await createTestOpsGraph({ clock });
    t = await startTestServer({ og, onOperationQueries: (report) => reports.push(report) });
    shop = (await og.cmdb.create({ class: 'business_service', name: 'shop' }, { actor })).id;
    opsReader = (
      await og.access.createToken({ name: 'ops', permissions: ['operations:read', 'cmdb:read'] }, { actor })
    ).secret;
    // A P1 incident on the shop from 10:00 to 10:36 on 10 November.
    const incident = await og.incidents.create(
      { shortDescription: 'Down', ciId: shop, impact: 1, urgency: 1 },
      { actor },
    );
    clock.set('2026-11-10T10:36:00Z');
    await og.incidents.transition(
      incident.id,
      { to: 'resolved', resolutionCode: 'solved_permanently', resolutionNotes: 'Fixed.' },
      { actor },
    );
    clock.set('2026-12-01T06:00:00Z');
  });
  afterAll(() => t?.close());

  it('defines, reads with availability and error budget, updates by version and retires SLOs', async () => {
    const bad = (
      await t.gql(DEFINE, { input: { serviceId: shop, name: 'Shop', objective: 100 } }, t.tokens.admin)
    ).body.data?.defineSlo;
    expect(bad.issues.map((i: { path: string }) => i.path)).toEqual(['objective']);
    const defined = (
      await t.gql(DEFINE, { input: { serviceId: shop, name: 'Shop', objective: 99.9 } }, t.tokens.admin)
    ).body.data?.defineSlo;
    expect(defined).toMatchObject({
      __typename: 'MutationDefineSloSuccess',
      data: {
        objective: 99.9,
        period: 'MONTH',
        timeZone: 'UTC',
        incidentPriorities: [1, 2],
        alertSeverities: ['CRITICAL'],
        version: 1,
      },
    });
    const id = defined.data.id;

    // November: 36 min down of 30 days; budget 2,592,000 ms, 2,160,000 spent; burn 2.16e6 / 2.592e6.
    const listed = await t.gql(LIST, { period: 'previous' }, opsReader);
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data?.slos.edges).toEqual([
      {
        node: {
          name: 'Shop',
          service: { name: 'shop' },
          availability: {
            from: '2026-11-01T00:00:00.000Z',
            to: '2026-12-01T00:00:00.000Z',
            elapsedMs: 2_592_000_000,
            downtimeMs: 2_160_000,
            uptimePercent: ((2_592_000_000 - 2_160_000) * 100) / 2_592_000_000,
            outages: [
              {
                start: '2026-11-10T10:00:00.000Z',
                end: '2026-11-10T10:36:00.000Z',
                durationMs: 2_160_000,
                incidentIds: [expect.any(String)],
              },
            ],
          },
          errorBudget: {
            allowedMs: 2_592_000,
            consumedMs: 2_160_000,
            remainingMs: 432_000,
            burnRate: 2_160_000 / 2_592_000,
          },
        },
      },
    ]);
    // The current period: 6 hours of December, nothing down.
    const current = (await t.gql(LIST, {}, opsReader)).body.data?.slos.edges[0].node;
    expect(current.availability).toMatchObject({
      elapsedMs: 6 * 3_600_000,
      downtimeMs: 0,
      uptimePercent: 100,
    });
    expect(current.errorBudget).toEqual({
      allowedMs: 2_678_400,
      consumedMs: 0,
      remainingMs: 2_678_400,
      burnRate: 0,
    });

    // On the service's CI: the same interval, default rules.
    const onCi = await t.gql(
      `query ($id: ID!) { ci(id: $id) { availability(from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z") { downtimeMs errorBudget { allowedMs } } } }`,
      { id: shop },
      opsReader,
    );
    expect(onCi.body.data?.ci.availability).toEqual({ downtimeMs: 2_160_000, errorBudget: null });

    const stale = (await t.gql(UPDATE, { id, version: 7, input: { objective: 99.5 } }, t.tokens.admin)).body
      .data?.updateSlo;
    expect(stale).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    const updated = (await t.gql(UPDATE, { id, version: 1, input: { objective: 99.5 } }, t.tokens.admin)).body
      .data?.updateSlo;
    expect(updated).toEqual({
      __typename: 'MutationUpdateSloSuccess',
      data: { objective: 99.5, version: 2 },
    });
    const retired = (await t.gql(RETIRE, { id, version: 2 }, t.tokens.admin)).body.data?.retireSlo;
    expect(retired).toMatchObject({ data: { retiredAt: '2026-12-01T06:00:00.000Z', version: 3 } });
    expect((await t.gql(LIST, {}, opsReader)).body.data?.slos.edges).toEqual([]);
  });

  it('reads a page of SLOs with their services in constant queries', async () => {
    const services = [];
    for (const name of ['a', 'b', 'c']) {
      const ci = await t.og.cmdb.create({ class: 'business_service', name: `svc-${name}` }, { actor });
      services.push(ci.id);
      await t.og.serviceLevels.defineSlo({ serviceId: ci.id, name: `SLO ${name}`, objective: 99 }, { actor });
    }
    const count = async (first: number) => {
      reports.length = 0;
      const body = (
        await t.gql(
          'query ($first: Int) { slos(first: $first) { edges { node { name service { name } } } } }',
          { first },
          opsReader,
        )
      ).body;
      expect(body.errors).toBeUndefined();
      return {
        names: body.data?.slos.edges.map((e: any) => e.node.service.name),
        queries: reports[0]!.queries.length,
      };
    };
    const one = await count(1);
    const three = await count(3);
    expect(three.names).toEqual(['svc-a', 'svc-b', 'svc-c']);
    expect(three.queries).toBe(one.queries);
  });

  it('reads availability and error budgets of a page of SLOs, and of a page of CIs, in constant statements', async () => {
    // Six services, each with an SLO named to sort first and a P1 incident in November of (i + 1) x 10
    // minutes, so availability read one SLO at a time would show up as six times the statements.
    const incidents: string[] = [];
    for (let i = 0; i < 6; i++) {
      const ci = await t.og.cmdb.create({ class: 'business_service', name: `batch-${i}` }, { actor });
      await t.og.serviceLevels.defineSlo({ serviceId: ci.id, name: `A${i}`, objective: 99.9 }, { actor });
      clock.set(`2026-11-0${i + 2}T08:00:00Z`);
      const incident = await t.og.incidents.create(
        { shortDescription: 'Down', ciId: ci.id, impact: 1, urgency: 1 },
        { actor },
      );
      clock.advance((i + 1) * 600_000);
      await t.og.incidents.transition(
        incident.id,
        { to: 'resolved', resolutionCode: 'solved_permanently', resolutionNotes: 'Fixed.' },
        { actor },
      );
      incidents.push(incident.id);
    }
    await t.og.cmdb.create({ class: 'linux_server', name: 'batch-host' }, { actor });
    clock.set('2026-12-01T06:00:00Z');

    const month = 2_592_000_000;
    const expected = (i: number) => {
      const down = (i + 1) * 600_000;
      const start = Date.parse(`2026-11-0${i + 2}T08:00:00Z`);
      return {
        name: `A${i}`,
        service: { name: `batch-${i}` },
        availability: {
          from: '2026-11-01T00:00:00.000Z',
          to: '2026-12-01T00:00:00.000Z',
          elapsedMs: month,
          downtimeMs: down,
          uptimePercent: ((month - down) * 100) / month,
          outages: [
            {
              start: new Date(start).toISOString(),
              end: new Date(start + down).toISOString(),
              durationMs: down,
              incidentIds: [incidents[i]],
            },
          ],
        },
        errorBudget: {
          allowedMs: 2_592_000,
          consumedMs: down,
          remainingMs: 2_592_000 - down,
          burnRate: down / 2_592_000,
        },
      };
    };
    const SLOS = LIST.replace('slos(first: 10)', 'slos(first: $first)').replace(
      '($period: String)',
      '($period: String, $first: Int)',
    );
    const measure = async (query: string, variables: Record<string, unknown>) => {
      reports.length = 0;
      const { body } = await t.gql(query, variables, opsReader);
      expect(body.errors).toBeUndefined();
      expect(reports).toHaveLength(1);
      return { data: body.data, queries: reports[0]!.queries.length };
    };
    const one = await measure(SLOS, { period: 'previous', first: 1 });
    const six = await measure(SLOS, { period: 'previous', first: 6 });
    expect(one.data?.slos.edges).toEqual([{ node: expected(0) }]);
    expect(six.data?.slos.edges).toEqual([0, 1, 2, 3, 4, 5].map((i) => ({ node: expected(i) })));
    expect(six.queries).toBe(one.queries);

    // CI.availability over instants, default rules: null for the CI that is not a business service.
    const CIS = `query ($first: Int) {
      cis(filter: { search: "batch-" }, first: $first) {
        edges { node { name availability(from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z") { downtimeMs errorBudget { allowedMs } } } }
      }
    }`;
    const first = await measure(CIS, { first: 1 });
    const seven = await measure(CIS, { first: 7 });
    expect(first.data?.cis.edges).toEqual([
      { node: { name: 'batch-0', availability: { downtimeMs: 600_000, errorBudget: null } } },
    ]);
    expect(
      seven.data?.cis.edges.map((e: any) => [e.node.name, e.node.availability?.downtimeMs ?? null]),
    ).toEqual([...[0, 1, 2, 3, 4, 5].map((i) => [`batch-${i}`, (i + 1) * 600_000]), ['batch-host', null]]);
    expect(seven.queries).toBe(first.queries);
  });

  it('needs operations:read to read and operations:write to change', async () => {
    const read = await t.gql('{ slos(first: 1) { edges { node { id } } } }', {}, t.tokens.reader);
    expect(read.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const write = await t.gql(DEFINE, { input: { serviceId: shop, name: 'Nope', objective: 99 } }, opsReader);
    expect(write.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await t.gql('{ slos(first: 1) { edges { node { id } } } }');
    expect(anonymous.body.data?.slos ?? null).toBeNull();
    expect(anonymous.body.errors?.length).toBeGreaterThan(0);
  });
});
