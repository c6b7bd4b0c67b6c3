import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { connectDatabase, type DatabaseHandle } from '../db/connect.js';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';

export type Backend = 'pglite' | 'postgres';

/** Where the global setup left its shared resources (env vars reach every test worker). */
export const ENV = {
  /** URL of a PostgreSQL server to create test databases on (set by the global setup, or by you). */
  postgresUrl: 'OPSGRAPH_TEST_POSTGRES_URL',
  /** A PGlite data dir dump, so each test file skips initdb (about 3 s). */
  pgliteTemplate: 'OPSGRAPH_TEST_PGLITE_TEMPLATE',
  /** Set to 1 to run the PGlite suites only, on a machine without PostgreSQL. Never in CI. */
  skipPostgres: 'OPSGRAPH_SKIP_POSTGRES',
} as const;

/** The backends suites run on: both, unless PostgreSQL was explicitly switched off. */
export function testBackends(): Backend[] {
  return process.env[ENV.skipPostgres] === '1' ? ['pglite'] : ['pglite', 'postgres'];
}

let ownServer: Promise<PostgresServer> | undefined;

/** A PostgreSQL server URL: the global setup's, DATABASE_URL's, or one started for this worker. */
async function postgresServerUrl(): Promise<string> {
  const fromEnv = process.env[ENV.postgresUrl] ?? process.env.DATABASE_URL;
  if (fromEnv) return fromEnv;
  ownServer ??= startPostgresServer();
  return (await ownServer).url;
}

/** Creates an empty database on the test server and returns its URL: each suite gets its own. */
export async function createTestDatabase(): Promise<string> {
  const serverUrl = await postgresServerUrl();
  const name = `og_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Connects a fresh, empty database of the given backend. */
export async function connectTestDatabase(backend: Backend): Promise<DatabaseHandle> {
  if (backend === 'postgres') return connectDatabase(await createTestDatabase(), { poolSize: 5 });
  const template = process.env[ENV.pgliteTemplate];
  const loadDataDir = template ? new Blob([await readFile(template)]) : undefined;
  return connectDatabase('pglite://memory', loadDataDir ? { loadDataDir } : {});
}
