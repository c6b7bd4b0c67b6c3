// Fresh migrated databases for batch scenarios, one per measured run, on both backends: PGlite restored
// from a dump of a prepared one, PostgreSQL `CREATE DATABASE … TEMPLATE` of a prepared one. Preparing
// (migrations, seed data) happens once, outside any timing.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { connectDatabase, createLogger, createOpsGraph, type OpsGraph } from '@opsgraph/core';
import { type PostgresServer, startPostgresServer } from '@opsgraph/core/testing';
import pg from 'pg';

const logger = createLogger({ level: 'silent' });

export type Backend = 'pglite' | 'postgres';

export const backendLabel: Record<Backend, string> = {
  pglite: 'PGlite (embedded, in memory)',
  postgres: 'PostgreSQL (a local server started for the run)',
};

/** Fresh copies of one prepared database. */
export interface Databases {
  fresh(): Promise<OpsGraph>;
  close(): Promise<void>;
}

/** `prepare` runs once on a migrated database; every `fresh()` is a copy of the result. */
export function openDatabases(
  backend: Backend,
  prepare: (og: OpsGraph) => Promise<void>,
): Promise<Databases> {
  return backend === 'pglite' ? pgliteDatabases(prepare) : postgresDatabases(prepare);
}

async function pgliteDatabases(prepare: (og: OpsGraph) => Promise<void>): Promise<Databases> {
  // Migrate once into a directory, dump it, and start each run from the dump (no initdb, no migrations).
  const dir = await mkdtemp(path.join(tmpdir(), 'opsgraph-bench-'));
  try {
    const template = await createOpsGraph({ database: `pglite://${dir}`, migrate: true, logger });
    try {
      await prepare(template);
    } finally {
      await template.close();
    }
    const pglite = await PGlite.create({ dataDir: dir });
    const dump = await pglite.dumpDataDir('none');
    await pglite.close();
    return {
      fresh: async () =>
        createOpsGraph({ database: await connectDatabase('pglite://memory', { loadDataDir: dump }), logger }),
      close: async () => {},
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function postgresDatabases(prepare: (og: OpsGraph) => Promise<void>): Promise<Databases> {
  // Inside the test suite, its PostgreSQL server; from `npm run bench`, one started for the run.
  const shared = process.env.OPSGRAPH_TEST_POSTGRES_URL;
  const server: PostgresServer | undefined = shared ? undefined : await startPostgresServer();
  const serverUrl = shared ?? server!.url;
  const admin = new pg.Client({ connectionString: serverUrl });
  const prefix = `bench_${randomBytes(4).toString('hex')}`;
  const names: string[] = [];
  const url = (name: string) => {
    const u = new URL(serverUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const close = async () => {
    for (const name of names.reverse()) await admin.query(`DROP DATABASE IF EXISTS ${name}`).catch(() => {});
    await admin.end().catch(() => {});
    await server?.stop();
  };
  try {
    await admin.connect();
    const template = `${prefix}_template`;
    await admin.query(`CREATE DATABASE ${template}`);
    names.push(template);
    const og = await createOpsGraph({ database: url(template), migrate: true, logger });
    try {
      await prepare(og);
    } finally {
      await og.close();
    }
    return {
      // A copy of the prepared template: in a few milliseconds.
      fresh: async () => {
        const name = `${prefix}_${names.length}`;
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
        names.push(name);
        return createOpsGraph({ database: url(name), logger });
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs `work` on a fresh database and returns the seconds it took (opening and closing not counted). */
export async function timed(dbs: Databases, work: (og: OpsGraph) => Promise<unknown>): Promise<number> {
  const og = await dbs.fresh();
  try {
    const start = performance.now();
    await work(og);
    return (performance.now() - start) / 1000;
  } finally {
    await og.close();
  }
}
