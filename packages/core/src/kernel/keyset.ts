// Keyset pages over a choice of orders (alerts, problems …). A cursor is `[order tag, ...keys, id]`:
// it names the order it continues, so a cursor of another order is refused rather than misread.
import { type Expression, type RawBuilder, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import { ValidationError } from './errors.js';
import { decodeCursor, encodeCursor } from './pagination.js';
import { isUuid } from './validation.js';

/** One order a list can take; the id always comes last, so every row has one place. */
export interface KeysetOrder<Row> {
  /** The sort expressions before the id, most significant first. */
  readonly exprs: readonly Expression<unknown>[];
  /** The cursor keys of a row, one per expression. */
  readonly keys: (row: Row) => readonly unknown[];
  /** The SQL of each cursor key; undefined when one is not a key of this order. */
  readonly params: readonly ((value: unknown) => RawBuilder<unknown> | undefined)[];
}

/** The order asked for: which field, which way. */
export interface OrderChoice {
  readonly field: string;
  readonly direction: 'asc' | 'desc';
}

/** Where a page continues: the sort keys of the last row, as SQL, and its id. */
export interface KeysetAfter {
  readonly keys: readonly RawBuilder<unknown>[];
  readonly id: string;
}

const tagOf = (order: OrderChoice) => `${order.field}:${order.direction}`;

/** The cursor of `row` in `order`. */
export function keysetCursor<Row extends { readonly id: string }>(
  order: OrderChoice,
  spec: KeysetOrder<Row>,
  row: Row,
): string {
  return encodeCursor([tagOf(order), ...spec.keys(row), row.id]);
}

/** Reads a cursor back, checked in full: it comes from the client. `what` names a row in the error. */
export function parseKeysetCursor(
  cursor: string,
  order: OrderChoice,
  spec: KeysetOrder<never>,
  what: string,
): KeysetAfter {
  const [tag, ...rest] = decodeCursor(cursor);
  if (typeof tag === 'string' && tag !== tagOf(order) && /^\w+:\w+$/.test(tag))
    throw ValidationError.field(
      'after',
      `is a cursor of the order ${tag}, not ${tagOf(order)}: a cursor continues only the order it was made under`,
    );
  const id = rest.at(-1);
  const keys = spec.params.map((param, i) => param(rest[i]));
  if (
    tag !== tagOf(order) ||
    rest.length !== spec.params.length + 1 ||
    !isUuid(id) ||
    keys.some((key) => key === undefined)
  )
    throw ValidationError.field('after', `is not ${what} cursor this API returned`);
  return { keys: keys as RawBuilder<unknown>[], id: id.toLowerCase() };
}

/** The rows after `after` (when given), sorted by the order's expressions, then the id, in `direction`. */
export function keysetPage<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  exprs: readonly Expression<unknown>[],
  direction: 'asc' | 'desc',
  after: KeysetAfter | undefined,
): SelectQueryBuilder<DB, TB, O> {
  let q = query;
  if (after) {
    const op = sql.raw(direction === 'asc' ? '>' : '<');
    q = q.where(
      sql<SqlBool>`(${sql.join([...exprs, sql.ref('id')])}) ${op} (${sql.join([...after.keys, sql`${after.id}::uuid`])})`,
    );
  }
  for (const expr of exprs) q = q.orderBy(expr, direction);
  return q.orderBy(sql.ref('id'), direction);
}
