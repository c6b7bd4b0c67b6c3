import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/logger.js';
import { coreMigrations, createOpsGraph, type OpsGraph } from '../kernel/opsgraph.js';
import { definePlugin } from '../kernel/plugins.js';
import { connectTestDatabase, createTestDatabase, testBackends } from '../testing/index.js';
import { connectDatabase } from './connect.js';
import { ledgerTable, migrate, migrationStatus } from './migrator.js';

const logger = createLogger({ level: 'silent' });
const coreNames = Object.keys(coreMigrations.migrations).sort();

/** A plugin whose migrations count their runs and take a while, so concurrent migrators overlap. */
function slowPlugin(runs: Map<string, number>) {
  const step = (name: string, ddl: string) => ({
    async up(db: Kysely<any>) {
      runs.set(name, (runs.get(name) ?? 0) + 1);
      await sql`select pg_sleep(0.2)`.execute(db);
      await sql.raw(ddl).execute(db);
    },
  });
  return definePlugin({
    name: 'slow',
    migrations: {
      '0001_slow_a': step('0001_slow_a', 'create table slow_a (id integer primary key)'),
      '0002_slow_b': step('0002_slow_b', 'create table slow_b (id integer primary key)'),
    },
  });
}

const ledger = async (og: OpsGraph, owner: string) =>
  (
    await sql<{ name: string }>`select name from ${sql.table(ledgerTable(owner))} order by name`.execute(
      og.db.withoutPlugins(),
    )
  ).rows.map((r) => r.name);

describe('ledgerTable', () => {
  it('gives each owner its own table', () => {
    expect(ledgerTable('core')).toBe('og_migrations_core');
    expect(ledgerTable('network')).toBe('og_migrations_network');
    expect(ledgerTable('my_plugin')).not.toBe(ledgerTable('core'));
  });
});

describe.each(testBackends())('migrations on %s', (backend) => {
  it('shows every migration pending before, none after; a second run is a no-op', async () => {
    const runs = new Map<string, number>();
    const og = await createOpsGraph({
      database: await connectTestDatabase(backend),
      plugins: [slowPlugin(runs)],
      logger,
    });
    try {
      const before = await og.migrationStatus();
      expect(before).toEqual([
        { owner: 'core', pending: coreNames },
        { owner: 'slow', pending: ['0001_slow_a', '0002_slow_b'] },
      ]);
      const first = await og.migrate();
      expect(first).toEqual([
        { owner: 'core', applied: coreNames },
        { owner: 'slow', applied: ['0001_slow_a', '0002_slow_b'] },
      ]);
      expect((await og.migrationStatus()).map((s) => s.pending)).toEqual([[], []]);

      const second = await og.migrate();
      expect(second).toEqual([
        { owner: 'core', applied: [] },
        { owner: 'slow', applied: [] },
      ]);
      expect([...runs.values()]).toEqual([1, 1]);
      expect(await ledger(og, 'core')).toEqual(coreNames);
      expect(await ledger(og, 'slow')).toEqual(['0001_slow_a', '0002_slow_b']);
      // The services work on the migrated schema.
      await og.ping();
      expect((await og.cmdb.classes()).length).toBeGreaterThan(0);
    } finally {
      await og.close();
    }
  });

  it('picks up a migration added later, and only that one', async () => {
    const handle = await connectTestDatabase(backend);
    try {
      const v1 = { owner: 'grow', migrations: { '0001_grow': { up: async () => {} } } };
      const v2 = {
        owner: 'grow',
        migrations: {
          ...v1.migrations,
          '0002_grow': {
            async up(db: Kysely<any>) {
              await sql`create table grow_two (id integer)`.execute(db);
            },
          },
        },
      };
      expect(await migrate(handle, [v1])).toEqual([{ owner: 'grow', applied: ['0001_grow'] }]);
      expect(await migrationStatus(handle.db.withoutPlugins(), [v2])).toEqual([
        { owner: 'grow', pending: ['0002_grow'] },
      ]);
      expect(await migrate(handle, [v2])).toEqual([{ owner: 'grow', applied: ['0002_grow'] }]);
    } finally {
      await handle.close();
    }
  });
});

describe.skipIf(!testBackends().includes('postgres'))('concurrent migrations on postgres', () => {
  it('three processes starting with migrate: true at once all succeed, and each migration runs once', async () => {
    const url = await createTestDatabase();
    const runs = new Map<string, number>();
    const results = await Promise.allSettled(
      [1, 2, 3].map(() =>
        createOpsGraph({ database: url, plugins: [slowPlugin(runs)], logger, migrate: true }),
      ),
    );
    const graphs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(Object.fromEntries(runs)).toEqual({ '0001_slow_a': 1, '0002_slow_b': 1 });
      const og = graphs[0]!;
      expect(await ledger(og, 'core')).toEqual(coreNames);
      expect(await ledger(og, 'slow')).toEqual(['0001_slow_a', '0002_slow_b']);
      for (const each of graphs) expect((await each.migrationStatus()).flatMap((s) => s.pending)).toEqual([]);
    } finally {
      await Promise.all(graphs.map((og) => og.close()));
    }
  });

  it('three migrate() calls on separate connections at once: one applies, the others find nothing to do', async () => {
    const url = await createTestDatabase();
    const runs = new Map<string, number>();
    const sets = [coreMigrations, { owner: 'slow', migrations: slowPlugin(runs).migrations! }];
    const handles = await Promise.all([1, 2, 3].map(() => connectDatabase(url, { logger })));
    try {
      const reports = await Promise.all(handles.map((h) => migrate(h, sets, logger)));
      const applied = (owner: string) =>
        reports.map((r) => r.find((x) => x.owner === owner)!.applied).sort((a, b) => b.length - a.length);
      expect(applied('core')).toEqual([coreNames, [], []]);
      expect(applied('slow')).toEqual([['0001_slow_a', '0002_slow_b'], [], []]);
      expect(Object.fromEntries(runs)).toEqual({ '0001_slow_a': 1, '0002_slow_b': 1 });
      const rows = await sql<{ n: number }>`select count(*)::int as n from og_migrations_slow`.execute(
        handles[0]!.db,
      );
      expect(rows.rows[0]!.n).toBe(2);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  });
});
