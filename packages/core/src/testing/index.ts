// @opsgraph/core/testing: run your suites against PGlite and real PostgreSQL in a few lines.
import type { ChangesOptions } from '../changes/model.js';
import type { EventsOptions } from '../events/model.js';
import type { IncidentsOptions } from '../incidents/model.js';
import type { Clock } from '../kernel/clock.js';
import { ManualClock } from '../kernel/clock.js';
import { createLogger, type Logger } from '../kernel/logger.js';
import { createOpsGraph, type OpsGraph } from '../kernel/opsgraph.js';
import type { OpsGraphPlugin } from '../kernel/plugins.js';
import type { NotificationsOptions, Notifier } from '../notifications/model.js';
import { type Backend, connectTestDatabase, createTestDatabase, ENV, testBackends } from './backends.js';

// Webhook payloads as Alertmanager and PagerDuty document them, for tests of receivers.
export { alertmanagerFiring, alertmanagerResolved, pagerDutyTrigger } from '../events/fixtures.js';
export { findPostgresBinaries, type PostgresServer, startPostgresServer } from './postgres-server.js';
export { resolveTestScope, scopedTestActor, type TestGrant } from './scopes.js';
export { type Backend, connectTestDatabase, createTestDatabase, ENV, testBackends };

export interface TestOpsGraphOptions {
  readonly backend?: Backend;
  readonly plugins?: readonly OpsGraphPlugin<string, any>[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly events?: EventsOptions;
  readonly incidents?: IncidentsOptions;
  readonly changes?: ChangesOptions;
  readonly notifiers?: readonly Notifier[];
  readonly notifications?: NotificationsOptions;
}

export type TestOpsGraph = OpsGraph & { readonly backend: Backend; readonly clock: Clock };

/**
 * A migrated OpsGraph on a fresh database of `backend` (default PGlite), with a manual clock:
 *
 *   describe.each(testBackends())('my plugin on %s', (backend) => {
 *     let og: TestOpsGraph;
 *     beforeAll(async () => { og = await createTestOpsGraph({ backend, plugins: [myPlugin()] }); });
 *     afterAll(() => og.close());
 *   });
 */
export async function createTestOpsGraph(options: TestOpsGraphOptions = {}): Promise<TestOpsGraph> {
  const backend = options.backend ?? 'pglite';
  const og = await createOpsGraph({
    database: await connectTestDatabase(backend),
    plugins: options.plugins ?? [],
    clock: options.clock ?? new ManualClock(),
    logger: options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'silent' }),
    migrate: true,
    ...(options.events ? { events: options.events } : {}),
    ...(options.incidents ? { incidents: options.incidents } : {}),
    ...(options.changes ? { changes: options.changes } : {}),
    ...(options.notifiers ? { notifiers: options.notifiers } : {}),
    ...(options.notifications ? { notifications: options.notifications } : {}),
  });
  return Object.assign(og, { backend });
}

/**
 * Two OpsGraph instances on one fresh PostgreSQL database, the first migrated: two replicas of a
 * deployment, for tests of what crosses between them (NOTIFY, advisory locks). Close both.
 */
export async function createTestReplicas(): Promise<[OpsGraph, OpsGraph]> {
  const database = await createTestDatabase();
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'silent' });
  const a = await createOpsGraph({ database, logger, migrate: true });
  return [a, await createOpsGraph({ database, logger })];
}
