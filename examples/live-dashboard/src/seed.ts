import { type OpsGraph, systemActor } from '@opsgraph/core';
import { seedDemo } from '@opsgraph/server';

const actor = systemActor('dashboard-example');
const DAY_MS = 24 * 3600 * 1000;

/** What the page may read, and nothing it could change: the token is cut to these. */
export const VIEWER_PERMISSIONS = ['cmdb:read', 'event:read', 'incident:read', 'activity:read'] as const;

/**
 * The server's demo estate (the Online Shop, with its open alerts and incident), plus a healthy
 * second tier-1 service so the board shows green next to red: the Customer Portal, whose web
 * application runs on one server, portal-01.
 */
export async function seedDashboardDemo(og: OpsGraph): Promise<void> {
  await seedDemo(og);
  if ((await og.cmdb.list({ tag: 'dashboard' }, { first: 1 })).edges.length > 0) return;
  await og.transaction(async (tx) => {
    const create = (input: Parameters<typeof tx.cmdb.create>[0]) =>
      tx.cmdb.create({ ...input, tags: ['demo', 'dashboard'] }, { actor });
    const portal = await create({
      class: 'business_service',
      name: 'Customer Portal',
      attributes: { tier: 1 },
    });
    const web = await create({ class: 'application', name: 'portal-web', environment: 'production' });
    const server = await create({
      class: 'linux_server',
      name: 'portal-01',
      attributes: { hostname: 'portal-01', domain: 'portal.example' },
    });
    await tx.cmdb.relate({ type: 'depends_on', sourceId: portal.id, targetId: web.id }, { actor });
    await tx.cmdb.relate({ type: 'runs_on', sourceId: web.id, targetId: server.id }, { actor });
  });
}

/**
 * A read-only token for the page: a "Dashboard viewer" user holding only a role of read permissions
 * (and the right to its own tokens), whose token carries only the reads. Never an admin token: anyone
 * who can load the page can read the token.
 */
export async function createViewerToken(og: OpsGraph): Promise<string> {
  const email = 'dashboard-viewer@opsgraph.example';
  let user = (await og.access.users({ search: email }, { actor })).edges[0]?.node;
  if (!user) {
    if (!(await og.access.role('dashboard-viewer', { actor }))) {
      await og.access.defineRole(
        {
          name: 'dashboard-viewer',
          description: 'Reads what the live dashboard shows; holds its own tokens.',
          permissions: [...VIEWER_PERMISSIONS, 'access:tokens'],
        },
        { actor },
      );
    }
    user = await og.access.createUser({ name: 'Dashboard viewer', email }, { actor });
    await og.access.grant(
      { role: 'dashboard-viewer', userId: user.id, reason: 'The live dashboard page' },
      { actor },
    );
  }
  const viewer = await og.access.actorForUser({ id: user.id });
  if (!viewer) throw new Error('The dashboard viewer user is inactive: activate it to serve the dashboard');
  const { secret } = await og.access.createToken(
    {
      name: 'live dashboard',
      permissions: [...VIEWER_PERMISSIONS],
      expiresAt: new Date(og.clock.now().getTime() + DAY_MS),
    },
    { actor: viewer },
  );
  return secret;
}

/** A token of Olivia Ops (the demo's operator) that may ingest events: printed to try the board out. */
export async function createOperatorToken(og: OpsGraph): Promise<string> {
  const olivia = (await og.access.users({ search: 'olivia@shop.example' }, { actor })).edges[0]?.node;
  const operator = olivia && (await og.access.actorForUser({ id: olivia.id }));
  if (!operator) throw new Error('The demo operator (olivia@shop.example) is missing');
  const { secret } = await og.access.createToken(
    {
      name: 'dashboard example: ingest',
      permissions: ['event:read', 'event:write'],
      expiresAt: new Date(og.clock.now().getTime() + DAY_MS),
    },
    { actor: operator },
  );
  return secret;
}
