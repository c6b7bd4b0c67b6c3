import { type OpsGraph, systemActor } from '@opsgraph/core';

const actor = systemActor('demo-seed');

/** A small estate to explore: a business service, its application, database and servers. */
export async function seedDemo(og: OpsGraph): Promise<{ created: number }> {
  const existing = await og.cmdb.list({ tag: 'demo' }, { first: 1 });
  if (existing.edges.length > 0) return { created: 0 };
  const items = [
    { class: 'business_service', name: 'Online Shop', attributes: { tier: 1 } },
    { class: 'application', name: 'shop-frontend', environment: 'production' },
    { class: 'application', name: 'checkout-api', environment: 'production' },
    { class: 'database', name: 'orders-db', environment: 'production' },
    { class: 'cluster', name: 'web-cluster', attributes: { quorum: 2 } },
    { class: 'linux_server', name: 'web-01', attributes: { hostname: 'web-01', domain: 'shop.example' } },
    { class: 'linux_server', name: 'web-02', attributes: { hostname: 'web-02', domain: 'shop.example' } },
    { class: 'linux_server', name: 'web-03', attributes: { hostname: 'web-03', domain: 'shop.example' } },
    { class: 'linux_server', name: 'db-01', attributes: { hostname: 'db-01', domain: 'shop.example' } },
  ];
  await og.transaction(async (tx) => {
    for (const item of items) await tx.cmdb.create({ ...item, tags: ['demo'] }, { actor });
  });
  return { created: items.length };
}

/** A token for exploring the demo; it expires in a day, so a forgotten demo does not stay open. */
export async function createDemoToken(og: OpsGraph): Promise<string> {
  const { secret } = await og.access.createToken(
    { name: 'demo', permissions: ['*'], expiresAt: new Date(og.clock.now().getTime() + 24 * 3600 * 1000) },
    { actor },
  );
  return secret;
}
