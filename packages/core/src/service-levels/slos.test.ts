import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertSeverity } from '../events/model.js';
import type { Level } from '../incidents/model.js';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');
const MIN = 60_000;
const DAY = 86_400_000;

/** The issues' paths of a ValidationError thrown by `fn`. */
const pathsOf = async (fn: () => Promise<unknown>) => {
  const error = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => i.path);
};

describe.each(testBackends())('SLOs and availability on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-10-01T00:00:00.000Z');
  const ci: Record<string, string> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    const make = async (name: string, cls: string) => {
      ci[name] = (await og.cmdb.create({ class: cls, name }, { actor: admin })).id;
    };
    await make('shop', 'business_service');
    await make('app', 'application');
    await make('db', 'linux_server');
    await make('rack', 'hardware');
    await make('other', 'linux_server');
    await make('mail', 'business_service');
    // shop depends on app, app on db: an alert on db takes the shop down; db sits in a rack.
    await og.cmdb.relate({ type: 'depends_on', sourceId: ci.shop!, targetId: ci.app! }, { actor: admin });
    await og.cmdb.relate({ type: 'depends_on', sourceId: ci.app!, targetId: ci.db! }, { actor: admin });
    await og.cmdb.relate({ type: 'contains', sourceId: ci.rack!, targetId: ci.db! }, { actor: admin });
  });
  afterAll(() => og?.close());

  const at = (iso: string) => clock.set(iso);
  const incident = (ciId: string, impact: Level, urgency: Level) =>
    og.incidents.create({ shortDescription: 'Down', ciId, impact, urgency }, { actor: admin });
  const resolve = (id: string) =>
    og.incidents.transition(
      id,
      { to: 'resolved', resolutionCode: 'solved_permanently', resolutionNotes: 'Fixed.' },
      { actor: admin },
    );
  let alertSeq = 0;
  const alert = async (ciId: string, severity: AlertSeverity) => {
    const [r] = await og.events.ingest(
      { source: 'mon', node: `n${++alertSeq}`, type: 'down', severity, ciId },
      { actor: admin },
    );
    return r!.alertId!;
  };
  const close = (id: string) => og.events.close(id, { actor: admin });

  it('computes a month of availability exactly: dependency, merged causes, boundary clipped, maintenance cut out', async () => {
    const slo = await og.serviceLevels.defineSlo(
      { serviceId: ci.shop!, name: 'Shop monthly', objective: 99.9 },
      { actor: admin },
    );
    expect(slo).toMatchObject({
      period: 'month',
      timeZone: 'UTC',
      incidentPriorities: [1, 2],
      alertSeverities: ['critical'],
      version: 1,
    });

    // Outage 1, across the start of November: a critical alert on db (a dependency) from 23:50 to
    // 00:10 and a P2 incident on app from 23:55 to 00:15 merge into one; November holds 00:00-00:15.
    at('2026-10-31T23:50:00Z');
    const dbDown = await alert(ci.db!, 'critical');
    at('2026-10-31T23:55:00Z');
    const appIncident = await incident(ci.app!, 1, 2); // P2
    at('2026-11-01T00:10:00Z');
    await close(dbDown);
    at('2026-11-01T00:15:00Z');
    await resolve(appIncident.id);

    // Outage 2: a P1 incident on the shop from 02:00 to 03:00; shop maintenance 01:30-02:40 leaves 20 min.
    at('2026-11-19T12:00:00Z');
    await og.changes.scheduleMaintenance(
      {
        name: 'Shop upgrade',
        ciIds: [ci.shop!],
        startsAt: '2026-11-20T01:30:00Z',
        endsAt: '2026-11-20T02:40:00Z',
      },
      { actor: admin },
    );
    at('2026-11-20T02:00:00Z');
    const shopDown = await incident(ci.shop!, 1, 1); // P1
    at('2026-11-20T03:00:00Z');
    await resolve(shopDown.id);

    // Not outages: a critical alert on db wholly inside maintenance of the rack containing it, a P3
    // incident, a major alert on the service, a critical alert on a CI the shop does not depend on.
    at('2026-11-24T12:00:00Z');
    await og.changes.scheduleMaintenance(
      {
        name: 'Rack power',
        ciIds: [ci.rack!],
        startsAt: '2026-11-25T04:00:00Z',
        endsAt: '2026-11-25T05:00:00Z',
      },
      { actor: admin },
    );
    at('2026-11-25T04:10:00Z');
    const inRack = await alert(ci.db!, 'critical');
    const p3 = await incident(ci.shop!, 1, 3);
    const major = await alert(ci.shop!, 'major');
    const elsewhere = await alert(ci.other!, 'critical');
    at('2026-11-25T04:40:00Z');
    for (const id of [inRack, major, elsewhere]) await close(id);
    await resolve(p3.id);

    at('2026-12-02T00:00:00Z');
    const a = await og.serviceLevels.availability({ sloId: slo.id }, { period: 'previous' });
    const month = 30 * DAY; // 2,592,000,000 ms
    const down = 15 * MIN + 20 * MIN; // 2,100,000 ms
    expect(a).toMatchObject({
      sloId: slo.id,
      serviceId: ci.shop,
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
      until: new Date('2026-12-01T00:00:00Z'),
      elapsedMs: month,
      downtimeMs: 2_100_000,
    });
    expect(down).toBe(2_100_000);
    expect(a.outages).toEqual([
      {
        start: new Date('2026-11-01T00:00:00Z'),
        end: new Date('2026-11-01T00:15:00Z'),
        durationMs: 900_000,
        ongoing: false,
        incidentIds: [appIncident.id],
        alertIds: [dbDown],
      },
      {
        start: new Date('2026-11-20T02:40:00Z'),
        end: new Date('2026-11-20T03:00:00Z'),
        durationMs: 1_200_000,
        ongoing: false,
        incidentIds: [shopDown.id],
        alertIds: [],
      },
    ]);
    // Hand-computed: uptime (2,592,000,000 - 2,100,000) / 2,592,000,000 = 99.918981481…%; allowed
    // 0.1% of 30 days = 2,592,000 ms; remaining 492,000 ms = 18.981481…%; burn 2.1e6 / 2.592e6 = 0.810185…
    expect(a.uptimePercent).toBe(258_990_000_000 / 2_592_000_000);
    expect(a.uptimePercent.toFixed(9)).toBe('99.918981481');
    expect(a.errorBudget).toEqual({
      allowedMs: 2_592_000,
      consumedMs: 2_100_000,
      remainingMs: 492_000,
      remainingPercent: 49_200_000 / 2_592_000,
      burnRate: 2_100_000 / 2_592_000,
    });
    expect(a.errorBudget!.remainingPercent.toFixed(6)).toBe('18.981481');
    expect(a.errorBudget!.burnRate.toFixed(6)).toBe('0.810185');

    // The same period asked by a date in it, or as instants, gives the same answer.
    const byDate = await og.serviceLevels.availability({ sloId: slo.id }, { period: '2026-11-15' });
    expect(byDate.downtimeMs).toBe(2_100_000);
    const byService = await og.serviceLevels.availability(
      { serviceId: ci.shop! },
      { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' },
    );
    expect([byService.downtimeMs, byService.errorBudget, byService.outages.length]).toEqual([
      2_100_000,
      null,
      2,
    ]);
    // October holds the other side of the boundary outage: 23:50 to 00:00.
    const october = await og.serviceLevels.availability({ sloId: slo.id }, { period: '2026-10-31' });
    expect(october.outages.map((o) => [o.start, o.end])).toEqual([
      [new Date('2026-10-31T23:50:00Z'), new Date('2026-11-01T00:00:00Z')],
    ]);
    // A rule that counts major alerts sees the major one.
    const strict = await og.serviceLevels.updateSlo(
      slo.id,
      { alertSeverities: ['major', 'critical'] },
      { actor: admin, version: 1 },
    );
    expect(strict).toMatchObject({ alertSeverities: ['critical', 'major'], version: 2 });
    const withMajor = await og.serviceLevels.availability({ sloId: slo.id }, { period: 'previous' });
    expect(withMajor.downtimeMs).toBe(2_100_000 + 30 * MIN);
    await og.serviceLevels.retireSlo(slo.id, { actor: admin, version: 2 });
  });

  it('counts only the elapsed part of the current period; an open incident goes on to now', async () => {
    const slo = await og.serviceLevels.defineSlo(
      { serviceId: ci.mail!, name: 'Mail', objective: 99.9, period: 'month' },
      { actor: admin },
    );
    at('2026-12-01T12:00:00Z');
    const open = await incident(ci.mail!, 1, 1);
    at('2026-12-02T00:00:00Z');
    const a = await og.serviceLevels.availability({ sloId: slo.id }, { period: 'current' });
    expect(a).toMatchObject({
      from: new Date('2026-12-01T00:00:00Z'),
      to: new Date('2027-01-01T00:00:00Z'),
      until: new Date('2026-12-02T00:00:00Z'),
      elapsedMs: DAY,
      downtimeMs: DAY / 2,
      uptimePercent: 50,
    });
    expect(a.outages).toEqual([
      {
        start: new Date('2026-12-01T12:00:00Z'),
        end: new Date('2026-12-02T00:00:00Z'),
        durationMs: DAY / 2,
        ongoing: true,
        incidentIds: [open.id],
        alertIds: [],
      },
    ]);
    // Allowed: 0.1% of December's 31 days; burn rate: half the elapsed time down against 0.1% = 500.
    expect(a.errorBudget).toEqual({
      allowedMs: 2_678_400,
      consumedMs: 43_200_000,
      remainingMs: 2_678_400 - 43_200_000,
      remainingPercent: ((2_678_400 - 43_200_000) * 100) / 2_678_400,
      burnRate: 500,
    });
    await resolve(open.id);
  });

  it('follows calendar periods in the SLO time zone', async () => {
    const slo = await og.serviceLevels.defineSlo(
      {
        serviceId: ci.mail!,
        name: 'Mail weekly Paris',
        objective: 99.5,
        period: 'week',
        timeZone: 'Europe/Paris',
      },
      { actor: admin },
    );
    at('2026-12-02T00:00:00Z'); // a Wednesday, 01:00 in Paris
    const week = await og.serviceLevels.availability({ sloId: slo.id }, { period: 'previous' });
    expect([week.from, week.to]).toEqual([
      new Date('2026-11-22T23:00:00Z'), // Monday 23 November, 00:00 in Paris
      new Date('2026-11-29T23:00:00Z'),
    ]);
    // Allowed downtime: 0.5% of 7 days = 3,024,000 ms.
    expect(week.errorBudget!.allowedMs).toBe(3_024_000);
    const quarter = await og.serviceLevels.updateSlo(slo.id, { period: 'quarter' }, { actor: admin });
    const q = await og.serviceLevels.availability({ sloId: quarter.id }, { period: '2026-05-10' });
    expect([q.from, q.to]).toEqual([new Date('2026-03-31T22:00:00Z'), new Date('2026-06-30T22:00:00Z')]);
  });

  it('refuses bad input naming the field, stale versions, retired SLOs and readers without operations:read', async () => {
    expect(
      await pathsOf(() =>
        og.serviceLevels.defineSlo(
          {
            serviceId: ci.shop!,
            name: ' ',
            objective: 100,
            period: 'year' as never,
            timeZone: 'Mars/Olympus',
          },
          { actor: admin },
        ),
      ),
    ).toEqual(['name', 'objective', 'period', 'timeZone']);
    expect(
      await pathsOf(() =>
        og.serviceLevels.defineSlo(
          { serviceId: ci.shop!, name: 'x', objective: 99.12345, incidentPriorities: [] },
          { actor: admin },
        ),
      ),
    ).toEqual(['objective', 'incidentPriorities']);
    expect(
      await pathsOf(() =>
        og.serviceLevels.defineSlo({ serviceId: ci.db!, name: 'x', objective: 99 }, { actor: admin }),
      ),
    ).toEqual(['serviceId']);
    await expect(
      og.serviceLevels.defineSlo(
        { serviceId: crypto.randomUUID(), name: 'x', objective: 99 },
        { actor: admin },
      ),
    ).rejects.toBeInstanceOf(NotFoundError);

    const slo = await og.serviceLevels.defineSlo(
      { serviceId: ci.shop!, name: 'Daily', objective: 99, period: 'day' },
      { actor: admin },
    );
    expect(
      await pathsOf(() =>
        og.serviceLevels.defineSlo({ serviceId: ci.shop!, name: 'daily', objective: 98 }, { actor: admin }),
      ),
    ).toEqual(['name']);
    expect(
      await pathsOf(() => og.serviceLevels.updateSlo(slo.id, { objective: 0 }, { actor: admin, version: 1 })),
    ).toEqual(['patch.objective']);
    const updated = await og.serviceLevels.updateSlo(
      slo.id,
      { objective: 99.5 },
      { actor: admin, version: 1 },
    );
    expect([updated.objective, updated.version]).toEqual([99.5, 2]);
    const stale = await og.serviceLevels
      .updateSlo(slo.id, { name: 'Late' }, { actor: admin, version: 1 })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect((stale as ConflictError).field).toBe('version');
    expect((await og.serviceLevels.slo(slo.id))!.name).toBe('Daily');

    expect(
      await pathsOf(() =>
        og.serviceLevels.availability(
          { sloId: slo.id },
          { from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' },
        ),
      ),
    ).toEqual(['window.to']);
    expect(
      await pathsOf(() => og.serviceLevels.availability({ serviceId: ci.shop! }, { period: 'current' })),
    ).toEqual(['window.period']);
    expect(
      await pathsOf(() => og.serviceLevels.availability({ sloId: slo.id }, { period: 'yesterday' })),
    ).toEqual(['window.period']);

    const reader = await scopedTestActor(og, 'reader', [], ['cmdb:read']);
    await expect(og.serviceLevels.slos({}, {}, { actor: reader })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(og.serviceLevels.retireSlo(slo.id, { actor: reader })).rejects.toBeInstanceOf(
      ForbiddenError,
    );

    const retired = await og.serviceLevels.retireSlo(slo.id, { actor: admin, version: 2 });
    expect(retired.retiredAt).toEqual(clock.now());
    await expect(
      og.serviceLevels.updateSlo(slo.id, { name: 'Again' }, { actor: admin }),
    ).rejects.toBeInstanceOf(ConflictError);
    const events = await og.activity.list({
      types: ['slo.defined', 'slo.updated', 'slo.retired'],
      limit: 100,
    });
    expect(events.filter((e) => e.subject?.id === slo.id).map((e) => e.type)).toEqual([
      'slo.defined',
      'slo.updated',
      'slo.retired',
    ]);
  });

  it('lists SLOs by name a page at a time, live ones unless asked', async () => {
    const all = await og.serviceLevels.slos({ includeRetired: true }, { first: 2 });
    expect(all.hasNextPage).toBe(true);
    const rest = await og.serviceLevels.slos({ includeRetired: true }, { first: 10, after: all.endCursor });
    const names = [...all.edges, ...rest.edges].map((e) => e.node.name);
    expect(names).toEqual(['Daily', 'Mail', 'Mail weekly Paris', 'Shop monthly']);
    const live = await og.serviceLevels.slos({ serviceId: ci.mail! });
    expect(live.edges.map((e) => e.node.name)).toEqual(['Mail', 'Mail weekly Paris']);
    expect(await pathsOf(() => og.serviceLevels.slos({}, { after: 'nonsense' }))).toEqual(['after']);
  });
});
