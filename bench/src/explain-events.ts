// Probe: replays one batch's statements of og.events.ingest with EXPLAIN (ANALYZE, BUFFERS) inside a
// rolled-back transaction, after a few batches, to see the server's time per statement.
// PROFILE_SQL='drop index …' runs that SQL in the same transaction first, to see what something costs.
import { systemActor } from '@opsgraph/core';
import { sql } from 'kysely';
import { type Backend, openDatabases } from './databases.js';
import { chunk, makeStream, seed, sizes } from './scenarios/events.js';
import { inlineParameters } from './statement-totals.js';

const backend: Backend = process.argv.includes('postgres') ? 'postgres' : 'pglite';
const size = sizes.full;
const actor = systemActor('bench');
const pattern = new RegExp(
  process.argv.find((a) => a.startsWith('--match='))?.slice(8) ?? '^\\s*(insert|update|delete)',
  'i',
);
const dbs = await openDatabases(backend, async (og) => {
  await seed(og, size);
});
const og = await dbs.fresh();
const batches = chunk(makeStream(size), size.batch).map((b) => b.map((e) => e.input));
for (const events of batches.slice(0, 5)) await og.events.ingest(events, { actor });
const captured: { sql: string; parameters: readonly unknown[] }[] = [];
const off = og.queries.on((q) => {
  if (pattern.test(q.sql)) captured.push({ sql: q.sql, parameters: q.parameters });
});
await og.events.ingest(batches[5]!, { actor });
off?.();
for (const c of captured) {
  let text = c.sql.replace(/\s+/g, ' ').trim();
  if (process.env.SUBST) {
    const [a, b] = process.env.SUBST.split('=>');
    text = text.replace(new RegExp(a!), b!);
  }
  const out = await og.db
    .transaction()
    .execute(async (trx) => {
      for (const statement of (process.env.PROFILE_SQL ?? '').split(';').filter((s) => s.trim()))
        await sql.raw(statement).execute(trx);
      const r = await sql<{ 'QUERY PLAN': string }>`${sql.raw('explain (analyze, buffers) ')}${sql.raw(
        inlineParameters(text, c.parameters),
      )}`.execute(trx);
      throw Object.assign(new Error('rollback'), { plan: r.rows.map((x) => Object.values(x)[0]).join('\n') });
    })
    .catch((e) => e.plan ?? String(e));
  console.log(`=== ${text.slice(0, 100)}\n${out}\n`);
}
await og.close();
await dbs.close();
