// The quick start, as a user runs it: `opsgraph serve --demo` on an embedded database directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = path.join(root, 'packages/server/src/cli.ts');

interface Started {
  child: ChildProcess;
  url: string;
  token: string;
  output: () => string;
}

/** Starts the CLI and resolves once it printed its URL and demo token. */
function serveDemo(database: string): Promise<Started> {
  const child = spawn(
    process.execPath,
    ['--conditions=@opsgraph/source', '--import', 'tsx', cli, 'serve', '--demo'],
    { cwd: root, env: { ...process.env, DATABASE_URL: database, PORT: '0', LOG_LEVEL: 'warn' } },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in time:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const url = /GraphQL:\s+(\S+)/.exec(output)?.[1];
      const token = /Demo token[^:]*:\s+(og_\S+)/.exec(output)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ child, url, token, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}:\n${output}`)));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

const query = async (url: string, token: string, text: string) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: text }),
  });
  return ((await response.json()) as { data: Record<string, any> }).data;
};

const countCis = async (url: string, token: string) =>
  (await query(url, token, '{ cis(first: 100) { edges { node { name } } } }')).cis.edges.length as number;

describe('opsgraph serve --demo (the quick start)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'opsgraph-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Two cold starts of a real process (each migrates or opens PGlite): give a loaded machine time.
  it('serves /graphql with demo data on an embedded directory that survives a restart', {
    timeout: 150_000,
  }, async () => {
    const database = `pglite://${path.join(dir, 'data')}`;
    const first = await serveDemo(database);
    let count: number;
    try {
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
      count = await countCis(first.url, first.token);
      expect(count).toBeGreaterThan(0);
      // People and groups to explore access management with.
      const access = await query(
        first.url,
        first.token,
        '{ users(first: 10) { edges { node { name groups { name } } } } grants(active: true) { role scope { mode } } }',
      );
      expect(access.users.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
        'Dan Desk',
        'Maria Manager',
        'Olivia Ops',
      ]);
      expect(access.grants).toContainEqual({ role: 'viewer', scope: { mode: 'DEPENDENCIES' } });
      // Two correlated alerts that opened one P1 incident.
      const events = await query(
        first.url,
        first.token,
        '{ alerts(first: 10) { edges { node { node rootAlertId incident { priority shortDescription } } } } }',
      );
      const alerts = events.alerts.edges.map((e: { node: unknown }) => e.node);
      expect(alerts).toHaveLength(2);
      const root = alerts.find((a: { rootAlertId: string | null }) => a.rootAlertId === null);
      expect(root).toMatchObject({
        node: 'db-01',
        incident: { priority: 1, shortDescription: 'disk_full on db-01' },
      });
      expect(alerts.find((a: { node: string }) => a.node === 'checkout-api').incident).toEqual(root.incident);
      // A catalog item and a request awaiting the manager's approval.
      const requests = await query(
        first.url,
        first.token,
        '{ catalogItems { edges { node { name } } } requests { edges { node { itemName state requestedFor { name manager { name } } } } } }',
      );
      expect(requests.catalogItems.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
        'New laptop',
      ]);
      expect(requests.requests.edges.map((e: { node: unknown }) => e.node)).toEqual([
        {
          itemName: 'New laptop',
          state: 'AWAITING_APPROVAL',
          requestedFor: { name: 'Dan Desk', manager: { name: 'Maria Manager' } },
        },
      ]);
      // Operations control: a backup job, an SLO, a DR plan, and a disk with a forecast.
      const operations = await query(
        first.url,
        first.token,
        `{ jobs { edges { node { name kind } } } slos { edges { node { name objective } } }
           drPlans { edges { node { service { name } } } }
           capacityMetrics { edges { node { name level forecast { status } } } } }`,
      );
      expect(operations.jobs.edges.map((e: { node: unknown }) => e.node)).toEqual([
        { name: 'Nightly orders-db backup', kind: 'BACKUP' },
      ]);
      expect(operations.slos.edges[0].node).toEqual({ name: 'Online Shop monthly', objective: 99.9 });
      expect(operations.drPlans.edges[0].node.service.name).toBe('Online Shop');
      expect(operations.capacityMetrics.edges[0].node).toEqual({
        name: '/var/lib/postgresql',
        level: 'OK',
        forecast: { status: 'EXHAUSTING' },
      });
      expect((await fetch(first.url.replace(/graphql$/, 'readyz'))).status).toBe(200);
      // GraphiQL in demo mode.
      const page = await fetch(first.url, { headers: { accept: 'text/html' } });
      expect(await page.text()).toContain('GraphiQL');
    } finally {
      expect(await stop(first.child)).toBe(0);
    }

    // Same directory again: nothing re-seeded twice, data still there.
    const second = await serveDemo(database);
    try {
      expect(await countCis(second.url, second.token)).toBe(count);
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  });
});
