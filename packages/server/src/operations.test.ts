import { type ManualClock, systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

const DEFINE = `mutation ($input: DefineJobInput!) {
  defineJob(input: $input) {
    __typename
    ... on MutationDefineJobSuccess { data { id name kind timeZone rpoMinutes version nextRunAt ownerGroup { name } targets { name } } }
    ... on ValidationError { issues { path message } }
    ... on Error { code message field }
  }
}`;
const UPDATE = `mutation ($id: ID!, $version: Int, $input: UpdateJobInput!) {
  updateJob(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationUpdateJobSuccess { data { name enabled version } }
    ... on Error { code field }
  }
}`;
const REPORT = `mutation ($input: ReportJobRunInput!) {
  reportJobRun(input: $input) {
    __typename
    ... on MutationReportJobRunSuccess { data { id status slotAt runKey durationMs bytes } }
    ... on Error { code field }
  }
}`;
const JOBS = `query ($first: Int) {
  jobs(first: $first) { edges { node { name targets { name } ownerGroup { name } runs(first: 5) { edges { node { status runKey } } } } } }
}`;

describe('scheduled jobs over GraphQL and the job-runs webhook', () => {
  let t: TestServer;
  const actor = systemActor('test');
  const reports: OperationQueries[] = [];
  const ci: Record<string, string> = {};
  let group: string;
  let ops: { writer: string; reader: string };

  beforeAll(async () => {
    t = await startTestServer({ onOperationQueries: (report) => reports.push(report) });
    (t.og.clock as ManualClock).set('2026-03-02T10:00:00.000Z');
    for (const name of ['db-01', 'db-02', 'db-03'])
      ci[name] = (await t.og.cmdb.create({ class: 'linux_server', name }, { actor })).id;
    group = (await t.og.access.createGroup({ name: 'DBAs' }, { actor })).id;
    const token = async (name: string, permissions: string[]) =>
      (await t.og.access.createToken({ name, permissions }, { actor })).secret;
    ops = {
      writer: await token('ops writer', ['operations:write']),
      reader: await token('ops reader', ['operations:read', 'cmdb:read', 'access:read']),
    };
  });
  afterAll(() => t?.close());

  const hook = async (body: unknown, token?: string) => {
    const response = await fetch(`${t.origin}/webhooks/job-runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  it('defines, lists and updates jobs; bad input names its field; a stale version is a conflict', async () => {
    const input = {
      name: 'Nightly db-01',
      kind: 'BACKUP',
      schedule: '0 2 * * *',
      timeZone: 'Europe/Paris',
      targetCiIds: [ci['db-01']],
      ownerGroupId: group,
      rpoMinutes: 1440,
    };
    const made = (await t.gql(DEFINE, { input }, t.tokens.admin)).body.data?.defineJob;
    expect(made).toMatchObject({
      __typename: 'MutationDefineJobSuccess',
      data: {
        name: 'Nightly db-01',
        kind: 'BACKUP',
        rpoMinutes: 1440,
        version: 1,
        // 02:00 in Paris (UTC+1 in March, before the change).
        nextRunAt: '2026-03-03T01:00:00.000Z',
        ownerGroup: { name: 'DBAs' },
        targets: [{ name: 'db-01' }],
      },
    });
    const bad = (
      await t.gql(DEFINE, { input: { ...input, name: 'x', schedule: '0 25 * * *' } }, t.tokens.admin)
    ).body.data?.defineJob;
    expect(bad.__typename).toBe('ValidationError');
    expect(bad.issues.map((i: { path: string }) => i.path)).toEqual(['schedule']);
    const tz = (await t.gql(DEFINE, { input: { ...input, name: 'y', timeZone: 'Paris' } }, t.tokens.admin))
      .body.data?.defineJob;
    expect(tz).toMatchObject({ __typename: 'ValidationError', field: 'timeZone' });

    const id = made.data.id;
    const renamed = (
      await t.gql(UPDATE, { id, version: 1, input: { name: 'Nightly db-01 (full)' } }, t.tokens.admin)
    ).body.data?.updateJob;
    expect(renamed).toMatchObject({ data: { name: 'Nightly db-01 (full)', version: 2 } });
    const stale = (await t.gql(UPDATE, { id, version: 1, input: { enabled: false } }, t.tokens.admin)).body
      .data?.updateJob;
    expect(stale).toEqual({ __typename: 'ConflictError', code: 'CONFLICT', field: 'version' });
  });

  it('reads a page of jobs with targets and owner groups in constant queries', async () => {
    const count = async (first: number) => {
      reports.length = 0;
      const body = (await t.gql(JOBS, { first }, ops.reader)).body;
      expect(body.errors).toBeUndefined();
      return { body, queries: reports[0]!.queries.length };
    };
    const one = await count(1);
    for (const name of ['db-02', 'db-03'])
      await t.og.operations.defineJob(
        {
          name: `Batch ${name}`,
          kind: 'batch',
          schedule: '*/15 * * * *',
          targetCiIds: [ci[name]!],
          ownerGroupId: group,
        },
        { actor },
      );
    const three = await count(3);
    expect(
      three.body.data?.jobs.edges.map((e: any) => [
        e.node.name,
        e.node.targets[0].name,
        e.node.ownerGroup.name,
      ]),
    ).toEqual([
      ['Batch db-02', 'db-02', 'DBAs'],
      ['Batch db-03', 'db-03', 'DBAs'],
      ['Nightly db-01 (full)', 'db-01', 'DBAs'],
    ]);
    // Each job's runs connection is its own query; targets and groups are batched.
    expect(three.queries - one.queries).toBe(2);
  });

  it('reports runs by mutation and webhook, once per runKey; refuses bad bodies naming the field', async () => {
    const job = (await t.og.operations.jobByName('nightly db-01 (full)'))!;
    const started = (
      await t.gql(
        REPORT,
        { input: { jobId: job.id, status: 'STARTED', runKey: 'b-1', at: '2026-03-03T01:10:00.000Z' } },
        t.tokens.admin,
      )
    ).body.data?.reportJobRun;
    expect(started).toMatchObject({
      data: { status: 'STARTED', slotAt: '2026-03-03T01:00:00.000Z', runKey: 'b-1' },
    });
    const done = {
      job: 'Nightly DB-01 (full)',
      status: 'succeeded',
      runKey: 'b-1',
      at: '2026-03-03T01:40:00.000Z',
      bytes: 5e9,
    };
    // A sender's token needs operations:write only (not read): the job is named by name here.
    const first = await hook(done, ops.writer);
    const again = await hook(done, ops.writer);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      accepted: 1,
      run: { id: started.data.id, status: 'succeeded', durationMs: 30 * 60_000, bytes: 5e9 },
    });
    expect(again.body.run).toEqual(first.body.run);
    const runs = await t.og.operations.runs(job.id);
    expect(runs.edges.map((e) => [e.node.status, e.node.runKey])).toEqual([['succeeded', 'b-1']]);

    const cases: [unknown, number, string][] = [
      [{ status: 'succeeded' }, 400, 'job'],
      [{ job: 'no such job', status: 'succeeded' }, 400, 'job'],
      [{ job: job.id, status: 'finished' }, 400, 'status'],
      [{ job: job.id, status: 'failed', at: 'yesterday' }, 400, 'at'],
      [{ job: job.id, status: 'failed', bytes: -1 }, 400, 'bytes'],
      [{ job: job.id, status: 'failed', colour: 'red' }, 400, 'colour'],
    ];
    for (const [body, status, field] of cases) {
      const answer = await hook(body, ops.writer);
      expect([answer.status, answer.body.field]).toEqual([status, field]);
    }
    // Nothing stored by the refused bodies.
    expect((await t.og.operations.runs(job.id)).edges).toHaveLength(1);
    expect((await hook(done)).status).toBe(401);
    expect((await hook(done, ops.reader)).status).toBe(403);
    expect((await hook(done, t.tokens.reader)).body).toMatchObject({
      code: 'FORBIDDEN',
      permission: 'operations:write',
    });
  });

  it('answers backup compliance, and refuses callers without operations:read', async () => {
    (t.og.clock as ManualClock).set('2026-03-03T02:00:00.000Z');
    const q = `query ($ciIds: [ID!]) { backupCompliance(ciIds: $ciIds) { cis { ci { name } rpoMinutes compliant lastGoodBackupAt ageSeconds } nonCompliant { ciId } } }`;
    const answer = (await t.gql(q, { ciIds: [ci['db-01']] }, ops.reader)).body;
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.backupCompliance).toEqual({
      // The last good backup started at 01:10, 50 minutes ago.
      cis: [
        {
          ci: { name: 'db-01' },
          rpoMinutes: 1440,
          compliant: true,
          lastGoodBackupAt: '2026-03-03T01:10:00.000Z',
          ageSeconds: 3000,
        },
      ],
      nonCompliant: [],
    });
    for (const query of ['{ jobs { edges { node { id } } } }', `{ backupCompliance { cis { ciId } } }`]) {
      const refused = (await t.gql(query, {}, t.tokens.reader)).body;
      expect(refused.data).toBeNull();
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: 'FORBIDDEN' },
        message: expect.stringContaining('operations:read'),
      });
    }
    const write = (await t.gql(REPORT, { input: { jobId: ci['db-01'], status: 'STARTED' } }, ops.reader))
      .body;
    expect(write.errors?.[0]).toMatchObject({
      extensions: { code: 'FORBIDDEN' },
      message: expect.stringContaining('operations:write'),
    });
  });
});
