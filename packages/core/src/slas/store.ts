import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { Priority } from '../incidents/model.js';
import {
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
    priority: Number(row.priority) as Priority,
    responseMinutes: Number(row.responseMinutes),
    resolutionMinutes: Number(row.resolutionMinutes),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

/** A timer row as of `now`: elapsed includes the running stretch, due time follows from it. */
export function toTimer(row: Record<string, unknown>, now: Date): SlaTimer {
  const runningSince = date(row.runningSince);
  const stored = Number(row.elapsedMs);
  const targetMinutes = Number(row.targetMinutes);
  const elapsedMs = stored + (runningSince ? Math.max(0, now.getTime() - runningSince.getTime()) : 0);
  return {
    id: row.id as string,
    incidentId: row.incidentId as string,
    definitionId: row.definitionId as string,
    kind: row.kind as SlaTimerKind,
    priority: Number(row.priority) as Priority,
    targetMinutes,
    state: row.state as SlaTimerState,
    warned: row.warnedAt != null,
    elapsedMs,
    runningSince,
    dueAt: runningSince ? new Date(runningSince.getTime() + targetMinutes * 60_000 - stored) : null,
    warnedAt: date(row.warnedAt),
    breachedAt: date(row.breachedAt),
    stoppedAt: date(row.stoppedAt),
    createdAt: new Date(row.createdAt as string),
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
  change: Partial<Pick<SlaDefinition, 'name' | 'responseMinutes' | 'resolutionMinutes' | 'active'>>,
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

/** The incident's timers that are not cancelled, locked: the incident write owns them now. */
export async function liveTimersOf(db: Db, incidentId: string) {
  return db
    .selectFrom('slaTimers')
    .selectAll()
    .where('incidentId', '=', incidentId)
    .where('state', '!=', 'cancelled')
    .orderBy('createdAt')
    .forUpdate()
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
    state: 'running' | 'paused';
    elapsedMs: number;
    now: Date;
  },
): Promise<void> {
  await db
    .insertInto('slaTimers')
    .values({
      id: crypto.randomUUID(),
      incidentId: t.incidentId,
      definitionId: t.definitionId,
      kind: t.kind,
      priority: t.priority,
      targetMinutes: t.targetMinutes,
      state: t.state,
      elapsedMs: t.elapsedMs,
      runningSince: t.state === 'running' ? t.now : null,
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
  const elapsedMs = toTimer(row as unknown as Record<string, unknown>, now).elapsedMs;
  await db
    .updateTable('slaTimers')
    .set({
      state,
      elapsedMs,
      runningSince: state === 'running' ? now : null,
      stoppedAt: state === 'met' || state === 'cancelled' ? now : null,
      updatedAt: now,
    })
    .where('id', '=', row.id)
    .execute();
}

export async function timersOfIncidents(db: Db, incidentIds: readonly string[]) {
  if (incidentIds.length === 0) return [];
  return db
    .selectFrom('slaTimers')
    .selectAll()
    .where(sql<SqlBool>`incident_id = any(${[...incidentIds]}::uuid[])`)
    .orderBy('createdAt')
    .orderBy('kind', 'desc')
    .execute();
}

// Sweep -----------------------------------------------------------------------------------------------

/** Whether this transaction is the one sweeper; held to commit, so a second replica skips this round. */
export async function trySweepLock(db: Db): Promise<boolean> {
  const lock = await sql<{
    ok: boolean;
  }>`select pg_try_advisory_xact_lock(hashtext('opsgraph.slas.sweep')) as ok`.execute(db);
  return lock.rows[0]?.ok === true;
}

/** The moment a running timer reaches `ratio` of its target, in SQL. */
const reaches = (ratio: number) =>
  sql`t.running_since + ((t.target_minutes * 60000 * ${ratio}::float8 - t.elapsed_ms) * interval '1 millisecond')`;

export interface SweptTimer {
  readonly row: Record<string, unknown>;
  readonly incident: SlaIncidentRef;
}

/**
 * Marks running timers past their target as breached (stopped, elapsed folded in), then those past
 * 75% and not yet warned as warned. Each UPDATE only takes rows still in the state it expects, so a
 * timer is returned by one sweep only, even without the lock.
 */
export async function markDue(db: Db, now: Date): Promise<{ breached: SweptTimer[]; warned: SweptTimer[] }> {
  const breached = await sql<Record<string, unknown>>`
    update sla_timers t
       set state = 'breached',
           elapsed_ms = t.elapsed_ms + (extract(epoch from (${now}::timestamptz - t.running_since)) * 1000)::bigint,
           running_since = null,
           breached_at = ${now},
           warned_at = coalesce(t.warned_at, ${now}),
           updated_at = ${now}
      from incidents i
     where i.id = t.incident_id and t.state = 'running' and ${reaches(1)} <= ${now}
    returning t.*, i.number as incident_number, i.ci_id as incident_ci_id, i.priority as incident_priority`.execute(
    db,
  );
  const warned = await sql<Record<string, unknown>>`
    update sla_timers t
       set warned_at = ${now}, updated_at = ${now}
      from incidents i
     where i.id = t.incident_id and t.state = 'running' and t.warned_at is null
       and ${reaches(SLA_WARNING_RATIO)} <= ${now}
    returning t.*, i.number as incident_number, i.ci_id as incident_ci_id, i.priority as incident_priority`.execute(
    db,
  );
  const swept = (rows: Record<string, unknown>[]) =>
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
  return { breached: swept(breached.rows), warned: swept(warned.rows) };
}
