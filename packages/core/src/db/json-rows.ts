import { CamelCasePlugin, type Kysely, type SelectQueryBuilder, sql } from 'kysely';

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

/**
 * Runs `query` and returns its rows, read as one `json_agg` value instead of row by row. Why: the
 * embedded database decodes every field of every row in JavaScript, which for a page of 50-100 rows of
 * a wide table costs about twice what parsing the same rows as one JSON text does; the list views'
 * batched reads (people, CIs, SLA timers of a page) use this. Keys are mapped to camelCase as the
 * handle's plugin does; JSON has no dates, so `dates` names the columns to turn back into `Date`s.
 * Row order is not kept: callers key the rows by id or sort them.
 */
export async function jsonRows<DB, O>(
  db: Kysely<DB>,
  query: SelectQueryBuilder<DB, any, O>,
  dates: readonly DateKeys<O>[],
): Promise<O[]> {
  const { rows } = await (db as unknown as Kysely<Record<string, never>>)
    .selectFrom(query.as('r') as never)
    .select(sql<Record<string, unknown>[]>`coalesce(json_agg(r), '[]'::json)`.as('rows'))
    .executeTakeFirstOrThrow();
  return rows.map((raw) => {
    const row: Record<string, unknown> = {};
    for (const column in raw) row[keys.key(column)] = raw[column];
    for (const key of dates as readonly string[]) {
      const value = row[key];
      if (typeof value === 'string') row[key] = new Date(value);
    }
    return row as O;
  });
}
