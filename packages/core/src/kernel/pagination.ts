import { ValidationError } from './errors.js';
import { isUuid } from './validation.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Opaque cursors: base64url of the keyset values of the last row. */
export function encodeCursor(values: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string, field = 'after'): unknown[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(values)) return values;
  } catch {
    // fall through to the typed error
  }
  throw ValidationError.field(field, 'is not a cursor this API returned');
}

export function pageSize(first: number | undefined, field = 'first'): number {
  if (first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw ValidationError.field(field, `must be an integer from 0 to ${MAX_PAGE_SIZE}`);
  }
  return first;
}

/**
 * The position after which a page continues in a list ordered by (time, id) descending: the cursor a
 * `timeIdPage` returned, checked. Undefined for the first page.
 */
export function afterTimeId(cursor: string | null | undefined): [string, string] | undefined {
  if (!cursor) return undefined;
  const values = decodeCursor(cursor);
  if (values.length !== 2 || typeof values[0] !== 'string' || !isUuid(String(values[1])))
    throw ValidationError.field('after', 'is not a cursor this API returned');
  return [values[0], String(values[1])];
}

/** A page from `first + 1` rows ordered by (time, id) descending: edges with cursors, and whether more follow. */
export function timeIdPage<T extends { readonly id: string }>(
  rows: readonly T[],
  first: number,
  timeOf: (row: T) => Date,
): { edges: { cursor: string; node: T }[]; hasNextPage: boolean; endCursor: string | null } {
  const edges = rows
    .slice(0, first)
    .map((node) => ({ cursor: encodeCursor([timeOf(node).toISOString(), node.id]), node }));
  return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
}
