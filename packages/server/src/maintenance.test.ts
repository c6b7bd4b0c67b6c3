import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const SCHEDULE = `mutation ($name: String!, $ciIds: [ID!]!, $startsAt: DateTime!, $endsAt: DateTime!) {
  scheduleMaintenance(name: $name, ciIds: $ciIds, startsAt: $startsAt, endsAt: $endsAt) {
    __typename
    ... on MutationScheduleMaintenanceSuccess { data { id name active version cis { name } } }
    ... on Error { code field }
  }
}`;

describe('maintenance windows over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  let scoped: string;
  let changer: string;
  beforeAll(async () => {
    t = await startTestServer();
    const actor = systemActor('test');
    for (const name of ['rack-1', 'rack-2'])
      ids[name] = (await t.og.cmdb.create({ class: 'hardware', name }, { actor })).id;
    changer = (
      await t.og.access.createToken(
        { name: 'changer', permissions: ['change:read', 'change:write', 'cmdb:read'] },
        { actor },
      )
    ).secret;
    // A token scoped to rack-1: it sees windows on rack-1 only.
    scoped = (
      await t.og.access.createToken(
        {
          name: 'scoped',
          permissions: ['change:read', 'cmdb:read'],
          scope: { ciId: ids['rack-1']!, mode: 'contains' },
        },
        { actor },
      )
    ).secret;
  });
  afterAll(() => t?.close());

  it('schedules, lists (scoped to what a reader may see), and cancels with the version read', async () => {
    const now = t.og.clock.now().getTime();
    const window = (ciIds: string[]) => ({
      name: 'power work',
      ciIds,
      startsAt: new Date(now - 1000).toISOString(),
      endsAt: new Date(now + 3_600_000).toISOString(),
    });
    const one = (await t.gql(SCHEDULE, window([ids['rack-1']!]), changer)).body.data?.scheduleMaintenance;
    expect(one).toMatchObject({
      __typename: 'MutationScheduleMaintenanceSuccess',
      data: { active: true, cis: [{ name: 'rack-1' }] },
    });
    await t.gql(SCHEDULE, window([ids['rack-2']!]), changer);
    const bad = (
      await t.gql(
        SCHEDULE,
        { ...window([ids['rack-1']!]), endsAt: new Date(now - 5000).toISOString() },
        changer,
      )
    ).body.data?.scheduleMaintenance;
    expect(bad).toMatchObject({ __typename: 'ValidationError', field: 'endsAt' });

    const list = `{ maintenanceWindows(first: 10) { edges { node { name cis { name } } } } }`;
    expect((await t.gql(list, undefined, changer)).body.data?.maintenanceWindows.edges).toHaveLength(2);
    const seen = (await t.gql(list, undefined, scoped)).body.data?.maintenanceWindows.edges;
    expect(seen.map((e: any) => e.node.cis[0].name)).toEqual(['rack-1']);

    const cancel = `mutation ($id: ID!, $version: Int) { cancelMaintenance(id: $id, version: $version) {
      __typename ... on MutationCancelMaintenanceSuccess { data { active cancelledBy { name } } } ... on Error { code field } } }`;
    const stale = (await t.gql(cancel, { id: one.data.id, version: one.data.version + 1 }, changer)).body.data
      ?.cancelMaintenance;
    expect(stale).toMatchObject({ __typename: 'ConflictError', field: 'version' });
    const done = (await t.gql(cancel, { id: one.data.id, version: one.data.version }, changer)).body.data
      ?.cancelMaintenance;
    expect(done).toMatchObject({ data: { active: false, cancelledBy: { name: 'token "changer"' } } });
    const forbidden = (await t.gql(SCHEDULE, window([ids['rack-1']!]), t.tokens.reader)).body;
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
