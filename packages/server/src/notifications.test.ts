import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ManualClock,
  systemActor,
  verifyWebhookSignature,
  WEBHOOK_DELIVERY_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  webhookNotifier,
} from '@opsgraph/core';
import { createTestOpsGraph } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const SECRET = 'server-test-webhook-secret';

const DECLARE = `mutation ($id: ID!, $version: Int, $reason: String!) {
  declareMajorIncident(id: $id, version: $version, reason: $reason) {
    __typename
    ... on MutationDeclareMajorIncidentSuccess {
      data { id major version majorDeclaration { reason declaredBy { name } clearedAt } }
    }
    ... on Error { code field message }
  }
}`;
const SUBSCRIBE = `mutation ($serviceId: ID!, $userId: ID) {
  subscribeToService(serviceId: $serviceId, userId: $userId) {
    __typename
    ... on MutationSubscribeToServiceSuccess { data { serviceName userName service { name } } }
    ... on Error { code field message }
  }
}`;
const WATCH = `mutation ($id: ID!, $userId: ID) {
  watchIncident(id: $id, userId: $userId) {
    __typename
    ... on MutationWatchIncidentSuccess { data { watchers { userName } } }
    ... on Error { code field message }
  }
}`;
const INCIDENTS = `query {
  incidents(filter: { major: true }, first: 50) {
    edges { node {
      number
      majorDeclaration { reason }
      watchers { userName addedBy { name } }
      notifications { kind channel status attempts recipientId }
    } }
  }
}`;
const NOTIFICATIONS = `query ($filter: NotificationFilter) {
  notifications(filter: $filter, first: 100) {
    edges { node { kind status attempts lastError recipientId subject incident { number } } }
  }
}`;

describe('major incidents and notifications over GraphQL', () => {
  let t: TestServer;
  let receiver: Server;
  const hooks: { id: string; valid: boolean; status: number; body: any }[] = [];
  const failing = { on: false };
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const users: Record<string, string> = {};
  const queries: number[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const valid = verifyWebhookSignature({
          secret: SECRET,
          body,
          timestamp: req.headers[WEBHOOK_TIMESTAMP_HEADER] as string,
          signature: req.headers[WEBHOOK_SIGNATURE_HEADER] as string,
        });
        const status = failing.on ? 500 : valid ? 200 : 401;
        hooks.push({
          id: req.headers[WEBHOOK_DELIVERY_HEADER] as string,
          valid,
          status,
          body: JSON.parse(body),
        });
        res.writeHead(status).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const og = await createTestOpsGraph({
      clock,
      notifiers: [webhookNotifier({ url: `http://127.0.0.1:${port}/notify`, secret: SECRET })],
    });
    t = await startTestServer({
      og,
      scheduler: { every: { notifications: 20 } },
      onOperationQueries: (report) => queries.push(report.queries.length),
    });
    const actor = systemActor('test');
    for (const [name, cls] of [
      ['db-01', 'linux_server'],
      ['shop', 'business_service'],
    ] as const)
      ids[name] = (await og.cmdb.create({ class: cls, name }, { actor })).id;
    await og.cmdb.relate({ type: 'depends_on', sourceId: ids.shop!, targetId: ids['db-01']! }, { actor });
    for (const [name, role] of [
      ['manager', 'operator'],
      ['bob', 'requester'],
      ['vera', 'viewer'],
    ] as const) {
      const id = (await og.access.createUser({ email: `${name}@example.com`, name }, { actor })).id;
      await og.access.grant({ role, userId: id }, { actor });
      users[name] = id;
      const self = (await og.access.actorForUser({ id }))!;
      const permissions = role === 'operator' ? ['incident:*', 'cmdb:read'] : ['incident:read'];
      // Requesters and viewers may not make tokens themselves: let the test make theirs, owned by them.
      const maker = { ...self, permissions: [...self.permissions, 'access:tokens'] };
      tokens[name] = (await og.access.createToken({ name, permissions }, { actor: maker })).secret;
    }
  });
  afterAll(async () => {
    await t?.close();
    await t?.og.close();
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  });

  const open = async (shortDescription: string) =>
    t.og.incidents.create({ shortDescription, ciId: ids['db-01'] }, { actor: systemActor('test') });

  it('declares a major incident over HTTP and tells the subscribers and watchers, each once', async () => {
    const sub = (await t.gql(SUBSCRIBE, { serviceId: ids.shop }, tokens.bob)).body.data?.subscribeToService;
    expect(sub).toMatchObject({
      __typename: 'MutationSubscribeToServiceSuccess',
      data: { serviceName: 'shop' },
    });
    // A subscriber without incident:major subscribes only itself.
    const other = (await t.gql(SUBSCRIBE, { serviceId: ids.shop, userId: users.vera }, tokens.bob)).body.data
      ?.subscribeToService;
    expect(other).toMatchObject({ __typename: 'ForbiddenError', field: 'userId' });
    // Not a business service.
    const wrong = (await t.gql(SUBSCRIBE, { serviceId: ids['db-01'] }, tokens.bob)).body.data
      ?.subscribeToService;
    expect(wrong).toMatchObject({ __typename: 'ValidationError', field: 'serviceId' });

    const incident = await open('Checkout down');
    const watched = (await t.gql(WATCH, { id: incident.id }, tokens.vera)).body.data?.watchIncident;
    expect(watched.data.watchers).toEqual([{ userName: 'vera' }]);
    await t.gql(WATCH, { id: incident.id }, tokens.bob);

    // Without incident:major the mutation is refused before it runs.
    const refused = await t.gql(DECLARE, { id: incident.id, reason: 'x' }, tokens.bob);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const stale = (await t.gql(DECLARE, { id: incident.id, version: 99, reason: 'x' }, tokens.manager)).body
      .data?.declareMajorIncident;
    expect(stale.__typename).toBe('ConflictError');

    const declared = (
      await t.gql(
        DECLARE,
        { id: incident.id, version: incident.version, reason: 'Nobody can pay' },
        tokens.manager,
      )
    ).body.data?.declareMajorIncident;
    expect(declared).toMatchObject({
      __typename: 'MutationDeclareMajorIncidentSuccess',
      data: {
        major: true,
        majorDeclaration: {
          reason: 'Nobody can pay',
          declaredBy: { name: 'token "manager"' },
          clearedAt: null,
        },
      },
    });
    await t.og.notifications.settled();
    const told = hooks.filter((h) => h.body.incident.id === incident.id);
    expect(told.map((h) => h.body.recipient.name).sort()).toEqual(['bob', 'vera']);
    expect(told.every((h) => h.valid && h.status === 200)).toBe(true);

    // Bob sees his own notifications only; the manager sees everyone's.
    const mine = (await t.gql(NOTIFICATIONS, {}, tokens.bob)).body.data?.notifications.edges;
    expect(mine.map((e: any) => e.node.recipientId)).toEqual([users.bob]);
    expect(mine[0].node).toMatchObject({ kind: 'MAJOR_DECLARED', status: 'SENT', attempts: 1 });
    const forbidden = (await t.gql(NOTIFICATIONS, { filter: { recipientId: users.vera } }, tokens.bob)).body;
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('loads majorDeclaration, watchers and notifications of a page of incidents in a constant number of queries', async () => {
    const count = async () => {
      queries.length = 0;
      const res = await t.gql(INCIDENTS, {}, tokens.manager);
      expect(res.body.errors).toBeUndefined();
      return { n: queries.at(-1)!, edges: res.body.data?.incidents.edges };
    };
    const one = await count();
    for (const name of ['Search down', 'Login loops', 'Reports slow']) {
      const incident = await open(name);
      await t.og.notifications.watch(incident.id, { userId: users.vera }, { actor: systemActor('test') });
      await t.og.incidents.declareMajor(incident.id, { reason: name }, { actor: systemActor('test') });
    }
    await t.og.notifications.settled();
    const four = await count();
    expect(four.edges).toHaveLength(one.edges.length + 3);
    const reports = four.edges.find((e: any) => e.node.majorDeclaration?.reason === 'Reports slow');
    expect(reports.node).toMatchObject({
      majorDeclaration: { reason: 'Reports slow' },
      watchers: [{ userName: 'vera', addedBy: { name: 'test' } }],
    });
    expect(reports.node.notifications.map((n: any) => n.status).sort()).toEqual(['SENT', 'SENT']);
    expect(four.n).toBe(one.n);
  });

  it('retries a failed delivery from the server’s sweep and delivers it once', async () => {
    failing.on = true;
    const incident = await open('Payments slow');
    await t.og.incidents.declareMajor(
      incident.id,
      { reason: 'Card payments fail' },
      { actor: systemActor('test') },
    );
    await t.og.notifications.settled();
    const failed = (await t.gql(NOTIFICATIONS, { filter: { incidentId: incident.id } }, tokens.manager)).body
      .data?.notifications.edges;
    expect(failed.map((e: any) => [e.node.status, e.node.attempts])).toEqual([['FAILED', 1]]);
    expect(failed[0].node.lastError).toMatch(/500/);
    failing.on = false;
    clock.advance(61_000);
    await vi.waitFor(
      async () => {
        const edges = (await t.gql(NOTIFICATIONS, { filter: { incidentId: incident.id } }, tokens.manager))
          .body.data?.notifications.edges;
        expect(edges.map((e: any) => [e.node.status, e.node.attempts])).toEqual([['SENT', 2]]);
      },
      { timeout: 5000, interval: 50 },
    );
    await t.og.notifications.settled();
    const delivered = hooks.filter((h) => h.body.incident.id === incident.id && h.status === 200);
    expect(delivered).toHaveLength(1);
  });
});
