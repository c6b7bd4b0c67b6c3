import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const STATUS =
  '{ scheduledSweeps { name everyMs guarded runs failures lastRunAt lastSummary { name count } } }';
const RUN = `mutation ($only: [String!]) {
  runSweeps(only: $only) {
    __typename
    ... on MutationRunSweepsSuccess { data { name outcome summary { name count } error } }
    ... on ValidationError { issues { path message } }
  }
}`;

describe('the scheduler over GraphQL', () => {
  let t: TestServer;
  let operator: string;

  beforeAll(async () => {
    // No runner: the sweeps run only when asked, so the counts below are exact.
    t = await startTestServer({ scheduler: false });
    operator = (
      await t.og.access.createToken(
        { name: 'ops', permissions: ['operations:read'] },
        { actor: systemActor('test') },
      )
    ).secret;
  });
  afterAll(() => t?.close());

  it('runs sweeps on demand and shows each one’s last run; unknown names are refused naming `only`', async () => {
    const ran = (await t.gql(RUN, { only: ['maintenance', 'slas'] }, t.tokens.admin)).body;
    expect(ran.errors).toBeUndefined();
    expect(
      ran.data?.runSweeps.data.map((r: { name: string; outcome: string }) => [r.name, r.outcome]),
    ).toEqual([
      ['slas', 'RAN'],
      ['maintenance', 'RAN'],
    ]);
    const status = (await t.gql(STATUS, {}, operator)).body;
    expect(status.errors).toBeUndefined();
    const byName = Object.fromEntries(
      status.data?.scheduledSweeps.map((s: { name: string }) => [s.name, s]) ?? [],
    );
    expect(Object.keys(byName)).toEqual([
      'access',
      'slas',
      'maintenance',
      'operations',
      'serviceHealth',
      'notifications',
    ]);
    expect(byName.slas).toMatchObject({ everyMs: 30_000, guarded: true, runs: 1, failures: 0 });
    expect(byName.slas.lastSummary).toEqual([
      { name: 'warned', count: 0 },
      { name: 'breached', count: 0 },
    ]);
    expect(byName.access).toMatchObject({ runs: 0, lastRunAt: null });
    expect(byName.notifications).toMatchObject({ guarded: false });

    const refused = (await t.gql(RUN, { only: ['nope'] }, t.tokens.admin)).body.data?.runSweeps;
    expect(refused.__typename).toBe('ValidationError');
    expect(refused.issues[0].path).toBe('only');
  });

  it('needs operations:read to look and operations:write to run', async () => {
    const looked = (await t.gql(STATUS, {}, t.tokens.reader)).body;
    expect(looked.data).toBeNull();
    expect(looked.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const run = (await t.gql(RUN, {}, operator)).body;
    expect(run.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const status = (await t.gql(STATUS, {}, operator)).body.data?.scheduledSweeps;
    expect(status.find((s: { name: string }) => s.name === 'access').runs).toBe(0);
  });
});
