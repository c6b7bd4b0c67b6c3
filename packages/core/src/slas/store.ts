import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { jsonRows } from '../db/json-rows.js';
import type { Priority } from '../incidents/model.js';
import { trySweepLock as trySchedulerLock } from '../kernel/scheduler-store.js';
import { addBusinessTime, type BusinessHours, businessTimeBetween, type WorkingHours } from './calendar.js';
import {
  type BusinessCalendar,
  SLA_WARNING_RATIO,
  type SlaDefinition,
  type SlaIncidentRef,
  type SlaTimer,
  type SlaTimerKind,
  type SlaTimerState,
} from './model.js';

type Db = Kysely<Database>;

const date = (v: unknown) => (v ? new Date(v as string) : null);

function toDefinition(row: Record<string, unknown>): SlaDefinition {
  return {
    ...(row as unknown as SlaDefinition),
    calendarId: (row.calendarId as string | null) ?? null,
    priority: Number(row.priority) as Priority,
    responseMinutes: Number(row.responseMinutes),
    resolutionMinutes: Number(row.resolutionMinutes),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

/** The calendar a timer row was read with (the `calendar*` columns its queries join), or null: 24×7. */
function calendarOf(row: Record<string, unknown>): BusinessHours | null {
  if (!row.calendarId || !row.calendarTimeZone) return null;
  return {
    timeZone: row.calendarTimeZone as string,
    hours: row.calendarHours as WorkingHours[],
    holidays: row.calendarHolidays as string[],
  };
}

/** A timer row as of `now`: elapsed includes the running stretch (working time only, with a calendar). */
export function toTimer(row: Record<string, unknown>, now: Date): SlaTimer {
  const runningSince = date(row.runningSince);
  const stored = Number(row.elapsedMs);
  const running = runningSince ? businessTimeBetween(runningSince, now, calendarOf(row)) : 0;
  return {
    id: row.id as string,
    incidentId: row.incidentId as string,
    definitionId: row.definitionId as string,
    kind: row.kind as SlaTimerKind,
    priority: Number(row.priority) as Priority,
    targetMinutes: Number(row.targetMinutes),
    calendarId: (row.calendarId as string | null) ?? null,
    state: row.state as SlaTimerState,
    warned: row.warnedAt != null,
    elapsedMs: stored + running,
    runningSince,
    dueAt: date(row.dueAt),
    warnedAt: date(row.warnedAt),
    breachedAt: date(row.breachedAt),
    stoppedAt: date(row.stoppedAt),
    createdAt: new Date(row.createdAt as string),
  };
}

/** When a timer running from `from` with `elapsedMs` counted reaches 75% and 100% of its target. */
function moments(from: Date, targetMinutes: number, elapsedMs: number, calendar: BusinessHours | null) {
  const target = targetMinutes * 60_000;
  return {
    warnAt: addBusinessTime(from, target * SLA_WARNING_RATIO - elapsedMs, calendar),
    dueAt: addBusinessTime(from, target - elapsedMs, calendar),
  };
}

// Definitions -----------------------------------------------------------------------------------------

/** Serialises definition writes, so "one active per priority" is checked against a settled table. */
export async function lockDefinitions(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('opsgraph.slas.definitions'))`.execute(db);
}

export async function insertDefinition(
  db: Db,
  d: Omit<SlaDefinition, 'version' | 'updatedAt'>,
): Promise<SlaDefinition> {
  const row = await db
    .insertInto('slaDefinitions')
    .values({ ...d, updatedAt: d.createdAt })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toDefinition(row as unknown as Record<string, unknown>);
}

export async function updateDefinition(
  db: Db,
  id: string,
  change: Partial<
    Pick<SlaDefinition, 'name' | 'responseMinutes' | 'resolutionMinutes' | 'active' | 'calendarId'>
  >,
  now: Date,
): Promise<SlaDefinition> {
  const row = await db
    .updateTable('slaDefinitions')
    .set({ ...change, updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toDefinition(row as unknown as Record<string, unknown>);
}

export async function findDefinition(db: Db, id: string, forUpdate = false) {
  let q = db.selectFrom('slaDefinitions').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toDefinition(row as unknown as Record<string, unknown>) : undefined;
}

export async function listDefinitions(
  db: Db,
  f: { priority?: number | undefined; active?: boolean | undefined },
): Promise<SlaDefinition[]> {
  let q = db.selectFrom('slaDefinitions').selectAll();
  if (f.priority !== undefined) q = q.where('priority', '=', f.priority as Priority);
  if (f.active !== undefined) q = q.where('active', '=', f.active);
  const rows = await q.orderBy('priority').orderBy('name').execute();
  return rows.map((r) => toDefinition(r as unknown as Record<string, unknown>));
}

export async function activeDefinitionFor(db: Db, priority: Priority): Promise<SlaDefinition | undefined> {
  const [found] = await listDefinitions(db, { priority, active: true });
  return found;
}

// Timers ----------------------------------------------------------------------------------------------

/** A timer's columns and its calendar's (`calendarTimeZone`, `calendarHours`, `calendarHolidays`). */
const timerWithCalendar = (db: Db) =>
  db
    .selectFrom('slaTimers as t')
    .leftJoin('businessCalendars as c', 'c.id', 't.calendarId')
    .selectAll('t')
    .select(['c.timeZone as calendarTimeZone', 'c.hours as calendarHours', 'c.holidays as calendarHolidays']);

/** The incident's timers that are not cancelled, locked: the incident write owns them now. */
export async function liveTimersOf(db: Db, incidentId: string) {
  return timerWithCalendar(db)
    .where('t.incidentId', '=', incidentId)
    .where('t.state', '!=', 'cancelled')
    .orderBy('t.createdAt')
    .forUpdate('t')
    .execute();
}

export type TimerRow = Awaited<ReturnType<typeof liveTimersOf>>[number];

export async function insertTimer(
  db: Db,
  t: {
    incidentId: string;
    definitionId: string;
    kind: SlaTimerKind;
    priority: Priority;
    targetMinutes: number;
    calendar: BusinessCalendar | null;
    state: 'running' | 'paused';
    elapsedMs: number;
    now: Date;
  },
): Promise<void> {
  const running = t.state === 'running';
  await db
    .insertInto('slaTimers')
    .values({
      id: crypto.randomUUID(),
      incidentId: t.incidentId,
      definitionId: t.definitionId,
      kind: t.kind,
      priority: t.priority,
      targetMinutes: t.targetMinutes,
      calendarId: t.calendar?.id ?? null,
      state: t.state,
      elapsedMs: t.elapsedMs,
      runningSince: running ? t.now : null,
      ...(running ? moments(t.now, t.targetMinutes, t.elapsedMs, t.calendar) : {}),
      createdAt: t.now,
      updatedAt: t.now,
    })
    .execute();
}

/** Moves a timer to `state`, folding the running stretch into `elapsedMs` when it stops running. */
export async function setTimerState(
  db: Db,
  row: TimerRow,
  state: 'running' | 'paused' | 'met' | 'cancelled',
  now: Date,
): Promise<void> {
  const record = row as unknown as Record<string, unknown>;
  const elapsedMs = toTimer(record, now).elapsedMs;
  const running = state === 'running';
  await db
    .updateTable('slaTimers')
    .set({
      state,
      elapsedMs,
      runningSince: running ? now : null,
      ...(running
        ? moments(now, row.targetMinutes, elapsedMs, calendarOf(record))
        : { warnAt: null, dueAt: null }),
      stoppedAt: state === 'met' || state === 'cancelled' ? now : null,
      updatedAt: now,
    })
    .where('id', '=', row.id)
    .execute();
}

export async function timersOfIncidents(db: Db, incidentIds: readonly string[]) {
  if (incidentIds.length === 0) return [];
  // A list view's hot read: rows as one JSON value (see jsonRows), ordered here as the queries above are.
  const rows = await jsonRows(
    db,
    timerWithCalendar(db).where(sql<SqlBool>`t.incident_id = any(${[...incidentIds]}::uuid[])`),
    ['runningSince', 'warnedAt', 'breachedAt', 'stoppedAt', 'dueAt', 'warnAt', 'createdAt', 'updatedAt'],
  );
  return rows.sort(
    (a, b) =>
      a.createdAt.getTime() - b.createdAt.getTime() || (a.kind < b.kind ? 1 : a.kind > b.kind ? -1 : 0),
  );
}

/**
 * Re-times the running timers on a calendar whose hours changed: time counted so far is folded in by
 * the hours it ran under (`before`), and their warning and due moments follow the new hours from now.
 */
export async function retimeRunning(db: Db, before: BusinessCalendar, after: BusinessCalendar, now: Date) {
  const rows = await db
    .selectFrom('slaTimers')
    .selectAll()
    .where('calendarId', '=', before.id)
    .where('state', '=', 'running')
    .forUpdate()
    .execute();
  for (const row of rows) {
    const elapsedMs = Number(row.elapsedMs) + businessTimeBetween(row.runningSince!, now, before);
    await db
      .updateTable('slaTimers')
      .set({
        elapsedMs,
        runningSince: now,
        ...moments(now, row.targetMinutes, elapsedMs, after),
        updatedAt: now,
      })
      .where('id', '=', row.id)
      .execute();
  }
  return rows.length;
}

// Calendars -------------------------------------------------------------------------------------------

export function toCalendar(row: Record<string, unknown>): BusinessCalendar {
  return {
    id: row.id as string,
    name: row.name as string,
    timeZone: row.timeZone as string,
    hours: row.hours as WorkingHours[],
    holidays: row.holidays as string[],
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export async function insertCalendar(
  db: Db,
  c: Omit<BusinessCalendar, 'version' | 'updatedAt'>,
): Promise<BusinessCalendar> {
  const row = await db
    .insertInto('businessCalendars')
    .values({
      ...c,
      hours: JSON.stringify(c.hours),
      holidays: JSON.stringify(c.holidays),
      updatedAt: c.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toCalendar(row as unknown as Record<string, unknown>);
}

export async function updateCalendar(
  db: Db,
  id: string,
  change: Partial<Pick<BusinessCalendar, 'name' | 'timeZone' | 'hours' | 'holidays'>>,
  now: Date,
): Promise<BusinessCalendar> {
  const row = await db
    .updateTable('businessCalendars')
    .set({
      ...(change.name !== undefined ? { name: change.name } : {}),
      ...(change.timeZone !== undefined ? { timeZone: change.timeZone } : {}),
      ...(change.hours !== undefined ? { hours: JSON.stringify(change.hours) } : {}),
      ...(change.holidays !== undefined ? { holidays: JSON.stringify(change.holidays) } : {}),
      updatedAt: now,
      version: sql`version + 1`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toCalendar(row as unknown as Record<string, unknown>);
}

export async function findCalendar(db: Db, id: string, forUpdate = false) {
  let q = db.selectFrom('businessCalendars').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toCalendar(row as unknown as Record<string, unknown>) : undefined;
}

export async function findCalendarByName(db: Db, name: string) {
  const row = await db
    .selectFrom('businessCalendars')
    .selectAll()
    .where(sql<SqlBool>`lower(name) = lower(${name})`)
    .executeTakeFirst();
  return row ? toCalendar(row as unknown as Record<string, unknown>) : undefined;
}

export async function listCalendars(db: Db): Promise<BusinessCalendar[]> {
  const rows = await db.selectFrom('businessCalendars').selectAll().orderBy('name').execute();
  return rows.map((r) => toCalendar(r as unknown as Record<string, unknown>));
}

// Sweep -----------------------------------------------------------------------------------------------

/** Whether this transaction is the one sweeper; held to commit, so a second replica skips this round. */
export const trySweepLock = (db: Db): Promise<boolean> => trySchedulerLock(db, 'slas');

/** What `toTimer` needs of a swept timer's calendar, in an UPDATE's RETURNING (no join possible there). */
const returnedCalendar = sql`
  (select c.time_zone from business_calendars c where c.id = t.calendar_id) as calendar_time_zone,
  (select c.hours from business_calendars c where c.id = t.calendar_id) as calendar_hours,
  (select c.holidays from business_calendars c where c.id = t.calendar_id) as calendar_holidays`;

export interface SweptTimer {
  readonly row: Record<string, unknown>;
  readonly incident: SlaIncidentRef;
}

const withIncident = (rows: Record<string, unknown>[]): SweptTimer[] =>
  rows
    .map((row) => ({
      row,
      incident: {
        id: row.incidentId as string,
        number: row.incidentNumber as string,
        ciId: (row.incidentCiId as string | null) ?? null,
        priority: Number(row.incidentPriority) as Priority,
      },
    }))
    .sort((a, b) =>
      a.incident.number < b.incident.number ? -1 : a.incident.number > b.incident.number ? 1 : 0,
    );

/**
 * Marks running timers past their due moment as breached (stopped, elapsed folded in by their
 * calendar), then those past their warning moment and not yet warned as warned. Each UPDATE only takes
 * rows still in the state it expects, so a timer is returned by one sweep only, even without the lock.
 */
export async function markDue(db: Db, now: Date): Promise<{ breached: SweptTimer[]; warned: SweptTimer[] }> {
  const due = await timerWithCalendar(db)
    .where('t.state', '=', 'running')
    .where('t.dueAt', '<=', now)
    .forUpdate('t')
    .execute();
  const folded = due.map((row) => ({
    id: row.id,
    elapsed_ms: toTimer(row as unknown as Record<string, unknown>, now).elapsedMs,
  }));
  const breached =
    folded.length === 0
      ? { rows: [] }
      : await sql<Record<string, unknown>>`
    update sla_timers t
       set state = 'breached',
           elapsed_ms = v.elapsed_ms,
           running_since = null,
           warn_at = null,
           due_at = null,
           breached_at = ${now},
           warned_at = coalesce(t.warned_at, ${now}),
           updated_at = ${now}
      from incidents i, jsonb_to_recordset(${JSON.stringify(folded)}::jsonb) as v(id uuid, elapsed_ms bigint)
     where i.id = t.incident_id and t.id = v.id and t.state = 'running'
    returning t.*, ${returnedCalendar}, i.number as incident_number, i.ci_id as incident_ci_id, i.priority as incident_priority`.execute(
          db,
        );
  const warned = await sql<Record<string, unknown>>`
    update sla_timers t
       set warned_at = ${now}, updated_at = ${now}
      from incidents i
     where i.id = t.incident_id and t.state = 'running' and t.warned_at is null and t.warn_at <= ${now}
    returning t.*, ${returnedCalendar}, i.number as incident_number, i.ci_id as incident_ci_id, i.priority as incident_priority`.execute(
    db,
  );
  return { breached: withIncident(breached.rows), warned: withIncident(warned.rows) };
}
