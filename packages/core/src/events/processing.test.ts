// Rules, flapping, maintenance suppression and correlation: each test fails without its feature.
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, ValidationError } from '../kernel/errors.js';
import { createOpsGraph } from '../kernel/opsgraph.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { EventInput } from './model.js';

const admin = systemActor('test');
const MINUTE = 60_000;
const operatorOnly: Actor = {
  kind: 'token',
  id: 'op',
  name: 'operator token',
  permissions: ['event:read', 'event:write'],
};

describe.each(testBackends())('event processing on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const ci: Record<string, string> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({
      backend,
      clock,
      events: { flapping: { cycles: 2, windowMs: 10 * MINUTE }, correlation: { windowMs: 15 * MINUTE } },
    });
    const make = async (name: string, cls: string, attributes: Record<string, unknown> = {}) => {
      ci[name] = (await og.cmdb.create({ class: cls, name, attributes }, { actor: admin })).id;
    };
    // shop depends on app, which runs on vm, hosted on hyp, which sits in rack (rack contains hyp).
    await make('rack-1', 'hardware');
    await make('hyp-01', 'linux_server', { hostname: 'hyp-01', serial_number: 'SN-HYP-01' });
    await make('vm-01', 'linux_server', { hostname: 'vm-01' });
    await make('app', 'application');
    await make('shop', 'business_service');
    await make('lonely', 'linux_server', { hostname: 'lonely' });
    const relate = (type: string, s: string, t: string) =>
      og.cmdb.relate({ type, sourceId: ci[s]!, targetId: ci[t]! }, { actor: admin });
    await relate('contains', 'rack-1', 'hyp-01');
    await relate('hosted_on', 'vm-01', 'hyp-01');
    await relate('runs_on', 'app', 'vm-01');
    await relate('depends_on', 'shop', 'app');
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
  const ingestOne = async (e: EventInput) => (await og.events.ingest(e, { actor: admin }))[0]!;
  const alertOf = async (e: EventInput) => (await og.events.alert((await ingestOne(e)).alertId!))!;

  describe('rules', () => {
    it('ignore drops the event before it touches any alert', async () => {
      await og.events.createRule(
        { name: 'drop test pings', match: { source: { equals: 'test-probe' } }, actions: { ignore: true } },
        { actor: admin },
      );
      const [result] = await og.events.ingest(event('probe-1', { source: 'test-probe' }), { actor: admin });
      expect(result).toEqual({
        dedupKey: 'probe-1',
        alertId: null,
        outcome: 'ignored',
        ignoredBy: 'drop test pings',
      });
      expect((await og.events.alerts({ dedupKey: 'probe-1' })).edges).toHaveLength(0);
    });

    it('sets severity, labels and message from templates and regex groups, in order', async () => {
      await og.events.createRule(
        {
          name: 'prod hosts',
          position: 100,
          match: { node: { regex: '(?<host>[a-z0-9-]+)\\.prod\\.example' }, severity: ['minor', 'major'] },
          actions: {
            severity: 'critical',
            addLabels: [
              { name: 'env', value: 'prod' },
              { name: 'host', value: '{{match.host}}' },
            ],
            message: '[{{match.host}}] {{message}}',
          },
        },
        { actor: admin },
      );
      await og.events.createRule(
        {
          name: 'tag team',
          position: 200,
          match: { labels: [{ name: 'env', equals: 'prod' }] },
          actions: { addLabels: [{ name: 'team', value: 'ops-{{labels.env}}' }] },
        },
        { actor: admin },
      );
      const alert = await alertOf(
        event('prod-1', { node: 'web-7.prod.example', message: 'down', labels: { a: '1' } }),
      );
      expect(alert).toMatchObject({
        severity: 'critical',
        message: '[web-7] down',
        labels: { a: '1', env: 'prod', host: 'web-7', team: 'ops-prod' },
      });
      // The regex is anchored: a node that only contains the pattern does not match.
      const other = await alertOf(event('prod-2', { node: 'web-7.prod.example.org' }));
      expect(other).toMatchObject({ severity: 'major', labels: {} });
    });

    it('stop ends the chain; a disabled rule does nothing', async () => {
      const stopper = await og.events.createRule(
        { name: 'stopper', position: 150, match: { type: { equals: 'stop-here' } }, actions: { stop: true } },
        { actor: admin },
      );
      const stopped = await alertOf(event('stop-1', { node: 'web-8.prod.example', type: 'stop-here' }));
      expect(stopped.labels).toEqual({ env: 'prod', host: 'web-8' }); // 'tag team' (200) did not run
      await og.events.updateRule(stopper.id, { enabled: false }, { actor: admin, version: stopper.version });
      const through = await alertOf(event('stop-2', { node: 'web-8.prod.example', type: 'stop-here' }));
      expect(through.labels).toEqual({ env: 'prod', host: 'web-8', team: 'ops-prod' });
    });

    it('binds by a CMDB attribute (a serial number label) and overrides the sender CI', async () => {
      await og.events.createRule(
        {
          name: 'by serial',
          match: { labels: [{ name: 'serial', present: true }] },
          actions: { bindBy: { attribute: 'serial_number', value: '{{labels.serial}}' } },
        },
        { actor: admin },
      );
      const bySerial = await alertOf(
        event('serial-1', { node: 'unknown-box', labels: { serial: 'sn-hyp-01' } }),
      );
      expect(bySerial.ciId).toBe(ci['hyp-01']);
      // No CI answers: binding falls back to the sender's CI.
      const fallback = await alertOf(event('serial-2', { ciId: ci.lonely, labels: { serial: 'nope' } }));
      expect(fallback.ciId).toBe(ci.lonely);
      const override = await og.events.createRule(
        { name: 'pin app', match: { type: { equals: 'app-check' } }, actions: { ciId: ci.app } },
        { actor: admin },
      );
      const pinned = await alertOf(event('pin-1', { type: 'app-check', ciId: ci.lonely }));
      expect(pinned.ciId).toBe(ci.app);
      await og.events.deleteRule(override.id, { actor: admin });
      expect(await og.events.rule(override.id)).toBeNull();
    });

    it('refuses bad rules naming the field, and nothing is written', async () => {
      const before = (await og.events.rules()).length;
      const refused = async (input: Parameters<typeof og.events.createRule>[0]) => {
        const error = await og.events.createRule(input, { actor: admin }).catch((e) => e);
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).issues.map((i) => i.path);
      };
      expect(await refused({ name: 'x', match: { node: { regex: '(' } }, actions: { stop: true } })).toEqual([
        'match.node.regex',
      ]);
      expect(await refused({ name: 'x', actions: { message: '{{nope}}' } })).toEqual(['actions.message']);
      expect(
        await refused({ name: 'x', actions: { addLabels: [{ name: 'a', value: '{{match.g}}' }] } }),
      ).toEqual(['actions.addLabels.0.value']);
      expect(await refused({ name: 'x', actions: { ciId: crypto.randomUUID() } })).toEqual(['actions.ciId']);
      expect(await refused({ name: 'x', actions: { ignore: true, severity: 'minor' } })).toEqual([
        'actions.ignore',
      ]);
      expect(await refused({ name: 'x', actions: {} })).toEqual(['actions']);
      expect(
        await refused({ name: 'x', match: { node: { equals: 'a', regex: 'b' } }, actions: { stop: true } }),
      ).toEqual(['match.node']);
      expect(await refused({ name: 'prod hosts', actions: { stop: true } })).toEqual(['name']);
      expect((await og.events.rules()).length).toBe(before);
    });

    it('needs event:admin to change rules, and the version read', async () => {
      await expect(
        og.events.createRule({ name: 'sneaky', actions: { ignore: true } }, { actor: operatorOnly }),
      ).rejects.toBeInstanceOf(ForbiddenError);
      expect((await og.events.rules({ actor: operatorOnly })).length).toBeGreaterThan(0);
      const rule = (await og.events.rules()).find((r) => r.name === 'tag team')!;
      await og.events.updateRule(rule.id, { description: 'first' }, { actor: admin, version: rule.version });
      await expect(
        og.events.updateRule(rule.id, { description: 'second' }, { actor: admin, version: rule.version }),
      ).rejects.toBeInstanceOf(ConflictError);
    });

    it('label groups (group_by) put alerts with the same label values together', async () => {
      await og.events.createRule(
        {
          name: 'group by alertname',
          match: { source: { equals: 'prometheus' } },
          actions: { groupBy: ['alertname', 'cluster'] },
        },
        { actor: admin },
      );
      const labels = (instance: string, cluster = 'eu') => ({ alertname: 'HighLatency', cluster, instance });
      const a = await alertOf(event('lat-a', { source: 'prometheus', labels: labels('a:9100') }));
      const b = await alertOf(event('lat-b', { source: 'prometheus', labels: labels('b:9100') }));
      const c = await alertOf(event('lat-c', { source: 'prometheus', labels: labels('c:9100', 'us') }));
      expect(a.groupKey).toBe('{"alertname":"HighLatency","cluster":"eu"}');
      expect(b.groupKey).toBe(a.groupKey);
      expect(c.groupKey).not.toBe(a.groupKey);
      const group = await og.events.alerts({ groupKey: a.groupKey! });
      expect(group.edges.map((e) => e.node.dedupKey).sort()).toEqual(['lat-a', 'lat-b']);
    });
  });

  describe('flapping', () => {
    it('marks the alert that opens after more than N close cycles in the window, and not after', async () => {
      const opens: boolean[] = [];
      for (let i = 0; i < 4; i++) {
        clock.advance(MINUTE);
        opens.push((await alertOf(event('flappy', { node: 'lonely' }))).flapping);
        clock.advance(MINUTE);
        await ingestOne(event('flappy', { node: 'lonely', severity: 'clear' }));
      }
      // Closes before each open: 0, 1, 2, 3 — more than 2 only at the fourth.
      expect(opens).toEqual([false, false, false, true]);
      expect((await og.events.alerts({ flapping: true, dedupKey: 'flappy' })).edges).toHaveLength(1);
      clock.advance(11 * MINUTE);
      expect((await alertOf(event('flappy', { node: 'lonely' }))).flapping).toBe(false);
      await ingestOne(event('flappy', { node: 'lonely', severity: 'clear' }));
    });

    it('counts closes in the window by an index of closed alerts, not every closed alert of the key (0038)', async () => {
      // The count as ingest sends it, for a new alert of a key with closed alerts.
      let counted: { sql: string; parameters: readonly unknown[] } | undefined;
      const off = og.queries.on((q) => {
        if (/status = 'closed' and closed_at >=/.test(q.sql)) counted = q;
      });
      clock.advance(MINUTE);
      await ingestOne(event('flappy', { node: 'lonely' }));
      off();
      await ingestOne(event('flappy', { node: 'lonely', severity: 'clear' }));
      expect(counted).toBeDefined();
      const plan = await og.transaction(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx.db);
        const { rows } = await tx.db.executeQuery<Record<string, string>>(
          CompiledQuery.raw(`explain ${counted!.sql}`, [...counted!.parameters]),
        );
        return rows.map((r) => Object.values(r)[0]).join('\n');
      });
      expect(plan).toMatch(/alerts_closed_key_idx/);
    });
  });

  describe('maintenance', () => {
    it('suppresses alerts on a CI under maintenance and on what it contains, only while the window lasts', async () => {
      const window = await og.changes.scheduleMaintenance(
        {
          name: 'rack 1 power work',
          ciIds: [ci['rack-1']!],
          startsAt: clock.now(),
          endsAt: new Date(clock.now().getTime() + 60 * MINUTE),
        },
        { actor: admin },
      );
      const onHyp = await alertOf(event('mw-hyp', { node: 'hyp-01' }));
      expect(onHyp).toMatchObject({ suppressed: true, maintenanceWindowId: window.id });
      // vm-01 is hosted on hyp-01, not contained in the rack: its alerts are not suppressed.
      expect((await alertOf(event('mw-vm', { node: 'vm-01' }))).suppressed).toBe(false);
      expect((await og.events.alerts({ suppressed: true })).edges.map((e) => e.node.dedupKey)).toEqual([
        'mw-hyp',
      ]);
      clock.advance(61 * MINUTE);
      expect((await alertOf(event('mw-hyp', { node: 'hyp-01' }))).suppressed).toBe(false);
      for (const key of ['mw-hyp', 'mw-vm']) await ingestOne(event(key, { severity: 'clear' }));
    });

    it('a cancelled window suppresses nothing; bad windows are refused naming the field', async () => {
      const at = clock.now();
      const window = await og.changes.scheduleMaintenance(
        {
          name: 'cancel me',
          ciIds: [ci['hyp-01']!],
          startsAt: at,
          endsAt: new Date(at.getTime() + MINUTE * 30),
        },
        { actor: admin },
      );
      await og.changes.cancelMaintenance(window.id, { actor: admin, version: window.version });
      expect((await alertOf(event('mw-cancelled', { node: 'hyp-01' }))).suppressed).toBe(false);
      await ingestOne(event('mw-cancelled', { severity: 'clear' }));
      const refused = async (input: Parameters<typeof og.changes.scheduleMaintenance>[0]) =>
        (
          (await og.changes.scheduleMaintenance(input, { actor: admin }).catch((e) => e)) as ValidationError
        ).issues.map((i) => i.path);
      expect(await refused({ name: 'w', ciIds: [ci.app!], startsAt: at, endsAt: at })).toEqual(['endsAt']);
      expect(
        await refused({
          name: 'w',
          ciIds: [crypto.randomUUID()],
          startsAt: at,
          endsAt: new Date(at.getTime() + MINUTE),
        }),
      ).toEqual(['ciIds.0']);
      expect(
        await refused({ name: 'w', ciIds: [], startsAt: at, endsAt: new Date(at.getTime() + MINUTE) }),
      ).toEqual(['ciIds']);
      await expect(
        og.changes.scheduleMaintenance(
          { name: 'w', ciIds: [ci.app!], startsAt: at, endsAt: new Date(at.getTime() + MINUTE) },
          { actor: operatorOnly },
        ),
      ).rejects.toBeInstanceOf(ForbiddenError);
      const active = await og.changes.maintenanceWindows({ activeAt: at });
      expect(active.edges.map((e) => e.node.name)).not.toContain('cancel me');
    });
  });

  describe('topology correlation', () => {
    it('groups an alert under the live alert on what it depends on, flat, within the window', async () => {
      clock.advance(60 * MINUTE);
      const hyp = await alertOf(event('c1-hyp', { node: 'hyp-01' }));
      clock.advance(MINUTE);
      const app = await alertOf(event('c1-app', { ciId: ci.app }));
      const shop = await alertOf(event('c1-shop', { ciId: ci.shop }));
      expect(hyp.rootAlertId).toBeNull();
      expect(app.rootAlertId).toBe(hyp.id);
      expect(shop.rootAlertId).toBe(hyp.id); // flat: the root of app's group, not app
      // Two alerts on one CI are not each other's cause.
      expect((await alertOf(event('c1-hyp-disk', { node: 'hyp-01', type: 'disk' }))).rootAlertId).toBeNull();
      // Outside the window: not explained.
      clock.advance(20 * MINUTE);
      expect((await alertOf(event('c1-vm-late', { node: 'vm-01' }))).rootAlertId).toBeNull();
      const members = await og.events.alerts({ rootAlertId: hyp.id });
      expect(members.edges.map((e) => e.node.dedupKey).sort()).toEqual(['c1-app', 'c1-shop']);
      for (const key of ['c1-hyp', 'c1-app', 'c1-shop', 'c1-hyp-disk', 'c1-vm-late'])
        await ingestOne(event(key, { severity: 'clear' }));
    });

    it('a root arriving after its dependents adopts them and their group', async () => {
      clock.advance(60 * MINUTE);
      const seq = await og.activity.latestSeq();
      const app = await alertOf(event('c2-app', { ciId: ci.app }));
      const shop = await alertOf(event('c2-shop', { ciId: ci.shop }));
      expect(shop.rootAlertId).toBe(app.id);
      clock.advance(MINUTE);
      const hyp = await alertOf(event('c2-hyp', { node: 'hyp-01' }));
      expect(hyp.rootAlertId).toBeNull();
      expect((await og.events.alert(app.id))!.rootAlertId).toBe(hyp.id);
      expect((await og.events.alert(shop.id))!.rootAlertId).toBe(hyp.id);
      const grouped = (await og.activity.list({ after: seq, limit: 100 })).filter(
        (e) => e.type === 'alert.grouped',
      );
      expect(
        grouped
          .map((e) => [
            e.subject?.id,
            (e.payload as { previousRootAlertId: string | null }).previousRootAlertId,
          ])
          .sort(),
      ).toEqual(
        [
          [app.id, null],
          [shop.id, app.id],
        ].sort(),
      );
      for (const key of ['c2-hyp', 'c2-app', 'c2-shop']) await ingestOne(event(key, { severity: 'clear' }));
    });

    it('closing the root re-evaluates its group: members join the next live cause or stand alone', async () => {
      clock.advance(60 * MINUTE);
      const hyp = await alertOf(event('c3-hyp', { node: 'hyp-01' }));
      const vm = await alertOf(event('c3-vm', { node: 'vm-01' }));
      const app = await alertOf(event('c3-app', { ciId: ci.app }));
      expect([vm.rootAlertId, app.rootAlertId]).toEqual([hyp.id, hyp.id]);
      await ingestOne(event('c3-hyp', { severity: 'clear' }));
      expect((await og.events.alert(vm.id))!.rootAlertId).toBeNull();
      expect((await og.events.alert(app.id))!.rootAlertId).toBe(vm.id);
      // A manual close re-evaluates as well.
      await og.events.close(vm.id, { actor: admin });
      expect((await og.events.alert(app.id))!.rootAlertId).toBeNull();
      await ingestOne(event('c3-app', { severity: 'clear' }));
    });
  });

  it('refuses bad settings at start-up', async () => {
    await expect(
      createOpsGraph({ database: 'pglite://memory', events: { flapping: { cycles: 0 } } }),
    ).rejects.toThrow(/events\.flapping\.cycles must be a positive number/);
  });
});
