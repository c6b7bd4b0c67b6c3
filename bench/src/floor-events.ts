// Probe: the least og.events.ingest writes for one batch of the `events` stream, timed against the
// scenario's baseline for the same batch. Not part of `npm run bench`:
//
//   node --conditions=@opsgraph/source --import tsx bench/src/floor-events.ts [pglite|postgres] [--rounds=N]
//
// One copy of the seeded database ingests the stream's first batches and then batch K, recording its
// statements; a second copy ingests only the first batches, so it holds what the stream held before
// batch K. On the second copy, each side runs in a transaction that is rolled back, the sides
// interleaved over rounds:
//   - baseline: batch K as the scenario's raw multi-row INSERT;
//   - floor: batch K's own statements, cut down to what no ingest can skip: binding the nodes to CIs,
//     the alert upsert answering only a count (no alerts back), the occurrences, and the domain events
//     of the alerts it opened (none for repeats);
//   - floor with the upsert split: the same, with the upsert as an UPDATE of the live keys and an
//     INSERT of the rest in one statement (to see whether ON CONFLICT is what costs);
//   - four empty statements: the round trips the floor would save as one statement.
// Everything the floor leaves out (rules, flapping, maintenance, correlation, incident rules, events
// for repeats, alerts read back, all JavaScript) only adds time, so baseline ÷ floor bounds from above
// the ratio the `events` scenario can reach with this data model.
import { type OpsGraph, systemActor } from '@opsgraph/core';
import { CompiledQuery } from 'kysely';
import { type Backend, openDatabases } from './databases.js';
import { baselineRows, chunk, insertBaselineRows, makeStream, seed, sizes } from './scenarios/events.js';

const backend: Backend = process.argv.includes('postgres') ? 'postgres' : 'pglite';
const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 20);
const size = sizes.full;
const K = 5;
/** Thrown to roll a side's transaction back. */
class Rollback extends Error {}
const actor = systemActor('bench');

const ciOf: string[] = [];
const dbs = await openDatabases(backend, async (og) => {
  ciOf.push(...(await seed(og, size)));
});
const batches = chunk(makeStream(size), size.batch);
const inputs = batches.map((b) => b.map((e) => e.input));

const recorder = await dbs.fresh();
const replay = await dbs.fresh();
try {
  for (const events of inputs.slice(0, K)) {
    await recorder.events.ingest(events, { actor });
    await replay.events.ingest(events, { actor });
  }
  const recorded: { sql: string; parameters: readonly unknown[] }[] = [];
  const off = recorder.queries.on((q) => recorded.push({ sql: q.sql, parameters: q.parameters }));
  await recorder.events.ingest(inputs[K]!, { actor });
  off();
  const statement = (pattern: RegExp) => {
    const found = recorded.find((r) => pattern.test(r.sql.replace(/\s+/g, ' ').trim()));
    if (!found) throw new Error(`no statement matches ${pattern}: the ingest changed; update this probe`);
    return found;
  };
  const bind = statement(/^with nodes as/);
  const upsert = statement(/^with up as \( insert into alerts/);
  const occurrences = statement(/^insert into event_occurrences/);
  const append = statement(/^with lock as/);

  // The upsert, answering only how many rows it wrote.
  const countOnly = upsert.sql.replace(
    /select coalesce\(json_agg\(up\), '\[\]'::json\) as rows from up\s*$/,
    'select count(*) from up',
  );
  if (countOnly === upsert.sql) throw new Error('the upsert no longer ends as this probe expects; update it');
  // The same rows as an UPDATE of the live keys, then an INSERT of the others, in one statement.
  const rowsAt = upsert.parameters.findIndex((p) => typeof p === 'string' && p.startsWith('[{'));
  const nowAt = upsert.parameters.findIndex((p) => p instanceof Date);
  const columns = upsert.sql.slice(upsert.sql.indexOf(') as r(') + 7, upsert.sql.indexOf('on conflict'));
  const split = `
    with r as (select * from jsonb_to_recordset($1::jsonb) as r(${columns}),
    u as (
      update alerts a set count = a.count + r.count, last_seen = greatest(a.last_seen, r.seen),
        severity = r.severity, message = r.message, labels = r.labels, ci_id = coalesce(a.ci_id, r.ci_id),
        group_key = coalesce(r.group_key, a.group_key), updated_at = $2
      from r where a.dedup_key = r.dedup_key and a.status <> 'closed'
      returning a.dedup_key),
    i as (
      insert into alerts (id, dedup_key, status, severity, source, node, resource, type, message, labels,
        ci_id, count, first_seen, last_seen, group_key, version, created_at, updated_at)
      select r.id, r.dedup_key, 'open', r.severity, r.source, r.node, r.resource, r.type, r.message,
        r.labels, r.ci_id, r.count, r.seen, r.seen, r.group_key, 1, $2, $2
      from r where r.dedup_key not in (select dedup_key from u)
      returning id)
    select (select count(*) from u) + (select count(*) from i) as n`;
  const splitParameters = [upsert.parameters[rowsAt], upsert.parameters[nowAt]];

  // The append, with only the events of alerts the batch opened.
  const rowsParam = append.parameters.findIndex((p) => typeof p === 'string' && p.startsWith('[{"i"'));
  const opened = (JSON.parse(append.parameters[rowsParam] as string) as { type: string }[])
    .filter((e) => e.type === 'alert.opened')
    .map((e, i) => ({ ...e, i }));
  const appendOpened = append.parameters.map((p, i) => (i === rowsParam ? JSON.stringify(opened) : p));

  const run = (db: OpsGraph['db'], text: string, parameters: readonly unknown[]) =>
    db.executeQuery(CompiledQuery.raw(text, [...parameters]));
  const baselineBatch = baselineRows(batches[K]!, ciOf);
  type Step = [string, (db: OpsGraph['db']) => Promise<unknown>];
  const floorSteps = (upsertStep: Step): Step[] => [
    ['bind the nodes to CIs', (db) => run(db, bind.sql, bind.parameters)],
    upsertStep,
    ['store the occurrences', (db) => run(db, occurrences.sql, occurrences.parameters)],
    ["append the opened alerts' events", (db) => run(db, append.sql, appendOpened)],
  ];
  const sides: [string, Step[]][] = [
    ['baseline: raw multi-row INSERT', [['insert', (db) => insertBaselineRows(db, baselineBatch)]]],
    [
      'floor',
      floorSteps(['upsert the alerts (a count back)', (db) => run(db, countOnly, upsert.parameters)]),
    ],
    [
      'floor, upsert split (UPDATE + INSERT)',
      floorSteps(['update + insert the alerts', (db) => run(db, split, splitParameters)]),
    ],
    [
      'four empty statements (what one statement would save)',
      [
        [
          'select 1 four times',
          async (db) => {
            for (let i = 0; i < 4; i++) await run(db, 'select 1', []);
          },
        ],
      ],
    ],
  ];
  // Per side, its whole transaction's times; per step, the step's.
  const times = sides.map(([, steps]) => ({ total: [] as number[], steps: steps.map(() => [] as number[]) }));
  for (let round = -3; round < rounds; round++) {
    // Alternate which side goes first, as the bench does.
    const order = round % 2 === 0 ? sides.map((_, i) => i) : sides.map((_, i) => sides.length - 1 - i);
    for (const i of order) {
      const start = performance.now();
      const steps: number[] = [];
      await replay.db
        .transaction()
        .execute(async (trx) => {
          for (const [, step] of sides[i]![1]) {
            const t = performance.now();
            await step(trx);
            steps.push(performance.now() - t);
          }
          throw new Rollback();
        })
        .catch((error) => {
          if (!(error instanceof Rollback)) throw error;
        });
      if (round < 0) continue;
      times[i]!.total.push(performance.now() - start);
      for (const [k, ms] of steps.entries()) times[i]!.steps[k]!.push(ms);
    }
  }
  const median = (t: number[]) => [...t].sort((a, b) => a - b)[t.length >> 1]!;
  const base = median(times[0]!.total);
  console.log(
    `${backend}: batch ${K} of the events stream (${batches[K]!.length} events, ${opened.length} new alerts), median of ${rounds} rounds, each side one transaction rolled back`,
  );
  sides.forEach(([label, steps], i) => {
    const ms = median(times[i]!.total);
    console.log(
      `${label.padEnd(56)} ${ms.toFixed(1).padStart(6)} ms   baseline ÷ this ${(base / ms).toFixed(2)}`,
    );
    if (steps.length > 1)
      for (const [k, [name]] of steps.entries())
        console.log(`  ${name.padEnd(54)} ${median(times[i]!.steps[k]!).toFixed(1).padStart(6)} ms`);
  });
} finally {
  await recorder.close();
  await replay.close();
  await dbs.close();
}
