import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, type ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { RecoveryOrder } from './recovery-model.js';

const admin = systemActor('test');
const reader: Actor = { kind: 'user', id: 'r', name: 'Reader', permissions: ['operations:read'] };
const outsider: Actor = {
  kind: 'user',
  id: 'o',
  name: 'Outsider',
  permissions: ['cmdb:read', 'incident:read'],
};
const DAY = 86_400_000;

/** Each stage as its CIs' names, a cycle's stage marked with `cycle:` first. */
const namesOf = (order: RecoveryOrder) =>
  order.stages.map((s) => (s.cycle ? ['cycle:', ...s.cis.map((c) => c.name)] : s.cis.map((c) => c.name)));

/** The field each issue of a ValidationError names. */
const fieldsOf = async (p: Promise<unknown>) => {
  const error = (await p.then(
    () => {
      throw new Error('expected a ValidationError');
    },
    (e: unknown) => e,
  )) as ValidationError;
  expect(error.code).toBe('VALIDATION');
  return error.issues.map((i) => i.path);
};

describe.each(testBackends())('disaster recovery on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const ci: Record<string, string> = {};
  let owners: string;

  const make = async (name: string, ciClass: string) => {
    ci[name] = (await og.cmdb.create({ class: ciClass, name }, { actor: admin })).id;
  };
  const relate = (source: string, type: string, target: string) =>
    og.cmdb.relate({ type, sourceId: ci[source]!, targetId: ci[target]! }, { actor: admin });

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    owners = (await og.access.createGroup({ name: 'dr-owners' }, { actor: admin })).id;
    // Shop: a 4-level chain (Shop -> shop-app -> vm-1 -> host-1 -> san-1) with parallel branches: a
    // database on its own VM on the same host (a diamond), a CDN needing nothing, and a rack holding the host.
    for (const [name, cls] of [
      ['Shop', 'business_service'],
      ['shop-app', 'application'],
      ['cdn', 'application'],
      ['shop-db', 'database'],
      ['vm-1', 'server'],
      ['vm-2', 'server'],
      ['host-1', 'linux_server'],
      ['san-1', 'hardware'],
      ['rack-1', 'hardware'],
      // Around it, not needed by Shop: a host sharing the SAN, an app using the database, a retired proxy.
      ['host-2', 'linux_server'],
      ['reports', 'application'],
      ['old-proxy', 'application'],
      ['proxy-host', 'linux_server'],
      // Billing: a -> b -> c -> a, with the rest ordered around the cycle.
      ['Billing', 'business_service'],
      ['bill-a', 'application'],
      ['bill-b', 'application'],
      ['bill-c', 'application'],
      ['bill-web', 'application'],
      ['bill-host', 'linux_server'],
      ['bill-san', 'hardware'],
    ] as const)
      await make(name, cls);
    await relate('Shop', 'depends_on', 'shop-app');
    await relate('Shop', 'depends_on', 'cdn');
    await relate('shop-app', 'runs_on', 'vm-1');
    await relate('vm-1', 'hosted_on', 'host-1');
    await relate('host-1', 'connected_to', 'san-1');
    await relate('shop-app', 'depends_on', 'shop-db');
    await relate('shop-db', 'runs_on', 'vm-2');
    await relate('vm-2', 'hosted_on', 'host-1');
    await relate('rack-1', 'contains', 'host-1');
    await relate('host-2', 'connected_to', 'san-1');
    await relate('reports', 'depends_on', 'shop-db');
    await relate('shop-app', 'depends_on', 'old-proxy');
    await relate('old-proxy', 'runs_on', 'proxy-host');
    const proxy = await og.cmdb.get(ci['old-proxy']!);
    await og.cmdb.retire(proxy!.id, proxy!.version, { actor: admin });

    await relate('Billing', 'depends_on', 'bill-a');
    await relate('Billing', 'depends_on', 'bill-web');
    await relate('bill-a', 'depends_on', 'bill-b');
    await relate('bill-b', 'depends_on', 'bill-c');
    await relate('bill-c', 'depends_on', 'bill-a');
    await relate('bill-b', 'runs_on', 'bill-host');
    await relate('bill-web', 'runs_on', 'bill-host');
    await relate('bill-host', 'connected_to', 'bill-san');
  });
  afterAll(() => og?.close());

  it('orders a 4-level chain with parallel branches stage by stage', async () => {
    const order = await og.recovery.recoveryOrderOfService(ci.Shop!, {}, { actor: reader });
    expect(namesOf(order)).toEqual([
      ['cdn', 'rack-1', 'san-1'],
      ['host-1'],
      ['vm-1', 'vm-2'],
      ['shop-db'],
      ['shop-app'],
      ['Shop'],
    ]);
    expect(order.stages.map((s) => s.position)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(order.cycles).toEqual([]);
    expect(order.truncated).toBe(false);
    const host = order.stages[1]!.cis[0]!;
    expect(host).toMatchObject({ name: 'host-1', class: 'linux_server', depth: 3 });
    expect([...host.needs].sort()).toEqual([ci['san-1'], ci['rack-1']].sort());
  });

  it('stops at the depth asked and says the order is cut short', async () => {
    const order = await og.recovery.recoveryOrderOfService(ci.Shop!, { maxDepth: 2 });
    expect(namesOf(order)).toEqual([['cdn', 'shop-db', 'vm-1'], ['shop-app'], ['Shop']]);
    expect(order.truncated).toBe(true);
    expect(await fieldsOf(og.recovery.recoveryOrderOfService(ci.Shop!, { maxDepth: 51 }))).toEqual([
      'maxDepth',
    ]);
  });

  it('reports a cycle in cycle order and still orders everything around it', async () => {
    const order = await og.recovery.recoveryOrderOfService(ci.Billing!);
    expect(namesOf(order)).toEqual([
      ['bill-san'],
      ['bill-host'],
      ['bill-web'],
      ['cycle:', 'bill-a', 'bill-b', 'bill-c'],
      ['Billing'],
    ]);
    expect(order.cycles.map((c) => ({ stage: c.stage, cis: c.cis.map((x) => x.name) }))).toEqual([
      { stage: 4, cis: ['bill-a', 'bill-b', 'bill-c'] },
    ]);
    expect(order.stages.map((s) => s.cycle)).toEqual([false, false, false, true, false]);
  });

  it('defines a plan with a runbook, and warns of steps that contradict the recovery order', async () => {
    const plan = await og.recovery.definePlan(
      {
        serviceId: ci.Shop!,
        rto: 'PT4H',
        rpo: 'PT15M',
        testEvery: 'P30D',
        ownerGroupId: owners,
        steps: [
          { title: 'Start the shop application', ciId: ci['shop-app']!, expectedDuration: 'PT20M' },
          { title: 'Bring the SAN back', ciId: ci['san-1']!, ownerGroupId: owners },
          { title: 'Check the other host', ciId: ci['host-2']! },
          { title: 'Tell the business', details: 'Status page and email.' },
        ],
      },
      { actor: admin },
    );
    expect(plan).toMatchObject({
      serviceId: ci.Shop,
      rto: 'PT4H',
      rtoSeconds: 14_400,
      rpo: 'PT15M',
      rpoSeconds: 900,
      testEvery: 'P30D',
      ownerGroupId: owners,
      state: 'live',
      version: 1,
      lastTest: null,
      testOverdue: false,
      nextTestDue: new Date(clock.now().getTime() + 30 * DAY),
    });
    expect(plan.steps.map((s) => [s.position, s.title, s.expectedDuration])).toEqual([
      [1, 'Start the shop application', 'PT20M'],
      [2, 'Bring the SAN back', null],
      [3, 'Check the other host', null],
      [4, 'Tell the business', null],
    ]);
    const order = await og.recovery.recoveryOrder(plan.id);
    expect(order.warnings.map((w) => [w.code, w.step, w.otherStep, w.ciId])).toEqual([
      ['step_order', 1, 2, ci['shop-app']],
      ['step_outside', 3, null, ci['host-2']],
    ]);
    expect(order.warnings[0]!.message).toBe(
      'step 1 recovers shop-app, which needs san-1, recovered only in step 2: recover san-1 first',
    );
    expect(await og.recovery.planOfService(ci.Shop!)).toMatchObject({ id: plan.id, version: 1 });
    const [event] = (await og.activity.list({ types: ['dr_plan.defined'], limit: 10 })).filter(
      (e) => e.subject?.id === plan.id,
    );
    expect(event?.payload).toMatchObject({ plan: { id: plan.id, rto: 'PT4H' } });
  });

  it('refuses bad input naming the field, and a second live plan for a service naming serviceId', async () => {
    const base = { serviceId: ci.Billing!, rto: 'PT1H', rpo: 'PT0S' };
    expect(await fieldsOf(og.recovery.definePlan({ ...base, rto: 'PT0S' }, { actor: admin }))).toEqual([
      'rto',
    ]);
    expect(await fieldsOf(og.recovery.definePlan({ ...base, rpo: 'P1M' }, { actor: admin }))).toEqual([
      'rpo',
    ]);
    expect(await fieldsOf(og.recovery.definePlan({ ...base, rto: 'four hours' }, { actor: admin }))).toEqual([
      'rto',
    ]);
    expect(
      await fieldsOf(og.recovery.definePlan({ ...base, serviceId: ci['host-1']! }, { actor: admin })),
    ).toEqual(['serviceId']);
    expect(
      await fieldsOf(
        og.recovery.definePlan(
          { ...base, steps: [{ title: 'ok' }, { title: 'x', ciId: ci['old-proxy']! }, { title: ' ' }] },
          { actor: admin },
        ),
      ),
    ).toEqual(['steps.2.title']);
    expect(
      await fieldsOf(
        og.recovery.definePlan(
          { ...base, steps: [{ title: 'ok' }, { title: 'x', ciId: ci['old-proxy']! }] },
          { actor: admin },
        ),
      ),
    ).toEqual(['steps.1.ciId']);
    const error = (await og.recovery
      .definePlan({ serviceId: ci.Shop!, rto: 'PT1H', rpo: 'PT1H' }, { actor: admin })
      .catch((e) => e)) as ValidationError;
    expect(error.issues).toEqual([
      { path: 'serviceId', message: expect.stringMatching(/^already has a live DR plan/) },
    ]);
    // Nothing was half-written: Billing still has no plan.
    expect(await og.recovery.planOfService(ci.Billing!)).toBeNull();
  });

  it('updates a plan by version: a stale version is a ConflictError', async () => {
    const plan = (await og.recovery.planOfService(ci.Shop!))!;
    const updated = await og.recovery.updatePlan(
      plan.id,
      { rto: 'PT2H', steps: [{ title: 'Bring the SAN back', ciId: ci['san-1']! }] },
      { actor: admin, version: plan.version },
    );
    expect(updated).toMatchObject({ version: plan.version + 1, rto: 'PT2H', rtoSeconds: 7200 });
    expect(updated.steps.map((s) => s.title)).toEqual(['Bring the SAN back']);
    expect((await og.recovery.recoveryOrder(plan.id)).warnings).toEqual([]);
    const stale = og.recovery.updatePlan(plan.id, { rto: 'PT3H' }, { actor: admin, version: plan.version });
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toMatchObject({ field: 'version', currentVersion: plan.version + 1 });
    expect((await og.recovery.plan(plan.id))!.rto).toBe('PT2H');
    const [event] = (await og.activity.list({ types: ['dr_plan.updated'], limit: 10 })).filter(
      (e) => e.subject?.id === plan.id,
    );
    expect(event?.payload).toMatchObject({ fields: ['rto', 'steps'] });
    // Put the 4-hour target back for the tests below.
    const restored = await og.recovery.updatePlan(
      plan.id,
      { rto: 'PT4H' },
      { actor: admin, version: updated.version },
    );
    // The same values again change nothing: no new version, no event.
    const same = await og.recovery.updatePlan(
      plan.id,
      { rto: 'PT240M', steps: [{ title: 'Bring the SAN back', ciId: ci['san-1']! }] },
      { actor: admin, version: restored.version },
    );
    expect(same.version).toBe(restored.version);
  });

  it('records DR tests: pass and fail against RTO and RPO, newest first, with who recorded them', async () => {
    const plan = (await og.recovery.planOfService(ci.Shop!))!;
    const at = (hoursAgo: number) => new Date(clock.now().getTime() - hoursAgo * 3_600_000);
    const record = (
      startHoursAgo: number,
      achievedRto: string,
      achievedRpo: string,
      outcome?: 'passed' | 'failed',
    ) =>
      og.recovery.recordTest(
        plan.id,
        {
          startedAt: at(startHoursAgo),
          endedAt: at(startHoursAgo - 1),
          achievedRto,
          achievedRpo,
          ...(outcome ? { outcome } : {}),
        },
        { actor: admin },
      );
    const ok = await record(50, 'PT3H30M', 'PT10M');
    expect(ok).toMatchObject({
      outcome: 'passed',
      passed: true,
      rtoMet: true,
      rpoMet: true,
      achievedRto: 'PT3H30M',
      targetRtoSeconds: 14_400,
      planVersion: plan.version,
      recordedBy: { kind: 'system', id: 'test' },
      recordedAt: clock.now(),
    });
    // Exactly at the target passes; a second over fails.
    expect((await record(40, 'PT4H', 'PT15M')).passed).toBe(true);
    expect(await record(30, 'PT4H1S', 'PT1M')).toMatchObject({ passed: false, rtoMet: false, rpoMet: true });
    expect(await record(20, 'PT1H', 'PT16M')).toMatchObject({ passed: false, rtoMet: true, rpoMet: false });
    // Targets met, but the service did not come back right.
    const declared = await record(10, 'PT1H', 'PT1M', 'failed');
    expect(declared).toMatchObject({ outcome: 'failed', rtoMet: true, rpoMet: true });

    expect(await fieldsOf(record(5, 'PT5H', 'PT1M', 'passed'))).toEqual(['outcome']);
    expect(
      await fieldsOf(
        og.recovery.recordTest(
          plan.id,
          { startedAt: at(2), endedAt: at(3), achievedRto: 'PT1H', achievedRpo: 'PT0S' },
          { actor: admin },
        ),
      ),
    ).toEqual(['endedAt']);
    expect(
      await fieldsOf(
        og.recovery.recordTest(
          plan.id,
          { startedAt: at(2), endedAt: at(1), achievedRto: 'soon', achievedRpo: 'PT0S' },
          { actor: admin },
        ),
      ),
    ).toEqual(['achievedRto']);

    const page = await og.recovery.tests(plan.id, { first: 3 });
    expect(page.edges.map((e) => e.node.achievedRto)).toEqual(['PT1H', 'PT1H', 'PT4H1S']);
    const rest = await og.recovery.tests(plan.id, { first: 3, after: page.endCursor });
    expect(rest.edges.map((e) => e.node.achievedRto)).toEqual(['PT4H', 'PT3H30M']);
    expect(rest.hasNextPage).toBe(false);

    const reread = (await og.recovery.plan(plan.id))!;
    expect(reread.lastTest).toMatchObject({ id: declared.id, passed: false });
    // The newest passing test ended 39 hours ago.
    expect(reread.lastPassedAt).toEqual(at(39));
    expect(reread.nextTestDue).toEqual(new Date(at(39).getTime() + 30 * DAY));
    const events = (await og.activity.list({ types: ['dr_test.recorded'], limit: 100 })).filter(
      (e) => e.subject?.id === plan.id,
    );
    expect(events).toHaveLength(5);
  });

  it('flags a plan whose last passing test is older than its test interval', async () => {
    const plan = (await og.recovery.planOfService(ci.Shop!))!;
    const overdue = async () =>
      (await og.recovery.plans({ overdue: true })).edges.map((e) => e.node.id).includes(plan.id);
    expect(plan.testOverdue).toBe(false);
    expect(await overdue()).toBe(false);
    clock.advance(31 * DAY);
    expect((await og.recovery.plan(plan.id))!.testOverdue).toBe(true);
    expect(await overdue()).toBe(true);
    await og.recovery.recordTest(
      plan.id,
      {
        startedAt: new Date(clock.now().getTime() - 7_200_000),
        endedAt: new Date(clock.now().getTime() - 3_600_000),
        achievedRto: 'PT1H',
        achievedRpo: 'PT5M',
      },
      { actor: admin },
    );
    expect((await og.recovery.plan(plan.id))!.testOverdue).toBe(false);
    expect(await overdue()).toBe(false);
    expect((await og.recovery.plans({ overdue: false })).edges.map((e) => e.node.id)).toContain(plan.id);
  });

  it('retires a plan, after which the service may get a new one; lists plans a page at a time', async () => {
    const plan = (await og.recovery.planOfService(ci.Shop!))!;
    await expect(
      og.recovery.retirePlan(plan.id, { reason: 'replaced' }, { actor: admin, version: plan.version - 1 }),
    ).rejects.toBeInstanceOf(ConflictError);
    const retired = await og.recovery.retirePlan(
      plan.id,
      { reason: 'replaced' },
      { actor: admin, version: plan.version },
    );
    expect(retired).toMatchObject({
      state: 'retired',
      retiredReason: 'replaced',
      retiredAt: clock.now(),
      testOverdue: false,
    });
    expect(await og.recovery.planOfService(ci.Shop!)).toBeNull();
    expect(
      await fieldsOf(
        og.recovery.recordTest(
          plan.id,
          { startedAt: clock.now(), endedAt: clock.now(), achievedRto: 'PT1H', achievedRpo: 'PT0S' },
          { actor: admin },
        ),
      ),
    ).toEqual(['planId']);
    clock.advance(1000);
    const next = await og.recovery.definePlan(
      { serviceId: ci.Shop!, rto: 'PT8H', rpo: 'PT1H' },
      { actor: admin },
    );
    clock.advance(1000);
    const billing = await og.recovery.definePlan(
      { serviceId: ci.Billing!, rto: 'PT1H', rpo: 'PT0S' },
      { actor: admin },
    );
    const first = await og.recovery.plans({}, { first: 1 });
    expect(first.edges.map((e) => e.node.id)).toEqual([billing.id]);
    expect(first.hasNextPage).toBe(true);
    const second = await og.recovery.plans({}, { first: 5, after: first.endCursor });
    expect(second.edges.map((e) => e.node.id)).toEqual([next.id]);
    expect((await og.recovery.plans({ state: ['retired'] })).edges.map((e) => e.node.id)).toEqual([plan.id]);
    expect((await og.recovery.plans({ serviceId: ci.Shop!, state: ['live', 'retired'] })).edges).toHaveLength(
      2,
    );
  });

  it('checks operations:read and operations:write', async () => {
    await expect(og.recovery.plans({}, {}, { actor: outsider })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      og.recovery.recoveryOrderOfService(ci.Shop!, {}, { actor: outsider }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    expect((await og.recovery.plans({}, {}, { actor: reader })).edges.length).toBe(2);
    await expect(
      og.recovery.definePlan({ serviceId: ci.Shop!, rto: 'PT1H', rpo: 'PT0S' }, { actor: reader }),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });
  it('reads the first page of tests of many plans in one query, in the order asked', async () => {
    const [retired] = (await og.recovery.plans({ state: ['retired'] })).edges.map((e) => e.node);
    const billing = (await og.recovery.planOfService(ci.Billing!))!;
    const shop = (await og.recovery.planOfService(ci.Shop!))!;
    for (const hoursAgo of [3, 2])
      await og.recovery.recordTest(
        billing.id,
        {
          startedAt: new Date(clock.now().getTime() - hoursAgo * 3_600_000),
          endedAt: new Date(clock.now().getTime() - (hoursAgo - 1) * 3_600_000),
          achievedRto: `PT${hoursAgo}0M`,
          achievedRpo: 'PT0S',
        },
        { actor: admin },
      );
    const ids = [retired!.id, billing.id, shop.id, crypto.randomUUID(), 'nope', retired!.id.toUpperCase()];
    const { result: pages, queries } = await og.queries.measure(() =>
      og.recovery.testsOfPlans(ids, { first: 3 }),
    );
    expect(queries).toHaveLength(1);
    const rtos = pages.map((p) => [p.edges.map((e) => e.node.achievedRto), p.hasNextPage]);
    // The retired plan's six tests newest first (the one of the overdue check, then the five recorded).
    expect(rtos).toEqual([
      [['PT1H', 'PT1H', 'PT1H'], true],
      [['PT20M', 'PT30M'], false],
      [[], false],
      [[], false],
      [[], false],
      [['PT1H', 'PT1H', 'PT1H'], true],
    ]);
    // The same pages, cursors included, as one plan at a time; the cursor continues that plan's list.
    expect(pages[0]).toEqual(await og.recovery.tests(retired!.id, { first: 3 }));
    expect(pages[1]).toEqual(await og.recovery.tests(billing.id, { first: 3 }));
    const rest = await og.recovery.tests(retired!.id, { first: 5, after: pages[0]!.endCursor });
    expect(rest.edges.map((e) => e.node.achievedRto)).toEqual(['PT4H1S', 'PT4H', 'PT3H30M']);
    expect((await og.recovery.testsOfPlans([billing.id], { first: 0 }))[0]).toEqual({
      edges: [],
      hasNextPage: true,
      endCursor: null,
    });
    await expect(og.recovery.testsOfPlans([billing.id], {}, { actor: outsider })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
  });
});
