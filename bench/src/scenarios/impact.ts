// Impact analysis over a generated estate of 100,000 CIs and 300,000 relationships, on embedded PGlite and
// on a PostgreSQL server started for the run: og.topology.impactOf() against the least work that answers
// the same question, one bare recursive query for the set of CIs a failure reaches.
import {
  createLogger,
  createOpsGraph,
  type DatabaseHandle,
  definePlugin,
  type OpsGraph,
} from '@opsgraph/core';
import {
  connectTestDatabase,
  ENV,
  type PostgresServer,
  startPostgresServer,
  testBackends,
} from '@opsgraph/core/testing';
import { sql } from 'kysely';
import type { MeasuredScenario, MeasureOptions } from '../harness.js';
import {
  FILLER_TYPE,
  fullSpec,
  type GraphSpec,
  generateGraph,
  loadGraph,
  quickSpec,
} from '../topology-graph.js';

/** The filler relationships' type: it never propagates, as backups or documentation links don't. */
const benchTypes = definePlugin({
  name: 'bench',
  relationshipTypes: [{ name: FILLER_TYPE, label: 'backs up to', propagation: 'none' }],
});

interface Plan {
  readonly spec: GraphSpec;
  /** Failures are picked to reach about this many CIs each. */
  readonly targetAffected: number;
  readonly failureSets: number;
  readonly rounds: number;
}

const plans: Record<'full' | 'quick', Plan> = {
  full: { spec: fullSpec, targetAffected: 1_000, failureSets: 20, rounds: 5 },
  quick: { spec: quickSpec, targetAffected: 40, failureSets: 4, rounds: 1 },
};

/** p50 and p95 by nearest rank, in milliseconds. */
export interface Latency {
  readonly p50: number;
  readonly p95: number;
  readonly samples: number;
}

export interface BackendResult {
  readonly backend: 'pglite' | 'postgres';
  readonly cis: number;
  readonly relationships: number;
  readonly loadSeconds: number;
  readonly failureSets: number;
  /** CIs each failure reaches: mean, least, most. */
  readonly affected: { readonly mean: number; readonly min: number; readonly max: number };
  /** Mean CIs per failure that impactOf judged degraded (quorum held somewhere). */
  readonly degradedMean: number;
  readonly baseline: Latency;
  readonly subject: Latency;
  /** subject ÷ baseline latency: 1.0 would mean the engine adds nothing to the bare reachability query. */
  readonly ratio: { readonly p50: number; readonly p95: number };
}

/** The same reachability as impactOf, as one bare recursive query: no depth, path, state or retirement. */
export async function bareReach(og: OpsGraph, ids: readonly string[]): Promise<number> {
  const result = await sql<{ id: string }>`
    with recursive reach(id) as (
      select unnest(${[...ids]}::uuid[])
      union
      select e.next
        from reach w
        cross join lateral (
          select r.source_id as next
            from relationships r join relationship_types t on t.name = r.type
           where r.target_id = w.id and t.propagation in ('to_source', 'both')
          union all
          select r.target_id
            from relationships r join relationship_types t on t.name = r.type
           where r.source_id = w.id and t.propagation in ('to_target', 'both')
        ) e
    )
    select id from reach`.execute(og.db);
  return result.rows.length;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;

function latency(samples: readonly number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), samples: sorted.length };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function measureBackend(
  backend: 'pglite' | 'postgres',
  plan: Plan,
  graph: ReturnType<typeof generateGraph>,
  log: (line: string) => void,
): Promise<BackendResult> {
  let server: PostgresServer | undefined;
  let og: OpsGraph | undefined;
  try {
    // In memory for PGlite (from the test setup's template when there is one, skipping initdb); a server
    // of our own for PostgreSQL, or a fresh database on the test setup's server under the test suite.
    let database: string | DatabaseHandle;
    if (backend === 'pglite' || process.env[ENV.postgresUrl]) database = await connectTestDatabase(backend);
    else {
      server = await startPostgresServer();
      database = server.url;
    }
    og = await createOpsGraph({
      database,
      plugins: [benchTypes],
      migrate: true,
      logger: createLogger({ level: 'silent' }),
    });
    const db = og;
    const started = performance.now();
    await loadGraph(db, graph);
    await sql`vacuum analyze`.execute(db.db);
    const loadSeconds = (performance.now() - started) / 1000;
    log(
      `impact: ${backend}: loaded ${graph.cis.length} CIs, ${graph.relationships.length} relationships in ${loadSeconds.toFixed(1)} s`,
    );

    // One hypervisor failing is the usual case; keep those that reach about the target.
    const [low, high] = [plan.targetAffected * 0.75, plan.targetAffected * 1.25];
    const tried: { ids: string[]; reach: number }[] = [];
    for (const hv of graph.hypervisors) {
      const reach = await bareReach(db, [hv]);
      tried.push({ ids: [hv], reach });
      if (tried.filter((t) => t.reach >= low && t.reach <= high).length >= plan.failureSets) break;
    }
    const distance = (t: { reach: number }) => Math.abs(t.reach - plan.targetAffected);
    const sets = tried
      .filter((t) => t.reach >= low && t.reach <= high)
      .concat(tried.filter((t) => t.reach < low || t.reach > high).sort((a, b) => distance(a) - distance(b)))
      .slice(0, plan.failureSets);

    // Check once that both sides agree, and warm both up.
    let degraded = 0;
    for (const set of sets) {
      const impact = await db.topology.impactOf(set.ids);
      if (impact.affected.length !== set.reach) {
        throw new Error(
          `impactOf reached ${impact.affected.length} CIs where the bare query reached ${set.reach}`,
        );
      }
      degraded += impact.affected.filter((a) => a.state === 'degraded').length;
    }

    const samples = { baseline: [] as number[], subject: [] as number[] };
    for (let round = 0; round < plan.rounds; round++) {
      for (const [i, set] of sets.entries()) {
        const sides = [
          ['baseline', () => bareReach(db, set.ids)],
          ['subject', () => db.topology.impactOf(set.ids)],
        ] as const;
        // Alternate which side goes first, so drift in machine load hits both alike.
        for (const [side, run] of (round + i) % 2 === 0 ? sides : [...sides].reverse()) {
          samples[side].push(await timed(run));
        }
      }
    }
    const reaches = sets.map((s) => s.reach);
    const baseline = latency(samples.baseline);
    const subject = latency(samples.subject);
    return {
      backend,
      cis: graph.cis.length,
      relationships: graph.relationships.length,
      loadSeconds,
      failureSets: sets.length,
      affected: {
        mean: reaches.reduce((a, b) => a + b, 0) / reaches.length,
        min: Math.min(...reaches),
        max: Math.max(...reaches),
      },
      degradedMean: degraded / sets.length,
      baseline,
      subject,
      ratio: { p50: subject.p50 / baseline.p50, p95: subject.p95 / baseline.p95 },
    };
  } finally {
    await og?.close();
    await server?.stop();
  }
}

const ms = (n: number) => n.toFixed(1);

export function formatImpact(results: readonly BackendResult[]): string[] {
  const rows = [
    [
      'backend',
      'failures',
      'affected (min–max)',
      'degraded',
      'baseline p50/p95 ms',
      'impactOf p50/p95 ms',
      'ratio p50/p95',
      'p95 < 50 ms',
    ],
    ...results.map((r) => [
      r.backend,
      String(r.failureSets),
      `${Math.round(r.affected.mean)} (${r.affected.min}–${r.affected.max})`,
      String(Math.round(r.degradedMean)),
      `${ms(r.baseline.p50)} / ${ms(r.baseline.p95)}`,
      `${ms(r.subject.p50)} / ${ms(r.subject.p95)}`,
      `${r.ratio.p50.toFixed(2)} / ${r.ratio.p95.toFixed(2)}`,
      r.subject.p95 < 50 ? 'yes' : 'NO',
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const [first] = results;
  return [
    ...rows.map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    ),
    `graph: ${first?.cis ?? 0} CIs, ${first?.relationships ?? 0} relationships; ${first?.baseline.samples ?? 0} samples per side and backend`,
    'baseline: one bare WITH RECURSIVE query returning the ids a failure reaches (same propagation rules)',
    'subject:  og.topology.impactOf(ids): depth, path, down/degraded with cluster quorum, business services',
    'ratio: subject latency ÷ baseline latency, lower is better (1.0 = no cost beyond bare reachability)',
  ];
}

const scenario: MeasuredScenario = {
  name: 'impact',
  description:
    'impactOf(one failing hypervisor) in a generated estate of 100,000 CIs / 300,000 relationships ' +
    '(--quick: 2,000 / 6,000), on PGlite and PostgreSQL, against one bare recursive query',
  async measure({ quick, log }: MeasureOptions) {
    const plan = quick ? plans.quick : plans.full;
    const graph = generateGraph(plan.spec);
    const results: BackendResult[] = [];
    // Both, unless PostgreSQL was switched off for a machine without it (OPSGRAPH_SKIP_POSTGRES=1).
    for (const backend of testBackends()) {
      results.push(await measureBackend(backend, plan, graph, log));
    }
    return { lines: formatImpact(results), data: results };
  },
};

export default scenario;
