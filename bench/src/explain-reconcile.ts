// Probe: the server's time per statement of og.cmdb.reconcile. Runs the `reconcile` scenario's feed on
// one fresh copy while recording its statements, then replays them in order with EXPLAIN (ANALYZE) in
// one rolled-back transaction on a second fresh copy (EXPLAIN ANALYZE executes, so each statement sees
// what the ones before it wrote). Prints the server time summed per kind of statement. Not part of
// `npm run bench`:
//
//   node --conditions=@opsgraph/source --import tsx bench/src/explain-reconcile.ts [pglite|postgres] [--plans]
import { systemActor } from '@opsgraph/core';
import { sql } from 'kysely';
import { type Backend, openDatabases } from './databases.js';
import { makeFeed, sizes } from './scenarios/reconcile.js';
import { inlineParameters } from './statement-totals.js';

const backend: Backend = process.argv.includes('postgres') ? 'postgres' : 'pglite';
const size = process.argv.includes('--quick') ? sizes.quick : sizes.full;
const plans = process.argv.includes('--plans');
const actor = systemActor('bench');

const dbs = await openDatabases(backend, async (og) => {
  await og.cmdb.defineSource({ name: 'discovery', priority: 10 }, { actor });
});
try {
  const feed = makeFeed(size.cis, size.relationships);
  const recorded: { sql: string; parameters: readonly unknown[] }[] = [];
  const first = await dbs.fresh();
  try {
    const off = first.queries.on((q) => recorded.push({ sql: q.sql, parameters: q.parameters }));
    await first.cmdb.reconcile(feed.payload, { actor, source: 'discovery' });
    off?.();
  } finally {
    await first.close();
  }
  const second = await dbs.fresh();
  const totals = new Map<string, { n: number; ms: number }>();
  try {
    await second.db
      .transaction()
      .execute(async (trx) => {
        for (const q of recorded) {
          const text = q.sql.replace(/\s+/g, ' ').trim();
          if (/^(begin|commit|rollback|savepoint|release)/i.test(text)) continue;
          const inline = inlineParameters(text, q.parameters);
          const { rows } = await sql<
            Record<string, string>
          >`${sql.raw(`explain (analyze, buffers) ${inline}`)}`.execute(trx);
          const plan = rows.map((r) => Object.values(r)[0]).join('\n');
          const ms = Number(/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? 0);
          const kind = text.toLowerCase().slice(0, 60);
          const t = totals.get(kind) ?? { n: 0, ms: 0 };
          totals.set(kind, { n: t.n + 1, ms: t.ms + ms });
          if (plans) console.log(`=== ${text.slice(0, 100)}\n${plan}\n`);
        }
        throw new Error('rollback');
      })
      .catch((e) => {
        if ((e as Error).message !== 'rollback') throw e;
      });
  } finally {
    await second.close();
  }
  let sum = 0;
  for (const [kind, { n, ms }] of [...totals].sort((a, b) => b[1].ms - a[1].ms)) {
    sum += ms;
    console.log(
      `${kind.padEnd(62)} ${String(n).padStart(4)} × ${(ms / n).toFixed(1).padStart(7)} ms ${(ms / 1000).toFixed(2).padStart(6)} s`,
    );
  }
  console.log(`${backend}: server execution time, all statements: ${(sum / 1000).toFixed(2)} s`);
} finally {
  await dbs.close();
}
