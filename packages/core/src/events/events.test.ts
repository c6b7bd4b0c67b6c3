import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import { alertmanagerFiring, alertmanagerResolved, pagerDutyTrigger } from './fixtures.js';
import type { EventInput } from './model.js';
import { normalizeAlertmanager, normalizePagerDuty } from './normalize.js';

const admin = systemActor('test');
const MINUTE = 60_000;

describe.each(testBackends())('event management on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  let web: string;
  let db: string;
  let lb: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    web = (
      await og.cmdb.create(
        {
          class: 'linux_server',
          name: 'web-01.shop',
          attributes: { hostname: 'WEB-01', domain: 'shop.example' },
        },
        { actor: admin },
      )
    ).id;
    db = (
      await og.cmdb.create(
        { class: 'linux_server', name: 'db-01', attributes: { hostname: 'db-01', ip_address: '10.0.0.12' } },
        { actor: admin },
      )
    ).id;
    lb = (await og.cmdb.create({ class: 'application', name: 'shop-app' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  const event = (key: string, extra: Partial<EventInput> = {}): EventInput => ({
    source: 'nagios',
    node: 'nowhere',
    type: 'ping',
    severity: 'major',
    dedupKey: key,
    ...extra,
  });
  const count = async (table: 'alerts' | 'event_occurrences', key: string) =>
    Number(
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from ${sql.table(table)} where dedup_key = ${key}`.execute(og.db)
      ).rows[0]!.n,
    );
  const activity = async (after: number, id?: string) =>
    (await og.activity.list({ after, limit: 1000 })).filter(
      (e) => e.type.startsWith('alert.') && (!id || e.subject?.id === id),
    );

  it('folds 1,000 repeats in batches into one alert, with one alert.updated per call', async () => {
    const seq = await og.activity.latestSeq();
    const results = [];
    for (let batch = 0; batch < 10; batch++) {
      clock.advance(MINUTE);
      results.push(
        ...(await og.events.ingest(
          Array.from({ length: 100 }, () => event('dedup-batches')),
          { actor: admin },
        )),
      );
    }
    const ids = new Set(results.map((r) => r.alertId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.outcome === 'opened')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'repeated')).toHaveLength(999);
    const alert = (await og.events.alert([...ids][0]!))!;
    expect(alert).toMatchObject({ count: 1000, status: 'open', severity: 'major', version: 1 });
    expect(alert.lastSeen.getTime() - alert.firstSeen.getTime()).toBe(9 * MINUTE);
    const events = await activity(seq, alert.id);
    expect(events.map((e) => e.type)).toEqual(['alert.opened', ...Array(10).fill('alert.updated')]);
    expect(events[1]!.payload).toMatchObject({ repeats: 99, alert: { count: 100 } });
    // Occurrences are bounded: the latest 100 are kept.
    expect(await count('event_occurrences', 'dedup-batches')).toBe(100);
    expect(await og.events.eventsOf(alert.id, { first: 3 })).toHaveLength(3);
  });

  it('trims the occurrences of a full alert once a step, not every call; readers see the latest 100', async () => {
    clock.advance(MINUTE);
    const [first] = await og.events.ingest(
      Array.from({ length: 100 }, () => event('trim-steps')),
      { actor: admin },
    );
    let trims = 0;
    const off = og.queries.on((q) => {
      if (/^\s*delete from event_occurrences/.test(q.sql)) trims++;
    });
    const stored: number[] = [];
    for (let i = 0; i < 120; i++) {
      clock.advance(1000);
      await og.events.ingest(event('trim-steps', { message: `call ${i}` }), { actor: admin });
      stored.push(await count('event_occurrences', 'trim-steps'));
    }
    off();
    // count + version goes from 102 to 221: it crosses 150 and 200, so two trims (not 120).
    expect(trims).toBe(2);
    expect(Math.max(...stored)).toBe(149);
    expect(Math.min(...stored)).toBe(100);
    expect(stored.at(-1)).toBe(121);
    const seen = await og.events.eventsOf(first!.alertId!, { first: 500 });
    expect(seen).toHaveLength(100);
    expect(seen[0]!.message).toBe('call 119');
    expect(seen.at(-1)!.message).toBe('call 20');
    const [batched] = await og.events.eventsOfAlerts([first!.alertId!], { first: 500, actor: admin });
    expect(batched!.map((o) => o.seq)).toEqual(seen.map((o) => o.seq));
  });

  it('gives handlers and the table the same alert payloads, the alert as JSON', async () => {
    const seq = await og.activity.latestSeq();
    const live: { type: string; seq: number; payload: unknown }[] = [];
    const offs = (['alert.opened', 'alert.updated'] as const).map((type) =>
      og.on(type, (e) => {
        live.push({ type: e.type, seq: e.seq, payload: e.payload });
      }),
    );
    clock.advance(MINUTE);
    const [first] = await og.events.ingest([event('same-json'), event('same-json')], { actor: admin });
    for (const off of offs) off();
    const alert = (await og.events.alert(first!.alertId!))!;
    const stored = await activity(seq, alert.id);
    expect(stored.map((e) => e.type)).toEqual(['alert.opened', 'alert.updated']);
    expect(live).toEqual(stored.map((e) => ({ type: e.type, seq: e.seq, payload: e.payload })));
    const asJson = JSON.parse(JSON.stringify(alert));
    expect(stored[1]!.payload).toEqual({ alert: asJson, repeats: 1 });
    // The alert as the Alert type has it, nothing more (no bookkeeping of the ingest).
    expect(Object.keys((stored[0]!.payload as { alert: object }).alert).sort()).toEqual(
      Object.keys(asJson).sort(),
    );
  });

  it('stores occurrences without a foreign key to alerts (0031): ingest writes both in one transaction', async () => {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_constraint
      where conrelid = 'event_occurrences'::regclass and contype = 'f'`.execute(og.db);
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it('loses no increment when two connections ingest the same event at once', async () => {
    const side = async () => {
      for (let batch = 0; batch < 10; batch++)
        await og.transaction((tx) =>
          tx.events.ingest(
            Array.from({ length: 50 }, () => event('dedup-concurrent')),
            { actor: admin },
          ),
        );
    };
    await Promise.all([side(), side()]);
    const page = await og.events.alerts({ dedupKey: 'dedup-concurrent' });
    expect(page.edges.map((e) => e.node.count)).toEqual([1000]);
    expect(await count('alerts', 'dedup-concurrent')).toBe(1);
  });

  it('closes on clear and opens a new alert for an event after the close', async () => {
    const [opened] = await og.events.ingest(event('clear-me', { severity: 'minor' }), { actor: admin });
    const [closed] = await og.events.ingest(event('clear-me', { severity: 'clear' }), { actor: admin });
    expect(closed).toEqual({
      dedupKey: 'clear-me',
      alertId: opened!.alertId,
      outcome: 'closed',
      ignoredBy: null,
    });
    const old = (await og.events.alert(opened!.alertId!))!;
    expect(old).toMatchObject({ status: 'closed', closeReason: 'cleared', severity: 'minor', version: 2 });
    expect(old.closedBy).toMatchObject({ id: 'test' });
    // A second clear finds nothing live: ignored, nothing stored.
    expect(
      (await og.events.ingest(event('clear-me', { severity: 'clear' }), { actor: admin }))[0]!.outcome,
    ).toBe('ignored');
    // In one batch: repeat, clear, then again: the last opens a new alert.
    const results = await og.events.ingest(
      [event('clear-me'), event('clear-me'), event('clear-me', { severity: 'clear' }), event('clear-me')],
      { actor: admin },
    );
    expect(results.map((r) => r.outcome)).toEqual(['opened', 'repeated', 'closed', 'opened']);
    expect(results[0]!.alertId).toBe(results[2]!.alertId);
    expect(results[3]!.alertId).not.toBe(results[0]!.alertId);
    expect(await count('alerts', 'clear-me')).toBe(3);
    const live = await og.events.alerts({ dedupKey: 'clear-me', status: ['open', 'acknowledged'] });
    expect(live.edges.map((e) => [e.node.id, e.node.count])).toEqual([[results[3]!.alertId, 1]]);
  });

  it('runs Alertmanager groups and PagerDuty trigger, acknowledge, resolve', async () => {
    const firing = await og.events.ingest(normalizeAlertmanager(alertmanagerFiring()), { actor: admin });
    expect(firing.map((r) => r.outcome)).toEqual(['opened', 'opened']);
    const [disk, load] = await Promise.all(firing.map((r) => og.events.alert(r.alertId!)));
    // web-01:9100 is the CI with host name WEB-01; 10.0.0.12 is db-01's IP address.
    expect(disk).toMatchObject({ ciId: web, severity: 'critical', node: 'web-01' });
    expect(load).toMatchObject({ ciId: db, severity: 'warning' });
    const resolved = await og.events.ingest(normalizeAlertmanager(alertmanagerResolved()), { actor: admin });
    expect(resolved.map((r) => [r.alertId, r.outcome])).toEqual(firing.map((r) => [r.alertId, 'closed']));

    const key = 'pd-srv01/HTTP';
    const [t] = await og.events.ingest(normalizePagerDuty(pagerDutyTrigger(key)), { actor: admin });
    const [t2] = await og.events.ingest(normalizePagerDuty(pagerDutyTrigger(key)), { actor: admin });
    const ack = { routing_key: 'x', event_action: 'acknowledge', dedup_key: key };
    const [a] = await og.events.ingest(normalizePagerDuty(ack), { actor: admin });
    const [a2] = await og.events.ingest(normalizePagerDuty(ack), { actor: admin });
    const [r] = await og.events.ingest(normalizePagerDuty({ ...ack, event_action: 'resolve' }), {
      actor: admin,
    });
    expect([t, t2, a, a2, r].map((x) => x!.outcome)).toEqual([
      'opened',
      'repeated',
      'acknowledged',
      'ignored',
      'closed',
    ]);
    const alert = (await og.events.alert(t!.alertId!))!;
    expect(alert).toMatchObject({ status: 'closed', count: 2, version: 3 });
    expect(alert.acknowledgedAt).not.toBeNull();
    const stored = await og.events.eventsOf(alert.id);
    expect(stored.map((o) => o.action)).toEqual(['resolve', 'acknowledge', 'trigger', 'trigger']);
    expect(stored[3]!.raw).toMatchObject({ routing_key: '[redacted]', payload: { class: 'disk' } });
  });

  it('acknowledges and closes by hand, with versions, who and when', async () => {
    const [r] = await og.events.ingest(event('lifecycle'), { actor: admin });
    const id = r!.alertId!;
    const alice: Actor = { kind: 'user', id: 'alice', name: 'alice', permissions: ['event:*'] };
    clock.advance(MINUTE);
    const acked = await og.events.acknowledge(id, { actor: alice, version: 1 });
    expect(acked).toMatchObject({ status: 'acknowledged', version: 2, acknowledgedBy: { id: 'alice' } });
    expect(acked.acknowledgedAt?.toISOString()).toBe(clock.now().toISOString());
    // Repeats land on the acknowledged alert without touching its version.
    expect((await og.events.ingest(event('lifecycle'), { actor: admin }))[0]).toMatchObject({
      alertId: id,
      outcome: 'repeated',
    });
    await expect(og.events.close(id, { actor: alice, version: 1 })).rejects.toThrow(ConflictError);
    await expect(og.events.acknowledge(id, { actor: alice })).rejects.toThrow(ConflictError);
    clock.advance(MINUTE);
    const closed = await og.events.close(id, { actor: alice, version: 2 });
    expect(closed).toMatchObject({ status: 'closed', version: 3, closeReason: 'manual', count: 2 });
    expect(closed.closedBy).toMatchObject({ id: 'alice', kind: 'user' });
    expect(closed.closedAt?.toISOString()).toBe(clock.now().toISOString());
    await expect(og.events.close(id, { actor: alice })).rejects.toThrow(ConflictError);
    await expect(og.events.close(crypto.randomUUID(), { actor: alice })).rejects.toThrow(NotFoundError);
    const after = await og.activity.latestSeq();
    expect((await og.events.ingest(event('lifecycle'), { actor: admin }))[0]!.outcome).toBe('opened');
    expect((await activity(after)).map((e) => e.type)).toEqual(['alert.opened']);
  });

  it('binds by explicit CI, host name or name in any case, and IP address', async () => {
    const results = await og.events.ingest(
      [
        event('bind-1', { node: 'web-01' }),
        event('bind-2', { node: 'SHOP-APP' }),
        event('bind-3', { node: '10.0.0.12' }),
        event('bind-4', { node: 'web-01', ciId: lb }),
        event('bind-5', { node: 'unknown-host' }),
      ],
      { actor: admin },
    );
    const cis = await Promise.all(results.map(async (r) => (await og.events.alert(r.alertId!))!.ciId));
    expect(cis).toEqual([web, lb, db, lb, null]);
    const stored = await og.events.eventsOf(results[2]!.alertId!);
    expect(stored[0]!.ciId).toBe(db);
  });

  it('writes nothing for bad input', async () => {
    const before = await og.activity.latestSeq();
    await expect(
      og.events.ingest([event('bad-1'), event('bad-1', { severity: 'loud' as never })], { actor: admin }),
    ).rejects.toThrow(/1\.severity/);
    const err = await og.events
      .ingest([event('bad-2'), event('bad-2', { ciId: crypto.randomUUID() })], { actor: admin })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.field).toBe('1.ciId');
    expect(await count('alerts', 'bad-1')).toBe(0);
    expect(await count('alerts', 'bad-2')).toBe(0);
    expect(await og.activity.latestSeq()).toBe(before);
  });

  it('lets a scoped reader see only alerts on its CIs', async () => {
    const results = await og.events.ingest(
      [event('scope-web', { node: 'web-01' }), event('scope-db', { node: 'db-01' }), event('scope-none')],
      { actor: admin },
    );
    const [onWeb, onDb, onNone] = results.map((r) => r.alertId!);
    const reader = await scopedTestActor(og, 'reader', [
      { ciId: web, mode: 'contains', permissions: ['event:read'] },
    ]);
    const seen = await og.events.alerts({}, { first: 500 }, { actor: reader });
    expect(seen.edges.length).toBeGreaterThan(0);
    expect(seen.edges.every((e) => e.node.ciId === web)).toBe(true);
    expect(seen.edges.map((e) => e.node.id)).toContain(onWeb);
    expect(await og.events.alert(onDb!, { actor: reader })).toBeNull();
    expect(await og.events.alert(onNone!, { actor: reader })).toBeNull();
    expect((await og.events.alert(onWeb!, { actor: reader }))?.id).toBe(onWeb);
    await expect(og.events.eventsOf(onDb!, { actor: reader })).rejects.toThrow(NotFoundError);
    // Reading is not writing; and no permission at all is refused outright.
    await expect(og.events.acknowledge(onWeb!, { actor: reader })).rejects.toThrow(ForbiddenError);
    await expect(og.events.ingest(event('scope-x'), { actor: reader })).rejects.toThrow(ForbiddenError);
    const nobody: Actor = { kind: 'user', id: 'n', name: 'n', permissions: ['cmdb:read'] };
    await expect(og.events.alerts({}, {}, { actor: nobody })).rejects.toThrow(ForbiddenError);
    // The activity stream follows the same rule for alert events.
    const streamed = await og.activity.list(
      { limit: 1000 },
      { actor: { ...reader, permissions: ['activity:read'] } },
    );
    const alertEvents = streamed.filter((e) => e.type.startsWith('alert.'));
    expect(alertEvents.length).toBeGreaterThan(0);
    expect(alertEvents.every((e) => (e.payload as { alert: { ciId: string } }).alert.ciId === web)).toBe(
      true,
    );
  });

  it('pages alerts, most recently seen first', async () => {
    for (const key of ['page-a', 'page-b', 'page-c']) {
      clock.advance(MINUTE);
      await og.events.ingest(event(key, { source: 'pager-test' }), { actor: admin });
    }
    const first = await og.events.alerts({ source: 'pager-test' }, { first: 2 });
    expect(first.edges.map((e) => e.node.dedupKey)).toEqual(['page-c', 'page-b']);
    expect(first.hasNextPage).toBe(true);
    const next = await og.events.alerts({ source: 'pager-test' }, { first: 2, after: first.endCursor });
    expect(next.edges.map((e) => e.node.dedupKey)).toEqual(['page-a']);
    expect(next.hasNextPage).toBe(false);
    await expect(og.events.alerts({ status: ['gone' as never] })).rejects.toThrow(/filter\.status\.0/);
  });
});
