// Where og.cmdb.reconcile's time goes: runs the `reconcile` scenario's feed once on a fresh migrated
// database and sums the time of each kind of statement (as the client sees it: the server's work, the
// wire, and the driver parsing the answer); the rest is JavaScript. Not part of `npm run bench`:
//
//   node --conditions=@opsgraph/source --import tsx bench/src/profile-reconcile.ts [pglite|postgres] [--quick]
//
// PROFILE_SQL='drop index …' runs that SQL on the copy before the feed, to see what something costs.
import { systemActor } from '@opsgraph/core';
import { sql } from 'kysely';
import { type Backend, openDatabases } from './databases.js';
import { makeFeed, sizes } from './scenarios/reconcile.js';
import { statementTotals } from './statement-totals.js';

const backend: Backend = process.argv.includes('postgres') ? 'postgres' : 'pglite';
const size = process.argv.includes('--quick') ? sizes.quick : sizes.full;
const actor = systemActor('bench');

const kindOf = (text: string) => text.replace(/\s+/g, ' ').trim().toLowerCase().slice(0, 50);

const dbs = await openDatabases(backend, async (og) => {
  await og.cmdb.defineSource({ name: 'discovery', priority: 10 }, { actor });
});
try {
  const feed = makeFeed(size.cis, size.relationships);
  for (let run = 0; run < 2; run++) {
    const og = await dbs.fresh();
    try {
      if (process.env.PROFILE_SQL) await sql.raw(process.env.PROFILE_SQL).execute(og.db);
      const totals = statementTotals(og, kindOf);
      const cpu = process.cpuUsage();
      const start = performance.now();
      await og.cmdb.reconcile(feed.payload, { actor, source: 'discovery' });
      const wall = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const line = (label: string, ms: number, n?: number) =>
        `${label.padEnd(52)} ${n === undefined ? ''.padStart(16) : `${String(n).padStart(4)} × ${(ms / n).toFixed(1).padStart(6)} ms`}  ${(ms / 1000).toFixed(2).padStart(6)} s  ${((ms / wall) * 100).toFixed(0).padStart(3)}%`;
      console.log(
        `${backend} run ${run}: ${size.cis} CIs + ${size.relationships} relationships in ${(wall / 1000).toFixed(2)} s`,
      );
      let statements = 0;
      for (const [kind, { n, ms }] of [...totals].sort((a, b) => b[1].ms - a[1].ms)) {
        statements += ms;
        if (ms > 5) console.log(line(kind, ms, n));
      }
      console.log(line('outside statements (JavaScript)', wall - statements));
      console.log(`process CPU: ${((used.user + used.system) / 1e6).toFixed(2)} s`);
    } finally {
      await og.close();
    }
  }
} finally {
  await dbs.close();
}
