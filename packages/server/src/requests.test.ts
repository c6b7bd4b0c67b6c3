import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { collect, startTestServer, type TestServer } from './test-support.js';

const CREATE_ITEM = `mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) {
    __typename
    ... on MutationCreateCatalogItemSuccess { data { id name form { name type options default } approvalSteps { kind quorum } tasks { title stage action { kind ciClass } } } }
    ... on ValidationError { issues { path message } }
    ... on Error { code field message }
  }
}`;
const SUBMIT = `mutation ($input: SubmitRequestInput!) {
  submitRequest(input: $input) {
    __typename
    ... on MutationSubmitRequestSuccess { data { id number state version answers requestedFor { name } approvals { name state } } }
    ... on ValidationError { field issues { path message } }
    ... on Error { code field message }
  }
}`;
const APPROVE = `mutation ($id: ID!, $comment: String) {
  approveRequest(id: $id, comment: $comment) {
    __typename
    ... on MutationApproveRequestSuccess { data { state approvals { state decisions { comment } } tasks { id number state version allowedTransitions } } }
    ... on Error { code field message }
  }
}`;
const COMPLETE = `mutation ($id: ID!, $version: Int, $input: RequestTaskTransitionInput!) {
  transitionRequestTask(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationTransitionRequestTaskSuccess { data { state deviceCiId device { name } request { number state } } }
    ... on ValidationError { field issues { path message } }
    ... on Error { code field message }
  }
}`;

describe('the laptop request runs end to end through GraphQL with approvals and ends with the device assigned', () => {
  let t: TestServer;
  const users: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const laptops: Record<string, string> = {};
  let desktop: string;
  const reports: OperationQueries[] = [];

  beforeAll(async () => {
    t = await startTestServer({ onOperationQueries: (report) => reports.push(report) });
    const admin = systemActor('test');
    const og = t.og;
    // Employees ask and approve; they manage their own tokens.
    await og.access.defineRole(
      { name: 'employee', permissions: ['request:create', 'request:read', 'access:tokens'] },
      { actor: admin },
    );
    for (const [name, role] of [
      ['rita', 'employee'],
      ['mark', 'employee'],
      ['olga', 'employee'],
      ['fred', 'agent'],
    ] as const) {
      const user = await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin });
      await og.access.grant({ role, userId: user.id }, { actor: admin });
      users[name] = user.id;
      const actor = (await og.access.actorForUser({ id: user.id }))!;
      const permissions =
        role === 'agent'
          ? ['request:read', 'request:fulfil', 'cmdb:read']
          : ['request:create', 'request:read'];
      tokens[name] = (
        await og.access.createToken({ name: `${name}'s token`, permissions }, { actor })
      ).secret;
    }
    desktop = (await og.access.createGroup({ name: 'Desktop support' }, { actor: admin })).id;
    await og.access.addGroupMember(desktop, { userId: users.fred! }, { actor: admin });
    for (const name of ['LT-100', 'LT-200'])
      laptops[name] = (
        await og.cmdb.create({ class: 'laptop', name, attributes: { serial_number: name } }, { actor: admin })
      ).id;
    // LT-100 is olga's already.
    const lt100 = (await og.cmdb.get(laptops['LT-100']!))!;
    await og.cmdb.update(
      lt100.id,
      { version: lt100.version, attributes: { assigned_to: users.olga! } },
      { actor: admin },
    );
  });
  afterAll(() => t?.close());

  it('runs: define, submit, approve as the manager, complete choosing the device, fulfilled and assigned', async () => {
    // The manager is set through the user API.
    const rita = (await t.gql(`{ user(id: "${users.rita}") { version } }`, undefined, t.tokens.admin)).body
      .data?.user;
    const managed = await t.gql(
      `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) {
         ... on MutationUpdateUserSuccess { data { managerId manager { name } } } ... on Error { message } } }`,
      { id: users.rita, input: { version: rita.version, managerId: users.mark } },
      t.tokens.admin,
    );
    expect(managed.body.data?.updateUser.data).toEqual({ managerId: users.mark, manager: { name: 'mark' } });

    // The catalog administrator defines the item.
    const defined = (
      await t.gql(
        CREATE_ITEM,
        {
          input: {
            name: 'New laptop',
            category: 'Hardware',
            form: [
              {
                name: 'model',
                label: 'Model',
                type: 'ENUM',
                options: ['standard', 'developer'],
                required: true,
              },
              { name: 'reason', label: 'Why', type: 'TEXT', max: 500 },
            ],
            approvalSteps: [{ kind: 'MANAGER' }],
            tasks: [
              {
                title: 'Prepare and hand over the laptop',
                assignmentGroupId: desktop,
                action: { kind: 'ASSIGN_DEVICE', ciClass: 'laptop' },
              },
            ],
          },
        },
        t.tokens.admin,
      )
    ).body.data?.createCatalogItem;
    expect(defined).toMatchObject({
      __typename: 'MutationCreateCatalogItemSuccess',
      data: {
        name: 'New laptop',
        approvalSteps: [{ kind: 'MANAGER', quorum: 1 }],
        tasks: [{ stage: 1, action: { kind: 'ASSIGN_DEVICE', ciClass: 'laptop' } }],
      },
    });
    const itemId = defined.data.id;
    // A requester may not define items.
    const refused = await t.gql(CREATE_ITEM, { input: { name: 'Mine' } }, tokens.rita);
    expect(refused.body.errors?.[0]?.message).toMatch(/request:admin/);

    // The requester browses the catalog and submits; bad answers name the field.
    const catalog = await t.gql(
      `{ catalogItems { edges { node { name form { name } } } } }`,
      undefined,
      tokens.rita,
    );
    expect(catalog.body.data?.catalogItems.edges.map((e: any) => e.node.name)).toEqual(['New laptop']);
    const bad = (
      await t.gql(SUBMIT, { input: { itemId, answers: { model: 'gaming', colour: 'red' } } }, tokens.rita)
    ).body.data?.submitRequest;
    expect(bad.__typename).toBe('ValidationError');
    expect(bad.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      'answers.colour',
      'answers.model',
    ]);

    // Rita follows her requests live.
    let deviceSeen = false;
    const after = Number(
      (await t.gql('{ activity(limit: 1000) { seq } }', undefined, t.tokens.admin)).body.data?.activity.at(-1)
        ?.seq ?? 0,
    );
    const { done } = collect(
      t.wsClient({ token: tokens.rita }),
      {
        query: `subscription ($after: Seq) { requestChanged(after: $after) { kind request { number state } } }`,
        variables: { after },
      },
      // The request is loaded as it is at delivery: wait for the move that follows the assignment.
      (r) => {
        const kind = r.data?.requestChanged?.kind;
        if (kind === 'DEVICE_ASSIGNED') deviceSeen = true;
        return deviceSeen && kind === 'STATE_CHANGED';
      },
    );

    const submitted = (
      await t.gql(
        SUBMIT,
        { input: { itemId, answers: { model: 'developer' }, justification: 'New starter' } },
        tokens.rita,
      )
    ).body.data?.submitRequest;
    expect(submitted).toMatchObject({
      __typename: 'MutationSubmitRequestSuccess',
      data: {
        number: expect.stringMatching(/^REQ\d{7}$/),
        state: 'AWAITING_APPROVAL',
        answers: { model: 'developer' },
        requestedFor: { name: 'rita' },
        approvals: [{ name: 'Manager approval (mark)', state: 'PENDING' }],
      },
    });
    const number = submitted.data.number;

    // Neither the fulfiller, nor the requester herself, may approve; the manager can.
    for (const who of ['fred', 'rita']) {
      const no = (await t.gql(APPROVE, { id: number }, tokens[who])).body.data?.approveRequest;
      expect(no, who).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    }
    // The manager sees the request of his report.
    const seen = await t.gql(
      `{ requests { edges { node { number requestedFor { id } } } } }`,
      undefined,
      tokens.mark,
    );
    expect(seen.body.data?.requests.edges.map((e: any) => e.node.number)).toContain(number);
    const approval = await t.gql(APPROVE, { id: number, comment: 'Welcome aboard' }, tokens.mark);
    expect(approval.body.errors).toBeUndefined();
    const approved = approval.body.data?.approveRequest;
    expect(approved).toMatchObject({
      __typename: 'MutationApproveRequestSuccess',
      data: {
        state: 'IN_FULFILMENT',
        approvals: [{ state: 'APPROVED', decisions: [{ comment: 'Welcome aboard' }] }],
        tasks: [{ state: 'OPEN', allowedTransitions: ['IN_PROGRESS', 'DONE', 'CANCELLED'] }],
      },
    });
    const [task] = approved.data.tasks;

    // The fulfiller finds it in the group's queue.
    const queue = await t.gql(
      `query ($group: ID!) { tasks(filter: { assignmentGroupId: $group, state: [OPEN] }) { edges { node { number title request { number answers } } } } }`,
      { group: desktop },
      tokens.fred,
    );
    expect(queue.body.data?.tasks.edges.map((e: any) => e.node)).toEqual([
      {
        number: task.number,
        title: 'Prepare and hand over the laptop',
        request: { number, answers: { model: 'developer' } },
      },
    ]);

    // A laptop already assigned to someone else is refused, naming the field; nothing changes.
    const taken = (
      await t.gql(
        COMPLETE,
        { id: task.number, input: { to: 'DONE', deviceCiId: laptops['LT-100'] } },
        tokens.fred,
      )
    ).body.data?.transitionRequestTask;
    expect(taken).toMatchObject({ __typename: 'ValidationError', field: 'deviceCiId' });
    expect(taken.issues[0].message).toMatch(/assigned to olga already/);
    // A stale version is refused too.
    const stale = (
      await t.gql(
        COMPLETE,
        { id: task.id, version: task.version - 1, input: { to: 'DONE', deviceCiId: laptops['LT-200'] } },
        tokens.fred,
      )
    ).body.data?.transitionRequestTask;
    expect(stale).toMatchObject({ __typename: 'ConflictError', field: 'version' });

    const completed = (
      await t.gql(
        COMPLETE,
        {
          id: task.id,
          version: task.version,
          input: { to: 'DONE', deviceCiId: laptops['LT-200'], notes: 'Imaged' },
        },
        tokens.fred,
      )
    ).body.data?.transitionRequestTask;
    expect(completed).toMatchObject({
      __typename: 'MutationTransitionRequestTaskSuccess',
      data: {
        state: 'DONE',
        deviceCiId: laptops['LT-200'],
        device: { name: 'LT-200' },
        request: { number, state: 'FULFILLED' },
      },
    });

    // The request is fulfilled, and the CMDB records the laptop as rita's, with history naming fred.
    const final = await t.gql(
      `query ($id: ID!) { request(id: $id) { state fulfilledAt tasks { state } } }`,
      { id: number },
      tokens.rita,
    );
    expect(final.body.data?.request).toMatchObject({ state: 'FULFILLED', tasks: [{ state: 'DONE' }] });
    const ci = await t.gql(
      `query ($id: ID!) { ci(id: $id) { attributes history(first: 1) { kind actor { name } changes { field after } } } }`,
      { id: laptops['LT-200'] },
      t.tokens.admin,
    );
    expect(ci.body.data?.ci.attributes).toMatchObject({
      assigned_to: users.rita,
      assigned_by_request: number,
    });
    expect(ci.body.data?.ci.history[0]).toMatchObject({
      kind: 'updated',
      actor: { name: 'token "fred\'s token"' },
    });

    const { results, error } = await done;
    expect(error).toBeUndefined();
    const states = results.map((r) => r.data?.requestChanged.request.state);
    expect(states.at(-1)).toBe('FULFILLED');
    expect(results.map((r) => r.data?.requestChanged.kind)).toEqual(
      expect.arrayContaining(['SUBMITTED', 'STATE_CHANGED', 'TASK_OPENED', 'DEVICE_ASSIGNED']),
    );

    // Closing is the requester's; closing twice is a transition error.
    const close = `mutation ($id: ID!) { transitionRequest(id: $id, input: { to: CLOSED }) {
      __typename ... on MutationTransitionRequestSuccess { data { state } } ... on Error { code field message } } }`;
    expect((await t.gql(close, { id: number }, tokens.rita)).body.data?.transitionRequest).toMatchObject({
      data: { state: 'CLOSED' },
    });
    expect((await t.gql(close, { id: number }, tokens.rita)).body.data?.transitionRequest).toMatchObject({
      __typename: 'ConflictError',
      field: 'to',
    });
  });

  it('hides other people’s requests from requesters', async () => {
    const list = await t.gql(`{ requests { edges { node { number } } } }`, undefined, tokens.olga);
    expect(list.body.data?.requests.edges).toEqual([]);
    const tasks = await t.gql(`{ tasks { edges { node { number } } } }`, undefined, tokens.olga);
    expect(tasks.body.errors?.[0]?.message).toMatch(/request:fulfil/);
  });

  it('costs a bounded few SQL queries for a page of requests with their people, item, tasks and approvals, 3 or 12', async () => {
    const admin = systemActor('test');
    const item = await t.og.requests.createItem(
      {
        name: 'Headset',
        approvalSteps: [{ kind: 'manager' }],
        tasks: [
          { title: 'Ship it', assignmentGroupId: desktop },
          { title: 'Log it', assignmentGroupId: desktop },
        ],
      },
      { actor: admin },
    );
    const rita = (await t.og.access.actorForUser({ id: users.rita! }))!;
    const mark = (await t.og.access.actorForUser({ id: users.mark! }))!;
    for (let i = 0; i < 12; i++) {
      const r = await t.og.requests.submit({ itemId: item.id }, { actor: rita });
      if (i % 2) await t.og.requests.approve(r.id, {}, { actor: mark });
    }
    const query = `query ($first: Int, $item: ID!) { requests(first: $first, filter: { itemId: $item }) { edges { node {
      number item { name } requestedFor { name manager { name } } requestedBy { name }
      tasks { number assignmentGroup { name } assignee { name } }
      approvals { state decisions { comment } } } } } }`;
    const measured = async (first: number) => {
      const requestId = crypto.randomUUID();
      const response = await fetch(t.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${t.tokens.admin}`,
          'x-request-id': requestId,
        },
        body: JSON.stringify({ query, variables: { first, item: item.id } }),
      });
      const body = (await response.json()) as { data?: any; errors?: any[] };
      expect(body.errors).toBeUndefined();
      expect(body.data.requests.edges).toHaveLength(first);
      return reports.find((r) => r.requestId === requestId)!.queries.map((q) => q.sql);
    };
    const three = await measured(3);
    const twelve = await measured(12);
    // One statement per list and per loader (the page, its items, people, managers, tasks, approvals,
    // groups), whatever the page size: a page of 12 with a query per row would run well over 12. (How
    // DataLoader ticks fall may merge two batches, so the two counts are bounded, not compared.)
    expect(three.length, three.join('\n')).toBeLessThanOrEqual(8);
    expect(twelve.length, twelve.join('\n')).toBeLessThanOrEqual(8);
  });

  it('retiring an item takes it out of the catalog; its requests keep their name', async () => {
    const item = (
      await t.gql(
        `{ catalogItems(filter: { search: "laptop" }) { edges { node { id version } } } }`,
        undefined,
        t.tokens.admin,
      )
    ).body.data?.catalogItems.edges[0].node;
    const update = `mutation ($id: ID!, $version: Int, $input: UpdateCatalogItemInput!) {
      updateCatalogItem(id: $id, version: $version, input: $input) {
        __typename ... on MutationUpdateCatalogItemSuccess { data { active version } } ... on Error { code field } } }`;
    const retired = (
      await t.gql(update, { id: item.id, version: item.version, input: { active: false } }, t.tokens.admin)
    ).body.data?.updateCatalogItem;
    expect(retired).toMatchObject({ data: { active: false, version: item.version + 1 } });
    const stale = (
      await t.gql(update, { id: item.id, version: item.version, input: { active: true } }, t.tokens.admin)
    ).body.data?.updateCatalogItem;
    expect(stale).toMatchObject({ __typename: 'ConflictError', field: 'version' });
    const mine = await t.gql(
      `{ catalogItems { edges { node { name } } } requests(filter: { itemId: "${item.id}" }) { edges { node { itemName item { name } } } } }`,
      undefined,
      tokens.rita,
    );
    expect(mine.body.errors).toBeUndefined();
    expect(mine.body.data?.catalogItems.edges.map((e: any) => e.node.name)).not.toContain('New laptop');
    expect(mine.body.data?.requests.edges).toEqual([{ node: { itemName: 'New laptop', item: null } }]);
  });
});
