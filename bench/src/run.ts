// The benchmark runner: `npm run bench -- [--quick] [--duration s] [--rounds n] [--filter a,b] [--json]`.
// Each scenario compares a subject with a baseline measured in the same run, interleaving their rounds,
// and reports the ratio subject/baseline; see bench/README.md.
import { readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type AnyScenario,
  type BatchScenario,
  type BatchSide,
  isBatch,
  isMeasured,
  loadTarget,
  type Measurement,
  type RunSample,
  type Scenario,
  type Target,
  verifyTarget,
} from './harness.js';

export interface BenchOptions {
  /** Seconds per measured run. */
  readonly duration: number;
  /** Seconds of unmeasured load on each side before the first round. */
  readonly warmup: number;
  /** Measured runs per side. */
  readonly rounds: number;
  readonly connections: number;
  /** Smoke run (`--quick`): batch and measured scenarios work on small data. */
  readonly quick?: boolean;
  /** Scenario names to run; all when absent. */
  readonly filter?: readonly string[];
  /** Progress lines; default: standard error. */
  readonly log?: (line: string) => void;
}

export const defaultOptions: BenchOptions = { duration: 5, warmup: 2, rounds: 3, connections: 10 };
export const quickOptions: BenchOptions = {
  duration: 1,
  warmup: 0.5,
  rounds: 1,
  connections: 10,
  quick: true,
};

export interface SideReport {
  readonly label: string;
  readonly description: string;
  readonly query: string;
  readonly runs: RunSample[];
  /** Medians over the runs. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

/** One side of a batch scenario: seconds per round and the median throughput. */
export interface BatchSideReport {
  readonly label: string;
  readonly description: string;
  readonly rows: number;
  readonly seconds: number[];
  /** rows ÷ the median seconds. */
  readonly rowsPerSecond: number;
}

/** What a batch scenario reports beside its two sides. */
export interface BatchReport {
  readonly baseline: BatchSideReport;
  readonly subject: BatchSideReport;
  /** What a row is (`rows`, `events`). */
  readonly unit: string;
  /** The ratio the issue asks for, at least; absent when it names none. */
  readonly goal?: number;
}

export interface ScenarioReport {
  readonly name: string;
  readonly description: string;
  readonly baseline?: SideReport;
  readonly subject?: SideReport;
  /** Batch scenarios report these instead of `baseline`/`subject`. */
  readonly batch?: BatchReport;
  /** subject ÷ baseline throughput: the median over rounds, and the lowest and highest round. */
  readonly ratio?: {
    readonly median: number;
    readonly min: number;
    readonly max: number;
    readonly rounds: number[];
  };
  /** The ratio the issue asks for, at least (HTTP scenarios; batch ones report it in `batch`). */
  readonly goal?: number;
  /** What a measured (not HTTP) scenario reports. */
  readonly measurement?: Measurement;
  readonly error?: string;
}

export interface BenchReport {
  readonly options: Omit<BenchOptions, 'log' | 'filter'>;
  readonly cores: number;
  readonly node: string;
  readonly scenarios: ScenarioReport[];
}

const scenarioDir = new URL('./scenarios/', import.meta.url);

export async function loadScenarios(): Promise<AnyScenario[]> {
  const files = (await readdir(scenarioDir))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    // By name without the extension, so `hello` runs before `hello-token`.
    .sort((a, b) => a.slice(0, -3).localeCompare(b.slice(0, -3)));
  const scenarios: AnyScenario[] = [];
  for (const file of files) {
    const module = (await import(new URL(file, scenarioDir).href)) as {
      default?: AnyScenario | AnyScenario[];
    };
    const exported = Array.isArray(module.default) ? module.default : [module.default];
    for (const scenario of exported) {
      if (!scenario?.name || !(isMeasured(scenario) || typeof scenario.setup === 'function')) {
        throw new Error(
          `scenarios/${file} must default-export { name, description, setup() or measure() } (or a list of them)`,
        );
      }
      scenarios.push(scenario);
    }
  }
  return scenarios;
}

export async function runBenchmarks(options: BenchOptions): Promise<BenchReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const all = await loadScenarios();
  const unknown = (options.filter ?? []).filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  }
  const selected = options.filter ? all.filter((s) => options.filter!.includes(s.name)) : all;
  const scenarios: ScenarioReport[] = [];
  for (const scenario of selected) {
    log(`${scenario.name}: starting targets`);
    try {
      scenarios.push(
        isMeasured(scenario)
          ? {
              name: scenario.name,
              description: scenario.description,
              measurement: await scenario.measure({ quick: options.quick ?? false, log }),
            }
          : isBatch(scenario)
            ? await runBatchScenario(scenario, options, log)
            : await runScenario(scenario, options, log),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${scenario.name}: FAILED: ${message}`);
      scenarios.push({ name: scenario.name, description: scenario.description, error: message });
    }
  }
  const { duration, warmup, rounds, connections } = options;
  return {
    options: { duration, warmup, rounds, connections },
    cores: availableParallelism(),
    node: process.version,
    scenarios,
  };
}

async function runScenario(
  scenario: Scenario,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const instance = await scenario.setup();
  try {
    const sides = [instance.baseline, instance.subject] as const;
    const expected = await Promise.all(sides.map((target) => verifyTarget(target)));
    const run = (index: 0 | 1, seconds: number) =>
      loadTarget(sides[index], { seconds, connections: options.connections, expectedBody: expected[index]! });

    if (options.warmup > 0) {
      log(`${scenario.name}: warm-up ${options.warmup}s each`);
      await run(0, options.warmup);
      await run(1, options.warmup);
    }
    const runs: [RunSample[], RunSample[]] = [[], []];
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which side goes first (A B, B A, …) so a drift in machine load hits both sides alike.
      const order: (0 | 1)[] = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) runs[index].push(await run(index, options.duration));
      const [b, s] = [runs[0].at(-1)!, runs[1].at(-1)!];
      log(
        `${scenario.name}: round ${round + 1}/${options.rounds}: baseline ${fmt(b.rps)} req/s, ` +
          `subject ${fmt(s.rps)} req/s, ratio ${(s.rps / b.rps).toFixed(3)}`,
      );
    }
    const ratios = runs[1].map((s, i) => s.rps / runs[0][i]!.rps);
    return {
      name: scenario.name,
      description: scenario.description,
      baseline: side(instance.baseline, runs[0]),
      subject: side(instance.subject, runs[1]),
      ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds: ratios },
      ...(scenario.goal === undefined ? {} : { goal: scenario.goal }),
    };
  } finally {
    await instance.teardown();
  }
}

/**
 * Times each side once per round on fresh state, alternating which goes first, after one warm-up run
 * each on small data (so the JIT has compiled the hot paths); the ratio is per round, then the median.
 */
async function runBatchScenario(
  scenario: BatchScenario,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<ScenarioReport> {
  const instance = await scenario.setup({ quick: Boolean(options.quick) });
  try {
    const sides = [instance.baseline, instance.subject] as const;
    if (options.warmup > 0) {
      log(`${scenario.name}: warm-up`);
      for (const s of sides) await s.run(true);
    }
    const seconds: [number[], number[]] = [[], []];
    for (let round = 0; round < options.rounds; round++) {
      const order: (0 | 1)[] = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) seconds[index].push(await sides[index].run(false));
      const [b, s] = [seconds[0].at(-1)!, seconds[1].at(-1)!];
      log(
        `${scenario.name}: round ${round + 1}/${options.rounds}: baseline ${b.toFixed(2)} s, ` +
          `subject ${s.toFixed(2)} s, ratio ${(b / s).toFixed(3)}`,
      );
    }
    // Same rows on both sides: the throughput ratio is baseline seconds ÷ subject seconds.
    const ratios = seconds[1].map((s, i) => seconds[0][i]! / s);
    return {
      name: scenario.name,
      description: scenario.description,
      batch: {
        baseline: batchSide(sides[0], seconds[0]),
        subject: batchSide(sides[1], seconds[1]),
        unit: scenario.unit ?? 'rows',
        ...(scenario.goal === undefined ? {} : { goal: scenario.goal }),
      },
      ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds: ratios },
    };
  } finally {
    await instance.teardown();
  }
}

function batchSide(side: BatchSide, seconds: number[]): BatchSideReport {
  return {
    label: side.label,
    description: side.description,
    rows: side.rows,
    seconds,
    rowsPerSecond: side.rows / median(seconds),
  };
}

function side(target: Target, runs: RunSample[]): SideReport {
  return {
    label: target.label,
    description: target.description,
    query: target.query,
    runs,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The human-readable report. */
export function formatReport(report: BenchReport): string {
  const { duration, warmup, rounds, connections } = report.options;
  const lines = [
    `OpsGraph benchmarks: ${rounds} round(s) of ${duration}s per side, interleaved, after ${warmup}s warm-up; ` +
      `${connections} connections; Node ${report.node}; ${report.cores} cores`,
  ];
  if (report.cores <= 4) {
    lines.push(
      `(only ${report.cores} cores: the load generator shares the CPU with the server, so absolute req/s are ` +
        'low and noisy; read the ratio)',
    );
  }
  for (const s of report.scenarios) {
    lines.push('', `${s.name}: ${s.description}`);
    if (s.measurement && !s.error) {
      lines.push(...s.measurement.lines.map((line) => `  ${line}`));
      continue;
    }
    if (s.batch && s.ratio && !s.error) {
      lines.push(...formatBatch(s.batch, s.ratio, rounds));
      continue;
    }
    if (s.error || !s.baseline || !s.subject || !s.ratio) {
      lines.push(`  FAILED: ${s.error ?? 'no result'}`);
      continue;
    }
    const rows = [
      ['', 'side', 'query', 'req/s', 'p50 ms', 'p99 ms', 'req/s per round'],
      ...(['baseline', 'subject'] as const).map((key) => {
        const x = s[key]!;
        return [
          key,
          x.label,
          x.query.length > 40 ? `${x.query.replace(/\s+/g, ' ').slice(0, 39)}…` : x.query,
          fmt(x.rps),
          ms(x.p50),
          ms(x.p99),
          x.runs.map((r) => fmt(r.rps)).join(' '),
        ];
      }),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const row of rows) {
      lines.push(
        `  ${row.map((cell, c) => (c >= 3 && c <= 5 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd(),
      );
    }
    lines.push(`  baseline: ${s.baseline.description}`, `  subject:  ${s.subject.description}`);
    const { median: m, min, max } = s.ratio;
    const spread =
      rounds > 1 ? `, rounds ${min.toFixed(3)}–${max.toFixed(3)} (±${pct((max - min) / 2 / m)})` : '';
    const goal = s.goal === undefined ? '' : `; goal ≥ ${s.goal}: ${m >= s.goal ? 'met' : 'not met'}`;
    lines.push(
      `  ratio subject/baseline req/s: ${m.toFixed(3)}${spread}; subject p50 ${ratioText(s.subject.p50, s.baseline.p50)} of baseline${goal}`,
    );
  }
  return lines.join('\n');
}

function formatBatch(
  batch: NonNullable<ScenarioReport['batch']>,
  ratio: NonNullable<ScenarioReport['ratio']>,
  rounds: number,
): string[] {
  const rows = [
    ['', 'side', `${batch.unit}/s`, 'seconds per round'],
    ...(['baseline', 'subject'] as const).map((key) => {
      const x = batch[key];
      return [key, x.label, fmt(x.rowsPerSecond), x.seconds.map((t) => t.toFixed(2)).join(' ')];
    }),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((row) =>
    `  ${row.map((cell, c) => (c === 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd(),
  );
  lines.push(`  baseline: ${batch.baseline.description}`, `  subject:  ${batch.subject.description}`);
  const spread =
    rounds > 1
      ? `, rounds ${ratio.min.toFixed(3)}–${ratio.max.toFixed(3)} (±${pct((ratio.max - ratio.min) / 2 / ratio.median)})`
      : '';
  const goal =
    batch.goal === undefined
      ? ''
      : `; goal ≥ ${batch.goal}: ${ratio.median >= batch.goal ? 'met' : 'not met'}`;
  lines.push(`  ratio subject/baseline ${batch.unit}/s: ${ratio.median.toFixed(3)}${spread}${goal}`);
  return lines;
}

// autocannon records whole milliseconds.
const ms = (n: number) => String(Math.round(n * 100) / 100);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ratioText = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

const usage = `Usage: npm run bench -- [options]

  --quick              smoke run: 1 round of 1s per side, 0.5s warm-up, small data (impact, reconcile, events)
  --duration <s>       seconds per measured run (default ${defaultOptions.duration}; env BENCH_DURATION)
  --rounds <n>         measured runs per side, interleaved (default ${defaultOptions.rounds}; env BENCH_ROUNDS)
  --warmup <s>         warm-up seconds per side (default ${defaultOptions.warmup})
  --connections <n>    concurrent connections (default ${defaultOptions.connections}; env BENCH_CONNECTIONS)
  --filter <a,b>       only these scenarios (exact names)
  --json               print the report as JSON on stdout (progress stays on stderr)
`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      filter: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const base = values.quick ? quickOptions : defaultOptions;
  const number = (flag: string, raw: string | undefined, fallback: number, integer: boolean) => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (integer && (!Number.isInteger(n) || n < 1))) {
      throw new Error(
        `${flag} must be a ${integer ? 'positive integer' : 'non-negative number'}, got ${raw}`,
      );
    }
    return n;
  };
  const env = process.env;
  const options: BenchOptions = {
    duration: number('--duration', values.duration ?? env.BENCH_DURATION, base.duration, false),
    rounds: number('--rounds', values.rounds ?? env.BENCH_ROUNDS, base.rounds, true),
    warmup: number('--warmup', values.warmup, base.warmup, false),
    connections: number('--connections', values.connections ?? env.BENCH_CONNECTIONS, base.connections, true),
    ...(values.filter ? { filter: values.filter.split(',').map((s) => s.trim()) } : {}),
    quick: values.quick ?? false,
  };
  if (options.duration <= 0) throw new Error('--duration must be more than 0');
  const report = await runBenchmarks(options);
  process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
  const failed = report.scenarios.filter((s) => s.error);
  if (failed.length > 0) {
    process.stderr.write(`${failed.length} scenario(s) failed: ${failed.map((s) => s.name).join(', ')}\n`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
