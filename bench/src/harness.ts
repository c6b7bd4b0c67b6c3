// What a scenario is made of, and the pieces the runner uses to measure one: target processes and one
// autocannon run against a target.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { TargetInfo } from './targets/lifecycle.js';

/** One side of a comparison: an HTTP GraphQL endpoint and the operation sent to it. */
export interface Target {
  /** Short label for the table, e.g. `bare graphql-yoga`. */
  readonly label: string;
  /** What this side does per request, in a sentence. */
  readonly description: string;
  readonly url: string;
  /** The GraphQL document, sent as `POST {"query": …}`. */
  readonly query: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ScenarioInstance {
  readonly baseline: Target;
  readonly subject: Target;
  teardown(): Promise<void>;
}

/** A module in `scenarios/` default-exports one of these. */
export interface Scenario {
  /** Used by `--filter`; also the file name. */
  readonly name: string;
  readonly description: string;
  /** The issue's goal: the req/s ratio should be at least this; the report says whether it was met. */
  readonly goal?: number;
  setup(): Promise<ScenarioInstance>;
}

/**
 * A scenario that measures in-process work itself rather than HTTP targets (e.g. a query's latency
 * against a bare SQL baseline). It prints its own table: `lines` for people, `data` for `--json`.
 */
export interface MeasuredScenario {
  readonly name: string;
  readonly description: string;
  measure(options: MeasureOptions): Promise<Measurement>;
}

export interface MeasureOptions {
  /** Smoke run: small data, few samples; proves it works, measures nothing. */
  readonly quick: boolean;
  readonly log: (line: string) => void;
}

export interface Measurement {
  readonly lines: readonly string[];
  readonly data: unknown;
}

export const isMeasured = (scenario: AnyScenario): scenario is MeasuredScenario =>
  typeof (scenario as MeasuredScenario).measure === 'function';

/**
 * A scenario that measures work done in this process rather than HTTP load, e.g. a bulk import: each
 * side runs once per round (after a warm-up run on smaller data) and is timed; the ratio is the
 * subject's rows per second over the baseline's.
 */
export interface BatchScenario {
  readonly kind: 'batch';
  readonly name: string;
  readonly description: string;
  /** What a row is, for the report (`events` → `events/s`); default `rows`. */
  readonly unit?: string;
  /** The issue's goal: the ratio should be at least this; the report says whether it was met. */
  readonly goal?: number;
  setup(options: { quick: boolean }): Promise<BatchInstance>;
}

export interface BatchInstance {
  readonly baseline: BatchSide;
  readonly subject: BatchSide;
  teardown(): Promise<void>;
}

export interface BatchSide {
  readonly label: string;
  readonly description: string;
  /** Rows one run handles: the throughput is rows ÷ seconds. */
  readonly rows: number;
  /** Does the work once on fresh state and returns the seconds it took; `warmup`: the small data. */
  run(warmup: boolean): Promise<number>;
}

/** A module in `scenarios/` default-exports one scenario or a list of them. */
export type AnyScenario = Scenario | MeasuredScenario | BatchScenario;

export const isBatch = (s: AnyScenario): s is BatchScenario => (s as BatchScenario).kind === 'batch';

/** One measured run of one target. */
export interface RunSample {
  /** Completed requests per second. */
  readonly rps: number;
  /** Latency percentiles, milliseconds. */
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  readonly seconds: number;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** A running target process; `stop()` closes it (and kills it if it does not exit in time). */
export interface TargetProcess {
  readonly info: TargetInfo;
  stop(): Promise<void>;
}

/**
 * Starts `bench/src/targets/<name>.ts` in its own Node process, so the server under load does not share
 * an event loop with the load generator, and waits for the address it announces.
 */
export function startTarget(name: string, { timeoutMs = 60_000 } = {}): Promise<TargetProcess> {
  const file = fileURLToPath(new URL(`./targets/${name}.ts`, import.meta.url));
  // BENCH_PROFILE_DIR=<dir>: each target writes a V8 CPU profile there when it exits (open it in
  // Chrome's DevTools), to see where a scenario's time goes.
  const profile = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const child = spawn(
    process.execPath,
    [...profile, '--conditions=@opsgraph/source', '--import', 'tsx', file],
    {
      cwd: repoRoot,
      // Same mode for every target: production, so neither side pays for development conveniences.
      env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });

  return new Promise<TargetProcess>((resolve, reject) => {
    let stdout = '';
    const fail = (message: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`target ${name}: ${message}${stderr ? `\n${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not listening after ${timeoutMs} ms`), timeoutMs);
    child.once('error', (error) => fail(error.message));
    child.once('exit', (code, signal) => fail(`exited before listening (${code ?? signal})`));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      try {
        const info = JSON.parse(stdout.slice(0, newline)) as TargetInfo;
        resolve({ info, stop: () => stopChild(child) });
      } catch {
        fail(`announced something that is not JSON: ${stdout.slice(0, 200)}`);
      }
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin!.end();
  });
}

function requestOf(target: Target) {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: JSON.stringify({ query: target.query }),
  };
}

/**
 * Sends the operation once and checks the answer: HTTP 200, `data` present, no `errors`. Returns the exact
 * response body, which every response under load must then equal.
 */
export async function verifyTarget(target: Target): Promise<string> {
  const response = await fetch(target.url, requestOf(target));
  const body = await response.text();
  let parsed: { data?: unknown; errors?: unknown } | undefined;
  try {
    parsed = JSON.parse(body);
  } catch {
    // reported below
  }
  if (response.status !== 200 || !parsed || parsed.errors !== undefined || parsed.data == null) {
    throw new Error(
      `${target.label}: ${target.query} answered HTTP ${response.status}: ${body.slice(0, 300)}`,
    );
  }
  return body;
}

/**
 * Loads `target` for `seconds` with `connections` keep-alive connections. Throws if any request failed:
 * a socket error, a timeout, a non-2xx status, or a body different from `expectedBody` (GraphQL errors
 * come back as HTTP 200, so the body is what catches them).
 */
export async function loadTarget(
  target: Target,
  { seconds, connections, expectedBody }: { seconds: number; connections: number; expectedBody: string },
): Promise<RunSample> {
  const { method, headers, body } = requestOf(target);
  const result = await autocannon({
    url: target.url,
    method,
    headers,
    body,
    connections,
    duration: seconds,
    // autocannon only notices the end of the run at a sample tick: tick often so short runs end on time.
    sampleInt: 100,
    verifyBody: (received) => received === expectedBody,
  });
  const failures = {
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    'unexpected bodies': result.mismatches,
  };
  const failed = Object.entries(failures).filter(([, count]) => count > 0);
  if (failed.length > 0) {
    throw new Error(
      `${target.label}: ${failed.map(([kind, count]) => `${count} ${kind}`).join(', ')} ` +
        `out of ${result.requests.sent} requests`,
    );
  }
  if (result.requests.total === 0) throw new Error(`${target.label}: no request completed`);
  return {
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    seconds: result.duration,
  };
}

/** Starts several targets at once; if one fails, stops the others before rethrowing. */
export async function startTargets(
  names: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<TargetProcess[]> {
  const settled = await Promise.allSettled(names.map((name) => startTarget(name, options)));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failure) {
    await Promise.all(started.map((t) => t.stop()));
    throw failure.reason;
  }
  return started;
}
