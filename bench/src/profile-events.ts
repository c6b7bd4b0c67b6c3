// Where og.events.ingest's time goes: runs the `events` scenario's stream once on a fresh copy of its
// seeded database and sums the time of each kind of statement (as the client sees it: the server's work,
// the wire, and the driver parsing the answer); the rest is JavaScript. Not part of `npm run bench`:
//
//   node --conditions=@opsgraph/source --import tsx bench/src/profile-events.ts [pglite|postgres] [--quick]
//
// PROFILE_SQL='drop index …' runs that SQL on the copy before the stream, to see what something costs.
import { systemActor } from '@opsgraph/core';
import { sql } from 'kysely';
import { type Backend, openDatabases } from './databases.js';
import { chunk, makeStream, seed, sizes } from './scenarios/events.js';
import { statementTotals } from './statement-totals.js';

const backend: Backend = process.argv.includes('postgres') ? 'postgres' : 'pglite';
const size = process.argv.includes('--quick') ? sizes.quick : sizes.full;
const actor = systemActor('bench');

const kinds: [RegExp, string][] = [
  [/^with nodes/, 'bind events to CIs (matchCis)'],
  [/^insert into alerts/, 'upsert alerts (upsertTriggers)'],
  [/^with up as \( insert into alerts/, 'upsert alerts (upsertTriggers)'],
  [/^insert into event_occurrences/, 'store occurrences'],
  [/^delete from event_occurrences/, 'trim occurrences to the latest 100'],
  [/^insert into activity/, 'append domain events (activity)'],
  [/^with lock as/, 'append domain events (activity)'],
  [/pg_advisory_xact_lock/, 'activity advisory lock'],
  [/pg_notify/, 'notify'],
];
const kindOf = (text: string) => {
  const s = text.replace(/\s+/g, ' ').trim().toLowerCase();
  return kinds.find(([pattern]) => pattern.test(s))?.[1] ?? s.slice(0, 40);
};

const dbs = await openDatabases(backend, async (og) => {
  await seed(og, size);
});
try {
  const og = await dbs.fresh();
  try {
    for (const statement of (process.env.PROFILE_SQL ?? '').split(';').filter((s) => s.trim()))
      await sql.raw(statement).execute(og.db);
    const batches = chunk(makeStream(size), size.batch).map((b) => b.map((e) => e.input));
    const totals = statementTotals(og, kindOf);
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (const events of batches) await og.events.ingest(events, { actor });
    const wall = performance.now() - start;
    const used = process.cpuUsage(cpu);

    const line = (label: string, ms: number, n?: number) =>
      `${label.padEnd(40)} ${n === undefined ? ''.padStart(16) : `${String(n).padStart(4)} × ${(ms / n).toFixed(1).padStart(6)} ms`}  ${(ms / 1000).toFixed(2).padStart(6)} s  ${((ms / wall) * 100).toFixed(0).padStart(3)}%`;
    console.log(
      `${backend}: ${size.events.toLocaleString('en-US')} events in batches of ${size.batch} in ${(wall / 1000).toFixed(2)} s`,
    );
    let statements = 0;
    for (const [kind, { n, ms }] of [...totals].sort((a, b) => b[1].ms - a[1].ms)) {
      statements += ms;
      console.log(line(kind, ms, n));
    }
    console.log(line('outside statements (JavaScript)', wall - statements));
    console.log(`process CPU during the stream: ${((used.user + used.system) / 1e6).toFixed(2)} s`);
  } finally {
    await og.close();
  }
} finally {
  await dbs.close();
}
