import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../kernel/logger.js';
import type { Database } from './database.js';
import { PGlitePool } from './pglite-pool.js';
import { attachQueryLog, QueryLog } from './query-log.js';

export type Dialect = 'pglite' | 'postgres';

export const DEFAULT_DATABASE = 'pglite://./.opsgraph/data';

/** A connected database: one PostgreSQL dialect, two drivers. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** The target without credentials, for logs. */
  readonly description: string;
  /** Every statement run through `db`: observe it, or count what a piece of work costs. */
  readonly queries: QueryLog;
  /** The connection pool now: for metrics and for telling a slow database from a starved pool. */
  poolStats(): PoolStats;
  /** Subscribes to a NOTIFY channel. Resolves once listening; returns the unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** A Kysely on a dedicated connection with a lock timeout, for migrations. */
  forMigrations(): Promise<{ db: Kysely<any>; close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Most connections it opens (1 for PGlite). */
  readonly max: number;
  /** Connections open now. */
  readonly total: number;
  /** Open and not in use. */
  readonly idle: number;
  /** Callers queued for a connection. */
  readonly waiting: number;
}

export interface ConnectOptions {
  readonly logger?: Logger;
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number;
  /** PGlite only: start from a dump made by `dumpDataDir()` (used by the test harness). */
  readonly loadDataDir?: Blob;
}

const INT8 = 20;

/**
 * Connects to `pglite://memory`, `pglite://<dir>` or `postgres://…`. Both drivers return int8 as a JS
 * number (PGlite does by default; `pg` is told to), so the two backends hand back the same types.
 * Our int8 columns are sequences and counts, far below 2^53. Table types are camelCase; columns are
 * snake_case (CamelCasePlugin; JSON values keep their keys as written, e.g. `attributes.serial_number`).
 * Migrations get a Kysely without the plugin: they name columns as stored.
 */
export async function connectDatabase(
  target: string = DEFAULT_DATABASE,
  options: ConnectOptions = {},
): Promise<DatabaseHandle> {
  if (target.startsWith('pglite:')) return connectPGlite(target, options);
  if (target.startsWith('postgres://') || target.startsWith('postgresql://'))
    return connectPostgres(target, options);
  throw new Error(
    `Unsupported database "${redact(target)}": use pglite://memory, pglite://<directory> or postgres://user@host/db`,
  );
}

async function connectPGlite(target: string, options: ConnectOptions): Promise<DatabaseHandle> {
  const location = target.slice('pglite://'.length);
  const inMemory = location === '' || location === 'memory';
  const dataDir = inMemory ? undefined : path.resolve(location);
  if (dataDir) await mkdir(dataDir, { recursive: true });
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    });
  } catch (error) {
    throw new Error(
      `Could not open the embedded database at ${dataDir ?? 'memory'}: ${(error as Error).message}. ` +
        'Is another OpsGraph process using this directory? Stop it, or point DATABASE_URL elsewhere.',
      { cause: error },
    );
  }
  const pool = new PGlitePool(pglite);
  const queries = new QueryLog();
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
    log: queries.record,
  });
  attachQueryLog(db, queries);
  return {
    db,
    queries,
    dialect: 'pglite',
    description: dataDir ? `pglite://${dataDir}` : 'pglite://memory',
    poolStats: () => pool.stats(),
    listen: async (channel, onNotify) => {
      const unlisten = await pglite.listen(channel, onNotify);
      return async () => unlisten();
    },
    // One connection, one process: there is no one to race with, and no lock to wait on.
    forMigrations: async () => ({
      db: new Kysely<any>({ dialect: new PostgresDialect({ pool }) }),
      close: async () => {},
    }),
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

function pgTypes() {
  return {
    getTypeParser: (oid: number, format?: 'text' | 'binary') =>
      oid === INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
  };
}

async function connectPostgres(target: string, options: ConnectOptions): Promise<DatabaseHandle> {
  const pool = new pg.Pool({ connectionString: target, max: options.poolSize ?? 10, types: pgTypes() });
  // An idle client that loses its server emits 'error' on the pool: log it instead of crashing.
  pool.on('error', (error) => options.logger?.warn({ err: error }, 'idle PostgreSQL connection failed'));
  const queries = new QueryLog();
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
    log: queries.record,
  });
  attachQueryLog(db, queries);
  const listeners = new Set<pg.Client>();
  return {
    db,
    queries,
    dialect: 'postgres',
    description: redact(target),
    poolStats: () => ({
      max: pool.options.max ?? 10,
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
    listen: async (channel, onNotify) => {
      const client = new pg.Client({ connectionString: target });
      client.on('error', (error) =>
        options.logger?.warn({ err: error, channel }, 'LISTEN connection failed'),
      );
      await client.connect();
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      listeners.add(client);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => {});
      };
    },
    forMigrations: async () => {
      // A migration waits at most this long for a table lock held by live traffic, then fails
      // with a message instead of queueing every request behind it.
      const migrationPool = new pg.Pool({
        connectionString: target,
        max: 1,
        types: pgTypes(),
        options: '-c lock_timeout=30000',
      });
      const migrationDb = new Kysely<any>({ dialect: new PostgresDialect({ pool: migrationPool }) });
      return { db: migrationDb, close: () => migrationDb.destroy() };
    },
    close: async () => {
      await Promise.all([...listeners].map((client) => client.end().catch(() => {})));
      await db.destroy();
      // Kysely ends the pool only if it ever used it; end it anyway so a closed handle stays closed.
      if (!pool.ended) await pool.end();
    },
  };
}

/** Hides the password of a connection string. */
export function redact(target: string): string {
  return target.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
