import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident } from '../incidents/model.js';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, TransitionError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { Notification } from './model.js';
import {
  smtpNotifier,
  verifyWebhookSignature,
  WEBHOOK_DELIVERY_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  webhookNotifier,
} from './notifiers.js';

const admin = systemActor('test');
const SECRET = 'webhook-secret-for-tests';

interface Mail {
  readonly to: string[];
  readonly user: string | undefined;
  readonly raw: string;
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives (plain, with AUTH). */
async function startSmtp(): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'notifier' && auth.password === 's3cret') callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
    logger: false,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Hook {
  readonly id: string;
  readonly status: number;
  readonly validSignature: boolean;
  readonly body: Record<string, any>;
}

/** A real HTTP receiver on 127.0.0.1 that checks signatures and can be told to fail. */
async function startReceiver(): Promise<{
  url: string;
  hooks: Hook[];
  failing: { on: boolean };
  close(): Promise<void>;
}> {
  const hooks: Hook[] = [];
  const failing = { on: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const validSignature = verifyWebhookSignature({
        secret: SECRET,
        body,
        timestamp: req.headers[WEBHOOK_TIMESTAMP_HEADER] as string,
        signature: req.headers[WEBHOOK_SIGNATURE_HEADER] as string,
      });
      const status = failing.on ? 503 : validSignature ? 204 : 401;
      hooks.push({
        id: req.headers[WEBHOOK_DELIVERY_HEADER] as string,
        status,
        validSignature,
        body: JSON.parse(body),
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/opsgraph`,
    hooks,
    failing,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe.each(testBackends())('major incidents and outage notifications on %s', (backend) => {
  let og: TestOpsGraph;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const ci: Record<string, string> = {};
  const users: Record<string, string> = {};
  const actors: Record<string, Actor> = {};

  beforeAll(async () => {
    smtp = await startSmtp();
    receiver = await startReceiver();
    og = await createTestOpsGraph({
      backend,
      clock,
      notifiers: [
        smtpNotifier({
          host: '127.0.0.1',
          port: smtp.port,
          secure: false,
          auth: { user: 'notifier', pass: 's3cret' },
          from: '"IT Operations" <itops@example.com>',
          timeoutMs: 5000,
        }),
        webhookNotifier({ url: receiver.url, secret: SECRET, timeoutMs: 5000 }),
      ],
      notifications: { maxAttempts: 3, retryBaseMs: 60_000 },
    });
    const make = async (name: string, cls: string) => {
      ci[name] = (await og.cmdb.create({ class: cls, name }, { actor: admin })).id;
    };
    await make('db-01', 'linux_server');
    await make('billing', 'application');
    await make('shop', 'business_service');
    await make('payroll', 'business_service');
    await make('lab-01', 'linux_server');
    await og.cmdb.relate(
      { type: 'runs_on', sourceId: ci.billing!, targetId: ci['db-01']! },
      { actor: admin },
    );
    await og.cmdb.relate({ type: 'depends_on', sourceId: ci.shop!, targetId: ci.billing! }, { actor: admin });
    const user = async (name: string, role?: string, scope?: { ciId: string; mode: 'contains' }) => {
      const id = (await og.access.createUser({ email: `${name}@example.com`, name }, { actor: admin })).id;
      if (role) await og.access.grant({ role, userId: id, ...(scope ? { scope } : {}) }, { actor: admin });
      users[name] = id;
      const actor = await og.access.actorForUser({ id });
      if (actor) actors[name] = actor;
      return id;
    };
    await user('manager', 'operator');
    await user('alice', 'viewer'); // subscribes to shop and watches: told once
    await user('bob', 'requester'); // subscribes to shop
    await user('frank', 'agent'); // watches only
    await user('carol'); // subscribes to shop, may read no incident
    await user('dave', 'viewer', { ciId: ci['lab-01']!, mode: 'contains' }); // reads lab-01's incidents only
    await user('erin', 'viewer'); // subscribes to payroll only
    await user('gone', 'viewer'); // subscribes to shop, then deactivated
    for (const name of ['alice', 'bob', 'dave', 'erin', 'gone'])
      await og.notifications.subscribe(
        name === 'erin' ? ci.payroll! : ci.shop!,
        {},
        { actor: actors[name]! },
      );
    await og.notifications.subscribe(ci.shop!, { userId: users.carol }, { actor: actors.manager! });
    await og.access.updateUser(users.gone!, { active: false, version: 1 }, { actor: admin });
  });
  afterAll(async () => {
    await og?.close();
    await smtp?.close();
    await receiver?.close();
  });

  const open = (name = 'Checkout fails') =>
    og.incidents.create(
      { shortDescription: name, ciId: ci['db-01'], impact: 1, urgency: 1 },
      { actor: actors.manager! },
    );
  const mailsOf = (incident: Incident) => smtp.mails.filter((m) => m.raw.includes(incident.number));
  const hooksOf = (incident: Incident) => receiver.hooks.filter((h) => h.body.incident.id === incident.id);
  const recordsOf = async (incident: Incident): Promise<Notification[]> =>
    (await og.notifications.notifications({ incidentId: incident.id }, { first: 500 })).edges.map(
      (e) => e.node,
    );

  it('tells the subscribers of the affected services and the watchers once each, and no one who may not read it', async () => {
    const incident = await open();
    await og.notifications.watch(incident.id, {}, { actor: actors.alice! });
    await og.notifications.watch(incident.id, { userId: users.frank }, { actor: actors.manager! });
    expect((await og.notifications.watchers(incident.id)).map((w) => w.userName).sort()).toEqual([
      'alice',
      'frank',
    ]);
    const declared = await og.incidents.declareMajor(
      incident.id,
      { reason: 'Nobody can pay' },
      { actor: actors.manager!, version: incident.version },
    );
    expect(declared).toMatchObject({ major: true, version: incident.version + 1 });
    await og.notifications.settled();

    const told = ['alice@example.com', 'bob@example.com', 'frank@example.com'];
    const mails = mailsOf(incident);
    expect(mails.flatMap((m) => m.to).sort()).toEqual(told);
    expect(mails.every((m) => m.user === 'notifier')).toBe(true);
    expect(mails[0]!.raw).toMatch(
      new RegExp(`Subject: \\[Major incident\\] ${incident.number}: Checkout fails`),
    );
    expect(mails[0]!.raw).toContain('Affected services: shop.');
    expect(mails[0]!.raw).toContain('Why: Nobody can pay');

    const hooks = hooksOf(incident);
    expect(hooks.map((h) => h.body.recipient.email).sort()).toEqual(told);
    expect(hooks.every((h) => h.validSignature && h.status === 204)).toBe(true);
    expect(hooks[0]!.body).toMatchObject({
      kind: 'major_declared',
      incident: { number: incident.number, major: true, priority: 1 },
      services: [{ id: ci.shop, name: 'shop' }],
      message: 'Nobody can pay',
    });

    const records = await recordsOf(incident);
    expect(records).toHaveLength(6);
    expect(records.every((n) => n.status === 'sent' && n.attempts === 1 && n.kind === 'major_declared')).toBe(
      true,
    );
    expect(records.every((n) => n.sentAt?.getTime() === clock.now().getTime())).toBe(true);
    expect(new Set(records.map((n) => `${n.recipientId}/${n.channel}`)).size).toBe(6);

    const [declaration] = (await og.notifications.majorDeclarationsOfIncidents([incident.id])).values();
    expect(declaration).toMatchObject({
      reason: 'Nobody can pay',
      declaredBy: { id: users.manager, kind: 'user' },
      clearedAt: null,
    });
    const events = await og.activity.list({ types: ['incident.major_declared'], limit: 1000 });
    expect(events.find((e) => e.subject?.id === incident.id)?.payload).toMatchObject({ notified: 3 });
  });

  it('tells them again when it is resolved, updated and closed; refuses what does not fit', async () => {
    const incident = await open('Payments slow');
    await og.notifications.watch(incident.id, {}, { actor: actors.frank! });
    // Only incident:major declares: a viewer cannot, an agent (incident:*) can.
    await expect(
      og.incidents.declareMajor(incident.id, { reason: 'x' }, { actor: actors.alice! }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      og.incidents.declareMajor(incident.id, { reason: ' ' }, { actor: actors.frank! }),
    ).rejects.toMatchObject({ field: 'reason' });
    await expect(
      og.incidents.postMajorUpdate(incident.id, { message: 'x' }, { actor: actors.frank! }),
    ).rejects.toBeInstanceOf(ConflictError);
    const major = await og.incidents.declareMajor(
      incident.id,
      { reason: 'Card payments fail' },
      {
        actor: actors.frank!,
      },
    );
    await expect(
      og.incidents.declareMajor(incident.id, { reason: 'again' }, { actor: actors.frank! }),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(
      og.incidents.clearMajor(incident.id, { reason: 'x' }, { actor: actors.frank!, version: 1 }),
    ).rejects.toBeInstanceOf(ConflictError);
    await og.incidents.postMajorUpdate(
      incident.id,
      { message: 'Failover in progress' },
      {
        actor: actors.frank!,
      },
    );
    const resolved = await og.incidents.transition(
      incident.id,
      { to: 'resolved', resolutionCode: 'solved_workaround', resolutionNotes: 'Failed over to the spare.' },
      { actor: actors.frank!, version: major.version },
    );
    await og.incidents.transition(
      incident.id,
      { to: 'closed' },
      { actor: actors.frank!, version: resolved.version },
    );
    await og.notifications.settled();
    const emails = (await recordsOf(incident)).filter((n) => n.channel === 'email');
    // alice, bob and frank each hear of each step once.
    for (const kind of ['major_declared', 'major_update', 'major_resolved', 'major_closed'])
      expect(
        emails
          .filter((n) => n.kind === kind)
          .map((n) => n.recipientId)
          .sort(),
        kind,
      ).toEqual([users.alice, users.bob, users.frank].sort());
    expect(emails).toHaveLength(12);
    const resolvedMail = mailsOf(incident).find((m) => m.raw.includes('[Resolved]'));
    expect(resolvedMail?.raw).toContain('Resolution: Failed over to the spare.');
    expect((await og.incidents.notesOf(incident.id, { actor: actors.bob! })).map((n) => n.body)).toEqual([
      'Failover in progress',
    ]);
    // A closed incident cannot become major again.
    await expect(
      og.incidents.declareMajor(incident.id, { reason: 'late' }, { actor: actors.frank! }),
    ).rejects.toBeInstanceOf(TransitionError);
  });

  it('clears the major status with who, when and why, and tells who was told', async () => {
    const incident = await open('Shop banner wrong');
    await og.incidents.declareMajor(
      incident.id,
      { reason: 'Looks like an outage' },
      { actor: actors.manager! },
    );
    clock.advance(10 * 60_000);
    const cleared = await og.incidents.clearMajor(
      incident.id,
      { reason: 'Cosmetic only' },
      { actor: actors.manager! },
    );
    expect(cleared.major).toBe(false);
    await og.notifications.settled();
    const history = await og.notifications.majorHistory(incident.id);
    expect(history).toMatchObject([
      { reason: 'Looks like an outage', clearReason: 'Cosmetic only', clearedBy: { id: users.manager } },
    ]);
    expect(history[0]!.clearedAt!.getTime() - history[0]!.declaredAt.getTime()).toBe(10 * 60_000);
    const cleared_ = (await recordsOf(incident)).filter((n) => n.kind === 'major_cleared');
    expect(cleared_.map((n) => n.status)).toEqual(Array(4).fill('sent'));
    expect(
      (await og.incidents.incidents({ major: true }, { first: 500 })).edges.map((e) => e.node.id),
    ).not.toContain(incident.id);
  });

  it('records a failing channel as failed, retries it with backoff from the sweep, and delivers it once when it recovers', async () => {
    const incident = await open('Search down');
    await og.notifications.watch(incident.id, {}, { actor: actors.alice! });
    receiver.failing.on = true;
    const declaredAt = clock.now();
    await og.incidents.declareMajor(incident.id, { reason: 'No search results' }, { actor: actors.manager! });
    await og.notifications.settled();
    const webhook = async () => (await recordsOf(incident)).filter((n) => n.channel === 'webhook');
    let failed = await webhook();
    expect(failed).toHaveLength(2); // alice and bob
    for (const n of failed) {
      expect(n).toMatchObject({ status: 'failed', attempts: 1, sentAt: null });
      expect(n.lastError).toMatch(/503/);
      expect(n.nextAttemptAt).toEqual(new Date(declaredAt.getTime() + 60_000));
    }
    // Email went out all the same.
    expect((await recordsOf(incident)).filter((n) => n.channel === 'email').map((n) => n.status)).toEqual([
      'sent',
      'sent',
    ]);
    // Not due yet: the sweep leaves them.
    expect((await og.notifications.sweep()).failed).toHaveLength(0);
    clock.advance(60_000);
    const second = await og.notifications.sweep();
    expect(second.failed.map((n) => n.attempts)).toEqual([2, 2]);
    failed = await webhook();
    expect(failed.every((n) => n.nextAttemptAt?.getTime() === clock.now().getTime() + 120_000)).toBe(true);

    receiver.failing.on = false;
    clock.advance(120_000);
    const swept = await og.notifications.sweep();
    expect(swept.sent.map((n) => n.id).sort()).toEqual(failed.map((n) => n.id).sort());
    expect(await webhook()).toEqual(
      expect.arrayContaining([expect.objectContaining({ status: 'sent', attempts: 3, lastError: null })]),
    );
    clock.advance(3_600_000);
    expect(await og.notifications.sweep()).toEqual({ sent: [], failed: [] });
    const delivered = hooksOf(incident).filter((h) => h.status === 204);
    expect(delivered.map((h) => h.body.recipient.name).sort()).toEqual(['alice', 'bob']);
    expect(hooksOf(incident).filter((h) => h.status === 503)).toHaveLength(4);
  });

  it('gives up after maxAttempts', async () => {
    const incident = await open('Reports slow');
    receiver.failing.on = true;
    try {
      await og.incidents.declareMajor(incident.id, { reason: 'Month end' }, { actor: actors.manager! });
      await og.notifications.settled();
      for (let i = 0; i < 4; i++) {
        clock.advance(3_600_000);
        await og.notifications.sweep();
      }
      const webhook = (await recordsOf(incident)).filter((n) => n.channel === 'webhook');
      expect(webhook.map((n) => [n.status, n.attempts, n.nextAttemptAt])).toEqual([
        ['failed', 3, null],
        ['failed', 3, null],
      ]);
    } finally {
      receiver.failing.on = false;
    }
  });

  it('sends once when sweeps run at once', async () => {
    const incident = await open('Login loops');
    receiver.failing.on = true;
    await og.incidents.declareMajor(incident.id, { reason: 'SSO broken' }, { actor: actors.manager! });
    await og.notifications.settled();
    receiver.failing.on = false;
    clock.advance(60_000);
    const results = await Promise.all([
      og.notifications.sweep(),
      og.notifications.sweep(),
      og.notifications.deliver({ incidentId: incident.id }),
      og.notifications.sweep(),
    ]);
    const sent = results.flatMap((r) => r.sent.map((n) => n.id));
    expect(sent).toHaveLength(2);
    expect(new Set(sent).size).toBe(2);
    expect(hooksOf(incident).filter((h) => h.status === 204)).toHaveLength(2);
  });

  it('lets users watch what they may read and subscribe themselves to business services only', async () => {
    const incident = await open('Checkout slow');
    // dave reads only lab-01's incidents: he cannot watch this one, nor be made to.
    await expect(og.notifications.watch(incident.id, {}, { actor: actors.dave! })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      og.notifications.watch(incident.id, { userId: users.dave }, { actor: actors.manager! }),
    ).rejects.toMatchObject({ field: 'userId', message: expect.stringMatching(/may not read/) });
    // A reader cannot add someone else.
    await expect(
      og.notifications.watch(incident.id, { userId: users.alice }, { actor: actors.bob! }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await og.notifications.watch(incident.id, {}, { actor: actors.bob! });
    await og.notifications.watch(incident.id, {}, { actor: actors.bob! });
    expect((await og.notifications.watchers(incident.id)).map((w) => w.userId)).toEqual([users.bob]);
    expect(await og.notifications.unwatch(incident.id, {}, { actor: actors.bob! })).toEqual([]);

    await expect(og.notifications.subscribe(ci['db-01']!, {}, { actor: actors.bob! })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      og.notifications.subscribe(ci.payroll!, { userId: users.alice }, { actor: actors.bob! }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    // Without incident:read anywhere, no subscribing.
    await expect(
      og.notifications.subscribe(ci.payroll!, {}, { actor: actors.carol! }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect(
      (await og.notifications.subscriptions({}, { actor: actors.bob! })).map((s) => s.serviceName),
    ).toEqual(['shop']);
    await expect(
      og.notifications.subscriptions({ userId: users.alice }, { actor: actors.bob! }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const all = await og.notifications.subscriptions({ serviceId: ci.shop }, { actor: actors.manager! });
    expect(all.map((s) => s.userName)).toEqual(['alice', 'bob', 'carol', 'dave', 'gone']);
    expect(await og.notifications.unsubscribe(ci.payroll!, {}, { actor: actors.erin! })).toBe(true);
    expect(await og.notifications.unsubscribe(ci.payroll!, {}, { actor: actors.erin! })).toBe(false);
    await og.notifications.subscribe(ci.payroll!, {}, { actor: actors.erin! });
  });

  it('shows users their own notifications, and everyone’s only to incident:major', async () => {
    const mine = await og.notifications.notifications({}, { first: 500 }, { actor: actors.bob! });
    expect(mine.edges.length).toBeGreaterThan(0);
    expect(mine.edges.every((e) => e.node.recipientId === users.bob)).toBe(true);
    await expect(
      og.notifications.notifications({ recipientId: users.alice }, {}, { actor: actors.bob! }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const all = await og.notifications.notifications(
      { status: ['sent'] },
      { first: 500 },
      {
        actor: actors.manager!,
      },
    );
    expect(new Set(all.edges.map((e) => e.node.recipientId)).size).toBeGreaterThan(1);
    // Nobody was told who may not read: carol, dave, erin (other service) and the deactivated user.
    const everyone = await og.notifications.notifications({}, { first: 500 });
    const recipients = new Set(everyone.edges.map((e) => e.node.recipientId));
    for (const name of ['carol', 'dave', 'erin', 'gone']) expect(recipients.has(users[name]!)).toBe(false);
    // Pages continue by cursor.
    const first = await og.notifications.notifications({}, { first: 2 });
    const next = await og.notifications.notifications({}, { first: 2, after: first.endCursor });
    expect(next.edges[0]!.node.id).not.toBe(first.edges[0]!.node.id);
  });
});
