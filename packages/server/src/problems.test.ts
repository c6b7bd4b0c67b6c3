import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { collect, startTestServer, type TestServer } from './test-support.js';

const CREATE = `mutation ($input: CreateProblemInput!) {
  createProblem(input: $input) {
    __typename
    ... on MutationCreateProblemSuccess { data { id number priority state version services { name } allowedTransitions incidents { number } } }
    ... on ValidationError { field issues { path message } }
    ... on Error { code field message }
  }
}`;
const TRANSITION = `mutation ($id: ID!, $version: Int, $input: ProblemTransitionInput!) {
  transitionProblem(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationTransitionProblemSuccess { data { state version rootCause resolutionCode knownError { state retiredReason } } }
    ... on ValidationError { field issues { path } }
    ... on Error { code field message }
  }
}`;
const PUBLISH = `mutation ($problemId: ID!, $workaround: String) {
  publishKnownError(problemId: $problemId, workaround: $workaround) {
    __typename
    ... on MutationPublishKnownErrorSuccess { data { id number state workaround rootCause problem { number } } }
    ... on ValidationError { issues { path } }
    ... on Error { code message }
  }
}`;
const INCIDENTS = `query ($first: Int) {
  incidents(first: $first) {
    edges { node { number shortDescription problems { number } knownErrors { match depth knownError { number title } } } }
  }
}`;

describe('problems over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  let manager: string;
  let scoped: string;
  let group: string;
  const reports: OperationQueries[] = [];
  const actor = systemActor('test');

  beforeAll(async () => {
    t = await startTestServer({ onOperationQueries: (report) => reports.push(report) });
    for (const [name, cls, attributes] of [
      ['db-01', 'linux_server', {}],
      ['web-01', 'linux_server', {}],
      ['other', 'linux_server', {}],
      ['shop', 'business_service', { tier: 1 }],
    ] as const)
      ids[name] = (await t.og.cmdb.create({ class: cls, name, attributes }, { actor })).id;
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: ids.shop!, targetId: ids['db-01']! }, { actor });
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: ids.shop!, targetId: ids['web-01']! }, { actor });
    group = (await t.og.access.createGroup({ name: 'Problem managers' }, { actor })).id;
    const token = async (name: string, permissions: string[], scope?: { ciId: string; mode: 'contains' }) =>
      (await t.og.access.createToken({ name, permissions, ...(scope ? { scope } : {}) }, { actor })).secret;
    manager = await token('problem manager', [
      'problem:read',
      'problem:write',
      'incident:read',
      'incident:write',
      'cmdb:read',
      'activity:read',
    ]);
    scoped = await token('web watcher', ['problem:read', 'incident:read', 'cmdb:read', 'activity:read'], {
      ciId: ids['web-01']!,
      mode: 'contains',
    });
  });
  afterAll(() => t?.close());

  it('runs a problem from an incident to a published known error offered to new incidents, then retires it', async () => {
    const incident = await t.og.incidents.create(
      { shortDescription: 'Checkout times out', ciId: ids['db-01'] },
      { actor },
    );
    const created = (
      await t.gql(
        CREATE,
        {
          input: {
            title: 'Checkout DB times out',
            ciId: ids['db-01'],
            impact: 1,
            urgency: 2,
            assignmentGroupId: group,
            incidentIds: [incident.id],
          },
        },
        manager,
      )
    ).body.data?.createProblem;
    expect(created).toMatchObject({
      __typename: 'MutationCreateProblemSuccess',
      data: {
        number: expect.stringMatching(/^PRB\d{7}$/),
        priority: 2,
        state: 'NEW',
        services: [{ name: 'shop' }],
        allowedTransitions: ['ASSESS', 'CANCELLED'],
        incidents: [{ number: incident.number }],
      },
    });
    const problem = created.data;

    // A forbidden move is a ConflictError naming the allowed ones; nothing changes.
    const refused = (await t.gql(TRANSITION, { id: problem.id, input: { to: 'RESOLVED' } }, manager)).body
      .data?.transitionProblem;
    expect(refused).toMatchObject({ __typename: 'ConflictError', field: 'to' });
    expect(refused.message).toMatch(/can go to assess, cancelled, not resolved/);

    const go = async (input: Record<string, unknown>, version?: number) =>
      (await t.gql(TRANSITION, { id: problem.number, input, ...(version ? { version } : {}) }, manager)).body
        .data?.transitionProblem;
    expect((await go({ to: 'ASSESS' }, problem.version)).data).toMatchObject({ state: 'ASSESS', version: 2 });
    const stale = await go({ to: 'ROOT_CAUSE_ANALYSIS' }, problem.version);
    expect(stale).toMatchObject({ __typename: 'ConflictError', field: 'version' });
    expect((await go({ to: 'ROOT_CAUSE_ANALYSIS' })).data.state).toBe('ROOT_CAUSE_ANALYSIS');
    expect((await go({ to: 'FIX_IN_PROGRESS' })).issues).toEqual([{ path: 'rootCause' }]);
    const fixing = await go({ to: 'FIX_IN_PROGRESS', rootCause: 'Missing index on orders.' });
    expect(fixing.data).toMatchObject({ state: 'FIX_IN_PROGRESS', rootCause: 'Missing index on orders.' });

    const noWorkaround = (await t.gql(PUBLISH, { problemId: problem.id }, manager)).body.data
      ?.publishKnownError;
    expect(noWorkaround).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'workaround' }] });
    const published = (
      await t.gql(PUBLISH, { problemId: problem.id, workaround: 'Retry the payment once.' }, manager)
    ).body.data?.publishKnownError;
    expect(published.data).toMatchObject({
      number: expect.stringMatching(/^KE\d{7}$/),
      state: 'PUBLISHED',
      rootCause: 'Missing index on orders.',
      problem: { number: problem.number },
    });

    // New incidents on the same CI and on another CI of the same service are offered it.
    await t.og.incidents.create({ shortDescription: 'Orders slow', ciId: ids['db-01'] }, { actor });
    await t.og.incidents.create({ shortDescription: 'Web errors', ciId: ids['web-01'] }, { actor });
    await t.og.incidents.create({ shortDescription: 'Unrelated', ciId: ids.other }, { actor });
    const count = async (first: number) => {
      reports.length = 0;
      const body = (await t.gql(INCIDENTS, { first }, manager)).body;
      expect(body.errors).toBeUndefined();
      return { edges: body.data?.incidents.edges, queries: reports[0]!.queries.length };
    };
    const all = await count(4);
    const byText = Object.fromEntries(
      all.edges.map((e: { node: { shortDescription: string } }) => [e.node.shortDescription, e.node]),
    );
    expect(byText['Checkout times out']).toMatchObject({
      problems: [{ number: problem.number }],
      knownErrors: [{ match: 'SAME_CI', depth: 0, knownError: { number: published.data.number } }],
    });
    expect(byText['Orders slow']).toMatchObject({
      problems: [],
      knownErrors: [{ match: 'SAME_CI', depth: 0 }],
    });
    expect(byText['Web errors']).toMatchObject({
      problems: [],
      knownErrors: [{ match: 'BUSINESS_SERVICE', depth: null }],
    });
    expect(byText.Unrelated.knownErrors).toEqual([]);
    // No N+1: one incident costs as many queries as four.
    expect((await count(1)).queries).toBe(all.queries);

    // The known-error database, by text.
    const db = (
      await t.gql(
        '{ knownErrors(filter: { text: "payment" }) { number workaround ci { name } } }',
        undefined,
        manager,
      )
    ).body.data?.knownErrors;
    expect(db).toEqual([
      { number: published.data.number, workaround: 'Retry the payment once.', ci: { name: 'db-01' } },
    ]);
    // A reader scoped to web-01 does not see a problem on db-01.
    const hidden = (
      await t.gql(`{ problem(id: "${problem.number}") { number } knownErrors { number } }`, undefined, scoped)
    ).body.data;
    expect(hidden).toEqual({ problem: null, knownErrors: [] });

    // Resolved with a fix, then closed: the known error is retired.
    const resolved = await go({
      to: 'RESOLVED',
      resolutionCode: 'FIX_APPLIED',
      resolutionNotes: 'Index added.',
    });
    expect(resolved.data).toMatchObject({ state: 'RESOLVED', knownError: { state: 'PUBLISHED' } });
    const closed = await go({ to: 'CLOSED' });
    expect(closed.data).toMatchObject({
      state: 'CLOSED',
      knownError: { state: 'RETIRED', retiredReason: expect.stringMatching(/permanent fix/) },
    });
    expect((await t.gql('{ knownErrors { number } }', undefined, manager)).body.data?.knownErrors).toEqual(
      [],
    );
  });

  it('problemChanged delivers the changes a subscriber may read, in order', async () => {
    const after = Number(
      (await t.gql('{ activity(limit: 1000) { seq } }', undefined, t.tokens.admin)).body.data?.activity.at(-1)
        ?.seq ?? 0,
    );
    const query = `subscription ($after: Seq) { problemChanged(after: $after) { seq kind problem { title state } } }`;
    const { done } = collect(
      t.wsClient({ token: scoped }),
      { query, variables: { after } },
      (r) => r.data?.problemChanged?.kind === 'PROBLEM_STATE_CHANGED',
    );
    const hidden = (await t.gql(CREATE, { input: { title: 'Elsewhere', ciId: ids.other } }, manager)).body
      .data?.createProblem.data;
    const seen = (await t.gql(CREATE, { input: { title: 'Mine', ciId: ids['web-01'] } }, manager)).body.data
      ?.createProblem.data;
    await t.gql(TRANSITION, { id: hidden.id, input: { to: 'ASSESS' } }, manager);
    await t.gql(TRANSITION, { id: seen.id, input: { to: 'ASSESS' } }, manager);
    const { results, error } = await done;
    expect(error).toBeUndefined();
    expect(
      results.map((r) => `${r.data?.problemChanged.kind} ${r.data?.problemChanged.problem.title}`),
    ).toEqual(['PROBLEM_CREATED Mine', 'PROBLEM_STATE_CHANGED Mine']);
  });
});
