import type { Page } from '../cmdb/model.js';
import { type Actor, assertCan, can, permissions } from '../kernel/actor.js';
import { ForbiddenError, ValidationError } from '../kernel/errors.js';
import { decodeCursor, encodeCursor } from '../kernel/pagination.js';
import { isUuid } from '../kernel/validation.js';

/** How records name who made a change: `<actor kind>:<actor id>` (as tokens' `createdBy`). */
export const actorKey = (actor: Actor): string => `${actor.kind}:${actor.id}`;

/** A LIKE pattern matching `text` anywhere, with `%`, `_` and `\` taken literally. */
export const containsPattern = (text: string): string => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

/** Whether `error` is PostgreSQL's unique violation (of `constraint`, when given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** Reading access records needs access:read; `self` lets a user read what concerns only itself. */
export function assertCanRead(actor: Actor | undefined, self = false): void {
  if (!actor || self) return;
  assertCan(actor, permissions.accessRead);
}

export const isSelf = (actor: Actor | undefined, userId: string | null | undefined): boolean =>
  !!actor?.userId && !!userId && actor.userId.toLowerCase() === userId.toLowerCase();

/** Managing users, groups, roles and grants needs access:admin. */
export const assertAdmin = (actor: Actor): void => assertCan(actor, permissions.accessAdmin);

export const canAdmin = (actor: Actor): boolean => can(actor, permissions.accessAdmin);

export const forbidden = (actor: Actor, permission: string, field: string | undefined, reason?: string) =>
  new ForbiddenError(permission, actor.name, field, { reason });

/** A keyset page over (name, id): the cursor is `[name, id]`. */
export function namePage<T extends { name: string; id: string }>(rows: T[], size: number): Page<T> {
  const edges = rows.slice(0, size).map((node) => ({ cursor: encodeCursor([node.name, node.id]), node }));
  return { edges, hasNextPage: rows.length > size, endCursor: edges[edges.length - 1]?.cursor ?? null };
}

/** The (name, id) a cursor of `namePage` continues after; a forged one is a ValidationError on `after`. */
export function parseNameCursor(after: string | null | undefined): { name: string; id: string } | null {
  if (!after) return null;
  const [name, id, ...rest] = decodeCursor(after);
  if (typeof name !== 'string' || !isUuid(id) || rest.length > 0) {
    throw ValidationError.field('after', 'is not a cursor this list returned');
  }
  return { name, id: id.toLowerCase() };
}

/**
 * The fields of a patch that change the record (`undefined`: left alone), and the column values to set
 * for them (`null` clears). Shared by the versioned updates of users and groups.
 */
export function changedFields<P extends object, R extends { [K in keyof P]?: unknown }>(
  patch: P,
  current: R,
): { changes: (keyof P & string)[]; set: Record<string, unknown> } {
  const changes = (Object.keys(patch) as (keyof P & string)[]).filter(
    (key) => patch[key] !== undefined && patch[key] !== current[key],
  );
  return { changes, set: Object.fromEntries(changes.map((key) => [key, patch[key] ?? null])) };
}

export { isUuid };
