// The orders an alert list can take, and their keyset cursors. A cursor is `[order, ...keys, id]`: it
// names the order it continues, so a cursor of another order is refused rather than misread.
import { type Expression, type RawBuilder, sql } from 'kysely';
import { ValidationError } from '../kernel/errors.js';
import { decodeCursor, encodeCursor } from '../kernel/pagination.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import { type AlertOrder, type AlertOrderField, type AlertSeverity, alertOrderInput } from './model.js';

export type ParsedAlertOrder = Required<AlertOrder>;

/** Where a page continues: the sort keys of the last row, as SQL, and its id. */
export interface AlertAfter {
  readonly keys: readonly RawBuilder<unknown>[];
  readonly id: string;
}

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

interface OrderSpec {
  /** The sort expressions before the id, most significant first. */
  readonly exprs: readonly Expression<unknown>[];
  /** The cursor keys of a row, one per expression. */
  readonly keys: (row: KeyedRow) => string[];
  /** The SQL of each cursor key; undefined when one is not a key of this order. */
  readonly params: readonly ((value: unknown) => RawBuilder<unknown> | undefined)[];
}

export const alertOrders: Record<AlertOrderField, OrderSpec> = {
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

const tagOf = (order: ParsedAlertOrder) => `${order.field}:${order.direction}`;

export function alertCursor(order: ParsedAlertOrder, row: KeyedRow & { id: string }): string {
  return encodeCursor([tagOf(order), ...alertOrders[order.field].keys(row), row.id]);
}

/** Reads a cursor back, checked in full: it comes from the client. */
export function parseAlertCursor(cursor: string, order: ParsedAlertOrder): AlertAfter {
  const [tag, ...rest] = decodeCursor(cursor);
  if (typeof tag === 'string' && tag !== tagOf(order) && /^\w+:\w+$/.test(tag))
    throw ValidationError.field(
      'after',
      `is a cursor of the order ${tag}, not ${tagOf(order)}: a cursor continues only the order it was made under`,
    );
  const { params } = alertOrders[order.field];
  const id = rest.at(-1);
  const keys = params.map((param, i) => param(rest[i]));
  if (
    tag !== tagOf(order) ||
    rest.length !== params.length + 1 ||
    typeof id !== 'string' ||
    !isUuid(id) ||
    keys.some((key) => key === undefined)
  )
    throw ValidationError.field('after', 'is not an alert cursor this API returned');
  return { keys: keys as RawBuilder<unknown>[], id: id.toLowerCase() };
}
