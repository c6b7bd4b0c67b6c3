import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');

// `slosOfServices`: each service's live SLOs for a page of things on services (a DataLoader batch), in
// the order asked, in one query however many services.
describe.each(testBackends())('live SLOs of many services on %s', (backend) => {
  let og: TestOpsGraph;
  const ci: Record<string, string> = {};

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
    for (const name of ['shop', 'mail', 'idle'])
      ci[name] = (await og.cmdb.create({ class: 'business_service', name }, { actor: admin })).id;
    const define = (service: string, name: string) =>
      og.serviceLevels.defineSlo({ serviceId: ci[service]!, name, objective: 99.9 }, { actor: admin });
    await define('shop', 'checkout');
    await define('shop', 'Browse');
    const old = await define('shop', 'legacy');
    await og.serviceLevels.retireSlo(old.id, { actor: admin });
    await define('mail', 'delivery');
  });
  afterAll(() => og?.close());

  it('answers each service in the order asked, live SLOs by name, [] where there is none, in one query', async () => {
    const names = (lists: { name: string; serviceId: string }[][]) =>
      lists.map((l) => l.map((s) => `${s.serviceId === ci.shop ? 'shop' : 'mail'}:${s.name}`));
    const many = await og.queries.measure(() =>
      og.serviceLevels.slosOfServices([ci.mail!, ci.idle!, ci.shop!.toUpperCase(), 'not-a-uuid', ci.mail!], {
        actor: admin,
      }),
    );
    expect(names(many.result)).toEqual([
      ['mail:delivery'],
      [],
      ['shop:Browse', 'shop:checkout'],
      [],
      ['mail:delivery'],
    ]);
    expect(many.queries).toHaveLength(1);
    const one = await og.queries.measure(() => og.serviceLevels.slosOfServices([ci.shop!]));
    expect(names(one.result)).toEqual([['shop:Browse', 'shop:checkout']]);
    expect(one.queries).toHaveLength(1);
    // The same SLOs `slos` lists for the service alone.
    const page = await og.serviceLevels.slos({ serviceId: ci.shop! });
    expect(one.result[0]).toEqual(page.edges.map((e) => e.node));
    const none = await og.queries.measure(() => og.serviceLevels.slosOfServices([]));
    expect(none.result).toEqual([]);
    expect(none.queries).toHaveLength(0);
  });

  it('refuses a reader without operations:read, like slos', async () => {
    const reader = await scopedTestActor(og, 'reader', [], ['cmdb:read']);
    await expect(og.serviceLevels.slosOfServices([ci.shop!], { actor: reader })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    const operator = await scopedTestActor(og, 'operator', [], ['operations:read']);
    expect(
      (await og.serviceLevels.slosOfServices([ci.mail!], { actor: operator }))[0]!.map((s) => s.name),
    ).toEqual(['delivery']);
  });
});
