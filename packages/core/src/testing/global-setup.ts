import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { ENV } from './backends.js';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';

/**
 * Vitest global setup: one throwaway PostgreSQL server for the whole run (each suite creates its own
 * database on it) and one PGlite data-dir dump that each suite loads instead of running initdb.
 * Add it to your vitest config as `globalSetup: ['@opsgraph/core/testing/global-setup']`.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'opsgraph-test-'));
  let server: PostgresServer | undefined;

  const pglite = await PGlite.create();
  const template = path.join(dir, 'pglite-template.tar');
  await writeFile(template, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  await pglite.close();
  process.env[ENV.pgliteTemplate] = template;

  if (process.env[ENV.skipPostgres] === '1') {
    console.warn(`\n${ENV.skipPostgres}=1: the PostgreSQL suites are NOT run; only PGlite is tested.\n`);
  } else if (!process.env[ENV.postgresUrl]) {
    if (process.env.DATABASE_URL) {
      process.env[ENV.postgresUrl] = process.env.DATABASE_URL;
    } else {
      // Fails loudly when PostgreSQL is missing: a green run must mean both backends passed.
      server = await startPostgresServer();
      process.env[ENV.postgresUrl] = server.url;
    }
  }

  return async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
