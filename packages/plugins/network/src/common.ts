import { ConflictError, type Kernel } from '@opsgraph/core';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { NetworkTables } from './model.js';

/** The plugin's permissions: reads need `network:read`, writes `network:write`. */
export const networkPermissions = {
  read: 'network:read',
  write: 'network:write',
} as const;

/** The plugin's typed view of the database (core's tables and its own). */
export const tables = (db: Kernel['db']) => db.withTables<NetworkTables>();
export type NetworkDb = Kysely<any>;

/** `<alias>.vrf_id` matches the VRF (null: the global table), in a form an index can use. */
export const vrfIs = (column: string, vrfId: string | null): RawBuilder<boolean> =>
  vrfId === null ? sql<boolean>`${sql.ref(column)} is null` : sql<boolean>`${sql.ref(column)} = ${vrfId}`;

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** A write named a version that is not the current one. */
export function assertVersion(entity: string, id: string, expected: number, current: number): void {
  if (expected !== current) throw ConflictError.staleVersion(entity, id, expected, current);
}

/** Drops the keys GraphQL sent as null for omitted optional inputs. */
export const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };

/**
 * The prefix has no free address (or no free child prefix of the asked length) left. A conflict: the
 * same request succeeds once something is released. Names the prefix in `prefix` and its message.
 */
export class PrefixFullError extends ConflictError {
  readonly reason = 'PREFIX_FULL';
  constructor(
    readonly prefixId: string,
    readonly prefix: string,
    message: string,
  ) {
    super(message, 'prefixId');
  }
}
