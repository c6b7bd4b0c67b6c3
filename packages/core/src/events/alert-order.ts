// The orders an alert list can take, and their keyset cursors (kernel/keyset.ts).
import { sql } from 'kysely';
import { type KeysetAfter, type KeysetOrder, keysetCursor, parseKeysetCursor } from '../kernel/keyset.js';
import { parseInput } from '../kernel/validation.js';
import { type AlertOrder, type AlertOrderField, type AlertSeverity, alertOrderInput } from './model.js';

export type ParsedAlertOrder = Required<AlertOrder>;

export type AlertAfter = KeysetAfter;

/** A listed row with the database's text of its timestamps: the keys its cursor carries. */
export interface KeyedRow {
  readonly severity: AlertSeverity;
  readonly lastSeenKey: string;
  readonly firstSeenKey: string;
}

/** Severities from the least severe up: an alert's level is its place here (1-based). */
const LEVELS: readonly AlertSeverity[] = ['info', 'warning', 'minor', 'major', 'critical'];
// Literal in the SQL (not a parameter), so it matches the expression index of 0016_events_alert_orders.
const levels = sql.raw(`array[${LEVELS.map((s) => `'${s}'`).join(',')}]::text[]`);
/** Severity as a level, most severe highest: `desc` lists critical first. */
export const severityLevel = sql<number>`array_position(${levels}, ${sql.ref('severity')})`;
const level = (value: unknown) => {
  const n = LEVELS.indexOf(value as AlertSeverity) + 1;
  return n > 0 ? sql`${n}::int` : undefined;
};

// PostgreSQL's text of a timestamptz (microseconds: a JS Date would round, and repeat or skip rows).
// Checked, so a forged cursor is a ValidationError, not a database error.
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const timestamp = (value: unknown) => {
  const match = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
  return match && !Number.isNaN(Date.parse(`${match[1]}T${match[2]}Z`))
    ? sql`${value}::timestamptz`
    : undefined;
};

export const alertOrders: Record<AlertOrderField, KeysetOrder<KeyedRow>> = {
  lastSeen: { exprs: [sql.ref('lastSeen')], keys: (r) => [r.lastSeenKey], params: [timestamp] },
  firstSeen: { exprs: [sql.ref('firstSeen')], keys: (r) => [r.firstSeenKey], params: [timestamp] },
  severity: {
    exprs: [severityLevel, sql.ref('lastSeen')],
    keys: (r) => [r.severity, r.lastSeenKey],
    params: [level, timestamp],
  },
};

/** The order asked for (default: lastSeen desc), checked: `orderBy.field` names a bad one. */
export function parseAlertOrder(order: AlertOrder | undefined): ParsedAlertOrder {
  return order === undefined
    ? { field: 'lastSeen', direction: 'desc' }
    : parseInput(alertOrderInput, order, 'orderBy');
}

export function alertCursor(order: ParsedAlertOrder, row: KeyedRow & { id: string }): string {
  return keysetCursor(order, alertOrders[order.field], row);
}

/** Reads a cursor back, checked in full: it comes from the client. */
export function parseAlertCursor(cursor: string, order: ParsedAlertOrder): AlertAfter {
  return parseKeysetCursor(cursor, order, alertOrders[order.field], 'an alert');
}
