import { CamelCasePlugin, type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { measurementOf } from './query-log.js';

/** The keys of `O` whose values are dates (or null). */
export type DateKeys<O> = {
  [K in keyof O]-?: Date extends O[K] ? (O[K] extends Date | null | undefined ? K : never) : never;
}[keyof O];

// The same snake_case -> camelCase mapping the database handle's CamelCasePlugin applies to columns.
class KeyMapper extends CamelCasePlugin {
  readonly #keys = new Map<string, string>();
  key(column: string): string {
    const known = this.#keys.get(column);
    if (known !== undefined) return known;
    const key = this.camelCase(column);
    this.#keys.set(column, key);
    return key;
  }
}
const keys = new KeyMapper();

type Raw = Record<string, unknown>;
type AnySelect = SelectQueryBuilder<any, any, any>;

interface Pending {
  readonly query: AnySelect;
  readonly resolve: (rows: Raw[]) => void;
  readonly reject: (error: unknown) => void;
}

// Reads asked for on one handle in the same turn of the event loop (a GraphQL response's DataLoaders
// dispatch their batches together) go to the database as one statement; reads of different
// measurements (concurrent requests, each counting its own statements) never travel together.
const queues = new WeakMap<object, Map<object | undefined, Pending[]>>();

const aggregate = (query: AnySelect) =>
  sql<Raw[]>`(select coalesce(json_agg(r), '[]'::json) from (${query}) r)`;

async function flush(db: Kysely<unknown>, batch: readonly Pending[]): Promise<void> {
  try {
    const row = (await (db as Kysely<Record<string, never>>)
      .selectNoFrom(batch.map((p, i) => aggregate(p.query).as(`r${i}`)))
      .executeTakeFirstOrThrow()) as Record<string, Raw[]>;
    for (const [i, p] of batch.entries()) p.resolve(row[`r${i}`]!);
  } catch (error) {
    if (batch.length === 1) batch[0]!.reject(error);
    // One bad read must not fail the others it happened to travel with: each runs alone, with its own answer.
    else await Promise.all(batch.map((p) => flush(db, [p])));
  }
}

function send(
  db: Kysely<unknown>,
  open: Map<object | undefined, Pending[]>,
  measurement: object | undefined,
) {
  const batch = open.get(measurement)!;
  open.delete(measurement);
  void flush(db, batch);
}

function read(db: Kysely<unknown>, query: AnySelect): Promise<Raw[]> {
  let open = queues.get(db);
  if (!open) {
    open = new Map();
    queues.set(db, open);
  }
  const measurement = measurementOf(db);
  let batch = open.get(measurement);
  if (!batch) {
    batch = [];
    open.set(measurement, batch);
    // Scheduled from the first caller's context, so the statement counts in its measurement.
    setImmediate(send, db, open, measurement);
  }
  return new Promise((resolve, reject) => batch.push({ query, resolve, reject }));
}

/**
 * Rows a statement aggregated itself (`select coalesce(json_agg(x), '[]'::json) … from x`, e.g. over a
 * data-modifying CTE's RETURNING) with their top-level keys mapped to camelCase, as the handle's plugin
 * maps columns (the keys inside json values stay as they are). Dates stay strings: the caller revives them.
 */
export function camelRows(rows: readonly Raw[]): Raw[] {
  return rows.map((raw) => {
    const row: Raw = {};
    for (const column in raw) row[keys.key(column)] = raw[column];
    return row;
  });
}

/**
 * Runs `query` and returns its rows, read as one `json_agg` value instead of row by row, together with
 * the other reads asked for on the same handle in the same turn of the event loop: one statement for
 * them all. Why: the embedded database decodes every field of every row in JavaScript, and every
 * statement costs a parse, a plan and several protocol round trips; a list view's batched reads
 * (its incidents' people, groups, CIs and SLA timers) cost a fraction of that this way. Keys are
 * mapped to camelCase as the handle's plugin does; JSON has no dates, so `dates` names the columns to
 * turn back into `Date`s. Row order is not kept: callers key the rows by id or sort them. Meant for
 * columns of text, uuids, booleans, integers, json and timestamps: a `numeric` comes back as a JSON
 * number (the driver gives a string), a `bytea` as hex text.
 */
export async function jsonRows<DB, O>(
  db: Kysely<DB>,
  query: SelectQueryBuilder<DB, any, O>,
  dates: readonly DateKeys<O>[],
): Promise<O[]> {
  const rows = camelRows(await read(db as Kysely<unknown>, query));
  return rows.map((row) => {
    for (const key of dates as readonly string[]) {
      const value = row[key];
      if (typeof value === 'string') row[key] = new Date(value);
    }
    return row as O;
  });
}
