import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { systemActor } from './actor.js';
import { ManualClock } from './clock.js';
import { definePlugin } from './plugins.js';
import type { SweepContext } from './scheduler.js';

const admin = systemActor('test');
const MINUTE = 60_000;

describe.each(testBackends())('scheduler on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-05-04T08:00:00.000Z');
  const seen: SweepContext[] = [];
  let failNext = false;
  const probes = definePlugin({
    name: 'probes',
    sweeps: [
      {
        name: 'ping',
        everyMs: 10 * MINUTE,
        run: async (context) => {
          seen.push(context);
          // Written in the sweep's transaction: a failure after it must leave nothing behind.
          await context.kernel.services.cmdb.create(
            { class: 'linux_server', name: `probe-${seen.length}` },
            { actor: context.actor },
          );
          if (failNext) {
            failNext = false;
            throw new Error('probe target unreachable');
          }
          return { probed: 1 };
        },
      },
    ],
  });

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock, plugins: [probes] });
  });
  afterAll(() => og?.close());

  it("runs core's sweeps and plugins' (named <plugin>.<name>, run as the plugin) and records each run", async () => {
    expect(og.scheduler.names).toEqual([
      'access',
      'slas',
      'maintenance',
      'operations',
      'serviceHealth',
      'notifications',
      'probes.ping',
    ]);
    const reports = await og.scheduler.run();
    expect(reports.map((r) => [r.name, r.outcome])).toEqual([
      ['access', 'ran'],
      ['slas', 'ran'],
      ['maintenance', 'ran'],
      ['operations', 'ran'],
      ['serviceHealth', 'ran'],
      ['notifications', 'ran'],
      ['probes.ping', 'ran'],
    ]);
    expect(reports.at(-1)!.summary).toEqual({ probed: 1 });
    expect(seen.at(-1)!.actor).toMatchObject({ kind: 'plugin', id: 'probes' });
    expect(seen.at(-1)!.now).toEqual(clock.now());
    const status = await og.scheduler.status();
    expect(status.find((s) => s.name === 'probes.ping')).toMatchObject({
      everyMs: 10 * MINUTE,
      guarded: true,
      lastRunAt: clock.now(),
      lastSummary: { probed: 1 },
      runs: 1,
      failures: 0,
      lastError: null,
    });
    expect(status.find((s) => s.name === 'notifications')).toMatchObject({ guarded: false, runs: 1 });
  });

  it('runDue runs a sweep only when its cadence has passed since its last run by anyone', async () => {
    const ping = async () => (await og.scheduler.runDue({ only: ['probes.ping'] }))[0]!.outcome;
    clock.advance(9 * MINUTE);
    expect(await ping()).toBe('not-due');
    clock.advance(MINUTE);
    expect(await ping()).toBe('ran');
    expect(await ping()).toBe('not-due');
  });

  it('lets one of two concurrent rounds act (advisory lock, then the shared cadence)', async () => {
    clock.advance(10 * MINUTE);
    const before = seen.length;
    const rounds = await Promise.all([
      og.scheduler.runDue({ only: ['probes.ping'] }),
      og.scheduler.runDue({ only: ['probes.ping'] }),
    ]);
    const outcomes = rounds.map((r) => r[0]!.outcome);
    expect(outcomes.filter((o) => o === 'ran')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'locked' || o === 'not-due')).toHaveLength(1);
    expect(seen.length).toBe(before + 1);
  });

  it('a failing sweep keeps nothing it wrote, is recorded with its error, and runs again when due', async () => {
    clock.advance(10 * MINUTE);
    failNext = true;
    const [report] = await og.scheduler.runDue({ only: ['probes.ping'] });
    expect(report).toMatchObject({ outcome: 'failed', error: 'probe target unreachable' });
    const cis = await og.cmdb.list({ search: `probe-${seen.length}` });
    expect(cis.edges).toHaveLength(0);
    const status = (await og.scheduler.status()).find((s) => s.name === 'probes.ping')!;
    expect(status).toMatchObject({
      failures: 1,
      lastError: 'probe target unreachable',
      lastErrorAt: clock.now(),
    });
    // A failure waits the cadence like a run (no retry storm), then a success clears the count.
    expect((await og.scheduler.runDue({ only: ['probes.ping'] }))[0]!.outcome).toBe('not-due');
    clock.advance(10 * MINUTE);
    const [again] = await og.scheduler.runDue({ only: ['probes.ping'] });
    expect(again!.outcome).toBe('ran');
    expect((await og.scheduler.status()).find((s) => s.name === 'probes.ping')).toMatchObject({
      failures: 0,
      lastError: 'probe target unreachable',
    });
  });

  it('announces maintenance windows when their time comes and re-judges the suppression of live alerts', async () => {
    const host = await og.cmdb.create({ class: 'linux_server', name: 'db-07' }, { actor: admin });
    await og.events.createIncidentRule(
      { name: 'db-07 critical', match: { severity: ['critical'] }, incident: { impact: 2, urgency: 2 } },
      { actor: admin },
    );
    const startsAt = new Date(clock.now().getTime() + 60 * MINUTE);
    const window = await og.changes.scheduleMaintenance(
      {
        name: 'db-07 patching',
        ciIds: [host.id],
        startsAt,
        endsAt: new Date(startsAt.getTime() + 30 * MINUTE),
      },
      { actor: admin },
    );
    // Raised before the window: not suppressed; the critical one opened its incident then.
    const [before, early] = await og.events.ingest(
      [
        { source: 'nagios', node: 'db-07', type: 'disk_full', severity: 'major', message: 'disk 97%' },
        { source: 'nagios', node: 'db-07', type: 'replication', severity: 'critical', message: 'lagging' },
      ],
      { actor: admin },
    );
    expect((await og.events.alert(before!.alertId!))?.suppressed).toBe(false);
    const earlyIncident = (await og.incidents.incidentOfAlert(early!.alertId!))!;
    expect(earlyIncident).not.toBeNull();
    const maintenance = () => og.scheduler.run({ only: ['maintenance'] }).then((r) => r[0]!.summary);
    const changes = async (type: string) =>
      (await og.activity.list({ types: [type as never], limit: 100 })).filter(
        (e) => e.subject?.id === window.id || e.subject?.id === before!.alertId,
      ).length;

    clock.set(new Date(startsAt.getTime() + MINUTE));
    expect(await maintenance()).toMatchObject({ started: 1, ended: 0, suppressed: 2, unsuppressed: 0 });
    expect(await maintenance()).toMatchObject({ started: 0, suppressed: 0 });
    expect(await og.events.alert(before!.alertId!)).toMatchObject({
      suppressed: true,
      maintenanceWindowId: window.id,
    });
    // Raised inside: suppressed at ingest, so no incident.
    const [inside] = await og.events.ingest(
      { source: 'nagios', node: 'db-07', type: 'db_down', severity: 'critical', message: 'down' },
      { actor: admin },
    );
    expect(await og.incidents.incidentOfAlert(inside!.alertId!)).toBeNull();
    expect((await og.events.alert(inside!.alertId!))?.suppressed).toBe(true);

    clock.set(new Date(startsAt.getTime() + 31 * MINUTE));
    // Still firing after the window: no longer suppressed, and the critical one goes through the rules.
    expect(await maintenance()).toMatchObject({
      started: 0,
      ended: 1,
      unsuppressed: 3,
      linkedToIncidents: 1,
    });
    expect(await maintenance()).toMatchObject({ ended: 0, unsuppressed: 0, linkedToIncidents: 0 });
    expect((await og.events.alert(inside!.alertId!))?.suppressed).toBe(false);
    expect((await og.incidents.incidentOfAlert(inside!.alertId!))?.state).toBe('new');
    expect(await og.incidents.incidentOfAlert(before!.alertId!)).toBeNull();
    // `early` keeps the incident it had: no second one for it.
    expect((await og.incidents.incidentOfAlert(early!.alertId!))?.id).toBe(earlyIncident.id);
    expect(await changes('maintenance.started')).toBe(1);
    expect(await changes('maintenance.ended')).toBe(1);
    // `before` was suppressed by the sweep, then lifted: one of each (`inside` was suppressed at ingest).
    expect(await changes('alert.suppressed')).toBe(1);
    expect(await changes('alert.unsuppressed')).toBe(1);
  });

  it('refuses unknown sweeps and bad cadences naming the option', async () => {
    await expect(og.scheduler.run({ only: ['nope'] })).rejects.toThrow(/no sweep is named "nope"/);
    expect(() => og.scheduler.start({ every: { nope: 100 } })).toThrow(/every\.nope/);
    expect(() => og.scheduler.start({ tickMs: 5 })).toThrow(/tickMs must be an integer of at least 10/);
    expect(() => og.scheduler.start({ every: { slas: 1.5 } })).toThrow(/every\.slas/);
  });

  it('a started runner runs due sweeps on its own and stops cleanly', async () => {
    clock.advance(10 * MINUTE);
    const before = seen.length;
    const runner = og.scheduler.start({
      every: {
        'probes.ping': 20,
        access: false,
        slas: false,
        maintenance: false,
        operations: false,
        notifications: false,
      },
    });
    await expect.poll(() => seen.length, { timeout: 5_000 }).toBeGreaterThan(before);
    await runner.stop();
    const after = seen.length;
    clock.advance(10 * MINUTE);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.length).toBe(after);
  });
});
