import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const CHANGE_FIELDS = `id number state approval risk version maintenanceWindowId allowedTransitions
  services { name } approvals { id name state quorum approvals canDecide }`;
const CREATE = `mutation ($input: CreateChangeInput!) {
  createChange(input: $input) {
    __typename
    ... on MutationCreateChangeSuccess { data { ${CHANGE_FIELDS} } }
    ... on ValidationError { issues { path message } }
    ... on Error { code field message }
  }
}`;
const TRANSITION = `mutation ($id: ID!, $version: Int, $input: ChangeTransitionInput!) {
  transitionChange(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationTransitionChangeSuccess { data { ${CHANGE_FIELDS} } }
    ... on ValidationError { issues { path message } }
    ... on Error { code field message }
  }
}`;
const MY_APPROVALS = `{ approvals(filter: { pendingForMe: true }) { edges { node { id name subjectId canDecide version } } } }`;
const DECIDE = `mutation ($id: ID!, $decision: ApprovalDecisionKind!, $comment: String) {
  decideApproval(id: $id, decision: $decision, comment: $comment) {
    __typename
    ... on MutationDecideApprovalSuccess { data { id state approvals decisions { userId decision comment } } }
    ... on Error { code field message }
  }
}`;

describe('change requests over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  let ops: string;

  beforeAll(async () => {
    t = await startTestServer();
    const actor = systemActor('test');
    ids.db = (
      await t.og.cmdb.create(
        { class: 'linux_server', name: 'db-01', attributes: { hostname: 'db-01' } },
        { actor },
      )
    ).id;
    ids.shop = (
      await t.og.cmdb.create({ class: 'business_service', name: 'shop', attributes: { tier: 1 } }, { actor })
    ).id;
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: ids.shop, targetId: ids.db }, { actor });
    ops = (await t.og.access.createGroup({ name: 'Ops' }, { actor })).id;
    for (const [name, roles] of [
      ['rita', ['operator']],
      ['peer', ['agent']],
      ['mgr', ['agent', 'change_manager']],
    ] as const) {
      const user = await t.og.access.createUser({ email: `${name}@example.com`, name }, { actor });
      ids[name] = user.id;
      for (const role of roles) await t.og.access.grant({ role, userId: user.id }, { actor });
      if (name !== 'mgr') await t.og.access.addGroupMember(ops, { userId: user.id }, { actor });
      const me = (await t.og.access.actorForUser({ id: user.id }))!;
      const permissions =
        name === 'rita' ? ['change:*', 'cmdb:read', 'access:read'] : ['change:read', 'cmdb:read'];
      tokens[name] = (await t.og.access.createToken({ name, permissions }, { actor: me })).secret;
    }
  });
  afterAll(() => t?.close());

  it('creates, authorises through approvals, and schedules a change', async () => {
    const created = (
      await t.gql(
        CREATE,
        {
          input: {
            title: 'Upgrade the database',
            ciIds: [ids.db],
            assignmentGroupId: ops,
            plannedStart: '2030-01-10T22:00:00Z',
            plannedEnd: '2030-01-11T01:00:00Z',
          },
        },
        tokens.rita,
      )
    ).body.data?.createChange;
    expect(created).toMatchObject({
      __typename: 'MutationCreateChangeSuccess',
      data: {
        number: expect.stringMatching(/^CHG\d{7}$/),
        state: 'NEW',
        risk: 'MEDIUM',
        services: [{ name: 'shop' }],
      },
    });
    let change = created.data;
    const bad = (await t.gql(TRANSITION, { id: change.id, input: { to: 'CLOSED' } }, tokens.rita)).body.data
      ?.transitionChange;
    expect(bad).toMatchObject({ __typename: 'ConflictError', field: 'to' });
    for (const to of ['ASSESS', 'AUTHORIZE']) {
      const moved = (
        await t.gql(TRANSITION, { id: change.id, version: change.version, input: { to } }, tokens.rita)
      ).body.data?.transitionChange;
      expect(moved.__typename).toBe('MutationTransitionChangeSuccess');
      change = moved.data;
    }
    expect(change).toMatchObject({ state: 'AUTHORIZE', approval: 'REQUESTED' });
    expect(change.approvals.map((a: { name: string; state: string }) => [a.name, a.state])).toEqual([
      ['Peer review', 'PENDING'],
      ['Change authority', 'WAITING'],
    ]);

    // The requester is in the assignment group, but may not approve its own change.
    const own = (await t.gql(DECIDE, { id: change.approvals[0].id, decision: 'APPROVE' }, tokens.rita)).body
      .data?.decideApproval;
    expect(own).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    expect((await t.gql(MY_APPROVALS, {}, tokens.rita)).body.data?.approvals.edges).toEqual([]);

    for (const who of ['peer', 'mgr']) {
      const todo = (await t.gql(MY_APPROVALS, {}, tokens[who])).body.data?.approvals.edges;
      expect(todo.map((e: { node: { subjectId: string } }) => e.node.subjectId)).toEqual([change.id]);
      const decided = (
        await t.gql(
          DECIDE,
          { id: todo[0].node.id, decision: 'APPROVE', comment: `ok from ${who}` },
          tokens[who],
        )
      ).body.data?.decideApproval;
      expect(decided).toMatchObject({
        __typename: 'MutationDecideApprovalSuccess',
        data: {
          state: 'APPROVED',
          decisions: [{ userId: ids[who], decision: 'APPROVE', comment: `ok from ${who}` }],
        },
      });
    }
    const { body } = await t.gql(
      `query ($id: ID!) { change(id: $id) { ${CHANGE_FIELDS} conflicts { kind } } }`,
      { id: change.number },
      tokens.peer,
    );
    expect(body.errors).toBeUndefined();
    expect(body.data?.change).toMatchObject({
      state: 'SCHEDULED',
      approval: 'APPROVED',
      maintenanceWindowId: expect.any(String),
      allowedTransitions: ['ASSESS', 'IMPLEMENT', 'CANCELLED'],
      conflicts: [],
    });
    // Who may decide and who decided, as people (rita holds access:read): the peer review by the Ops group
    // and the change authority by role, each decided by one user.
    const people = (
      await t.gql(
        `query ($id: ID!) { change(id: $id) { approvals { approvers { group { name } role user { name } } decisions { user { name } } } } }`,
        { id: change.id },
        tokens.rita,
      )
    ).body;
    expect(people.errors).toBeUndefined();
    expect(people.data?.change.approvals).toEqual([
      {
        approvers: { group: { name: 'Ops' }, role: null, user: null },
        decisions: [{ user: { name: 'peer' } }],
      },
      {
        approvers: { group: null, role: 'change_manager', user: null },
        decisions: [{ user: { name: 'mgr' } }],
      },
    ]);
    const listed = (
      await t.gql(
        `{ changes(filter: { state: [SCHEDULED] }, orderBy: { field: PLANNED_START, direction: ASC }) { edges { node { number approvals { state } } } } }`,
        {},
        tokens.peer,
      )
    ).body.data?.changes.edges;
    expect(listed).toEqual([
      { node: { number: change.number, approvals: [{ state: 'APPROVED' }, { state: 'APPROVED' }] } },
    ]);
    // Writing needs change:write.
    const refused = await t.gql(TRANSITION, { id: change.id, input: { to: 'IMPLEMENT' } }, tokens.peer);
    expect(refused.body.errors?.[0]?.extensions?.code ?? refused.body.data?.transitionChange?.code).toBe(
      'FORBIDDEN',
    );
  });
});
