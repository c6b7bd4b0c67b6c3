import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ci } from '../cmdb/model.js';
import type { EventInput } from '../events/model.js';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError } from '../kernel/errors.js';
import { createLogger } from '../kernel/logger.js';
import type { OpsGraph } from '../kernel/opsgraph.js';
import {
  createTestOpsGraph,
  createTestReplicas,
  scopedTestActor,
  type TestOpsGraph,
  testBackends,
} from '../testing/index.js';
import type { ServiceHealthChange } from './model.js';

const actor = systemActor('test');
const HOUR = 3_600_000;

describe.each(testBackends())('service health on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-05-04T09:00:00.000Z');
  const g: Record<string, Ci> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    // shop -> app -> cluster (3 members, quorum 2) <- n1 n2 n3; shop -> db. other -> other-db.
    for (const spec of [
      'shop:business_service',
      'app:application',
      'cluster:cluster:2',
      'n1:server',
      'n2:server',
      'n3:server',
      'db:server',
      'other:business_service',
      'other-db:server',
    ]) {
      const [name, cls, quorum] = spec.split(':');
      g[name!] = await og.cmdb.create(
        { class: cls!, name: name!, attributes: quorum ? { quorum: Number(quorum) } : {} },
        { actor },
      );
    }
    const relate = (type: string, s: string, t: string) =>
      og.cmdb.relate({ type, sourceId: g[s]!.id, targetId: g[t]!.id }, { actor });
    for (const n of ['n1', 'n2', 'n3']) await relate('member_of', n, 'cluster');
    await relate('runs_on', 'app', 'cluster');
    await relate('depends_on', 'shop', 'app');
    await relate('depends_on', 'shop', 'db');
    await relate('depends_on', 'other', 'other-db');
    // The first round judges every service once (the migration asks for it).
    await og.serviceHealth.refresh();
  });
  afterAll(() => og?.close());

  const event = (ci: string, key: string, severity: EventInput['severity']): EventInput => ({
    source: 'test',
    node: ci,
    type: 'check',
    severity,
    dedupKey: key,
    ciId: g[ci]!.id,
  });
  const ingest = async (ci: string, key: string, severity: EventInput['severity']) => {
    clock.advance(1000);
    const [result] = await og.events.ingest([event(ci, key, severity)], { actor });
    return result!.alertId!;
  };
  /** What a refresh published, by service name: [state, previous state]. */
  const refresh = async () => {
    const result = await og.serviceHealth.refresh();
    const byId = new Map(Object.entries(g).map(([name, ci]) => [ci.id, name]));
    return {
      ...result,
      published: result.changes.map((c) => [byId.get(c.health.serviceId), c.health.state, c.previousState]),
      recomputedNames: result.recomputed.map((id) => byId.get(id)),
    };
  };
  const healthOf = async (name: string) => (await og.serviceHealth.list({ serviceIds: [g[name]!.id] }))[0]!;
  const statesOf = async (name: string) =>
    (await eventsOf(name)).map((e) => {
      const p = e.payload as { previousState: string; state: string };
      return [p.previousState, p.state];
    });
  const eventsOf = async (name: string) =>
    (await og.activity.list({ types: ['service.health_changed'], limit: 1000 })).filter(
      (e) => e.subject?.id === g[name]!.id,
    );

  it('starts up: no row means up since the service was created', async () => {
    const list = await og.serviceHealth.list();
    expect(list.map((h) => [h.serviceId, h.state, h.since.toISOString(), h.causes])).toEqual([
      [g.other!.id, 'up', g.other!.createdAt.toISOString(), []],
      [g.shop!.id, 'up', g.shop!.createdAt.toISOString(), []],
    ]);
    expect(await eventsOf('shop')).toEqual([]);
  });

  it('follows quorum: one member critical degrades, two take it down, clearing one degrades, all clear is up', async () => {
    const a1 = await ingest('n1', 'n1-down', 'critical');
    let r = await refresh();
    expect(r.published).toEqual([['shop', 'degraded', 'up']]);
    // Incremental: only the service upstream of n1 was judged, not `other`.
    expect(r.recomputedNames).toEqual(['shop']);
    expect(r.changes[0]!.health.causes).toEqual([{ ciId: g.n1!.id, alertId: a1, state: 'down' }]);
    expect(r.changes[0]!.health.since).toEqual(clock.now());
    expect(r.changes[0]!.seq).toBe((await eventsOf('shop')).at(-1)!.seq);

    const a2 = await ingest('n2', 'n2-down', 'critical');
    r = await refresh();
    expect(r.published).toEqual([['shop', 'down', 'degraded']]);
    expect(r.changes[0]!.health.causes).toEqual([
      { ciId: g.n1!.id, alertId: a1, state: 'down' },
      { ciId: g.n2!.id, alertId: a2, state: 'down' },
    ]);

    // Still down with a third member failing: no event, but the record names the new cause.
    const a3 = await ingest('n3', 'n3-down', 'critical');
    r = await refresh();
    expect(r.published).toEqual([]);
    expect(r.recomputedNames).toEqual(['shop']);
    expect((await healthOf('shop')).causes.map((c) => c.alertId)).toEqual([a1, a2, a3]);
    await ingest('n3', 'n3-down', 'clear');
    expect((await refresh()).published).toEqual([]);

    await ingest('n2', 'n2-down', 'clear');
    r = await refresh();
    expect(r.published).toEqual([['shop', 'degraded', 'down']]);
    await ingest('n1', 'n1-down', 'clear');
    r = await refresh();
    expect(r.published).toEqual([['shop', 'up', 'degraded']]);
    expect(r.changes[0]!.health.causes).toEqual([]);
    expect(await healthOf('shop')).toEqual({
      serviceId: g.shop!.id,
      state: 'up',
      since: clock.now(),
      causes: [],
    });
    // Exactly one event per change, in order, none for the unchanged rounds; none for `other`.
    expect(await statesOf('shop')).toEqual([
      ['up', 'degraded'],
      ['degraded', 'down'],
      ['down', 'degraded'],
      ['degraded', 'up'],
    ]);
    expect(await eventsOf('other')).toEqual([]);
    // Nothing new: nothing judged, nothing published.
    expect(await refresh()).toMatchObject({ published: [], recomputed: [], locked: false });
  });

  it('a major alert on a dependency degrades; minor and warning change nothing', async () => {
    await ingest('db', 'db-minor', 'minor');
    await ingest('db', 'db-warn', 'warning');
    let r = await refresh();
    expect(r.published).toEqual([]);
    expect(r.recomputedNames).toEqual(['shop']);
    const major = await ingest('db', 'db-major', 'major');
    r = await refresh();
    expect(r.published).toEqual([['shop', 'degraded', 'up']]);
    expect(r.changes[0]!.health.causes).toEqual([{ ciId: g.db!.id, alertId: major, state: 'degraded' }]);
    // Acknowledged is still live.
    await og.events.acknowledge(major, { actor });
    expect((await refresh()).published).toEqual([]);
    await og.events.close(major, { actor });
    expect((await refresh()).published).toEqual([['shop', 'up', 'degraded']]);
    for (const key of ['db-minor', 'db-warn']) await ingest('db', key, 'clear');
  });

  it('a suppressed alert (its CI under maintenance) changes nothing', async () => {
    await og.changes.scheduleMaintenance(
      {
        name: 'patch n1',
        ciIds: [g.n1!.id],
        startsAt: clock.now(),
        endsAt: new Date(clock.now().getTime() + HOUR),
      },
      { actor },
    );
    const id = await ingest('n1', 'n1-patch', 'critical');
    expect((await og.events.alert(id))!.suppressed).toBe(true);
    const r = await refresh();
    expect(r.published).toEqual([]);
    expect(r.recomputedNames).toEqual(['shop']);
    expect((await healthOf('shop')).state).toBe('up');
    await ingest('n1', 'n1-patch', 'clear');
  });

  it('a maintenance window on the service makes it MAINTENANCE, until the window goes', async () => {
    const window = await og.changes.scheduleMaintenance(
      {
        name: 'shop release',
        ciIds: [g.shop!.id],
        startsAt: clock.now(),
        endsAt: new Date(clock.now().getTime() + HOUR),
      },
      { actor },
    );
    let r = await refresh();
    expect(r.published).toEqual([['shop', 'maintenance', 'up']]);
    expect(r.changes[0]!.health.causes).toEqual([{ ciId: g.shop!.id, alertId: null, state: 'maintenance' }]);
    // Maintenance wins over a failing dependency.
    await ingest('db', 'db-during', 'critical');
    expect((await refresh()).published).toEqual([]);
    await og.changes.cancelMaintenance(window.id, { actor });
    r = await refresh();
    expect(r.published).toEqual([['shop', 'down', 'maintenance']]);
    await ingest('db', 'db-during', 'clear');
    expect((await refresh()).published).toEqual([['shop', 'up', 'down']]);
  });

  it('follows changes resumably by seq, and lists only the services the reader may read', async () => {
    const head = await og.serviceHealth.head();
    await ingest('other-db', 'odb', 'critical');
    await refresh();
    await ingest('other-db', 'odb', 'clear');
    await refresh();
    const seen: ServiceHealthChange[] = [];
    for await (const change of og.serviceHealth.follow({ after: head })) {
      seen.push(change);
      if (seen.length === 2) break;
    }
    expect(seen.map((c) => [c.health.serviceId, c.previousState, c.health.state])).toEqual([
      [g.other!.id, 'up', 'down'],
      [g.other!.id, 'down', 'up'],
    ]);
    expect(seen[1]!.seq).toBeGreaterThan(seen[0]!.seq);
    // Resume after the first: only the second.
    for await (const change of og.serviceHealth.follow({ after: seen[0]!.seq })) {
      expect(change).toEqual(seen[1]);
      break;
    }

    const scoped = await scopedTestActor(og, 'shop-reader', [
      { ciId: g.shop!.id, mode: 'contains', permissions: ['event:read'] },
    ]);
    expect((await og.serviceHealth.list({}, { actor: scoped })).map((h) => h.serviceId)).toEqual([
      g.shop!.id,
    ]);
    const nobody = await scopedTestActor(og, 'nobody', [], ['cmdb:read']);
    await expect(og.serviceHealth.list({}, { actor: nobody })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(og.serviceHealth.list({ serviceIds: ['nope'] })).rejects.toMatchObject({
      code: 'VALIDATION',
      issues: [{ path: 'filter.serviceIds.0' }],
    });
  });

  it('live: a committed critical alert publishes the change within well under a second', async () => {
    const runner = og.serviceHealth.start({ delayMs: 20 });
    try {
      const after = await og.serviceHealth.head();
      const started = performance.now();
      await ingest('db', 'db-live', 'critical');
      for await (const change of og.serviceHealth.follow({ after })) {
        expect([change.health.serviceId, change.health.state]).toEqual([g.shop!.id, 'down']);
        break;
      }
      expect(performance.now() - started).toBeLessThan(1000);
      await ingest('db', 'db-live', 'clear');
      for await (const change of og.serviceHealth.follow({ after })) {
        if (change.health.state === 'up') break;
      }
    } finally {
      await runner.stop();
    }
    expect((await statesOf('shop')).slice(-2)).toEqual([
      ['up', 'down'],
      ['down', 'up'],
    ]);
  });

  it('retiring the failing CI lets the service recover; retiring the service forgets its health', async () => {
    const s2 = await og.cmdb.create({ class: 'business_service', name: 'retire-me' }, { actor });
    const dep = await og.cmdb.create({ class: 'server', name: 'retire-dep' }, { actor });
    await og.cmdb.relate({ type: 'depends_on', sourceId: s2.id, targetId: dep.id }, { actor });
    clock.advance(1000);
    await og.events.ingest(
      [{ source: 'test', node: 'retire-dep', type: 'x', severity: 'critical', ciId: dep.id }],
      { actor },
    );
    await og.serviceHealth.refresh();
    expect((await og.serviceHealth.list({ serviceIds: [s2.id] }))[0]!.state).toBe('down');
    await og.cmdb.retire(dep.id, dep.version, { actor });
    const r = await og.serviceHealth.refresh();
    expect(r.changes.map((c) => [c.health.serviceId, c.health.state])).toEqual([[s2.id, 'up']]);
    const current = (await og.cmdb.get(s2.id))!;
    await og.cmdb.retire(s2.id, current.version, { actor });
    await og.serviceHealth.refresh();
    expect(await og.serviceHealth.list({ serviceIds: [s2.id] })).toEqual([]);
  });
});

describe.runIf(testBackends().includes('postgres'))(
  'service health with two replicas on one PostgreSQL',
  () => {
    let a: OpsGraph;
    let b: OpsGraph;
    const _logger = createLogger({ level: 'silent' });

    beforeAll(async () => {
      [a, b] = await createTestReplicas();
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('two concurrent refreshes publish each change once', async () => {
      const services: Ci[] = [];
      const servers: Ci[] = [];
      for (let i = 0; i < 6; i++) {
        // Writes on both replicas: each refresh sees the other's commits in the shared activity stream.
        const og = i % 2 === 0 ? a : b;
        services.push(await og.cmdb.create({ class: 'business_service', name: `svc-${i}` }, { actor }));
        servers.push(await og.cmdb.create({ class: 'server', name: `srv-${i}` }, { actor }));
        await og.cmdb.relate(
          { type: 'depends_on', sourceId: services[i]!.id, targetId: servers[i]!.id },
          { actor },
        );
      }
      await Promise.all([a.serviceHealth.refresh(), b.serviceHealth.refresh()]);
      const published = async (severity: 'critical' | 'clear') => {
        await Promise.all(
          servers.map((s, i) =>
            (i % 2 === 0 ? a : b).events.ingest(
              [{ source: 'rep', node: s.name, type: 'down', severity, dedupKey: `rep-${i}`, ciId: s.id }],
              { actor },
            ),
          ),
        );
        const rounds = await Promise.all([
          a.serviceHealth.refresh(),
          b.serviceHealth.refresh(),
          a.serviceHealth.refresh(),
          b.serviceHealth.refresh(),
        ]);
        // Whatever a round found the lock taken, the winner published; a last one finds nothing left.
        rounds.push(await a.serviceHealth.refresh());
        return rounds.flatMap((r) => r.changes.map((c) => [c.health.serviceId, c.health.state, c.seq]));
      };
      const down = await published('critical');
      expect(down.map(([id, state]) => [id, state]).sort()).toEqual(
        services.map((s) => [s.id, 'down']).sort(),
      );
      const up = await published('clear');
      expect(up.map(([id, state]) => [id, state]).sort()).toEqual(services.map((s) => [s.id, 'up']).sort());
      // The stream holds each change once, with the seqs the refreshes reported.
      const events = await a.activity.list({ types: ['service.health_changed'], limit: 1000 });
      expect(events.map((e) => e.seq).sort()).toEqual([...down, ...up].map(([, , seq]) => seq).sort());
      expect(events).toHaveLength(12);
      expect(
        new Set(events.map((e) => `${e.subject!.id} ${(e.payload as { state: string }).state}`)).size,
      ).toBe(12);
    });
  },
);
