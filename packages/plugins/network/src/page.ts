import { type KeysetOrder, keysetCursor, type OrderChoice, type Page } from '@opsgraph/core';
import { sql } from 'kysely';

/** `first` checked: 0 to MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE when omitted (core's check). */
export { pageSize } from '@opsgraph/core';

/** A page from `first + 1` rows: edges with cursors, and whether more follow. */
export function pageOf<T extends { readonly id: string }>(
  rows: readonly T[],
  first: number,
  order: OrderChoice,
  spec: KeysetOrder<T>,
): Page<T> {
  const edges = rows.slice(0, first).map((node) => ({ cursor: keysetCursor(order, spec, node), node }));
  return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
}

export const emptyPage = <T>(): Page<T> => ({ edges: [], hasNextPage: false, endCursor: null });

// Cursor keys come from the client: each is checked for its type before it becomes SQL.
const isId = (v: unknown): v is string =>
  typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);
export const textKey = (v: unknown) =>
  typeof v === 'string' && v.length <= 1000 ? sql`${v}::text` : undefined;
export const intKey = (v: unknown) => (Number.isSafeInteger(v) ? sql`${v}::int` : undefined);
export const boolKey = (v: unknown) => (typeof v === 'boolean' ? sql`${v}::boolean` : undefined);
export const uuidKey = (v: unknown) => (isId(v) ? sql`${v}::uuid` : undefined);

/** A list ordered by its unique `name` (VRFs, VLAN groups, zones), then the id. */
export const byName: OrderChoice = { field: 'name', direction: 'asc' };
export const nameOrder: KeysetOrder<{ readonly name: string }> = {
  exprs: [sql.ref('name')],
  keys: (r) => [r.name],
  params: [textKey],
};
