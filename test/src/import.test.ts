// `opsgraph import`, as a user runs it: a real CLI process on an embedded database directory.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, createOpsGraph, type OpsGraph, systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = path.join(root, 'packages/server/src/cli.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function opsgraph(args: string[], database: string): Promise<Run> {
  const child = spawn(process.execPath, ['--conditions=@opsgraph/source', '--import', 'tsx', cli, ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: database },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('opsgraph import', () => {
  let dir: string;
  let database: string;
  /** Opens the directory in this process; the CLI must not run meanwhile (PGlite: one process). */
  const withOg = async <T>(fn: (og: OpsGraph) => Promise<T>): Promise<T> => {
    const og = await createOpsGraph({ database, migrate: true, logger: createLogger({ level: 'silent' }) });
    try {
      return await fn(og);
    } finally {
      await og.close();
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'opsgraph-import-'));
    database = `pglite://${path.join(dir, 'data')}`;
    await withOg((og) =>
      og.cmdb.defineSource({ name: 'scanner', priority: 10 }, { actor: systemActor('test') }),
    );
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('imports a JSON payload with relationships, and prints the summary', async () => {
    const file = path.join(dir, 'feed.json');
    await writeFile(
      file,
      JSON.stringify({
        cis: [
          { ref: 'app', class: 'application', name: 'json-app' },
          { ref: 'db', class: 'database', name: 'json-db', attributes: { engine: 'postgresql' } },
        ],
        relationships: [{ type: 'depends_on', source: 'app', target: 'db' }],
      }),
    );
    const run = await opsgraph(['import', file, '--source', 'scanner'], database);
    expect(run, run.stderr).toMatchObject({ code: 0 });
    expect(run.stdout).toContain(
      'from scanner: 2 created, 0 updated, 0 unchanged, 0 skipped; relationships: 1 created, 0 unchanged, 0 skipped.',
    );
    // Not a terminal: no progress bar on stderr.
    expect(run.stderr).toBe('');
  }, 120_000);

  it('imports a CSV file, one CI a row, coercing values by attribute type; again: all unchanged', async () => {
    const file = path.join(dir, 'hosts.csv');
    await writeFile(
      file,
      [
        'ref,class,name,status,environment,owner_group,tags,hostname,domain,cpu_count,memory_gb,mac_address,distribution',
        'web-1,linux_server,web-1,operational,prod,web-team,web;prod,web-1,shop.example,4,15.5,00-1A-2B-3C-4D-01,debian',
        'web-2,server,web-2,,,,,web-2,shop.example,8,,,',
        ',server,"no identifiers, skipped",,,,,,,,,,',
        '',
      ].join('\n'),
    );
    const first = await opsgraph(['import', file, '--source', 'scanner'], database);
    expect(first, first.stderr).toMatchObject({ code: 0 });
    expect(first.stdout).toContain('2 created, 0 updated, 0 unchanged, 1 skipped');
    expect(first.stdout).toContain('cis.2 (line 4): unidentified');
    const again = await opsgraph(['import', file, '--source', 'scanner', '--json'], database);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report).toMatchObject({ created: 0, updated: 0, unchanged: 2, skipped: 1 });

    const web1 = await withOg(async (og) => (await og.cmdb.list({ search: 'web-1' })).edges[0]?.node);
    expect(web1).toMatchObject({
      class: 'linux_server',
      status: 'operational',
      environment: 'prod',
      ownerGroup: 'web-team',
      tags: ['web', 'prod'],
      attributes: {
        hostname: 'web-1',
        domain: 'shop.example',
        cpu_count: 4,
        memory_gb: 15.5,
        mac_address: '00:1a:2b:3c:4d:01',
        distribution: 'debian',
      },
    });
  }, 240_000);

  it('refuses bad input with a non-zero exit naming each field (and CSV line); writes nothing', async () => {
    const file = path.join(dir, 'bad.csv');
    await writeFile(
      file,
      ['class,name,hostname,domain,cpu_count', 'server,bad-1,bad-1,x.example,many', 'toaster,bad-2,,,'].join(
        '\n',
      ),
    );
    const run = await opsgraph(['import', file, '--source', 'scanner'], database);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('was not imported (nothing was written)');
    expect(run.stderr).toContain('cis.0.attributes.cpu_count (line 2): must be an integer');
    expect(run.stderr).toContain('cis.1.class (line 3): unknown CI class "toaster"');
    const ghost = await opsgraph(['import', file, '--source', 'ghost'], database);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toContain('source: unknown source "ghost"');
    expect(await withOg(async (og) => (await og.cmdb.list({ search: 'bad-' })).edges)).toEqual([]);
  }, 240_000);
});
