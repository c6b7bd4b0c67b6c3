import { type Kysely, type Migration, Migrator } from 'kysely';
import type { Logger } from '../kernel/logger.js';
import type { DatabaseHandle } from './connect.js';

export type { Migration };

/**
 * The migrations one owner (core, or a plugin) brings. Names are frozen once released and sort in
 * the order they run (`0001_…`); `up` takes `Kysely<any>` because a migration must not follow later
 * changes of the table types.
 */
export interface MigrationSet {
  readonly owner: string;
  readonly migrations: Readonly<Record<string, Migration>>;
}

export interface MigrationReport {
  readonly owner: string;
  readonly applied: readonly string[];
}

export interface MigrationStatus {
  readonly owner: string;
  readonly pending: readonly string[];
}

export const ledgerTable = (owner: string): string => `og_migrations_${owner.replace(/[^a-z0-9]+/gi, '_')}`;

function migratorFor(db: Kysely<any>, set: MigrationSet): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...set.migrations }) },
    migrationTableName: ledgerTable(set.owner),
    migrationLockTableName: `${ledgerTable(set.owner)}_lock`,
  });
}

/**
 * Runs each owner's pending migrations, owners in the given order (core first, then plugins in
 * dependency order), each owner's batch in one transaction. Safe to run twice, and from several
 * processes at once: Kysely's migrator holds a PostgreSQL advisory lock while it migrates.
 */
export async function migrate(
  handle: DatabaseHandle,
  sets: readonly MigrationSet[],
  logger?: Logger,
): Promise<MigrationReport[]> {
  const { db, close } = await handle.forMigrations();
  const reports: MigrationReport[] = [];
  try {
    for (const set of sets) {
      const { error, results = [] } = await migratorFor(db, set).migrateToLatest();
      const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
      for (const name of applied) logger?.info({ owner: set.owner, migration: name }, 'migration applied');
      if (error) {
        const failed = results.find((r) => r.status === 'Error')?.migrationName ?? '(before any migration)';
        throw new Error(
          `Migration ${set.owner}/${failed} failed: ${(error as Error).message ?? String(error)}. ` +
            'Nothing of this owner was applied; fix the cause and run migrate again.',
          { cause: error },
        );
      }
      reports.push({ owner: set.owner, applied });
    }
  } finally {
    await close();
  }
  return reports;
}

/** Which migrations each owner still needs (readiness checks refuse to serve until none). */
export async function migrationStatus(
  db: Kysely<any>,
  sets: readonly MigrationSet[],
): Promise<MigrationStatus[]> {
  const statuses: MigrationStatus[] = [];
  for (const set of sets) {
    const migrations = await migratorFor(db, set).getMigrations();
    statuses.push({ owner: set.owner, pending: migrations.filter((m) => !m.executedAt).map((m) => m.name) });
  }
  return statuses;
}
