// Where og.topology.impactOf's time goes on the `impact` scenario's 100,000-CI estate, on embedded PGlite:
// times each statement (as the client sees it) and the JavaScript around them, next to the bare query.
// Not part of `npm run bench`:
//
//   node --conditions=@opsgraph/source --import tsx bench/src/profile-impact.ts [--quick] [--rounds N]
//
// The loaded estate is kept as a PGlite dump in $IMPACT_DUMP (default /tmp/opsgraph-impact-<size>.tar), so
// only the first run pays the load.
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import {
  connectDatabase,
  createLogger,
  createOpsGraph,
  type DatabaseHandle,
  definePlugin,
  type OpsGraph,
} from '@opsgraph/core';
import { sql } from 'kysely';
import { bareReach } from './scenarios/impact.js';
import { FILLER_TYPE, fullSpec, generateGraph, loadGraph, quickSpec } from './topology-graph.js';

const quick = process.argv.includes('--quick');
const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt > 0 ? Number(process.argv[roundsAt + 1]) : 5;
const spec = quick ? quickSpec : fullSpec;
const target = quick ? 40 : 1_000;
const dump = process.env.IMPACT_DUMP ?? `/tmp/opsgraph-impact-${quick ? 'quick' : 'full'}.tar`;
const benchTypes = definePlugin({
  name: 'bench',
  relationshipTypes: [{ name: FILLER_TYPE, label: 'backs up to', propagation: 'none' }],
});
const open = async (database: string | DatabaseHandle) =>
  createOpsGraph({
    database,
    plugins: [benchTypes],
    migrate: true,
    logger: createLogger({ level: 'silent' }),
  });

const graph = generateGraph(spec);
if (!existsSync(dump)) {
  const dir = `${dump}.dir`;
  await rm(dir, { recursive: true, force: true });
  const og = await open(`pglite://${dir}`);
  const started = performance.now();
  await loadGraph(og, graph);
  await sql`vacuum analyze`.execute(og.db);
  console.log(`loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await og.close();
  const pglite = await PGlite.create({ dataDir: dir });
  await writeFile(dump, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  await pglite.close();
  await rm(dir, { recursive: true, force: true });
}
const og: OpsGraph = await open(
  await connectDatabase('pglite://memory', { loadDataDir: new Blob([await readFile(dump)]) }),
);

const bare = (ids: readonly string[]) => bareReach(og, ids);

// As the scenario: the first 20 hypervisors whose failure reaches the target ±25 %, else the nearest.
const tried: { ids: string[]; reach: number }[] = [];
const near = (t: { reach: number }) => Math.abs(t.reach - target) <= target * 0.25;
for (const hv of graph.hypervisors) {
  tried.push({ ids: [hv], reach: await bare([hv]) });
  if (tried.filter(near).length >= 20) break;
}
const sets = tried
  .filter(near)
  .concat(
    tried.filter((t) => !near(t)).sort((a, b) => Math.abs(a.reach - target) - Math.abs(b.reach - target)),
  )
  .slice(0, quick ? 4 : 20)
  .map((t) => t.ids);
for (const set of sets) {
  const impact = await og.topology.impactOf(set);
  const n = await bare(set);
  if (impact.affected.length !== n) throw new Error(`impactOf ${impact.affected.length} vs bare ${n}`);
}

const kindOf = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 60);
const statements = new Map<string, number[]>();
const total = { bare: [] as number[], impact: [] as number[], sql: [] as number[] };
for (let round = 0; round < rounds; round++) {
  for (const set of sets) {
    let t = performance.now();
    await bare(set);
    total.bare.push(performance.now() - t);
    t = performance.now();
    const { queries } = await og.queries.measure(() => og.topology.impactOf(set));
    total.impact.push(performance.now() - t);
    let inSql = 0;
    for (const q of queries) {
      const list = statements.get(kindOf(q.sql)) ?? [];
      list.push(q.durationMs);
      statements.set(kindOf(q.sql), list);
      inSql += q.durationMs;
    }
    total.sql.push(inSql);
  }
}
const pct = (list: number[], p: number) => {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? Number.NaN;
};
const mean = (list: number[]) => list.reduce((a, b) => a + b, 0) / list.length;
const row = (label: string, list: number[]) =>
  `${label.padEnd(62)} n=${String(list.length).padStart(4)} mean ${mean(list).toFixed(2).padStart(7)}  p50 ${pct(list, 0.5).toFixed(2).padStart(7)}  p95 ${pct(list, 0.95).toFixed(2).padStart(7)} ms`;
console.log(row('bare reachability', total.bare));
console.log(row('impactOf', total.impact));
console.log(row('  of which SQL (client-side statement time)', total.sql));
console.log(
  row(
    '  of which JS',
    total.impact.map((t, i) => t - total.sql[i]!),
  ),
);
for (const [kind, list] of statements) console.log(row(`  ${kind}`, list));
console.log(
  `ratio p50 ${(pct(total.impact, 0.5) / pct(total.bare, 0.5)).toFixed(2)} p95 ${(pct(total.impact, 0.95) / pct(total.bare, 0.95)).toFixed(2)}`,
);
await og.close();
