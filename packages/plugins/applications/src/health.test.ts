import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AnyDomainEvent, ManualClock, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDedupKey } from './health.js';
import { applicationsPlugin } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())('health checks on %s', (backend) => {
  let og: TestOpsGraph;
  let server: Server;
  let base: string;
  // What the probed endpoint answers: the test flips it.
  let answer = 200;
  let hits = 0;
  const clock = new ManualClock('2026-03-02T00:00:00Z');

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2_000);
      res.statusCode = answer;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    og = await createTestOpsGraph({ backend, clock, plugins: [applicationsPlugin()] });
  });
  afterAll(async () => {
    await og?.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const checks = () => og.plugins.applications.healthChecks;
  const run = async () => {
    const [report] = await og.scheduler.run({ only: ['applications.probes'] });
    expect(report).toMatchObject({ name: 'applications.probes', outcome: 'ran' });
    return report!.summary;
  };

  it('probes due checks, raises an alert on failure, clears it on recovery, and feeds the SLO', async () => {
    const service = await og.cmdb.create({ class: 'business_service', name: 'Checkout' }, { actor });
    const app = await og.plugins.applications.applications.create(
      { name: 'checkout', serviceId: service.id },
      { actor },
    );
    await og.plugins.applications.applications.defineEnvironment(app.id, { name: 'production' }, { actor });
    const slo = await og.plugins.applications.applications.defineSlo(
      app.id,
      { name: 'Uptime', objective: 99, period: 'day' },
      { actor },
    );
    const check = await checks().define(
      {
        applicationId: app.id,
        environment: 'production',
        name: 'home',
        url: `${base}/health`,
        intervalMs: 60_000,
      },
      { actor },
    );
    expect(check).toMatchObject({ state: 'unknown', enabled: true, method: 'GET', expectedStatus: 200 });

    answer = 200;
    expect(await run()).toEqual({ probed: 1, failed: 0, recovered: 0 });
    expect(await run()).toEqual({ probed: 0, failed: 0, recovered: 0 }); // not due again yet
    expect((await checks().get(check.id))?.state).toBe('up');

    clock.advance(60_000);
    answer = 503;
    expect(await run()).toEqual({ probed: 1, failed: 1, recovered: 0 });
    const alerts = async () =>
      (await og.events.alerts({ ciId: app.id })).edges.map((e) => ({
        status: e.node.status,
        severity: e.node.severity,
        count: e.node.count,
        dedupKey: e.node.dedupKey,
      }));
    expect(await alerts()).toEqual([
      { status: 'open', severity: 'critical', count: 1, dedupKey: checkDedupKey(check.id) },
    ]);
    clock.advance(60_000);
    expect(await run()).toEqual({ probed: 1, failed: 0, recovered: 0 }); // still down: the same alert counts
    expect(await alerts()).toEqual([
      { status: 'open', severity: 'critical', count: 2, dedupKey: checkDedupKey(check.id) },
    ]);
    expect((await checks().get(check.id))?.consecutiveFailures).toBe(2);

    clock.advance(60_000);
    answer = 200;
    expect(await run()).toEqual({ probed: 1, failed: 0, recovered: 1 });
    expect(await alerts()).toEqual([
      { status: 'closed', severity: 'critical', count: 2, dedupKey: checkDedupKey(check.id) },
    ]);

    const results = await checks().results(check.id);
    expect(results.map((r) => [r.ok, r.statusCode, r.checkedAt.toISOString()])).toEqual([
      [true, 200, '2026-03-02T00:03:00.000Z'],
      [false, 503, '2026-03-02T00:02:00.000Z'],
      [false, 503, '2026-03-02T00:01:00.000Z'],
      [true, 200, '2026-03-02T00:00:00.000Z'],
    ]);
    expect(results[1]?.error).toBe('expected HTTP 200, got 503');
    // The batch read (GraphQL's loader): the same latest results, per check asked, in one query.
    const batch = await og.queries.measure(() =>
      checks().resultsByCheckIds([check.id.toUpperCase(), 'not-a-check', crypto.randomUUID(), check.id], {
        limit: 2,
      }),
    );
    expect(batch.result).toEqual([results.slice(0, 2), [], [], results.slice(0, 2)]);
    expect(batch.queries).toHaveLength(1);
    expect((await checks().resultsByCheckIds([check.id]))[0]).toEqual(results);
    await expect(checks().resultsByCheckIds([check.id], { limit: 0 })).rejects.toMatchObject({
      field: 'limit',
    });

    // The alert on the application counts against its service's SLO: down from 00:01 to 00:03.
    const availability = await og.serviceLevels.availability(
      { sloId: slo.id },
      { from: '2026-03-02T00:00:00Z', to: '2026-03-02T00:10:00Z' },
    );
    expect(availability).toMatchObject({ downtimeMs: 120_000 });
    const events = await og.activity.list({
      types: ['applications.check_failed', 'applications.check_recovered'],
    });
    expect(events.map((e) => e.type)).toEqual(['applications.check_failed', 'applications.check_recovered']);
    await checks().update(check.id, { enabled: false }, { actor, version: 1 });
  });

  it('reports a timeout and an unreachable host as failures, with no transaction held while probing', async () => {
    const app = await og.plugins.applications.applications.create({ name: 'slowpoke' }, { actor });
    const slow = await checks().define(
      { applicationId: app.id, name: 'slow', url: `${base}/slow`, timeoutMs: 200, severity: 'major' },
      { actor },
    );
    // A port nobody listens on: one the system just gave out and took back.
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((resolve) => gone.close(resolve));
    const closed = await checks().define(
      { applicationId: app.id, name: 'closed', url: `http://127.0.0.1:${port}/`, timeoutMs: 1_000 },
      { actor },
    );
    // While the probes wait on the network, other writes go through (PGlite has one connection).
    const sweeping = run();
    await og.cmdb.create({ class: 'server', name: 'written-meanwhile' }, { actor });
    expect(await sweeping).toEqual({ probed: 2, failed: 2, recovered: 0 });
    const [slowResult] = await checks().results(slow.id);
    expect(slowResult).toMatchObject({ ok: false, statusCode: null, error: 'no answer within 200 ms' });
    const [closedResult] = await checks().results(closed.id);
    expect(closedResult).toMatchObject({ ok: false, statusCode: null, error: 'ECONNREFUSED' });
    const alerts = await og.events.alerts({ ciId: app.id });
    expect(alerts.edges.map((e) => e.node.severity).sort()).toEqual(['critical', 'major']);

    // Disabling a failing check clears its alert; it is no longer probed.
    const found = (await checks().get(slow.id))!;
    await checks().update(slow.id, { enabled: false }, { actor, version: found.version });
    const after = await og.events.alerts({ ciId: app.id, status: ['open'] });
    expect(after.edges.map((e) => e.node.severity)).toEqual(['critical']);
    clock.advance(120_000);
    const before = hits;
    // Still down: probed, but it did not newly fail.
    expect(await run()).toEqual({ probed: 1, failed: 0, recovered: 0 });
    expect(hits).toBe(before); // only the closed port was probed
  });

  it('probes each due check once when two sweeps run at once (as two replicas would)', async () => {
    const app = await og.plugins.applications.applications.create({ name: 'twice' }, { actor });
    answer = 200;
    for (const name of ['a', 'b', 'c'])
      await checks().define({ applicationId: app.id, name, url: `${base}/${name}` }, { actor });
    clock.advance(600_000);
    const before = hits;
    const [one, two] = await Promise.all([checks().sweep(), checks().sweep()]);
    // The closed-port check of the test before is due too: 4 probes in all, split between the sweeps.
    expect(one!.probed + two!.probed).toBe(4);
    expect(hits - before).toBe(3);
    const states = (await checks().list(app.id)).map((c) => c.state);
    expect(states).toEqual(['up', 'up', 'up']);
  });

  it('refuses bad definitions naming the field', async () => {
    const app = await og.plugins.applications.applications.create({ name: 'validated' }, { actor });
    await expect(
      checks().define({ applicationId: app.id, name: 'x', url: 'ftp://nope' }, { actor }),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'url' });
    await expect(
      checks().define({ applicationId: app.id, name: 'x', url: `${base}/`, timeoutMs: 5 }, { actor }),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'timeoutMs' });
    await expect(
      checks().define({ applicationId: app.id, name: 'x', url: `${base}/`, environment: 'prod' }, { actor }),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'environment' });
  });

  it('disables the checks of a retired application and clears their open alerts, as the plugin', async () => {
    const app = await og.plugins.applications.applications.create({ name: 'retiring' }, { actor });
    answer = 503;
    // `failing` expects 200 and goes down; `passing` expects the 503 it gets and stays up.
    const failing = await checks().define(
      { applicationId: app.id, name: 'failing', url: `${base}/retiring` },
      { actor },
    );
    const passing = await checks().define(
      { applicationId: app.id, name: 'passing', url: `${base}/retiring`, expectedStatus: 503 },
      { actor },
    );
    clock.advance(600_000);
    await run();
    expect((await checks().list(app.id)).map((c) => [c.name, c.state, c.enabled])).toEqual([
      ['failing', 'down', true],
      ['passing', 'up', true],
    ]);
    const alerts = async () =>
      (await og.events.alerts({ ciId: app.id })).edges.map((e) => [e.node.dedupKey, e.node.status]);
    expect(await alerts()).toEqual([[checkDedupKey(failing.id), 'open']]);

    // The handler runs after the retirement commits: wait for the two updates it emits.
    const updates: AnyDomainEvent[] = [];
    const handled = new Promise<void>((resolve) => {
      const off = og.on('applications.health_check_updated', (event) => {
        if ((event as AnyDomainEvent).subject?.id !== app.id) return;
        updates.push(event as AnyDomainEvent);
        if (updates.length === 2) {
          off();
          resolve();
        }
      });
    });
    const ci = (await og.cmdb.get(app.id))!;
    await og.cmdb.retire(app.id, ci.version, { actor });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      handled,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error('the ci.retired handler disabled no checks in 5 s')),
          5_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    expect(
      updates.map((e) => ({
        actor: { kind: e.actor.kind, id: e.actor.id },
        check: (e.payload as { check: { name: string } }).check.name,
        fields: (e.payload as { fields: string[] }).fields,
      })),
    ).toEqual([
      { actor: { kind: 'plugin', id: 'applications' }, check: 'failing', fields: ['enabled'] },
      { actor: { kind: 'plugin', id: 'applications' }, check: 'passing', fields: ['enabled'] },
    ]);
    expect(
      (await checks().list(app.id)).map((c) => [
        c.name,
        c.state,
        c.enabled,
        c.consecutiveFailures,
        c.version,
      ]),
    ).toEqual([
      ['failing', 'unknown', false, 0, 2],
      ['passing', 'unknown', false, 0, 2],
    ]);
    // Only the failing check had an alert; it is cleared through event management.
    expect(await alerts()).toEqual([[checkDedupKey(failing.id), 'closed']]);

    // Disabled: the next rounds leave them alone.
    const results = (await checks().results(passing.id)).length;
    clock.advance(600_000);
    await run();
    expect((await checks().results(passing.id)).length).toBe(results);
    expect((await checks().results(failing.id)).length).toBe(1);
  });
});
