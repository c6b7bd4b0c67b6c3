import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertSeverity } from '../events/model.js';
import type { Level } from '../incidents/model.js';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { Slo } from './model.js';

const admin = systemActor('test');
const MIN = 60_000;

// `availabilityMany`: the answers of `availability` for many targets (a GraphQL page of SLOs), in the
// order asked, each target's own error in its place, at a cost that does not grow with the targets.
describe.each(testBackends())('availability of many targets on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-11-01T00:00:00.000Z');
  const ci: Record<string, string> = {};
  let shopSlo: Slo;
  let mailSlo: Slo;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    const make = async (name: string, cls: string) => {
      ci[name] = (await og.cmdb.create({ class: cls, name }, { actor: admin })).id;
    };
    await make('shop', 'business_service');
    await make('mail', 'business_service');
    await make('app', 'application');
    await make('db', 'linux_server');
    await make('rack', 'hardware');
    // Both services depend on db (shop through app); db sits in a rack.
    const relate = (type: string, sourceId: string, targetId: string) =>
      og.cmdb.relate({ type, sourceId, targetId }, { actor: admin });
    await relate('depends_on', ci.shop!, ci.app!);
    await relate('depends_on', ci.app!, ci.db!);
    await relate('depends_on', ci.mail!, ci.db!);
    await relate('contains', ci.rack!, ci.db!);
    // Different rules, periods and zones per SLO: each target's parameters travel with it in the batch.
    shopSlo = await og.serviceLevels.defineSlo(
      { serviceId: ci.shop!, name: 'Shop', objective: 99.9 },
      { actor: admin },
    );
    mailSlo = await og.serviceLevels.defineSlo(
      {
        serviceId: ci.mail!,
        name: 'Mail',
        objective: 99.5,
        period: 'week',
        timeZone: 'Europe/Paris',
        alertSeverities: ['critical', 'major'],
      },
      { actor: admin },
    );

    const at = (iso: string) => clock.set(iso);
    let seq = 0;
    const alert = async (ciId: string, severity: AlertSeverity) =>
      (
        await og.events.ingest(
          { source: 'mon', node: `n${++seq}`, type: 'down', severity, ciId },
          { actor: admin },
        )
      )[0]!.alertId!;
    const incident = (ciId: string, impact: Level, urgency: Level) =>
      og.incidents.create({ shortDescription: 'Down', ciId, impact, urgency }, { actor: admin });
    const resolve = (id: string) =>
      og.incidents.transition(
        id,
        { to: 'resolved', resolutionCode: 'solved_permanently', resolutionNotes: 'Fixed.' },
        { actor: admin },
      );
    const maintain = (ciId: string, startsAt: string, endsAt: string) =>
      og.changes.scheduleMaintenance({ name: 'Works', ciIds: [ciId], startsAt, endsAt }, { actor: admin });

    // A critical alert on db 10:00-10:30 on 10 November; the rack's maintenance from 10:20 cuts it to
    // 20 minutes, for both services.
    await maintain(ci.rack!, '2026-11-10T10:20:00Z', '2026-11-10T11:00:00Z');
    at('2026-11-10T10:00:00Z');
    const dbDown = await alert(ci.db!, 'critical');
    at('2026-11-10T10:30:00Z');
    await og.events.close(dbDown, { actor: admin });
    // A P1 incident on the shop 02:00-03:00 on 20 November; shop maintenance until 02:40 leaves 20 minutes.
    await maintain(ci.shop!, '2026-11-20T01:30:00Z', '2026-11-20T02:40:00Z');
    at('2026-11-20T02:00:00Z');
    const shopDown = await incident(ci.shop!, 1, 1);
    at('2026-11-20T03:00:00Z');
    await resolve(shopDown.id);
    // A major alert on mail 12:00-12:45 on Tuesday 24 November: counts for the Mail SLO only.
    at('2026-11-24T12:00:00Z');
    const mailMajor = await alert(ci.mail!, 'major');
    at('2026-11-24T12:45:00Z');
    await og.events.close(mailMajor, { actor: admin });
    at('2026-12-02T00:00:00Z'); // a Wednesday
  });
  afterAll(() => og?.close());

  it('answers each target as availability does, in the order asked, with its own error in its place', async () => {
    const unknown = crypto.randomUUID();
    const batch = await og.serviceLevels.availabilityMany(
      [
        { sloId: shopSlo.id },
        { sloId: mailSlo.id },
        { serviceId: ci.mail! },
        { sloId: unknown },
        { serviceId: ci.db! },
        { sloId: shopSlo.id.toUpperCase() },
      ],
      { period: 'previous' },
    );
    expect(batch).toHaveLength(6);
    // Shop, November: 20 + 20 minutes of 30 days; 0.1% allowed.
    expect(batch[0]).toMatchObject({
      sloId: shopSlo.id,
      serviceId: ci.shop,
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
      elapsedMs: 2_592_000_000,
      downtimeMs: 40 * MIN,
      uptimePercent: ((2_592_000_000 - 2_400_000) * 100) / 2_592_000_000,
      errorBudget: {
        allowedMs: 2_592_000,
        consumedMs: 2_400_000,
        remainingMs: 192_000,
        remainingPercent: (192_000 * 100) / 2_592_000,
        burnRate: 2_400_000 / 2_592_000,
      },
    });
    expect(batch[0]).toEqual(
      await og.serviceLevels.availability({ sloId: shopSlo.id }, { period: 'previous' }),
    );
    // Mail, the Paris week of 23 November: the major alert's 45 minutes; 0.5% of 7 days allowed.
    expect(batch[1]).toMatchObject({
      sloId: mailSlo.id,
      from: new Date('2026-11-22T23:00:00Z'),
      to: new Date('2026-11-29T23:00:00Z'),
      downtimeMs: 45 * MIN,
      errorBudget: { allowedMs: 3_024_000, consumedMs: 2_700_000, remainingMs: 324_000 },
    });
    expect(batch[1]).toEqual(
      await og.serviceLevels.availability({ sloId: mailSlo.id }, { period: 'previous' }),
    );
    expect(batch[2]).toBeInstanceOf(ValidationError);
    expect((batch[2] as ValidationError).field).toBe('window.period');
    expect(batch[3]).toBeInstanceOf(NotFoundError);
    expect((batch[3] as NotFoundError).field).toBe('sloId');
    expect(batch[4]).toBeInstanceOf(ValidationError);
    expect((batch[4] as ValidationError).field).toBe('serviceId');
    expect(batch[5]).toEqual(batch[0]);
    // The single call throws what the batch returns in its place.
    await expect(
      og.serviceLevels.availability({ serviceId: ci.db! }, { period: 'previous' }),
    ).rejects.toMatchObject({ field: 'serviceId' });
  });

  it('applies each target its own rules over instants: default rules for services, the SLO’s otherwise', async () => {
    const window = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };
    const targets = [{ serviceId: ci.shop! }, { serviceId: ci.mail! }, { sloId: mailSlo.id }];
    const batch = await og.serviceLevels.availabilityMany(targets, window);
    // Shop: db's 20 minutes and the incident's 20; mail by default: db's 20 (the major alert does not
    // count); the Mail SLO: db's 20 and the major alert's 45.
    expect(batch.map((a) => (a instanceof Error ? a : [a.downtimeMs, a.outages.length]))).toEqual([
      [40 * MIN, 2],
      [20 * MIN, 1],
      [65 * MIN, 2],
    ]);
    for (const [i, target] of targets.entries())
      expect(batch[i]).toEqual(await og.serviceLevels.availability(target, window));
  });

  it('costs the same statements for one target as for many: one each for SLOs, walk, causes, maintenance', async () => {
    const window = { period: 'previous' };
    const one = await og.queries.measure(() =>
      og.serviceLevels.availabilityMany([{ sloId: mailSlo.id }], window),
    );
    const three = await og.queries.measure(() =>
      og.serviceLevels.availabilityMany(
        [{ sloId: shopSlo.id }, { sloId: mailSlo.id }, { sloId: shopSlo.id }],
        window,
      ),
    );
    expect(three.result.map((a) => (a instanceof Error ? a : a.downtimeMs))).toEqual([
      40 * MIN,
      45 * MIN,
      40 * MIN,
    ]);
    // SLOs, the class catalog and the dependency walk (topology), causes, maintenance.
    expect(one.queries).toHaveLength(5);
    expect(three.queries).toHaveLength(5);
    const single = await og.queries.measure(() =>
      og.serviceLevels.availability({ sloId: mailSlo.id }, window),
    );
    expect(single.queries).toHaveLength(5);
  });

  it('refuses a bad window and a reader without operations:read for the whole batch', async () => {
    await expect(
      og.serviceLevels.availabilityMany([{ sloId: shopSlo.id }], { period: 'yesterday' }),
    ).rejects.toMatchObject({ field: 'window.period' });
    const reader = await scopedTestActor(og, 'reader', [], ['cmdb:read']);
    await expect(
      og.serviceLevels.availabilityMany([{ sloId: shopSlo.id }], { period: 'current' }, { actor: reader }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect(await og.serviceLevels.availabilityMany([], { period: 'current' })).toEqual([]);
  });
});
