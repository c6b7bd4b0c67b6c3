import semver from 'semver';
import type { RoleDefinition } from '../access/model.js';
import type { CiClassDefinition, RelationshipTypeDefinition } from '../cmdb/model.js';
import type { Migration } from '../db/migrator.js';
import type { DomainEvent, DomainEventType } from './events.js';
import type { Kernel } from './kernel.js';
import type { Logger } from './logger.js';
import type { Sweep } from './scheduler.js';

/**
 * The plugin API this core offers. A plugin states the range it was written for in `apiVersion`.
 * 1.1: `roles`, and `ciClasses` with typed attributes and identifiers. 1.2: `sweeps`.
 */
export const PLUGIN_API_VERSION = '1.2.0';

const PLUGIN_BRAND = 'opsgraph.plugin';

export type PluginEventHandlers = {
  [K in DomainEventType]?: (event: DomainEvent<K>, kernel: Kernel) => void | Promise<void>;
};

/**
 * A plugin. `@opsgraph/server` adds a `graphql(builder)` slot to this interface by module
 * augmentation, so core stays free of GraphQL.
 */
export interface PluginDefinition<Name extends string = string, Services = unknown> {
  /** Unique, lower-case; prefixes the plugin's tables, service ids, events and GraphQL types. */
  readonly name: Name;
  readonly version?: string;
  /** Semver range of PLUGIN_API_VERSION the plugin was written for; a mismatch warns. */
  readonly apiVersion?: string;
  /** Plugins that must load first: their tables, classes and services are visible to this one. */
  readonly dependsOn?: readonly string[];
  /** Kysely migrations owned by this plugin, in the order of their (frozen) names. */
  readonly migrations?: Readonly<Record<string, Migration>>;
  /** CI classes the plugin brings, registered (owner: the plugin) by `migrate()`. */
  readonly ciClasses?: readonly CiClassDefinition[];
  /** Relationship types the plugin brings, registered (owner: the plugin) by `migrate()`. */
  readonly relationshipTypes?: readonly RelationshipTypeDefinition[];
  /**
   * Roles the plugin brings (e.g. `network_engineer` with `network:*`), registered (owner: the plugin)
   * by `migrate()`; grantable like core's, never redefinable at runtime.
   */
  readonly roles?: readonly RoleDefinition[];
  /** Builds the plugin's services; called once for `og`, and again inside each `og.transaction()`. */
  readonly services?: (kernel: Kernel) => Services;
  /** Domain-event handlers, run after the write commits, as the plugin's actor. */
  readonly on?: PluginEventHandlers;
  /**
   * Timed work for `og.scheduler` (e.g. running health probes), registered as `<plugin>.<name>`, run
   * as the plugin's actor under the sweep's advisory lock; idempotent like core's.
   */
  readonly sweeps?: readonly Sweep[];
}

export type OpsGraphPlugin<Name extends string = string, Services = unknown> = PluginDefinition<
  Name,
  Services
> & {
  readonly $$type: typeof PLUGIN_BRAND;
};

export function definePlugin<const Name extends string, Services = unknown>(
  definition: PluginDefinition<Name, Services>,
): OpsGraphPlugin<Name, Services> {
  return Object.freeze({ ...definition, $$type: PLUGIN_BRAND });
}

export function isPlugin(value: unknown): value is OpsGraphPlugin {
  return (
    typeof value === 'object' && value !== null && (value as { $$type?: unknown }).$$type === PLUGIN_BRAND
  );
}

/** Start-up fails with this when the plugin set cannot load; the message names every plugin involved. */
export class PluginLoadError extends Error {
  override name = 'PluginLoadError';
  constructor(
    message: string,
    readonly plugins: readonly string[],
  ) {
    super(message);
  }
}

const NAME = /^[a-z][a-z0-9_]*$/;

/** Validates the set and returns it in dependency order (dependencies first, otherwise as given). */
export function orderPlugins(plugins: readonly unknown[], logger?: Logger): OpsGraphPlugin[] {
  const byName = new Map<string, OpsGraphPlugin>();
  plugins.forEach((plugin, index) => {
    if (!isPlugin(plugin)) {
      throw new PluginLoadError(
        `plugins[${index}] is not a plugin: create plugins with definePlugin() (is a second copy of @opsgraph/core installed?)`,
        [],
      );
    }
    if (!NAME.test(plugin.name)) {
      throw new PluginLoadError(
        `Plugin name "${plugin.name}" is invalid: use lower-case letters, digits and _`,
        [plugin.name],
      );
    }
    if (plugin.name === 'core' || plugin.name.endsWith('_lock')) {
      // Each owner's migration ledger is `og_migrations_<owner>` with a `…_lock` table beside it:
      // these names would share core's ledger, or another owner's lock table.
      throw new PluginLoadError(
        `Plugin name "${plugin.name}" is reserved: "core" and names ending in "_lock" clash with migration ledgers`,
        [plugin.name],
      );
    }
    if (byName.has(plugin.name)) {
      throw new PluginLoadError(`Plugin "${plugin.name}" is registered twice`, [plugin.name]);
    }
    byName.set(plugin.name, plugin);
    if (plugin.apiVersion && !semver.satisfies(PLUGIN_API_VERSION, plugin.apiVersion)) {
      logger?.warn(
        { plugin: plugin.name, wants: plugin.apiVersion, have: PLUGIN_API_VERSION },
        `plugin "${plugin.name}" was written for plugin API ${plugin.apiVersion}, this core offers ${PLUGIN_API_VERSION}: it may not work`,
      );
    }
  });

  // Every plugin with a missing dependency, in one error: fixing them one start-up at a time is tedious.
  const lacking = [...byName.values()]
    .map((plugin) => ({
      plugin: plugin.name,
      missing: (plugin.dependsOn ?? []).filter((d) => !byName.has(d)),
    }))
    .filter((entry) => entry.missing.length > 0);
  if (lacking.length > 0) {
    const message = lacking
      .map(
        ({ plugin, missing }) =>
          `Plugin "${plugin}" depends on ${missing.map((m) => `"${m}"`).join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not loaded`,
      )
      .join('; ');
    const many = lacking.flatMap((entry) => entry.missing).length > 1;
    throw new PluginLoadError(`${message}: add ${many ? 'them' : 'it'} to plugins`, [
      ...new Set(lacking.flatMap(({ plugin, missing }) => [plugin, ...missing])),
    ]);
  }

  const ordered: OpsGraphPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (plugin: OpsGraphPlugin, path: string[]) => {
    const mark = state.get(plugin.name);
    if (mark === 'done') return;
    if (mark === 'visiting') {
      const cycle = [...path.slice(path.indexOf(plugin.name)), plugin.name];
      throw new PluginLoadError(`Plugins depend on each other in a cycle: ${cycle.join(' -> ')}`, [
        ...new Set(cycle),
      ]);
    }
    state.set(plugin.name, 'visiting');
    for (const dep of plugin.dependsOn ?? []) visit(byName.get(dep)!, [...path, plugin.name]);
    state.set(plugin.name, 'done');
    ordered.push(plugin);
  };
  for (const plugin of byName.values()) visit(plugin, []);
  return ordered;
}
