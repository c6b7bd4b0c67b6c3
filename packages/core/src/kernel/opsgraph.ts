import type { Kysely } from 'kysely';
import { accessMigrations } from '../access/migrations.js';
import { registerPluginRoles } from '../access/roles.js';
import { AccessService } from '../access/service.js';
import { approvalsMigrations } from '../approvals/migrations.js';
import { ApprovalRegistry, ApprovalsService } from '../approvals/service.js';
import { changesMigrations } from '../changes/migrations.js';
import { type ChangesOptions, resolveChangesOptions } from '../changes/model.js';
import { ChangesService } from '../changes/service.js';
import { listingMigrations } from '../cmdb/listing-migrations.js';
import { cmdbMigrations } from '../cmdb/migrations.js';
import { classDefinitionInput, relationshipTypeInput } from '../cmdb/model.js';
import { CmdbService } from '../cmdb/service.js';
import {
  loadClassIndex,
  reviewClassDefinition,
  upsertClasses,
  upsertRelationshipTypes,
} from '../cmdb/store.js';
import { connectDatabase, type DatabaseHandle, type Dialect, type PoolStats } from '../db/connect.js';
import type { Database } from '../db/database.js';
import {
  type MigrationReport,
  type MigrationSet,
  type MigrationStatus,
  migrate,
  migrationStatus,
} from '../db/migrator.js';
import type { QueryLog } from '../db/query-log.js';
import { alertListingMigrations } from '../events/listing-migrations.js';
import { eventsMigrations } from '../events/migrations.js';
import { type EventsOptions, resolveEventsOptions } from '../events/model.js';
import { EventsService } from '../events/service.js';
import { incidentsMigrations } from '../incidents/migrations.js';
import { type IncidentsOptions, resolveIncidentsOptions } from '../incidents/model.js';
import { IncidentsService } from '../incidents/service.js';
import { notificationsMigrations } from '../notifications/migrations.js';
import type { NotificationsOptions, Notifier } from '../notifications/model.js';
import { deliverAfterCommit, NotificationRuntime, NotificationsService } from '../notifications/service.js';
import { operationsMigrations } from '../operations/migrations.js';
import { RecoveryService } from '../operations/recovery.js';
import { recoveryMigrations } from '../operations/recovery-migrations.js';
import { OperationsService } from '../operations/service.js';
import { problemsMigrations } from '../problems/migrations.js';
import { ProblemsService } from '../problems/service.js';
import { requestsMigrations } from '../requests/migrations.js';
import { RequestsService } from '../requests/service.js';
import { serviceHealthMigrations } from '../service-health/migrations.js';
import { ServiceHealthService } from '../service-health/service.js';
import { CapacityService } from '../service-levels/capacity.js';
import { capacityMigrations } from '../service-levels/capacity-migrations.js';
import { serviceLevelsMigrations } from '../service-levels/migrations.js';
import { ServiceLevelsService } from '../service-levels/service.js';
import { slasMigrations } from '../slas/migrations.js';
import { SlasService } from '../slas/service.js';
import { topologyMigrations } from '../topology/migrations.js';
import { TopologyService } from '../topology/service.js';
import { ActivityService } from './activity.js';
import { ACTIVITY_CHANNEL } from './activity-store.js';
import { permissions, pluginActor } from './actor.js';
import { EventBus } from './bus.js';
import { type Clock, systemClock } from './clock.js';
import { coreSweeps } from './core-sweeps.js';
import { isOpsGraphError } from './errors.js';
import type { DomainEvent } from './events.js';
import { type Kernel, KernelImpl, type KernelShared } from './kernel.js';
import { createLogger, type Logger } from './logger.js';
import { kernelMigrations } from './migrations.js';
import { type OpsGraphPlugin, orderPlugins, PluginLoadError } from './plugins.js';
import type { CoreServices, OpsGraphPlugins } from './registry.js';
import { Scheduler, type Sweep } from './scheduler.js';
import { parseInput } from './validation.js';

export interface OpsGraphOptions {
  /** `pglite://memory`, `pglite://<dir>` (default `pglite://./.opsgraph/data`), `postgres://…`, or a connected handle. */
  readonly database?: string | DatabaseHandle;
  readonly plugins?: readonly OpsGraphPlugin<string, any>[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * Apply pending migrations before returning (handy when embedding with PGlite). Servers leave it off
   * and run `migrate()` as an explicit step, so replicas do not all migrate at boot.
   */
  readonly migrate?: boolean;
  /** Event management's flapping and correlation settings. */
  readonly events?: EventsOptions;
  /** Incident management's priority matrix and reopen window. */
  readonly incidents?: IncidentsOptions;
  /** Change management: the approval policy per change type. */
  readonly changes?: ChangesOptions;
  /**
   * Channels for outage notifications of major incidents (`smtpNotifier`, `webhookNotifier`, or your
   * own `Notifier`); none: nothing is written or sent.
   */
  readonly notifiers?: readonly Notifier[];
  /** Retries and leases of notification delivery. */
  readonly notifications?: NotificationsOptions;
}

/** The services bound to one transaction. */
export type OpsGraphTransaction = CoreServices & {
  readonly plugins: OpsGraphPlugins;
  readonly db: Kysely<Database>;
};

export interface OpsGraph extends CoreServices {
  readonly plugins: OpsGraphPlugins;
  readonly kernel: Kernel;
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Every SQL statement this instance runs: `queries.on(listener)`, `queries.measure(fn)`. */
  readonly queries: QueryLog;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The loaded plugins, in dependency order. */
  readonly pluginList: readonly OpsGraphPlugin[];
  /**
   * All timed work (SLA breaches, expiring access, maintenance windows, notification retries, plugins'
   * sweeps): `runDue()` / `run()` for an app or a test with a moved clock, `start()` for a server.
   */
  readonly scheduler: Scheduler;
  /** Subscribes to committed domain events of this process (`'*'` for all). */
  readonly on: ActivityService['on'];
  /** Runs `fn` with every service bound to one transaction: all its writes commit, or none. */
  transaction<T>(fn: (tx: OpsGraphTransaction) => Promise<T>): Promise<T>;
  migrate(): Promise<MigrationReport[]>;
  migrationStatus(): Promise<MigrationStatus[]>;
  /** The database connection pool now (max, open, idle, waiting): what `/metrics` reports. */
  poolStats(): PoolStats;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const coreMigrations: MigrationSet = {
  owner: 'core',
  migrations: {
    ...kernelMigrations,
    ...cmdbMigrations,
    ...listingMigrations,
    ...accessMigrations,
    ...topologyMigrations,
    ...changesMigrations,
    ...eventsMigrations,
    ...incidentsMigrations,
    ...alertListingMigrations,
    ...slasMigrations,
    ...approvalsMigrations,
    ...problemsMigrations,
    ...notificationsMigrations,
    ...requestsMigrations,
    ...serviceLevelsMigrations,
    ...capacityMigrations,
    ...recoveryMigrations,
    ...operationsMigrations,
    ...serviceHealthMigrations,
  },
};

const coreBuilder = (options: OpsGraphOptions, notifications: NotificationRuntime) => {
  const events = resolveEventsOptions(options.events);
  const incidents = resolveIncidentsOptions(options.incidents);
  // One registry of approval subject types per instance: the services of every transaction share it.
  const approvals = new ApprovalRegistry();
  const changes = resolveChangesOptions(options.changes);
  // Change approvals settle into the change's state, in the deciding transaction.
  approvals.register(
    'change',
    (settled, scope) => scope.kernel.services.changes.approvalsSettled(settled, scope),
    {
      readPermission: permissions.changeRead,
      writePermission: permissions.changeWrite,
    },
  );
  return (kernel: Kernel): CoreServices => ({
    activity: new ActivityService(kernel),
    cmdb: new CmdbService(kernel),
    access: new AccessService(kernel),
    topology: new TopologyService(kernel),
    events: new EventsService(kernel, events),
    changes: new ChangesService(kernel, changes),
    incidents: new IncidentsService(kernel, incidents),
    slas: new SlasService(kernel),
    approvals: new ApprovalsService(kernel, approvals),
    problems: new ProblemsService(kernel),
    notifications: new NotificationsService(kernel, notifications),
    requests: new RequestsService(kernel),
    serviceLevels: new ServiceLevelsService(kernel),
    capacity: new CapacityService(kernel),
    recovery: new RecoveryService(kernel),
    operations: new OperationsService(kernel),
    serviceHealth: new ServiceHealthService(kernel),
  });
};

export async function createOpsGraph(options: OpsGraphOptions = {}): Promise<OpsGraph> {
  const logger = options.logger ?? createLogger();
  // Built first: a bad events setting stops start-up, not the first ingest.
  const notifications = new NotificationRuntime(options.notifiers ?? [], options.notifications);
  const buildCore = coreBuilder(options, notifications);
  let plugins: OpsGraphPlugin[];
  try {
    plugins = orderPlugins(options.plugins ?? [], logger);
  } catch (error) {
    // A handle passed in is ours from here on (close() closes it), also when start-up fails.
    if (typeof options.database === 'object') await options.database.close();
    throw error;
  }
  const handle =
    typeof options.database === 'object'
      ? options.database
      : await connectDatabase(options.database, { logger });
  const bus = new EventBus(logger);
  if (handle.dialect === 'postgres') {
    // Other replicas' commits arrive as NOTIFY; ours are published in-process after commit as well.
    bus.setRemote(async () => {
      await handle.listen(ACTIVITY_CHANNEL, () => bus.wake());
    });
  }

  const buildPlugins = (kernel: Kernel): OpsGraphPlugins => {
    const services: Record<string, unknown> = {};
    for (const plugin of plugins) {
      if (!plugin.services) continue;
      try {
        services[plugin.name] = plugin.services(kernel);
      } catch (error) {
        throw new PluginLoadError(
          `Plugin "${plugin.name}" failed to build its services: ${(error as Error).message}`,
          [plugin.name],
        );
      }
    }
    return services as unknown as OpsGraphPlugins;
  };

  const shared: KernelShared = {
    root: handle.db,
    dialect: handle.dialect,
    clock: options.clock ?? systemClock,
    logger,
    bus,
    buildCore,
    buildPlugins,
  };
  const kernel = new KernelImpl(shared, handle.db, null);
  const migrationSets: MigrationSet[] = [
    coreMigrations,
    ...plugins.filter((p) => p.migrations).map((p) => ({ owner: p.name, migrations: p.migrations! })),
  ];

  // Migrations, then the plugins' CI classes (their parents may come from those migrations) and roles.
  const migrateAll = async (): Promise<MigrationReport[]> => {
    const reports = await migrate(handle, migrationSets, logger);
    await registerPluginClasses(handle.db, plugins);
    await registerPluginRoles(handle.db, plugins);
    return reports;
  };

  let scheduler: Scheduler;
  try {
    // Build plugin services now, so a broken plugin stops start-up naming itself.
    void kernel.plugins;
    scheduler = new Scheduler(kernel, [...coreSweeps, ...plugins.flatMap(pluginSweeps)], logger);
    for (const plugin of plugins) {
      for (const [type, handler] of Object.entries(plugin.on ?? {})) {
        const actorKernel = kernel;
        bus.on(type as never, (event: DomainEvent) =>
          (handler as (e: DomainEvent, k: Kernel) => void | Promise<void>)(event, actorKernel),
        );
      }
      logger.debug({ plugin: plugin.name, version: plugin.version }, 'plugin loaded');
    }
    if (options.migrate) await migrateAll();
  } catch (error) {
    await notifications.close(logger);
    await handle.close();
    throw error;
  }

  const core = kernel.services;
  // Notifications written by a commit of this process go out right after it.
  const stopDelivery = deliverAfterCommit(kernel, notifications);
  // Request approvals settle through og.approvals: approval opens fulfilment, rejection rejects.
  core.requests.registerApprovals();
  let closed = false;
  return {
    ...core,
    activity: core.activity,
    cmdb: core.cmdb,
    access: core.access,
    topology: core.topology,
    events: core.events,
    changes: core.changes,
    incidents: core.incidents,
    slas: core.slas,
    approvals: core.approvals,
    problems: core.problems,
    notifications: core.notifications,
    requests: core.requests,
    serviceLevels: core.serviceLevels,
    capacity: core.capacity,
    recovery: core.recovery,
    operations: core.operations,
    serviceHealth: core.serviceHealth,
    plugins: kernel.plugins,
    kernel,
    db: handle.db,
    dialect: handle.dialect,
    queries: handle.queries,
    clock: shared.clock,
    logger,
    pluginList: plugins,
    scheduler,
    on: core.activity.on.bind(core.activity),
    transaction: (fn) => kernel.transaction((tx) => fn({ ...tx.services, plugins: tx.plugins, db: tx.db })),
    migrate: migrateAll,
    poolStats: () => handle.poolStats(),
    migrationStatus: () => migrationStatus(handle.db.withoutPlugins(), migrationSets),
    ping: async () => {
      await handle.db.selectNoFrom((eb) => eb.val(1).as('ok')).execute();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      stopDelivery();
      await notifications.close(logger);
      await handle.close();
    },
  };
}

/** A plugin's sweeps, named `<plugin>.<name>` and run as the plugin. */
function pluginSweeps(plugin: OpsGraphPlugin): Sweep[] {
  const actor = pluginActor(plugin.name);
  return (plugin.sweeps ?? []).map((sweep) => ({
    ...sweep,
    name: `${plugin.name}.${sweep.name}`,
    run: (context) => sweep.run({ ...context, actor }),
  }));
}

/**
 * Registers each plugin's `ciClasses` and `relationshipTypes` in one transaction; a name another owner
 * already has stops start-up naming both.
 */
async function registerPluginClasses(
  db: Kysely<Database>,
  plugins: readonly OpsGraphPlugin[],
): Promise<void> {
  const owners = plugins.filter((p) => p.ciClasses?.length || p.relationshipTypes?.length);
  if (owners.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const plugin of owners) {
      await checkPluginDefinitions(trx, plugin);
      const clashes = [
        ...(await upsertClasses(trx, plugin.name, plugin.ciClasses ?? [])).map((c) => ({
          ...c,
          kind: 'CI class',
        })),
        ...(await upsertRelationshipTypes(trx, plugin.name, plugin.relationshipTypes ?? [])).map((c) => ({
          ...c,
          kind: 'relationship type',
        })),
      ];
      const [first] = clashes;
      if (first) {
        throw new PluginLoadError(
          `Plugin "${plugin.name}" brings the ${first.kind} "${first.name}", which "${first.owner}" already has: rename it in one of them`,
          [plugin.name, ...new Set(clashes.map((c) => c.owner))],
        );
      }
    }
  });
}

/**
 * A plugin's classes and relationship types get the checks an operator's get, class by class in order
 * (a class may extend an earlier one of the same plugin); the first fault stops start-up naming the plugin.
 */
async function checkPluginDefinitions(db: Kysely<Database>, plugin: OpsGraphPlugin): Promise<void> {
  const fail = (what: string, error: unknown): never => {
    const reason = isOpsGraphError(error) ? error.message : String(error);
    throw new PluginLoadError(`Plugin "${plugin.name}" brings an invalid ${what}: ${reason}`, [plugin.name]);
  };
  const classes = new Map(await loadClassIndex(db));
  for (const raw of plugin.ciClasses ?? []) {
    let def: ReturnType<typeof classDefinitionInput.parse>;
    try {
      def = parseInput(classDefinitionInput, raw);
    } catch (error) {
      fail(`CI class "${raw.name}"`, error);
      return;
    }
    const existing = classes.get(def.name);
    // Someone else's class is reported as a clash by the caller, not checked here.
    if (existing && existing.owner !== plugin.name) continue;
    const issues = await reviewClassDefinition(db, classes, def);
    if (issues.length > 0)
      fail(`CI class "${def.name}"`, new Error(issues.map((i) => `${i.path}: ${i.message}`).join('; ')));
    classes.set(def.name, {
      name: def.name,
      label: def.label,
      parent: def.parent ?? null,
      owner: plugin.name,
      description: def.description ?? null,
      attributes: def.attributes,
      identifiers: def.identifiers,
    });
  }
  for (const raw of plugin.relationshipTypes ?? []) {
    try {
      parseInput(relationshipTypeInput, raw);
    } catch (error) {
      fail(`relationship type "${raw.name}"`, error);
    }
  }
}

/** The actor a plugin's event handlers should write as. */
export { pluginActor };
