// Alert -> incident rules: which alerts open incidents, and which join one instead of opening another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError, type ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { EventInput } from './model.js';

const admin = systemActor('test');
const MINUTE = 60_000;

describe.each(testBackends())('alert -> incident rules on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-03T08:00:00.000Z');
  const ci: Record<string, string> = {};
  let dbTeam: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({
      backend,
      clock,
      events: { flapping: { cycles: 1, windowMs: 30 * MINUTE } },
    });
    const make = async (name: string, cls: string, attributes: Record<string, unknown> = {}) => {
      ci[name] = (await og.cmdb.create({ class: cls, name, attributes }, { actor: admin })).id;
    };
    await make('db-01', 'linux_server', { hostname: 'db-01' });
    await make('db-02', 'linux_server', { hostname: 'db-02' });
    await make('lab-01', 'linux_server', { hostname: 'lab-01' });
    await make('billing', 'application');
    await make('shop', 'business_service', { tier: 1 });
    await make('wiki', 'business_service', { tier: 3 });
    await make('wiki-app', 'application');
    const relate = (type: string, s: string, t: string) =>
      og.cmdb.relate({ type, sourceId: ci[s]!, targetId: ci[t]! }, { actor: admin });
    await relate('runs_on', 'billing', 'db-01');
    await relate('runs_on', 'billing', 'db-02');
    await relate('depends_on', 'shop', 'billing');
    await relate('runs_on', 'wiki-app', 'lab-01');
    await relate('depends_on', 'wiki', 'wiki-app');
    dbTeam = (await og.access.createGroup({ name: 'DB team' }, { actor: admin })).id;
    await og.events.createIncidentRule(
      {
        name: 'tier 1 critical',
        match: { severity: ['critical'], ciClasses: ['server'], serviceTierAtMost: 1 },
        incident: {
          impact: 1,
          urgency: 1,
          category: 'infrastructure',
          assignmentGroupId: dbTeam,
          shortDescription: '{{type}} on {{node}}',
        },
      },
      { actor: admin },
    );
  });
  afterAll(() => og?.close());

  const event = (key: string, extra: Partial<EventInput> = {}): EventInput => ({
    source: 'nagios',
    node: 'db-01',
    type: 'db_down',
    severity: 'critical',
    dedupKey: key,
    ...extra,
  });
  const ingest = async (e: EventInput) => (await og.events.ingest(e, { actor: admin }))[0]!;
  const incidentOf = async (alertId: string) => og.incidents.incidentOfAlert(alertId);
  const incidentCount = async () => (await og.incidents.incidents({}, { first: 500 })).edges.length;

  it('opens an incident with the rule priority and group for a matching alert, once', async () => {
    const first = await ingest(event('db-01-down'));
    const incident = (await incidentOf(first.alertId!))!;
    expect(incident).toMatchObject({
      priority: 1,
      assignmentGroupId: dbTeam,
      category: 'infrastructure',
      shortDescription: 'db_down on db-01',
      ciId: ci['db-01'],
      serviceIds: [ci.shop],
      openedBy: { kind: 'system', name: 'incident rule "tier 1 critical"' },
    });
    expect(await og.incidents.alertIdsOf(incident.id)).toEqual([first.alertId]);
    const before = await incidentCount();
    // Repeats, and a re-opened alert of the same key while the incident is active, join it.
    await ingest(event('db-01-down'));
    clock.advance(MINUTE);
    await ingest(event('db-01-down', { severity: 'clear' }));
    clock.advance(MINUTE);
    const reopened = await ingest(event('db-01-down'));
    expect(reopened.alertId).not.toBe(first.alertId);
    expect((await incidentOf(reopened.alertId!))?.id).toBe(incident.id);
    expect(await incidentCount()).toBe(before);
    await ingest(event('db-01-down', { severity: 'clear' }));
  });

  it('opens nothing for alerts the rule does not match', async () => {
    const before = await incidentCount();
    const minor = await ingest(event('db-01-minor', { severity: 'minor' }));
    const tier3 = await ingest(event('lab-down', { node: 'lab-01' }));
    const app = await ingest(event('billing-critical', { node: 'billing', ciId: ci.billing }));
    for (const r of [minor, tier3, app]) expect(await incidentOf(r.alertId!)).toBeNull();
    expect(await incidentCount()).toBe(before);
    for (const key of ['db-01-minor', 'lab-down', 'billing-critical'])
      await ingest(event(key, { severity: 'clear' }));
  });

  it('a flapping alert and a suppressed alert open no incident', async () => {
    clock.advance(60 * MINUTE);
    const before = await incidentCount();
    // cycles: 1 -> the third opening within the window flaps. Resolve each incident so the key has none active.
    for (let i = 0; i < 2; i++) {
      const r = await ingest(event('db-02-flap', { node: 'db-02' }));
      const incident = (await incidentOf(r.alertId!))!;
      await og.incidents.transition(
        incident.id,
        { to: 'resolved', resolutionCode: 'solved_permanently', resolutionNotes: 'ok' },
        { actor: admin },
      );
      clock.advance(MINUTE);
      await ingest(event('db-02-flap', { node: 'db-02', severity: 'clear' }));
      clock.advance(MINUTE);
    }
    expect(await incidentCount()).toBe(before + 2);
    const flapping = await ingest(event('db-02-flap', { node: 'db-02' }));
    expect((await og.events.alert(flapping.alertId!))?.flapping).toBe(true);
    expect(await incidentOf(flapping.alertId!)).toBeNull();
    await ingest(event('db-02-flap', { node: 'db-02', severity: 'clear' }));

    const now = clock.now();
    await og.changes.scheduleMaintenance(
      {
        name: 'db-01 patching',
        ciIds: [ci['db-01']!],
        startsAt: now,
        endsAt: new Date(now.getTime() + 30 * MINUTE),
      },
      { actor: admin },
    );
    const suppressed = await ingest(event('db-01-maint'));
    expect((await og.events.alert(suppressed.alertId!))?.suppressed).toBe(true);
    expect(await incidentOf(suppressed.alertId!)).toBeNull();
    expect(await incidentCount()).toBe(before + 2);
    await ingest(event('db-01-maint', { severity: 'clear' }));
    clock.advance(31 * MINUTE);
  });

  it('an alert grouped under a root joins the root alert incident', async () => {
    const root = await ingest(event('root-db-02', { node: 'db-02' }));
    const incident = (await incidentOf(root.alertId!))!;
    // billing depends on db-02: its alert is grouped under the root, and joins its incident.
    await og.events.createIncidentRule(
      {
        name: 'apps critical',
        match: { severity: ['critical'], ciClasses: ['application'] },
        incident: { impact: 2, urgency: 2 },
      },
      { actor: admin },
    );
    const child = await ingest(event('billing-slow', { node: 'billing', ciId: ci.billing }));
    expect((await og.events.alert(child.alertId!))?.rootAlertId).toBe(root.alertId);
    expect((await incidentOf(child.alertId!))?.id).toBe(incident.id);
  });

  it('a root and its dependent alert opened in one call share one incident', async () => {
    clock.advance(60 * MINUTE);
    const [root, child] = await og.events.ingest(
      [event('storm-db-01'), event('storm-billing', { node: 'billing', ciId: ci.billing })],
      { actor: admin },
    );
    expect((await og.events.alert(child!.alertId!))?.rootAlertId).toBe(root!.alertId);
    const incident = (await incidentOf(root!.alertId!))!;
    expect((await incidentOf(child!.alertId!))?.id).toBe(incident.id);
    expect((await og.incidents.alertIdsOf(incident.id)).sort()).toEqual(
      [root!.alertId, child!.alertId].sort(),
    );
  });

  it('refuses bad rules naming the field; changing rules needs event:admin', async () => {
    const paths = async (input: Parameters<typeof og.events.createIncidentRule>[0]) =>
      (
        (await og.events.createIncidentRule(input, { actor: admin }).catch((e) => e)) as ValidationError
      ).issues.map((i) => i.path);
    const incident = { impact: 1, urgency: 1 } as const;
    expect(await paths({ name: 'x', match: { severity: [] }, incident })).toEqual(['match.severity']);
    expect(await paths({ name: 'x', match: { severity: ['major'], ciClasses: ['nope'] }, incident })).toEqual(
      ['match.ciClasses.0'],
    );
    expect(
      await paths({
        name: 'x',
        match: { severity: ['major'] },
        incident: { ...incident, shortDescription: '{{oops}}' },
      }),
    ).toEqual(['incident.shortDescription']);
    expect(
      await paths({ name: 'x', match: { severity: ['major'] }, incident: { impact: 4 as 1, urgency: 1 } }),
    ).toEqual(['incident.impact']);
    expect(await paths({ name: 'tier 1 critical', match: { severity: ['major'] }, incident })).toEqual([
      'name',
    ]);
    await expect(
      og.events.createIncidentRule(
        { name: 'y', match: { severity: ['major'] }, incident },
        { actor: { kind: 'token', id: 't', name: 'ops', permissions: ['event:write', 'event:read'] } },
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });
});
