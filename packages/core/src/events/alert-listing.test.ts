import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import { alertOrders } from './alert-order.js';
import type { Alert, AlertOrder, AlertSeverity, EventInput } from './model.js';

const admin = systemActor('test');
const MINUTE = 60_000;
const LEVEL: Record<AlertSeverity, number> = { info: 1, warning: 2, minor: 3, major: 4, critical: 5 };

describe.each(testBackends())('alert list orders on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const event = (key: string, severity: EventInput['severity'], extra: Partial<EventInput> = {}) => ({
    source: 'order-test',
    node: 'nowhere',
    type: 'check',
    severity,
    dedupKey: key,
    ...extra,
  });

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    // Ties on purpose: batches share one lastSeen, and severities repeat, so pages must break ties by id.
    const severities: EventInput['severity'][] = [
      'minor',
      'critical',
      'info',
      'major',
      'warning',
      'critical',
    ];
    for (let batch = 0; batch < 4; batch++) {
      clock.advance(MINUTE);
      await og.events.ingest(
        severities.map((s, i) => event(`order-${batch}-${i}`, s)),
        { actor: admin },
      );
    }
    // Repeats move lastSeen (not firstSeen) of a few, so the two time orders differ.
    clock.advance(MINUTE);
    await og.events.ingest([event('order-0-2', 'info'), event('order-1-4', 'warning')], { actor: admin });
  });
  afterAll(() => og?.close());

  /** Every alert of the test, a page of `size` at a time. */
  const walk = async (orderBy: AlertOrder | undefined, size: number) => {
    const seen: Alert[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const page = await og.events.alerts(
        { source: 'order-test' },
        { first: size, after, ...(orderBy ? { orderBy } : {}) },
      );
      seen.push(...page.edges.map((e) => e.node));
      if (!page.hasNextPage) return seen;
      after = page.endCursor;
    }
    throw new Error('never ended');
  };

  const byKeys =
    (keys: (a: Alert) => (number | string)[], direction: 'asc' | 'desc') => (a: Alert, b: Alert) => {
      const [x, y] = [
        [...keys(a), a.id],
        [...keys(b), b.id],
      ];
      for (let i = 0; i < x.length; i++) {
        if (x[i]! < y[i]!) return direction === 'asc' ? -1 : 1;
        if (x[i]! > y[i]!) return direction === 'asc' ? 1 : -1;
      }
      return 0;
    };

  it.each([
    ['lastSeen', 'desc', (a: Alert) => [a.lastSeen.getTime()]],
    ['lastSeen', 'asc', (a: Alert) => [a.lastSeen.getTime()]],
    ['firstSeen', 'desc', (a: Alert) => [a.firstSeen.getTime()]],
    ['firstSeen', 'asc', (a: Alert) => [a.firstSeen.getTime()]],
    ['severity', 'desc', (a: Alert) => [LEVEL[a.severity], a.lastSeen.getTime()]],
    ['severity', 'asc', (a: Alert) => [LEVEL[a.severity], a.lastSeen.getTime()]],
  ] as const)('pages by %s %s, ties by id, each alert once', async (field, direction, keys) => {
    const all = await walk({ field, direction }, 500);
    expect(all).toHaveLength(24);
    expect(all.map((a) => a.dedupKey)).toEqual([...all].sort(byKeys(keys, direction)).map((a) => a.dedupKey));
    // Small pages walk the same list: cursors continue exactly where a page ended.
    expect((await walk({ field, direction }, 5)).map((a) => a.id)).toEqual(all.map((a) => a.id));
    expect((await walk({ field, direction }, 1)).map((a) => a.id)).toEqual(all.map((a) => a.id));
  });

  it('lists most recently seen first by default, and severity desc starts with critical', async () => {
    const all = await walk(undefined, 7);
    expect(all.map((a) => a.id)).toEqual(
      (await walk({ field: 'lastSeen', direction: 'desc' }, 500)).map((a) => a.id),
    );
    expect(
      all
        .slice(0, 2)
        .map((a) => a.dedupKey)
        .sort(),
    ).toEqual(['order-0-2', 'order-1-4']);
    const severe = await walk({ field: 'severity' }, 3);
    expect(severe.slice(0, 8).every((a) => a.severity === 'critical')).toBe(true);
    expect(severe.at(-1)!.severity).toBe('info');
  });

  it('refuses a cursor of another order, a forged one and an unknown order, naming the argument', async () => {
    const page = await og.events.alerts(
      { source: 'order-test' },
      { first: 2, orderBy: { field: 'severity' } },
    );
    const other = og.events.alerts({}, { after: page.endCursor, orderBy: { field: 'firstSeen' } });
    await expect(other).rejects.toThrow(/after.*cursor of the order severity:desc, not firstSeen:desc/);
    const forged = Buffer.from(JSON.stringify(['severity:desc', 'loud', '2026-01-01', 'x'])).toString(
      'base64url',
    );
    const err = await og.events.alerts({}, { after: forged, orderBy: { field: 'severity' } }).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.field).toBe('after');
    const injected = Buffer.from(
      JSON.stringify(['lastSeen:desc', "2026-01-01'; drop table alerts; --", crypto.randomUUID()]),
    ).toString('base64url');
    await expect(og.events.alerts({}, { after: injected })).rejects.toThrow(ValidationError);
    await expect(og.events.alerts({}, { orderBy: { field: 'count' as never } })).rejects.toMatchObject({
      field: 'orderBy.field',
    });
    await expect(
      og.events.alerts({}, { orderBy: { field: 'severity', direction: 'up' as never } }),
    ).rejects.toMatchObject({ field: 'orderBy.direction' });
  });

  it('uses an index for the severity and first-seen orders', async () => {
    // The sort expressions as the list writes them: the index only serves the very same expression.
    const plan = async (field: 'severity' | 'firstSeen') =>
      og.transaction(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx.db);
        await sql`set local enable_sort = off`.execute(tx.db);
        let query = tx.db.selectFrom('alerts').select('id');
        for (const expr of alertOrders[field].exprs) query = query.orderBy(expr, 'desc');
        const { sql: text, parameters } = query.orderBy('id', 'desc').limit(5).compile();
        const { rows } = await tx.db.executeQuery<Record<string, string>>(
          CompiledQuery.raw(`explain ${text}`, [...parameters]),
        );
        return rows.map((r) => Object.values(r)[0]).join('\n');
      });
    expect(await plan('severity')).toMatch(/alerts_severity_level_idx/);
    expect(await plan('firstSeen')).toMatch(/alerts_first_seen_idx/);
  });

  it('loads the occurrences of many alerts in one call, only of alerts the reader may see', async () => {
    const web = await og.cmdb.create({ class: 'server', name: 'occ-web' }, { actor: admin });
    const results = await og.events.ingest(
      [
        event('occ-web', 'major', { node: 'occ-web', source: 'occ-test' }),
        event('occ-web', 'critical', { node: 'occ-web', source: 'occ-test' }),
        event('occ-other', 'minor', { source: 'occ-test' }),
      ],
      { actor: admin },
    );
    const [onWeb, , onNone] = results.map((r) => r.alertId!);
    const all = await og.events.eventsOfAlerts([onWeb!, onNone!, crypto.randomUUID(), 'not-an-id']);
    expect(all.map((list) => list.map((o) => o.severity))).toEqual([
      ['critical', 'major'],
      ['minor'],
      [],
      [],
    ]);
    expect((await og.events.eventsOfAlerts([onWeb!], { first: 1 }))[0]!.map((o) => o.severity)).toEqual([
      'critical',
    ]);
    const reader = await scopedTestActor(og, 'occ-reader', [
      { ciId: web.id, mode: 'contains', permissions: ['event:read'] },
    ]);
    const seen = await og.events.eventsOfAlerts([onWeb!.toUpperCase(), onNone!], { actor: reader });
    expect(seen.map((list) => list.length)).toEqual([2, 0]);
  });
});
