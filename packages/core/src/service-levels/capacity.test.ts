import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { capacityDedupKey } from './capacity.js';
import type { CapacityMetric, DefineCapacityMetricInput } from './capacity-model.js';

const admin = systemActor('test');
const DAY = 86_400_000;
const GB = 1e9;
const TB = 1e12;

/** The issues of a ValidationError `run` throws, as `path: message`… paths only. */
async function pathsOf(run: () => Promise<unknown>): Promise<string[]> {
  const error = await run().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => i.path);
}

describe.each(testBackends())('capacity on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T00:00:00.000Z');
  let ciId: string;
  let n = 0;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    ciId = (await og.cmdb.create({ class: 'linux_server', name: 'db-01' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  const define = (input: Partial<DefineCapacityMetricInput> = {}) =>
    og.capacity.defineMetric(
      { ciId, kind: 'storage', name: `vol-${++n}`, unit: 'bytes', capacity: TB, ...input },
      { actor: admin },
    );
  const at = (days: number) => new Date(clock.now().getTime() + days * DAY);
  const thresholdEvents = async (metricId: string) =>
    (await og.activity.list({ types: ['capacity_metric.threshold'], limit: 1000 }))
      .filter((e) => e.subject?.id === metricId)
      .sort((a, b) => a.seq - b.seq)
      .map((e) => {
        const p = e.payload as { from: string; to: string };
        return `${p.from}->${p.to}`;
      });
  const alertsOf = async (metricId: string) =>
    (await og.events.alerts({ dedupKey: capacityDedupKey(metricId) }, { first: 10 })).edges.map(
      (e) => e.node,
    );
  const severitiesOf = async (alertId: string) =>
    (await og.events.eventsOf(alertId)).map((o) => o.severity).reverse();

  it('defines, lists a page at a time, updates by version and retires metrics', async () => {
    const other = (await og.cmdb.create({ class: 'linux_server', name: 'db-02' }, { actor: admin })).id;
    const a = await define({ name: '/data' });
    expect(a).toMatchObject({
      ciId,
      kind: 'storage',
      name: '/data',
      unit: 'bytes',
      capacity: TB,
      warningPercent: 80,
      criticalPercent: 90,
      level: 'ok',
      latest: null,
      retiredAt: null,
      version: 1,
    });
    clock.advance(1000);
    const b = await define({ name: 'cores', kind: 'cpu', unit: 'percent', capacity: 100 });
    clock.advance(1000);
    const c = await og.capacity.defineMetric(
      {
        ciId: other,
        kind: 'power',
        name: 'pdu-a',
        unit: 'W',
        capacity: 5000,
        warningPercent: 70,
        criticalPercent: 85,
      },
      { actor: admin },
    );

    const first = await og.capacity.metrics({ ciId }, { first: 1 });
    expect(first.edges.map((e) => e.node.id)).toEqual([a.id]);
    expect(first.hasNextPage).toBe(true);
    const rest = await og.capacity.metrics({ ciId }, { first: 10, after: first.endCursor });
    expect(rest.edges.map((e) => e.node.name)).toEqual(['cores']);
    expect(rest.hasNextPage).toBe(false);
    expect((await og.capacity.metrics({ kind: 'power' })).edges.map((e) => e.node.id)).toEqual([c.id]);
    expect(await og.capacity.metric(b.id)).toEqual(b);

    const updated = await og.capacity.updateMetric(
      a.id,
      { capacity: 2 * TB, warningPercent: 75 },
      { actor: admin, version: 1 },
    );
    expect(updated).toMatchObject({ capacity: 2 * TB, warningPercent: 75, criticalPercent: 90, version: 2 });
    const stale = await og.capacity
      .updateMetric(a.id, { name: 'late' }, { actor: admin, version: 1 })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect((stale as ConflictError).field).toBe('version');
    expect((await og.capacity.metric(a.id))?.name).toBe('/data');
    const activity = await og.activity.list({ types: ['capacity_metric.updated'], limit: 1000 });
    expect(
      activity.filter((e) => e.subject?.id === a.id).map((e) => (e.payload as { fields: string[] }).fields),
    ).toEqual([['capacity', 'warningPercent']]);

    const retired = await og.capacity.retireMetric(b.id, { actor: admin, version: 1 });
    expect(retired.retiredAt).toEqual(clock.now());
    expect((await og.capacity.metrics({ ciId })).edges.map((e) => e.node.id)).toEqual([a.id]);
    expect((await og.capacity.metrics({ ciId, includeRetired: true })).edges.map((e) => e.node.id)).toEqual([
      a.id,
      b.id,
    ]);
    await expect(
      og.capacity.recordSamples(b.id, [{ at: at(0), value: 1 }], { actor: admin }),
    ).rejects.toThrow(ConflictError);
    // A retired metric frees its name.
    expect((await define({ name: 'CORES', kind: 'cpu', unit: 'percent', capacity: 100 })).name).toBe('CORES');
  });

  it('names the field at fault, and writes nothing on bad input', async () => {
    expect(await pathsOf(() => define({ capacity: 0 }))).toEqual(['capacity']);
    expect(await pathsOf(() => define({ warningPercent: 90, criticalPercent: 90 }))).toEqual([
      'criticalPercent',
    ]);
    expect(await pathsOf(() => define({ kind: 'disk' as never }))).toEqual(['kind']);
    expect(await pathsOf(() => define({ criticalPercent: 120 }))).toEqual(['criticalPercent']);
    expect(await pathsOf(() => define({ ciId: crypto.randomUUID() }))).toEqual(['ciId']);
    await define({ name: 'logs' });
    expect(await pathsOf(() => define({ name: 'Logs' }))).toEqual(['name']);
    const m = await define();
    expect(
      await pathsOf(() => og.capacity.updateMetric(m.id, { warningPercent: 95 }, { actor: admin })),
    ).toEqual(['patch.warningPercent']);
    expect(await pathsOf(() => og.capacity.updateMetric(m.id, { name: 'logs' }, { actor: admin }))).toEqual([
      'patch.name',
    ]);

    const good = (i: number) => ({ at: at(i), value: 100 * GB });
    expect(
      await pathsOf(() =>
        og.capacity.recordSamples(m.id, [good(0), good(1), good(2), { at: at(3), value: -1 }], {
          actor: admin,
        }),
      ),
    ).toEqual(['samples.3.value']);
    expect(
      await pathsOf(() =>
        og.capacity.recordSamples(m.id, [good(0), { at: 'yesterday', value: 1 }], { actor: admin }),
      ),
    ).toEqual(['samples.1.at']);
    expect(await pathsOf(() => og.capacity.recordSamples(m.id, [], { actor: admin }))).toEqual(['samples']);
    expect(await og.capacity.samples(m.id, { from: at(-1), to: at(10) })).toEqual([]);
    expect((await og.capacity.metric(m.id))?.latest).toBeNull();
    expect(await pathsOf(() => og.capacity.forecast(m.id, { window: '30 days' }))).toEqual(['window']);
    expect(await pathsOf(() => og.capacity.forecast(m.id, { window: 'PT0S' }))).toEqual(['window']);
    await expect(og.capacity.recordSamples(crypto.randomUUID(), [good(0)], { actor: admin })).rejects.toThrow(
      NotFoundError,
    );
  });

  it('checks operations:read and operations:write', async () => {
    const reader: Actor = { kind: 'user', id: 'r', name: 'reader', permissions: ['operations:read'] };
    const m = await define();
    await expect(
      og.capacity.defineMetric({ ciId, kind: 'cpu', name: 'x', unit: '%', capacity: 1 }, { actor: reader }),
    ).rejects.toThrow(ForbiddenError);
    await expect(
      og.capacity.recordSamples(m.id, [{ at: at(0), value: 1 }], { actor: reader }),
    ).rejects.toThrow(ForbiddenError);
    expect((await og.capacity.metric(m.id, { actor: reader }))?.id).toBe(m.id);
    const nobody: Actor = { kind: 'user', id: 'n', name: 'nobody', permissions: ['cmdb:read'] };
    await expect(og.capacity.metric(m.id, { actor: nobody })).rejects.toThrow(ForbiddenError);
    await expect(og.capacity.forecast(m.id, {}, { actor: nobody })).rejects.toThrow(ForbiddenError);
  });

  it('stores samples once per instant: a resent batch changes nothing, a new value overwrites', async () => {
    const m = await define();
    const batch = [0, 1, 2].map((d) => ({ at: at(-d), value: (100 + d) * GB }));
    const first = await og.capacity.recordSamples(m.id, batch, { actor: admin });
    expect(first).toMatchObject({ recorded: 3, levelChangedFrom: null });
    expect(first.metric.latest).toEqual({ at: at(0), value: 100 * GB });
    expect(first.metric.version).toBe(1);
    await og.capacity.recordSamples(m.id, batch, { actor: admin });
    // An older sample does not move the latest; the same instant twice in a batch: the last one counts.
    await og.capacity.recordSamples(
      m.id,
      [
        { at: at(-5), value: 7 * GB },
        { at: at(-1), value: 1 * GB },
        { at: at(-1).toISOString(), value: 2 * GB },
      ],
      { actor: admin },
    );
    expect(await og.capacity.samples(m.id, { from: at(-10), to: at(0) })).toEqual([
      { at: at(-5), value: 7 * GB },
      { at: at(-2), value: 102 * GB },
      { at: at(-1), value: 2 * GB },
      { at: at(0), value: 100 * GB },
    ]);
    expect(await og.capacity.samples(m.id, { from: at(-2), to: at(-1) })).toHaveLength(2);
    expect(await og.capacity.samples(m.id, { from: at(-10), to: at(0), first: 1 })).toEqual([
      { at: at(-5), value: 7 * GB },
    ]);
    // Default span: the 30 days up to now.
    expect((await og.capacity.samples(m.id)).map((s) => s.value)).toEqual(
      [7, 102, 2, 100].map((v) => v * GB),
    );
    expect((await og.capacity.metric(m.id))?.latest).toEqual({ at: at(0), value: 100 * GB });
  });

  it('raises warning, critical, then clear on one alert, once per change of level', async () => {
    const m = await define({ kind: 'cpu', name: 'cpu', unit: 'percent', capacity: 100 });
    let t = 0;
    const record = async (...values: number[]) =>
      (
        await og.capacity.recordSamples(
          m.id,
          values.map((value) => ({ at: at(++t / 24), value })),
          { actor: admin },
        )
      ).metric.level;
    expect(await record(50, 60)).toBe('ok');
    expect(await alertsOf(m.id)).toEqual([]);
    expect(await record(85)).toBe('warning');
    expect(await record(87, 79.9, 88)).toBe('warning');
    expect(await record(90)).toBe('critical');
    expect(await record(96)).toBe('critical');
    expect(await record(40)).toBe('ok');
    expect(await record(30, 20)).toBe('ok');

    expect(await thresholdEvents(m.id)).toEqual(['ok->warning', 'warning->critical', 'critical->ok']);
    const [alert, ...more] = await alertsOf(m.id);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      ciId,
      severity: 'critical',
      status: 'closed',
      closeReason: 'cleared',
      count: 2,
    });
    expect(await severitiesOf(alert!.id)).toEqual(['warning', 'critical', 'clear']);
    const [warning] = await og.events.eventsOf(alert!.id).then((o) => o.reverse());
    expect(warning).toMatchObject({
      source: 'opsgraph',
      node: 'db-01',
      resource: 'cpu',
      type: 'capacity_cpu',
      labels: { metricId: m.id, kind: 'cpu', unit: 'percent', percent: '85' },
      message: 'cpu cpu on db-01: warning from 80%: 85 percent of 100 (85%)',
    });
  });

  it('judges the level again when capacity or thresholds change, and clears the alert on retire', async () => {
    const m = await define({ kind: 'memory', name: 'ram', unit: 'bytes', capacity: 64 * GB });
    await og.capacity.recordSamples(m.id, [{ at: at(0), value: 48 * GB }], { actor: admin });
    const warned = await og.capacity.updateMetric(m.id, { warningPercent: 70 }, { actor: admin });
    expect(warned.level).toBe('warning');
    clock.advance(1000);
    const grown = await og.capacity.updateMetric(m.id, { capacity: 128 * GB }, { actor: admin });
    expect(grown).toMatchObject({ level: 'ok', version: 3 });
    clock.advance(1000);
    await og.capacity.updateMetric(m.id, { capacity: 50 * GB }, { actor: admin });
    expect(await thresholdEvents(m.id)).toEqual(['ok->warning', 'warning->ok', 'ok->critical']);
    clock.advance(1000);
    await og.capacity.retireMetric(m.id, { actor: admin });
    const alerts = await alertsOf(m.id);
    expect(alerts.map((a) => [a.status, a.severity])).toEqual([
      ['closed', 'critical'],
      ['closed', 'warning'],
    ]);
  });

  it('raises a change of level once under concurrent recorders', async () => {
    const m = await define({ kind: 'rack_units', name: 'rack', unit: 'U', capacity: 42 });
    await og.capacity.recordSamples(m.id, [{ at: at(0), value: 10 }], { actor: admin });
    await Promise.all(
      [1, 2, 3, 4].map((i) =>
        og.capacity.recordSamples(m.id, [{ at: at(i / 24), value: 36 + (i % 2) }], { actor: admin }),
      ),
    );
    expect(await thresholdEvents(m.id)).toEqual(['ok->warning']);
    const [alert, ...more] = await alertsOf(m.id);
    expect(more).toEqual([]);
    expect(await severitiesOf(alert!.id)).toEqual(['warning']);
    expect((await og.capacity.metric(m.id))?.latest).toEqual({ at: at(4 / 24), value: 36 });
  });

  it('forecasts exhaustion exactly on a noiseless linear series', async () => {
    // 1 TB counted in GB, +10 GB a day: 490 GB now, full 51 days from now.
    const m = await define({ unit: 'GB', capacity: 1000 });
    const samples = Array.from({ length: 30 }, (_, k) => ({ at: at(k - 29), value: 200 + 10 * k }));
    await og.capacity.recordSamples(m.id, samples, { actor: admin });
    const forecast = await og.capacity.forecast(m.id);
    expect(forecast).toEqual({
      metricId: m.id,
      status: 'exhausting',
      from: at(-30),
      to: at(0),
      sampleCount: 30,
      slopePerDay: 10,
      intercept: 490,
      rSquared: 1,
      capacity: 1000,
      exhaustionAt: at(51),
    });
    // A shorter window fits fewer samples, to the same line.
    expect(await og.capacity.forecast(m.id, { window: 'P7D' })).toMatchObject({
      sampleCount: 7,
      slopePerDay: 10,
      exhaustionAt: at(51),
    });
    // Seen from 10 days ago, with the samples up to then.
    expect(await og.capacity.forecast(m.id, { now: at(-10) })).toMatchObject({
      sampleCount: 20,
      intercept: 390,
      exhaustionAt: at(51),
    });
  });

  it('forecasts exhaustion within 1% of the true date on a noisy series', async () => {
    // 1 TB in bytes, +10 GB a day from 300 GB, with up to ±3 GB of deterministic noise, hourly for 30 days.
    const m = await define({ capacity: TB });
    const hours = 30 * 24;
    const samples = Array.from({ length: hours }, (_, h) => {
      const days = (h - hours + 1) / 24;
      return { at: at(days), value: 590 * GB + 10 * GB * days + 3 * GB * Math.sin(h * 1.7) };
    });
    await og.capacity.recordSamples(m.id, samples, { actor: admin });
    const forecast = await og.capacity.forecast(m.id);
    const truth = at(41).getTime(); // (1000 − 590) / 10 days from now
    expect(forecast.status).toBe('exhausting');
    expect(forecast.sampleCount).toBe(hours);
    const error = Math.abs(forecast.exhaustionAt!.getTime() - truth);
    expect(error).toBeLessThanOrEqual(0.01 * (truth - clock.now().getTime()));
    expect(forecast.slopePerDay! / GB).toBeCloseTo(10, 1);
    expect(forecast.rSquared).toBeGreaterThan(0.99);
  });

  it('reports flat and falling trends as stable, too few samples, and exhaustion reached', async () => {
    const flat = await define({ unit: 'GB', capacity: 100 });
    await og.capacity.recordSamples(
      flat.id,
      [0, 1, 2].map((d) => ({ at: at(-d), value: 50 })),
      { actor: admin },
    );
    expect(await og.capacity.forecast(flat.id)).toMatchObject({
      status: 'stable',
      slopePerDay: 0,
      intercept: 50,
      rSquared: 1,
      exhaustionAt: null,
    });
    const falling = await define({ unit: 'GB', capacity: 100 });
    await og.capacity.recordSamples(
      falling.id,
      [0, 1, 2].map((d) => ({ at: at(-d), value: 50 + d })),
      { actor: admin },
    );
    expect(await og.capacity.forecast(falling.id)).toMatchObject({ status: 'stable', slopePerDay: -1 });

    const lone = await define({ unit: 'GB', capacity: 100 });
    expect(await og.capacity.forecast(lone.id)).toMatchObject({
      status: 'insufficient_data',
      sampleCount: 0,
      slopePerDay: null,
      exhaustionAt: null,
    });
    await og.capacity.recordSamples(lone.id, [{ at: at(0), value: 10 }], { actor: admin });
    expect(await og.capacity.forecast(lone.id)).toMatchObject({
      status: 'insufficient_data',
      sampleCount: 1,
    });
    // Samples older than the window do not count.
    await og.capacity.recordSamples(lone.id, [{ at: at(-31), value: 1 }], { actor: admin });
    expect(await og.capacity.forecast(lone.id)).toMatchObject({
      status: 'insufficient_data',
      sampleCount: 1,
    });

    const full = await define({ unit: 'GB', capacity: 100 });
    await og.capacity.recordSamples(
      full.id,
      [
        { at: at(-1), value: 120 },
        { at: at(0), value: 100 },
      ],
      { actor: admin },
    );
    expect(await og.capacity.forecast(full.id)).toMatchObject({ status: 'exhausted', exhaustionAt: null });
    await expect(og.capacity.forecast(crypto.randomUUID())).rejects.toThrow(NotFoundError);
  });

  it('prunes samples older than a date, keeping each metric’s latest', async () => {
    const m = await define();
    await og.capacity.recordSamples(
      m.id,
      [-400, -200, -1].map((d) => ({ at: at(d), value: 5 })),
      { actor: admin },
    );
    const { deleted } = await og.capacity.prune({ olderThan: at(-300) }, { actor: admin });
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await og.capacity.samples(m.id, { from: at(-1000), to: at(0) })).toEqual([
      { at: at(-200), value: 5 },
      { at: at(-1), value: 5 },
    ]);
    await og.capacity.prune({ olderThan: at(10) }, { actor: admin });
    expect((await og.capacity.metric(m.id))?.latest).toEqual({ at: at(-1), value: 5 });
  });

  it('lists the metrics of many CIs in one batch', async () => {
    const lone = (await og.cmdb.create({ class: 'linux_server', name: 'db-09' }, { actor: admin })).id;
    const metrics: CapacityMetric[] = [];
    metrics.push(
      await og.capacity.defineMetric(
        { ciId: lone, kind: 'cpu', name: 'a', unit: '%', capacity: 100 },
        { actor: admin },
      ),
    );
    clock.advance(1000);
    metrics.push(
      await og.capacity.defineMetric(
        { ciId: lone, kind: 'memory', name: 'b', unit: 'B', capacity: 1 },
        { actor: admin },
      ),
    );
    const byCi = await og.capacity.metricsOfCis([lone, crypto.randomUUID()]);
    expect(byCi.get(lone)?.map((m) => m.name)).toEqual(['a', 'b']);
    expect([...byCi.values()].map((list) => list.length)).toEqual([2, 0]);
  });
});
