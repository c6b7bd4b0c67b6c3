import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const CREATE_RULE = `mutation ($input: EventRuleInput!) {
  createEventRule(input: $input) {
    __typename
    ... on MutationCreateEventRuleSuccess { data { id name position match { node { regex } } actions { addLabels { name value } } } }
    ... on ValidationError { field issues { path } }
    ... on Error { code field }
  }
}`;
const INGEST = `mutation ($events: [EventInput!]!) {
  ingestEvents(events: $events) {
    __typename
    ... on MutationIngestEventsSuccess { data { alertId outcome ignoredBy } }
    ... on Error { code field }
  }
}`;
const ALERT = `query ($id: ID!) { alert(id: $id) {
  labels severity flapping suppressed groupKey rootAlertId incidentId incident { number priority }
  root { id } grouped { id }
} }`;

describe('event and incident rules over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  let ops: string;
  beforeAll(async () => {
    t = await startTestServer();
    const actor = systemActor('test');
    for (const [name, cls, attributes] of [
      ['db-01', 'linux_server', { hostname: 'db-01' }],
      ['billing', 'application', {}],
      ['shop', 'business_service', { tier: 1 }],
    ] as const)
      ids[name] = (await t.og.cmdb.create({ class: cls, name, attributes }, { actor })).id;
    await t.og.cmdb.relate({ type: 'runs_on', sourceId: ids.billing!, targetId: ids['db-01']! }, { actor });
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: ids.shop!, targetId: ids.billing! }, { actor });
    ops = (
      await t.og.access.createToken(
        { name: 'ops', permissions: ['event:read', 'event:write', 'cmdb:read'] },
        { actor },
      )
    ).secret;
  });
  afterAll(() => t?.close());

  const ingest = async (events: Record<string, unknown>[]) =>
    (await t.gql(INGEST, { events }, ops)).body.data?.ingestEvents.data as {
      alertId: string;
      outcome: string;
      ignoredBy: string | null;
    }[];
  const alert = async (id: string) => (await t.gql(ALERT, { id }, t.tokens.admin)).body.data?.alert;

  it('creates rules (event:admin), refuses bad ones naming the field, and applies them on ingest', async () => {
    const bad = (
      await t.gql(
        CREATE_RULE,
        { input: { name: 'bad', match: { node: { regex: '(' } }, actions: { stop: true } } },
        t.tokens.admin,
      )
    ).body.data?.createEventRule;
    expect(bad).toMatchObject({ __typename: 'ValidationError', field: 'match.node.regex' });
    const forbidden = (await t.gql(CREATE_RULE, { input: { name: 'x', actions: { ignore: true } } }, ops))
      .body;
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const tag = (
      await t.gql(
        CREATE_RULE,
        {
          input: {
            name: 'tag db hosts',
            match: { node: { regex: 'db-(?<n>\\d+)' } },
            actions: { addLabels: [{ name: 'tier', value: 'db{{match.n}}' }], groupBy: ['tier'] },
          },
        },
        t.tokens.admin,
      )
    ).body.data?.createEventRule;
    expect(tag).toMatchObject({
      __typename: 'MutationCreateEventRuleSuccess',
      data: { position: 0, actions: { addLabels: [{ name: 'tier' }] } },
    });
    await t.gql(
      CREATE_RULE,
      { input: { name: 'drop tests', match: { source: { equals: 'test' } }, actions: { ignore: true } } },
      t.tokens.admin,
    );

    const [dropped, kept] = await ingest([
      { source: 'test', node: 'db-01', type: 'x', severity: 'MAJOR' },
      { source: 'nagios', node: 'db-01', type: 'disk', severity: 'MAJOR' },
    ]);
    expect(dropped).toEqual({ alertId: null, outcome: 'IGNORED', ignoredBy: 'drop tests' });
    expect(await alert(kept!.alertId)).toMatchObject({
      labels: { tier: 'db01' },
      groupKey: '{"tier":"db01"}',
    });
    expect(
      (await t.gql('{ eventRules { name } }', undefined, ops)).body.data?.eventRules.map(
        (r: { name: string }) => r.name,
      ),
    ).toEqual(['tag db hosts', 'drop tests']);
  });

  it('shows topology groups and the incident an incident rule opened', async () => {
    const rule = (
      await t.gql(
        `mutation ($input: IncidentRuleInput!) { createIncidentRule(input: $input) {
          __typename ... on MutationCreateIncidentRuleSuccess { data { name match { severity serviceTierAtMost } } } ... on Error { field } } }`,
        {
          input: {
            name: 'tier 1',
            match: { severity: ['CRITICAL'], serviceTierAtMost: 1 },
            incident: { impact: 1, urgency: 1 },
          },
        },
        t.tokens.admin,
      )
    ).body.data?.createIncidentRule;
    expect(rule).toMatchObject({ data: { match: { severity: ['CRITICAL'], serviceTierAtMost: 1 } } });

    // The earlier test's alert on db-01 would be the (earliest) root: start from a quiet estate.
    const actor = systemActor('test');
    for (const { node } of (await t.og.events.alerts({ status: ['open'] })).edges)
      await t.og.events.close(node.id, { actor });
    const [root] = await ingest([{ source: 'nagios', node: 'db-01', type: 'down', severity: 'CRITICAL' }]);
    const [child] = await ingest([
      { source: 'apm', node: 'billing', type: 'errors', severity: 'CRITICAL', ciId: ids.billing },
    ]);
    const rootAlert = await alert(root!.alertId);
    const childAlert = await alert(child!.alertId);
    expect(childAlert).toMatchObject({ rootAlertId: root!.alertId, root: { id: root!.alertId } });
    expect(rootAlert.grouped).toEqual([{ id: child!.alertId }]);
    expect(rootAlert.incidentId).toBeTruthy();
    expect(childAlert.incidentId).toBe(rootAlert.incidentId);
    expect(rootAlert.incident).toMatchObject({ number: expect.stringMatching(/^INC/), priority: 1 });
    const roots = (
      await t.gql(
        `{ alerts(filter: { isRoot: true, severity: [CRITICAL] }, first: 50) { edges { node { id } } } }`,
        undefined,
        ops,
      )
    ).body.data?.alerts.edges;
    expect(roots.map((e: { node: { id: string } }) => e.node.id)).toEqual([root!.alertId]);
  });
});
