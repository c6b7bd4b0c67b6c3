// Each package README's first TypeScript snippet is run as written, so the docs cannot rot; so is every
// later one fenced as ```ts runnable (a complete program).
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Inside the workspace, so the snippets' imports resolve as a user's would.
const scratch = path.join(root, 'test', '.readme-snippets');

/** The README's runnable snippets: the first ```ts block, and every later ```ts runnable one. */
async function snippets(readme: string): Promise<string[]> {
  const text = await readFile(path.join(root, readme), 'utf8');
  const blocks = [...text.matchAll(/```ts( runnable)?\n([\s\S]*?)```/g)];
  if (blocks.length === 0) throw new Error(`${readme} has no \`\`\`ts snippet`);
  return [blocks[0]![2]!, ...blocks.slice(1).flatMap((m) => (m[1] ? [m[2]!] : []))];
}

/** Indexes of core's later complete programs (its first snippet has a test of its own). */
const corePrograms = (await snippets('packages/core/README.md')).slice(1).map((_, i) => i + 1);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs a README's snippet; `until` may stop it (SIGINT) once its output shows it is up. */
async function runSnippet(
  readme: string,
  env: Record<string, string> = {},
  until?: (output: string) => boolean,
  index = 0,
): Promise<Run> {
  const file = path.join(scratch, `${readme.replaceAll('/', '_')}-${index}.ts`);
  const code = (await snippets(readme))[index];
  if (code === undefined) throw new Error(`${readme} has no runnable snippet ${index}`);
  await writeFile(file, code);
  const child = spawn(process.execPath, ['--conditions=@opsgraph/source', '--import', 'tsx', file], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk;
    if (until?.(output)) child.kill('SIGINT');
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    }),
  );
}

describe('README snippets run as written', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let second: OpsGraphServer;
  let url: string;
  let secondUrl: string;
  let token: string;

  beforeAll(async () => {
    await mkdir(scratch, { recursive: true });
    og = await createTestOpsGraph();
    ({ secret: token } = await og.access.createToken(
      { name: 'readme', permissions: ['*'] },
      { actor: systemActor('readme') },
    ));
    server = createOpsGraphServer({ opsgraph: og });
    ({ url } = await server.listen(0, '127.0.0.1'));
    // A second replica of the same OpsGraph, for the client's `endpoints` snippet.
    second = createOpsGraphServer({ opsgraph: og });
    ({ url: secondUrl } = await second.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await second?.close();
    await server?.close();
    await og?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('packages/core', async () => {
    const run = await runSnippet('packages/core/README.md');
    expect(run, run.output).toMatchObject({ code: 0 });
  });

  // One cold process per program, each its own test (and time budget): with fifteen of them, one
  // budget for all was a matter of the machine's load.
  it.each(corePrograms)('packages/core: complete program %i', { timeout: 120_000 }, async (index) => {
    const run = await runSnippet('packages/core/README.md', {}, undefined, index);
    expect(run, run.output).toMatchObject({ code: 0 });
  });

  it('packages/server: serves until SIGINT, then closes cleanly', async () => {
    const run = await runSnippet(
      'packages/server/README.md',
      { DATABASE_URL: 'pglite://memory', PORT: '0' },
      (output) => /GraphQL at http:\/\/127\.0\.0\.1:\d+\/graphql/.test(output),
    );
    expect(run.output).toMatch(/GraphQL at /);
    expect(run, run.output).toMatchObject({ code: 0 });
  });

  it("packages/server: Yoga's pub/sub over the activity stream", { timeout: 120_000 }, async () => {
    const run = await runSnippet('packages/server/README.md', {}, undefined, 1);
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toContain('ci.created true');
  });

  it('packages/client: creates a CI and sees its event', async () => {
    const run = await runSnippet('packages/client/README.md', { OPSGRAPH_URL: url, OPSGRAPH_TOKEN: token });
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toMatch(/\d+ ci\.created [0-9a-f-]{36}/);
  });

  it('packages/client: a load-balanced client over two replicas', async () => {
    const run = await runSnippet(
      'packages/client/README.md',
      { OPSGRAPH_URLS: `${url},${secondUrl}`, OPSGRAPH_TOKEN: token },
      undefined,
      1,
    );
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toMatch(/^\d+ OPENED web-1\n\d+ OPENED web-2\n$/);
  });

  it('examples/plugin-custom: certificates', async () => {
    const run = await runSnippet('examples/plugin-custom/README.md');
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toContain('shop.example.com 1001 2026-07-01T00:00:00.000Z');
    expect(run.output).toContain("[ 'critical open' ]");
    expect(run.output).toContain("[ '1001' ] [ 'critical closed' ]");
  });

  it('examples/runbook-plugin', async () => {
    const run = await runSnippet('examples/runbook-plugin/README.md');
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toContain("title: 'Restart'");
  });

  it('packages/plugins/facilities', async () => {
    const run = await runSnippet('packages/plugins/facilities/README.md');
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toContain('rack R1: U11 is taken by web-01');
    expect(run.output).toMatch(/capacityW: 3680,\s+allocatedW: 450,\s+headroomW: 3230/);
    expect(run.output).toContain("[ 'feed-A', 'pdu-R1-A', 'R1', 'web-01', 'R1-temp' ]");
  });

  it('packages/plugins/network', async () => {
    const run = await runSnippet('packages/plugins/network/README.md');
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toContain('192.0.2.1 192.0.2.2');
    expect(run.output).toContain('Prefix 192.0.2.0/30 is full: all 2 usable addresses are allocated');
    expect(run.output).toContain('2 of 2 used');
    expect(run.output).toContain('2 00:1a:2b:3c:4d:5e');
  });

  it('packages/plugins/applications', async () => {
    const run = await runSnippet('packages/plugins/applications/README.md');
    expect(run, run.output).toMatchObject({ code: 0 });
    expect(run.output).toContain('{ probed: 1, failed: 1, recovered: 0 }');
    expect(run.output).toContain('2.4.1');
    expect(run.output).toContain("[ 'Shop' ]");
    expect(run.output).toContain('n0["shop (application)"]');
  });
});
