import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  type Actor,
  createLogger,
  createOpsGraph,
  type DomainEvent,
  type DomainEventMap,
  definePlugin,
  isPlugin,
  type Kernel,
  type Logger,
  type OpsGraphOptions,
  orderPlugins,
  PLUGIN_API_VERSION,
  PluginLoadError,
  pluginActor,
  systemActor,
} from '../index.js';
import {
  connectTestDatabase,
  createTestOpsGraph,
  type TestOpsGraph,
  testBackends,
} from '../testing/index.js';

// What a plugin author writes: typed services and events by module augmentation.
declare module '../index.js' {
  interface OpsGraphPlugins {
    inventory: { sites: SiteService };
    assets: AssetService;
  }
  interface DomainEventMap {
    'assets.item.added': { id: string; label: string; ciId: string | null };
  }
}

const actor = systemActor('test');
const silent = () => createLogger({ level: 'silent' });

/** Every plugin migration appends here, with whether the tables it relies on exist already. */
const migrationLog: string[] = [];
const tableExists = async (db: Kysely<any>, table: string) =>
  (await sql<{ t: string | null }>`select to_regclass(${table})::text as t`.execute(db)).rows[0]!.t !== null;

type InventoryTables = {
  inventorySites: { id: string; name: string };
};
type AssetTables = {
  assetsItems: { id: string; label: string; siteId: string | null; ciId: string | null; createdAt: Date };
};

class SiteService {
  constructor(private readonly kernel: Kernel) {}
  async add(name: string, options: { actor: Actor }): Promise<{ id: string; name: string }> {
    return this.kernel.write(options.actor, async ({ db }) =>
      db
        .withTables<InventoryTables>()
        .insertInto('inventorySites')
        .values({ id: crypto.randomUUID(), name })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
  }
}

class AssetService {
  constructor(private readonly kernel: Kernel) {}

  async add(
    label: string,
    options: { actor: Actor; ciId?: string; siteId?: string },
  ): Promise<{ id: string; label: string }> {
    return this.kernel.write(options.actor, async ({ db, now, emit }) => {
      const row = await db
        .withTables<AssetTables>()
        .insertInto('assetsItems')
        .values({
          id: crypto.randomUUID(),
          label,
          ciId: options.ciId ?? null,
          siteId: options.siteId ?? null,
          createdAt: now,
        })
        .returning(['id', 'label', 'ciId'])
        .executeTakeFirstOrThrow();
      emit('assets.item.added', { type: 'assets.item', id: row.id }, row);
      return { id: row.id, label: row.label };
    });
  }

  async list() {
    return this.kernel.db
      .withTables<AssetTables>()
      .selectFrom('assetsItems')
      .select(['id', 'label', 'ciId', 'siteId'])
      .orderBy('label')
      .execute();
  }
}

const inventory = () =>
  definePlugin({
    name: 'inventory',
    version: '1.2.3',
    apiVersion: '^1.0.0',
    migrations: {
      '0001_inventory_sites': {
        async up(db) {
          migrationLog.push(`inventory:0001 after core=${await tableExists(db, 'cis')}`);
          await db.schema
            .createTable('inventory_sites')
            .addColumn('id', 'uuid', (c) => c.primaryKey())
            .addColumn('name', 'text', (c) => c.notNull())
            .execute();
        },
      },
    },
    services: (kernel) => ({ sites: new SiteService(kernel) }),
  });

const assets = () =>
  definePlugin({
    name: 'assets',
    dependsOn: ['inventory'],
    apiVersion: '^1.0.0',
    migrations: {
      '0001_assets_items': {
        async up(db) {
          migrationLog.push(`assets:0001 after inventory=${await tableExists(db, 'inventory_sites')}`);
          await db.schema
            .createTable('assets_items')
            .addColumn('id', 'uuid', (c) => c.primaryKey())
            .addColumn('label', 'text', (c) => c.notNull())
            // A foreign key into a dependency's table and into core's: both exist by now.
            .addColumn('site_id', 'uuid', (c) => c.references('inventory_sites.id'))
            .addColumn('ci_id', 'uuid', (c) => c.references('cis.id'))
            .addColumn('created_at', 'timestamptz', (c) => c.notNull())
            .execute();
        },
      },
      '0002_assets_items_label_idx': {
        async up(db) {
          migrationLog.push('assets:0002');
          await db.schema.createIndex('assets_items_label_idx').on('assets_items').column('label').execute();
        },
      },
    },
    services: (kernel) => new AssetService(kernel),
    on: {
      // Every new server CI gets an asset record, written as the plugin.
      'ci.created': async (event, kernel) => {
        expectTypeOf(event.payload.ci.name).toEqualTypeOf<string>();
        await kernel.plugins.assets.add(`asset of ${event.payload.ci.name}`, {
          actor: pluginActor('assets'),
          ciId: event.payload.ci.id,
        });
      },
    },
  });

describe.each(testBackends())('a plugin on %s', (backend) => {
  let og: TestOpsGraph;
  let log: string[];
  beforeAll(async () => {
    migrationLog.length = 0;
    // Given out of order: the dependency must still load (and migrate) first.
    og = await createTestOpsGraph({ backend, plugins: [assets(), inventory()] });
    log = [...migrationLog];
  });
  afterAll(() => og?.close());

  it('loads in dependency order', () => {
    expect(og.pluginList.map((p) => p.name)).toEqual(['inventory', 'assets']);
  });

  it("runs its migrations after core's and after its dependency's, each once", async () => {
    expect(log).toEqual([
      'inventory:0001 after core=true',
      'assets:0001 after inventory=true',
      'assets:0002',
    ]);
    expect((await og.migrationStatus()).map((s) => [s.owner, s.pending])).toEqual([
      ['core', []],
      ['inventory', []],
      ['assets', []],
    ]);
    const again = await og.migrate();
    expect(again.flatMap((r) => r.applied)).toEqual([]);
    expect(migrationLog).toEqual(log);
  });

  it('records its migrations under its own owner, not under core', async () => {
    const names = async (table: string) =>
      (
        await sql<{ name: string }>`select name from ${sql.table(table)} order by name`.execute(og.db)
      ).rows.map((r) => r.name);
    expect(await names('og_migrations_assets')).toEqual(['0001_assets_items', '0002_assets_items_label_idx']);
    expect(await names('og_migrations_inventory')).toEqual(['0001_inventory_sites']);
    const core = await names('og_migrations_core');
    expect(core.length).toBeGreaterThan(0);
    expect(core.some((n) => n.includes('assets') || n.includes('inventory'))).toBe(false);
  });

  it('exposes typed services as og.plugins.<name>', async () => {
    expectTypeOf(og.plugins.assets).toEqualTypeOf<AssetService>();
    expectTypeOf(og.plugins.inventory.sites).toEqualTypeOf<SiteService>();
    const site = await og.plugins.inventory.sites.add('Amsterdam', { actor });
    const item = await og.plugins.assets.add('spare disk', { actor, siteId: site.id });
    expect(item.label).toBe('spare disk');
    expect(await og.plugins.assets.list()).toContainEqual({
      id: item.id,
      label: 'spare disk',
      ciId: null,
      siteId: site.id,
    });
  });

  it('emits its typed event in the write transaction, with the actor, and publishes it after commit', async () => {
    const seen: string[] = [];
    const off = og.on('assets.item.added', (event) => {
      expectTypeOf(event.payload.label).toEqualTypeOf<string>();
      seen.push(event.payload.label);
    });
    const item = await og.plugins.assets.add('rack rail', { actor });
    off();
    const [event] = await og.activity.list({ subject: { type: 'assets.item', id: item.id } });
    expect(event).toMatchObject({
      type: 'assets.item.added',
      actor: { kind: 'system', id: 'test' },
      payload: { id: item.id, label: 'rack rail', ciId: null },
    });
    expect(seen).toEqual(['rack rail']);
  });

  it('binds its services to og.transaction(): a failed transaction leaves neither row nor event', async () => {
    const before = await og.activity.latestSeq();
    await expect(
      og.transaction(async (tx) => {
        await tx.plugins.assets.add('rolled back', { actor });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await og.plugins.assets.list()).map((r) => r.label)).not.toContain('rolled back');
    expect(await og.activity.latestSeq()).toBe(before);
  });

  it('runs its handler for a core event after commit, writing as the plugin', async () => {
    const ci = await og.cmdb.create({ class: 'server', name: 'web-07' }, { actor });
    await vi.waitFor(
      async () => {
        expect((await og.plugins.assets.list()).find((r) => r.ciId === ci.id)?.label).toBe('asset of web-07');
      },
      { timeout: 5000 },
    );
    const events = await og.activity.list({ after: 0, types: ['assets.item.added'] });
    expect(events.find((e) => (e as DomainEvent<'assets.item.added'>).payload.ciId === ci.id)).toMatchObject({
      actor: { kind: 'plugin', id: 'assets' },
    });
  });
});

describe.each(testBackends())('plugins that cannot load, on %s', (backend) => {
  const expectRejected = async (plugins: OpsGraphOptions['plugins']): Promise<Error> => {
    const handle = await connectTestDatabase(backend);
    const error = await createOpsGraph({ database: handle, plugins, logger: silent(), migrate: true }).then(
      () => {
        throw new Error('createOpsGraph resolved');
      },
      (e: unknown) => e,
    );
    // createOpsGraph owns the handle it was given: a failed start-up closes it too.
    await expect(handle.db.selectNoFrom((eb) => eb.val(1).as('one')).execute()).rejects.toThrow();
    return error as Error;
  };

  it('a missing dependency stops start-up naming the plugin and what it lacks', async () => {
    const error = await expectRejected([assets()]);
    expect(error).toBeInstanceOf(PluginLoadError);
    expect((error as Error).message).toMatch(/"assets".*"inventory"/);
    expect((error as PluginLoadError).plugins).toEqual(['assets', 'inventory']);
  });

  it('a plugin whose services fail to build stops start-up naming it', async () => {
    const broken = definePlugin({
      name: 'broken',
      services: () => {
        throw new Error('no licence key');
      },
    });
    const error = await expectRejected([inventory(), broken]);
    expect(error).toBeInstanceOf(PluginLoadError);
    expect((error as Error).message).toContain('"broken"');
    expect((error as Error).message).toContain('no licence key');
  });

  it("a failing migration names the owner and the migration, and applies none of that owner's", async () => {
    const bad = definePlugin({
      name: 'bad',
      migrations: {
        '0001_ok': {
          async up(db) {
            await db.schema.createTable('bad_things').addColumn('id', 'integer').execute();
          },
        },
        '0002_fails': {
          async up(db) {
            await sql`select * from no_such_table`.execute(db);
          },
        },
      },
    });
    expect((await expectRejected([bad])).message).toMatch(/bad\/0002_fails/);

    const og = await createOpsGraph({
      database: await connectTestDatabase(backend),
      plugins: [bad],
      logger: silent(),
    });
    try {
      await expect(og.migrate()).rejects.toThrow(/Migration bad\/0002_fails failed: .*no_such_table/);
      expect(await tableExists(og.db, 'bad_things')).toBe(false);
      expect((await og.migrationStatus()).map((s) => [s.owner, s.pending])).toEqual([
        ['core', []],
        ['bad', ['0001_ok', '0002_fails']],
      ]);
    } finally {
      await og.close();
    }
  });
});

describe('orderPlugins', () => {
  const p = (name: string, dependsOn: string[] = [], extra: { apiVersion?: string } = {}) =>
    definePlugin({ name, dependsOn, ...extra });
  const names = (plugins: ReturnType<typeof orderPlugins>) => plugins.map((x) => x.name);
  const failure = (plugins: unknown[]): PluginLoadError => {
    try {
      orderPlugins(plugins);
    } catch (error) {
      expect(error).toBeInstanceOf(PluginLoadError);
      return error as PluginLoadError;
    }
    throw new Error('orderPlugins did not throw');
  };

  it('puts dependencies first and otherwise keeps the given order', () => {
    expect(names(orderPlugins([]))).toEqual([]);
    expect(names(orderPlugins([p('a'), p('b'), p('c')]))).toEqual(['a', 'b', 'c']);
    expect(names(orderPlugins([p('c', ['a']), p('a'), p('b')]))).toEqual(['a', 'c', 'b']);
    // A diamond: d needs b and c, both need a.
    expect(names(orderPlugins([p('d', ['b', 'c']), p('c', ['a']), p('b', ['a']), p('a')]))).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
  });

  it('names the plugin and its missing dependency', () => {
    const error = failure([p('network', ['facilities'])]);
    expect(error.message).toBe(
      'Plugin "network" depends on "facilities", which is not loaded: add it to plugins',
    );
    expect(error.plugins).toEqual(['network', 'facilities']);
  });

  it('names every plugin with a missing dependency, not only the first', () => {
    const error = failure([p('network', ['facilities', 'power']), p('apps', ['monitoring']), p('ok')]);
    expect(error.message).toContain('"network" depends on "facilities", "power", which are not loaded');
    expect(error.message).toContain('"apps" depends on "monitoring"');
    expect(error.plugins).toEqual(['network', 'facilities', 'power', 'apps', 'monitoring']);
  });

  it('names every plugin of a cycle, in order', () => {
    const error = failure([p('x'), p('a', ['b']), p('b', ['c']), p('c', ['a'])]);
    expect(error.message).toBe('Plugins depend on each other in a cycle: a -> b -> c -> a');
    expect(error.plugins).toEqual(['a', 'b', 'c']);
    expect(failure([p('self', ['self'])]).message).toContain('self -> self');
  });

  it('refuses a plugin registered twice', () => {
    const error = failure([p('a'), p('b'), p('a')]);
    expect(error.message).toBe('Plugin "a" is registered twice');
    expect(error.plugins).toEqual(['a']);
  });

  it('refuses names that are not lower-case identifiers, or that clash with core', () => {
    for (const bad of ['Network', 'my-plugin', '1st', '', 'core', 'core_lock', 'ipam_lock']) {
      expect(failure([p(bad)]).message).toContain(`"${bad}"`);
    }
  });

  it('refuses what definePlugin did not make, but checks a brand rather than instanceof', () => {
    expect(failure([p('a'), { name: 'fake' }]).message).toMatch(/plugins\[1\] is not a plugin.*definePlugin/);
    // A plugin made by a second copy of @opsgraph/core carries the same brand and loads.
    const fromOtherCopy = JSON.parse(JSON.stringify(p('other')));
    expect(isPlugin(fromOtherCopy)).toBe(true);
    expect(names(orderPlugins([fromOtherCopy]))).toEqual(['other']);
  });

  it('warns (but loads) when a plugin was written for another major plugin API version', () => {
    const warn = vi.fn();
    const logger = { warn } as unknown as Logger;
    expect(PLUGIN_API_VERSION).toMatch(/^1\./);
    expect(names(orderPlugins([p('current', [], { apiVersion: '^1.0.0' }), p('unpinned')], logger))).toEqual([
      'current',
      'unpinned',
    ]);
    expect(warn).not.toHaveBeenCalled();

    expect(names(orderPlugins([p('future', [], { apiVersion: '^2.0.0' })], logger))).toEqual(['future']);
    expect(warn).toHaveBeenCalledTimes(1);
    const [fields, message] = warn.mock.calls[0]!;
    expect(fields).toMatchObject({ plugin: 'future', wants: '^2.0.0', have: PLUGIN_API_VERSION });
    expect(message).toContain('"future"');
    expect(message).toContain('^2.0.0');
  });

  it('warns through createOpsGraph and still starts', async () => {
    const warn = vi.fn();
    const logger = Object.assign(silent(), { warn });
    const og = await createOpsGraph({
      database: await connectTestDatabase('pglite'),
      plugins: [definePlugin({ name: 'old', apiVersion: '0.x' })],
      logger,
    });
    try {
      expect(og.pluginList.map((x) => x.name)).toEqual(['old']);
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ plugin: 'old' }), expect.any(String));
    } finally {
      await og.close();
    }
  });
});

describe('plugin typing', () => {
  it('types plugin events and services by module augmentation', () => {
    expectTypeOf<DomainEventMap['assets.item.added']>().toEqualTypeOf<{
      id: string;
      label: string;
      ciId: string | null;
    }>();
    // Never run: the lines below must not type-check.
    const _unused = (og: TestOpsGraph, kernel: Kernel) => {
      // @ts-expect-error no plugin of that name was declared
      void og.plugins.nope;
      void kernel.write(actor, async ({ emit }) => {
        // @ts-expect-error the payload does not match the declared event
        emit('assets.item.added', null, { id: 'x', label: 1, ciId: null });
        // @ts-expect-error an undeclared event
        emit('assets.item.removed', null, {});
      });
    };
    expect(typeof _unused).toBe('function');
  });
});
