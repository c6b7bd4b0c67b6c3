import { type ColumnType, type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { Database } from '../db/database.js';

/** The last run of each sweep, whichever replica ran it: the cadence they share and what operators see. */
export interface SchedulerSweepTable {
  name: string;
  lastRunAt: Date | null;
  lastDurationMs: number | null;
  lastSummary: ColumnType<Record<string, number> | null, string | null, string | null>;
  lastErrorAt: Date | null;
  lastError: string | null;
  runs: ColumnType<number, number | undefined, number>;
  /** Failures since the last success. */
  failures: ColumnType<number, number | undefined, number>;
}

type Db = Kysely<Database> | Transaction<Database>;

/** Whether this transaction is the one running sweep `name` now; held to commit (re-entrant in it). */
export async function trySweepLock(db: Db, name: string): Promise<boolean> {
  const lock = await sql<{
    ok: boolean;
  }>`select pg_try_advisory_xact_lock(hashtext(${`opsgraph.sweep.${name}`})) as ok`.execute(db);
  return lock.rows[0]?.ok === true;
}

/** When the sweep last ran or last failed (a failing sweep waits its cadence too), by any replica. */
export async function lastAttemptAt(db: Db, name: string): Promise<Date | null> {
  const row = await db
    .selectFrom('schedulerSweeps')
    .select(['lastRunAt', 'lastErrorAt'])
    .where('name', '=', name)
    .executeTakeFirst();
  const times = [row?.lastRunAt, row?.lastErrorAt].flatMap((t) => (t ? [new Date(t).getTime()] : []));
  return times.length > 0 ? new Date(Math.max(...times)) : null;
}

export async function recordSuccess(
  db: Db,
  name: string,
  at: Date,
  durationMs: number,
  summary: Record<string, number>,
): Promise<void> {
  const json = JSON.stringify(summary);
  await db
    .insertInto('schedulerSweeps')
    .values({ name, lastRunAt: at, lastDurationMs: durationMs, lastSummary: json, runs: 1, failures: 0 })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({
        lastRunAt: at,
        lastDurationMs: durationMs,
        lastSummary: json,
        runs: sql`scheduler_sweeps.runs + 1`,
        failures: 0,
      }),
    )
    .execute();
}

export async function recordFailure(db: Db, name: string, at: Date, message: string): Promise<void> {
  await db
    .insertInto('schedulerSweeps')
    .values({ name, lastErrorAt: at, lastError: message, failures: 1 })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({
        lastErrorAt: at,
        lastError: message,
        failures: sql`scheduler_sweeps.failures + 1`,
      }),
    )
    .execute();
}

export async function listSweepRows(db: Db): Promise<Selectable<SchedulerSweepTable>[]> {
  return db.selectFrom('schedulerSweeps').selectAll().orderBy('name').execute();
}
