import { type Expression, type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { ValidationError } from '../kernel/errors.js';
import { decodeCursor, encodeCursor, pageSize } from '../kernel/pagination.js';
import type { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type Ci,
  type CiClass,
  type CiFilter,
  type CiOrder,
  type CiOrderField,
  type CiPageRequest,
  ciFilterInput,
  ciOrderFields,
  ciStatuses,
  type OrderDirection,
  orderDirections,
  type Page,
} from './model.js';
import { findClass } from './store.js';

type Db = Kysely<Database>;

/**
 * How each order sorts and how its cursor key is read and checked. The key of a timestamp is the
 * database's own text of it: a JS Date keeps milliseconds, PostgreSQL microseconds, and a rounded key
 * would repeat or skip rows.
 */
interface OrderSpec {
  /** The sort expression. */
  readonly expr: Expression<unknown>;
  /** The key to continue after, as SQL, from a cursor's value; undefined when the value is not one. */
  readonly param: (value: unknown) => RawBuilder<unknown> | undefined;
  /** What goes into the cursor, from the row as selected (timestamps also select their text). */
  readonly key: (row: ListedRow) => string;
}

type ListedRow = Ci & { sortKey: string | null };

// Lifecycle order, not alphabetical: "planned" before "retired" is what an operator expects.
const statusRank = sql<number>`array_position(array['planned','installed','operational','maintenance','retired']::text[], ${sql.ref('cis.status')})`;
const rankOf = (value: unknown) => (ciStatuses as readonly unknown[]).indexOf(value) + 1;

const text = (value: unknown) => (typeof value === 'string' ? sql`${value}::text` : undefined);
// PostgreSQL's text of a timestamptz, e.g. `2026-02-01 08:00:00.123456+00`; checked so a forged one
// is a ValidationError, not a database error.
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const timestamp = (value: unknown) => {
  const match = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
  const valid = match && !Number.isNaN(Date.parse(`${match[1]}T${match[2]}Z`));
  return valid ? sql`${value}::timestamptz` : undefined;
};

const orders: Record<CiOrderField, OrderSpec> = {
  name: { expr: sql.ref('cis.name'), param: text, key: (row) => row.name },
  class: { expr: sql.ref('cis.class'), param: text, key: (row) => row.class },
  status: {
    expr: statusRank,
    param: (value) => (rankOf(value) > 0 ? sql`${rankOf(value)}::int` : undefined),
    key: (row) => row.status,
  },
  createdAt: { expr: sql.ref('cis.createdAt'), param: timestamp, key: (row) => row.sortKey! },
  updatedAt: { expr: sql.ref('cis.updatedAt'), param: timestamp, key: (row) => row.sortKey! },
};

/** Checks an order from outside (the SDK's callers are not type-checked at run time). */
function parseOrder(order: CiOrder | undefined): Required<CiOrder> {
  if (order === undefined) return { field: 'name', direction: 'asc' };
  if (!ciOrderFields.includes(order.field))
    throw ValidationError.field('orderBy.field', `must be one of ${ciOrderFields.join(', ')}`);
  const direction = order.direction ?? 'asc';
  if (!orderDirections.includes(direction))
    throw ValidationError.field('orderBy.direction', `must be ${orderDirections.join(' or ')}`);
  return { field: order.field, direction };
}

const orderTag = (order: Required<CiOrder>) => `${order.field}:${order.direction}`;

/** A cursor is `[order, key, id]`: it names the order it continues, so another order can refuse it. */
function parseCursor(cursor: string, order: Required<CiOrder>): { key: RawBuilder<unknown>; id: string } {
  const [tag, value, id, ...rest] = decodeCursor(cursor);
  if (typeof tag === 'string' && tag !== orderTag(order) && /^\w+:\w+$/.test(tag)) {
    throw ValidationError.field(
      'after',
      `is a cursor of the order ${tag}, not ${orderTag(order)}: a cursor continues only the order it was made under`,
    );
  }
  // A cursor comes back from the client: check it fully, or a forged one reaches SQL as a bad value.
  const key = orders[order.field].param(value);
  if (tag !== orderTag(order) || !key || typeof id !== 'string' || !isUuid(id) || rest.length > 0) {
    throw ValidationError.field('after', 'is not a CI cursor');
  }
  return { key, id: id.toLowerCase() };
}

/** The class named and every class below it, resolved in the database. */
const classAndBelow = (name: string) => sql<string>`(
  with recursive below(name) as (
    select name from ci_classes where name = ${name}
    union
    select c.name from ci_classes c join below b on c.parent = b.name
  )
  select name from below)`;

/**
 * A keyset page of CIs: filtered, ordered by `page.orderBy` then id, after `page.after`. With a `reach`
 * that is not everywhere, only the CIs in it: one more condition in the same query, so the page size,
 * the order and the cursors are those of the CIs the caller may see.
 */
export async function listCis(
  db: Db,
  filterInput: CiFilter,
  page: CiPageRequest,
  reach?: CiReach,
): Promise<Page<Ci>> {
  const filter = parseInput(ciFilterInput, filterInput, 'filter');
  const order = parseOrder(page.orderBy);
  const size = pageSize(page.first);
  const after = page.after ? parseCursor(page.after, order) : null;
  const spec = orders[order.field];
  const direction: OrderDirection = order.direction;

  let q = db
    .selectFrom('cis')
    .selectAll('cis')
    .select(
      order.field === 'createdAt' || order.field === 'updatedAt'
        ? sql<string>`${sql.ref(`cis.${order.field}`)}::text`.as('sortKey')
        : sql<null>`null`.as('sortKey'),
    )
    .orderBy(spec.expr, direction)
    .orderBy('cis.id', direction)
    .limit(size + 1);
  const inReach = reach?.where('cis.id');
  if (inReach) q = q.where(inReach);
  if (filter.class) q = q.where(sql<SqlBool>`${sql.ref('cis.class')} in ${classAndBelow(filter.class)}`);
  if (filter.status) q = q.where('cis.status', '=', filter.status);
  else if (!filter.includeRetired) q = q.where('cis.status', '!=', 'retired');
  // `@>` rather than `= any(tags)`: containment is what a GIN index on tags can serve.
  if (filter.tag) q = q.where(sql<SqlBool>`${sql.ref('cis.tags')} @> array[${filter.tag}]::text[]`);
  for (const { name, value } of filter.attributes ?? []) {
    const json = JSON.stringify(value);
    // Containment is served by the GIN index; for an object or array it would also accept a larger
    // one, so equality of that attribute is checked as well.
    q = q.where(sql<SqlBool>`${sql.ref('cis.attributes')} @> ${JSON.stringify({ [name]: value })}::jsonb`);
    if (typeof value === 'object' && value !== null)
      q = q.where(sql<SqlBool>`${sql.ref('cis.attributes')} -> ${name} = ${json}::jsonb`);
  }
  if (filter.search) q = q.where('cis.name', 'ilike', `%${filter.search.replace(/[\\%_]/g, '\\$&')}%`);
  if (after) {
    const op = sql.raw(direction === 'asc' ? '>' : '<');
    q = q.where(sql<SqlBool>`(${spec.expr}, ${sql.ref('cis.id')}) ${op} (${after.key}, ${after.id}::uuid)`);
  }

  const rows = (await q.execute()) as ListedRow[];
  // An unknown class lists nothing, which looks like "no such CIs": say what is wrong instead. Checked
  // only on an empty page, so a page that has rows costs no extra query.
  if (rows.length === 0 && filter.class && !(await findClass(db, filter.class))) {
    throw ValidationError.field('filter.class', `unknown CI class "${filter.class}"`);
  }
  const tag = orderTag(order);
  const edges = rows.slice(0, size).map((row) => {
    const { sortKey: _, ...node } = row;
    return { cursor: encodeCursor([tag, spec.key(row), node.id]), node: node as Ci };
  });
  return { edges, hasNextPage: rows.length > size, endCursor: edges[edges.length - 1]?.cursor ?? null };
}

/** Classes by name, in one query: a DataLoader batch. */
export const findClassesByName = (db: Db, names: readonly string[]): Promise<CiClass[]> =>
  names.length === 0
    ? Promise.resolve([])
    : db.selectFrom('ciClasses').selectAll().where('name', 'in', names).execute();
