// The event webhooks against the real server over HTTP, on both backends: the payloads as Alertmanager
// and PagerDuty send them, OpsGraph's own JSON, and every refusal (what status, which field, nothing
// stored).

import { Writable } from 'node:stream';
import { createLogger, MAX_PAGE_SIZE, systemActor } from '@opsgraph/core';
import {
  alertmanagerFiring,
  alertmanagerResolved,
  createTestOpsGraph,
  pagerDutyTrigger,
  type TestOpsGraph,
  testBackends,
} from '@opsgraph/core/testing';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtAuth } from './jwt.js';
import { expectServing, startTestServer, type TestServer } from './test-support.js';
import { DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE } from './webhooks.js';

const admin = systemActor('test');

interface HookResponse {
  status: number;
  headers: Headers;
  body: any;
}

describe.each(testBackends())('webhooks on %s', (backend) => {
  const lines: string[] = [];
  let og: TestOpsGraph;
  let t: TestServer;
  /** Secrets of tokens holding event:write (and read), and event:read only. */
  let hooks: string;
  let readOnly: string;
  let web: string;

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    og = await createTestOpsGraph({ backend, logger: createLogger({ level: 'debug' }, stream) });
    t = await startTestServer({ og });
    const token = async (name: string, permissions: string[]) =>
      (await og.access.createToken({ name, permissions }, { actor: admin })).secret;
    hooks = await token('alertmanager', ['event:write', 'event:read']);
    readOnly = await token('viewer', ['event:read']);
    web = (
      await og.cmdb.create(
        { class: 'linux_server', name: 'web-01', attributes: { hostname: 'web-01' } },
        { actor: admin },
      )
    ).id;
  });
  afterAll(async () => {
    await t?.close();
    await og?.close();
  });

  /** POSTs (or `method`s) `body` to `path`: JSON unless a string, Bearer `token` when given. */
  const hook = async (
    path: string,
    body: unknown,
    options: { token?: string; headers?: Record<string, string>; method?: string; server?: TestServer } = {},
  ): Promise<HookResponse> => {
    const response = await fetch(`${(options.server ?? t).origin}${path}`, {
      method: options.method ?? 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  /** Everything stored: alerts and the activity stream's head. */
  const stored = async () => ({
    alerts: (await og.events.alerts({}, { first: MAX_PAGE_SIZE })).edges.length,
    seq: await og.activity.latestSeq(),
  });

  it('Alertmanager: a firing group opens one alert per alert, the resolved group closes them', async () => {
    const firing = await hook('/webhooks/alertmanager', alertmanagerFiring(), { token: hooks });
    expect(firing.status).toBe(202);
    expect(firing.headers.get('content-type')).toBe('application/json');
    expect(firing.body).toEqual({
      accepted: 2,
      dedupKeys: ['alertmanager:1a30ba71cca2921f', 'alertmanager:c6eadffa33fcdf37'],
      results: [
        {
          dedupKey: 'alertmanager:1a30ba71cca2921f',
          alertId: expect.any(String),
          outcome: 'opened',
          ignoredBy: null,
        },
        {
          dedupKey: 'alertmanager:c6eadffa33fcdf37',
          alertId: expect.any(String),
          outcome: 'opened',
          ignoredBy: null,
        },
      ],
    });
    const ids = firing.body.results.map((r: { alertId: string }) => r.alertId);
    const open = await og.events.alerts({ source: 'alertmanager', status: ['open'] });
    expect(open.edges.map((e) => e.node.id).sort()).toEqual([...ids].sort());
    expect(await og.events.alert(ids[0])).toMatchObject({
      status: 'open',
      severity: 'critical',
      node: 'web-01',
      type: 'NodeFilesystemAlmostFull',
      ciId: web,
    });
    expect(await og.events.alert(ids[1])).toMatchObject({ status: 'open', severity: 'warning' });

    // Alertmanager repeats a group every repeat_interval: the same alerts, counted.
    const again = await hook('/webhooks/alertmanager', alertmanagerFiring(), { token: hooks });
    expect(again.body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['repeated', 'repeated']);

    const resolved = await hook('/webhooks/alertmanager', alertmanagerResolved(), { token: hooks });
    expect(resolved.status).toBe(202);
    expect(resolved.body.results).toEqual(
      ids.map((id: string) => expect.objectContaining({ alertId: id, outcome: 'closed' })),
    );
    for (const id of ids) {
      expect(await og.events.alert(id)).toMatchObject({ status: 'closed', closeReason: 'cleared', count: 2 });
    }
    expect((await og.events.alerts({ source: 'alertmanager', status: ['open'] })).edges).toEqual([]);
    expect(lines.join('')).toMatch(
      /"source":"alertmanager".*"accepted":2,"closed":2.*"msg":"webhook delivery accepted"/,
    );
  });

  it('PagerDuty: trigger, acknowledge, resolve with one dedup_key, the routing key as the token', async () => {
    const key = `pd-${backend}/disk`;
    const send = (body: object) => hook('/webhooks/pagerduty', { ...body, routing_key: hooks });
    const trigger = await send(pagerDutyTrigger(key));
    expect(trigger.status).toBe(202);
    // PagerDuty's own answer is there too, for senders that read the dedup key back.
    expect(trigger.body).toMatchObject({
      accepted: 1,
      dedupKeys: [key],
      results: [{ dedupKey: key, outcome: 'opened' }],
      status: 'success',
      message: 'Event processed',
      dedup_key: key,
    });
    const id = trigger.body.results[0].alertId;
    expect(await og.events.alert(id)).toMatchObject({
      status: 'open',
      severity: 'critical',
      source: 'pagerduty',
    });

    const ack = await send({ event_action: 'acknowledge', dedup_key: key });
    expect(ack.body.results).toEqual([
      { dedupKey: key, alertId: id, outcome: 'acknowledged', ignoredBy: null },
    ]);
    const acknowledged = await og.events.alert(id);
    expect(acknowledged).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: { kind: 'token', name: 'token "alertmanager"' },
    });

    const resolve = await send({ event_action: 'resolve', dedup_key: key });
    expect(resolve.body.results).toEqual([
      { dedupKey: key, alertId: id, outcome: 'closed', ignoredBy: null },
    ]);
    expect(await og.events.alert(id)).toMatchObject({ status: 'closed', closeReason: 'cleared' });
    expect((await og.events.alerts({ dedupKey: key })).edges).toHaveLength(1);

    // With an Authorization header, the body's routing key is PagerDuty's own and is not read.
    const viaHeader = await hook('/webhooks/pagerduty', pagerDutyTrigger(`${key}-2`), { token: hooks });
    expect(viaHeader.status).toBe(202);
    // Neither the routing key nor any token is ever written to the log.
    const log = lines.join('');
    expect(log).not.toContain(hooks.slice(3));
    expect(log).not.toContain(pagerDutyTrigger().routing_key);
  });

  it('generic events: one, or an array (deduplicated within it)', async () => {
    const one = await hook(
      '/webhooks/events',
      { source: 'nagios', node: 'WEB-01', type: 'ping', severity: 'major', message: 'no answer' },
      { token: hooks },
    );
    expect(one.status).toBe(202);
    expect(one.body).toEqual({
      accepted: 1,
      dedupKeys: ['nagios|web-01|ping|'],
      results: [
        { dedupKey: 'nagios|web-01|ping|', alertId: expect.any(String), outcome: 'opened', ignoredBy: null },
      ],
    });
    expect(await og.events.alert(one.body.results[0].alertId)).toMatchObject({
      ciId: web,
      severity: 'major',
    });

    const event = { source: 'zabbix', node: 'db-02', type: 'disk', dedupKey: `gen-${backend}` };
    const many = await hook(
      '/webhooks/events',
      [
        { ...event, severity: 'minor' },
        { ...event, severity: 'major' },
        { ...event, severity: 'clear' },
      ],
      { token: hooks },
    );
    expect(many.status).toBe(202);
    expect(many.body.accepted).toBe(3);
    expect(many.body.results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'opened',
      'repeated',
      'closed',
    ]);
    expect(await hook('/webhooks/events', [], { token: hooks })).toMatchObject({
      status: 202,
      body: { accepted: 0, dedupKeys: [], results: [] },
    });
  });

  it('refuses a malformed body with 400 naming the field, storing nothing', async () => {
    const before = await stored();
    const badGroup = alertmanagerFiring() as Record<string, any>;
    badGroup.alerts[0].labels = 'severity=critical';
    const cases: [string, unknown, string][] = [
      ['/webhooks/alertmanager', badGroup, 'alerts.0.labels'],
      ['/webhooks/alertmanager', { ...alertmanagerFiring(), version: '3' }, 'version'],
      ['/webhooks/pagerduty', { ...pagerDutyTrigger(), payload: undefined }, 'payload'],
      ['/webhooks/pagerduty', { ...pagerDutyTrigger(), event_action: 'escalate' }, 'event_action'],
      // The good first event is not stored either: one transaction, all or nothing.
      [
        '/webhooks/events',
        [
          { source: 's', node: 'n', type: 't', severity: 'major' },
          { source: 's', node: 'n', type: 't', severity: 'bad' },
        ],
        '1.severity',
      ],
      [
        '/webhooks/events',
        { source: 's', node: 'n', type: 't', severity: 'info', ciId: crypto.randomUUID() },
        'ciId',
      ],
      ['/webhooks/events', 'null', ''],
    ];
    for (const [path, body, field] of cases) {
      const response = await hook(path, body, { token: hooks });
      expect(response.status, `${path} ${field}`).toBe(400);
      expect(response.body).toMatchObject({
        code: 'VALIDATION',
        field,
        message: expect.stringMatching(/^Invalid input: /),
        issues: expect.arrayContaining([expect.objectContaining({ path: field })]),
      });
    }
    const notJson = await hook('/webhooks/events', '{"source": ', { token: hooks });
    expect(notJson).toMatchObject({
      status: 400,
      body: { code: 'BAD_REQUEST', message: 'The request body is not valid JSON.' },
    });
    expect(await stored()).toEqual(before);
    expect(lines.join('')).toMatch(
      /"level":40.*"source":"alertmanager".*"field":"alerts\.0\.labels".*"msg":"webhook body refused"/,
    );
  });

  it('401 without credentials or with wrong ones, 403 without event:write; nothing stored', async () => {
    const before = await stored();
    const anonymous = await hook('/webhooks/alertmanager', alertmanagerFiring());
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({
      code: 'UNAUTHENTICATED',
      message:
        'Authentication required: send an API token holding event:write as Authorization: Bearer <token>.',
    });
    const noKey = await hook('/webhooks/pagerduty', { ...pagerDutyTrigger(), routing_key: undefined });
    expect(noKey.body.message).toMatch(/or as the body's routing_key/);
    // A PagerDuty integration key is not an OpsGraph token.
    for (const [path, body, token] of [
      ['/webhooks/pagerduty', pagerDutyTrigger(), undefined],
      ['/webhooks/pagerduty', { ...pagerDutyTrigger(), routing_key: 'two words' }, undefined],
      ['/webhooks/events', { source: 's', node: 'n', type: 't', severity: 'info' }, 'og_not-a-real-token'],
    ] as const) {
      const wrong = await hook(path, body, token ? { token } : {});
      expect(wrong.status, path).toBe(401);
      expect(wrong.body).toMatchObject({
        code: 'UNAUTHENTICATED',
        message: expect.stringMatching(/not a valid|not valid/),
      });
    }
    for (const send of [
      () => hook('/webhooks/alertmanager', alertmanagerFiring(), { token: readOnly }),
      () => hook('/webhooks/pagerduty', { ...pagerDutyTrigger(), routing_key: readOnly }),
    ]) {
      const forbidden = await send();
      expect(forbidden.status).toBe(403);
      expect(forbidden.body).toEqual({
        code: 'FORBIDDEN',
        message: 'token "viewer" lacks the permission event:write, which webhooks need.',
        permission: 'event:write',
      });
    }
    expect(await stored()).toEqual(before);
  });

  it('anonymous callers get in only when anonymousPermissions gives them event:write', async () => {
    const open = await startTestServer({ og, anonymousPermissions: ['event:write'] });
    try {
      const event = { source: 'lab', node: 'n', type: 'anon', severity: 'info', dedupKey: `anon-${backend}` };
      expect((await hook('/webhooks/events', event, { server: open })).status).toBe(202);
    } finally {
      await open.close();
    }
  });

  it('405 with Allow: POST for other methods, 404 for an unknown webhook', async () => {
    for (const method of ['GET', 'PUT', 'OPTIONS']) {
      const response = await hook('/webhooks/alertmanager', undefined, { method, token: hooks });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(response.body).toEqual({
        code: 'METHOD_NOT_ALLOWED',
        message: `${method} is not accepted here: POST the JSON body.`,
      });
    }
    const unknown = await hook('/webhooks/nagios', {}, { token: hooks });
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(unknown.body.message).toContain('/webhooks/alertmanager, /webhooks/pagerduty, /webhooks/events');
  });

  it('415 for a body that is not declared JSON', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await hook('/webhooks/events', '{}', {
        token: hooks,
        headers: { 'content-type': type },
      });
      expect(response.status, type).toBe(415);
      expect(response.body).toEqual({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `Unsupported request: Content-Type ${type}. Send the body as JSON (Content-Type: application/json).`,
      });
    }
    const charset = await hook('/webhooks/events', [], {
      token: hooks,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(charset.status).toBe(202);
  });

  it('413 over the body limit, by Content-Length or as a chunked body arrives; the server keeps serving', async () => {
    const before = await stored();
    const big = alertmanagerFiring();
    big.commonAnnotations = { padding: 'x'.repeat(2 * 1024 * 1024) } as never;
    const response = await hook('/webhooks/alertmanager', big, { token: hooks });
    expect(response.status).toBe(413);
    expect(response.body).toEqual({
      code: 'REQUEST_ENTITY_TOO_LARGE',
      message: expect.stringMatching(/^The request body is larger than 1 MB \(the server's limit\)/),
      max: 1024 * 1024,
    });

    const small = await startTestServer({ og, webhooks: { maxBodySize: 64 * 1024 } });
    try {
      const chunk = new TextEncoder().encode(`[${'{"a":1},'.repeat(1000)}`);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 20) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const streamed = await fetch(`${small.origin}/webhooks/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${hooks}` },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(streamed.status).toBe(413);
      expect(await streamed.json()).toMatchObject({ code: 'REQUEST_ENTITY_TOO_LARGE', max: 64 * 1024 });
      await expectServing(small);
    } finally {
      await small.close();
    }
    // Starting `small` created its test tokens (activity): count the alerts only.
    expect((await stored()).alerts).toBe(before.alerts);
    await expectServing(t);
  });

  it('429 with Retry-After over the per-actor budget; its own budget; `webhooks: false` turns them off', async () => {
    expect(DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE).toBe(1200);
    expect(t.server.webhookLimiter).toMatchObject({ points: 1200, durationSeconds: 60 });
    await expect(startTestServer({ og, webhooks: { requestsPerMinute: 0 } })).rejects.toThrow(
      'webhooks.requestsPerMinute must be a positive integer or false, got 0',
    );
    const limited = await startTestServer({ og, webhooks: { requestsPerMinute: 2 } });
    const off = await startTestServer({ og, webhooks: false });
    try {
      const event = { source: 'rl', node: 'n', type: 't', severity: 'info', dedupKey: `rl-${backend}` };
      for (let i = 0; i < 2; i++) {
        expect((await hook('/webhooks/events', event, { token: hooks, server: limited })).status).toBe(202);
      }
      const refused = await hook('/webhooks/events', event, { token: hooks, server: limited });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(refused.body).toEqual({
        code: 'RATE_LIMITED',
        message: expect.stringMatching(
          /^Too many webhook deliveries: token "alertmanager" may make 2 a minute\. Try again in \d+ s\.$/,
        ),
        retryAfter: Number(refused.headers.get('retry-after')),
        limit: 2,
      });
      // The routing key is the same actor, so the same budget; GraphQL mutations have their own.
      expect(
        (
          await hook(
            '/webhooks/pagerduty',
            { ...pagerDutyTrigger(), routing_key: hooks },
            { server: limited },
          )
        ).status,
      ).toBe(429);
      const other = await og.access.createToken(
        { name: 'other', permissions: ['event:write'] },
        { actor: admin },
      );
      expect((await hook('/webhooks/events', event, { token: other.secret, server: limited })).status).toBe(
        202,
      );

      expect(off.server.webhookLimiter).toBeUndefined();
      expect((await hook('/webhooks/events', event, { token: hooks, server: off })).status).toBe(404);
    } finally {
      await off.close();
      await limited.close();
    }
  });
});

describe('webhooks with jwtAuth', () => {
  const secret = 'a-test-secret-of-at-least-32-bytes!!';
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ authenticate: jwtAuth({ secret }) });
    const user = await t.og.access.createUser(
      { externalId: 'idp|ops', email: 'ops@example.test', name: 'Ops' },
      { actor: admin },
    );
    await t.og.access.grant({ role: 'operator', userId: user.id }, { actor: admin });
  });
  afterAll(() => t?.close());

  it('takes a JWT in the header, and an API token as the routing key, as /graphql does', async () => {
    const jwt = await new SignJWT({ sub: 'idp|ops' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(secret));
    const event = { source: 'jwt', node: 'n', type: 't', severity: 'info' };
    const viaJwt = await fetch(`${t.origin}/webhooks/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` },
      body: JSON.stringify(event),
    });
    expect(viaJwt.status).toBe(202);
    const [alert] = (await t.og.events.alerts({ source: 'jwt' })).edges;
    expect(alert?.node.lastSeen).toBeInstanceOf(Date);
    const { secret: token } = await t.og.access.createToken(
      { name: 'pd', permissions: ['event:write'] },
      { actor: admin },
    );
    const viaKey = await fetch(`${t.origin}/webhooks/pagerduty`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...pagerDutyTrigger('jwt-pd'), routing_key: token }),
    });
    expect(viaKey.status).toBe(202);
  });
});
