import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { jsonRows } from '../db/json-rows.js';
import type { ActorRef } from '../kernel/actor.js';
import type { Incident, IncidentNote, NoteKind } from './model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;

function toIncident(row: Record<string, unknown>): Incident {
  const date = (v: unknown) => (v ? new Date(v as string) : null);
  return {
    ...(row as unknown as Incident),
    serviceIds: (row.serviceIds as string[] | null) ?? [],
    impact: Number(row.impact) as Incident['impact'],
    urgency: Number(row.urgency) as Incident['urgency'],
    priority: Number(row.priority) as Incident['priority'],
    resolvedAt: date(row.resolvedAt),
    resolvedBy: (row.resolvedBy as ActorRef | null) ?? null,
    closedAt: date(row.closedAt),
    cancelledAt: date(row.cancelledAt),
    reopenCount: Number(row.reopenCount),
    major: Boolean(row.major),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export type NewIncident = Omit<
  Incident,
  | 'number'
  | 'state'
  | 'holdReason'
  | 'resolutionCode'
  | 'resolutionNotes'
  | 'resolvedAt'
  | 'resolvedBy'
  | 'closedAt'
  | 'cancelledAt'
  | 'reopenCount'
  | 'major'
  | 'version'
  | 'updatedAt'
>;

export async function insertIncident(db: Db, i: NewIncident): Promise<Incident> {
  const row = await db
    .insertInto('incidents')
    .values({
      id: i.id,
      number: sql<string>`'INC' || lpad(nextval('incident_number_seq')::text, 7, '0')`,
      shortDescription: i.shortDescription,
      description: i.description,
      callerId: i.callerId,
      ciId: i.ciId,
      serviceIds: JSON.stringify(i.serviceIds),
      impact: i.impact,
      urgency: i.urgency,
      priority: i.priority,
      category: i.category,
      assignmentGroupId: i.assignmentGroupId,
      assigneeId: i.assigneeId,
      state: 'new',
      openedBy: JSON.stringify(i.openedBy),
      createdAt: i.createdAt,
      updatedAt: i.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toIncident(row as unknown as Record<string, unknown>);
}

export async function findIncident(db: Db, id: string, forUpdate = false): Promise<Incident | undefined> {
  let q = db.selectFrom('incidents').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toIncident(row as unknown as Record<string, unknown>) : undefined;
}

/** Several incidents by id, in one query (unknown ids are left out). */
export async function findIncidents(db: Db, ids: readonly string[]): Promise<Incident[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('incidents')
    .selectAll()
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toIncident(r as unknown as Record<string, unknown>));
}

export async function findIncidentByNumber(db: Db, number: string): Promise<Incident | undefined> {
  const row = await db.selectFrom('incidents').selectAll().where('number', '=', number).executeTakeFirst();
  return row ? toIncident(row as unknown as Record<string, unknown>) : undefined;
}

export async function updateIncident(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<Incident> {
  const row = await db
    .updateTable('incidents')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toIncident(row as unknown as Record<string, unknown>);
}

export interface IncidentQuery {
  readonly state?: readonly string[];
  readonly priority?: readonly number[];
  readonly ciId?: string;
  readonly assignmentGroupId?: string;
  readonly assigneeId?: string;
  readonly callerId?: string;
  readonly serviceId?: string;
  readonly major?: boolean;
  readonly reach: Expression<SqlBool> | null;
  /** Keyset: after (createdAt, id) in descending order. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listIncidents(db: Db, q: IncidentQuery): Promise<Incident[]> {
  let query = db.selectFrom('incidents').selectAll();
  if (q.state) query = query.where('state', 'in', q.state as Incident['state'][]);
  if (q.priority) query = query.where('priority', 'in', q.priority as Incident['priority'][]);
  if (q.ciId) query = query.where('ciId', '=', q.ciId);
  if (q.assignmentGroupId) query = query.where('assignmentGroupId', '=', q.assignmentGroupId);
  if (q.assigneeId) query = query.where('assigneeId', '=', q.assigneeId);
  if (q.callerId) query = query.where('callerId', '=', q.callerId);
  if (q.serviceId) query = query.where(sql<SqlBool>`service_ids @> ${JSON.stringify([q.serviceId])}::jsonb`);
  if (q.major !== undefined) query = query.where('major', '=', q.major);
  if (q.reach) query = query.where(q.reach);
  if (q.after) {
    const [createdAt, id] = q.after;
    query = query.where(sql<SqlBool>`(created_at, id) < (${new Date(createdAt)}::timestamptz, ${id}::uuid)`);
  }
  // The service desk's list view: rows as one JSON value (see jsonRows; toIncident turns the dates back),
  // put back in the page's order here (ids are lower-case hex, which sorts as the uuids do).
  const rows = await jsonRows(
    db,
    query.orderBy('createdAt', 'desc').orderBy('id', 'desc').limit(q.limit),
    [],
  );
  return rows
    .map((r) => toIncident(r as unknown as Record<string, unknown>))
    .sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
    );
}

// Alerts ----------------------------------------------------------------------------------------------

/** Links alerts to an incident; an alert already linked (to it or another) is left alone. Those linked. */
export async function linkAlerts(
  db: Db,
  incidentId: string,
  alertIds: readonly string[],
  now: Date,
  by: ActorRef,
): Promise<string[]> {
  if (alertIds.length === 0) return [];
  const { rows } = await sql<{ alertId: string }>`
    insert into incident_alerts (incident_id, alert_id, linked_at, linked_by)
    select ${incidentId}::uuid, a, ${now}, ${JSON.stringify(by)}::jsonb
      from unnest(${uuids([...new Set(alertIds)].sort())}) a
    on conflict (alert_id) do nothing
    returning alert_id`.execute(db);
  return rows.map((r) => r.alertId);
}

export async function alertIdsOf(db: Db, incidentId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('incidentAlerts')
    .select('alertId')
    .where('incidentId', '=', incidentId)
    .orderBy('linkedAt')
    .orderBy('alertId')
    .execute();
  return rows.map((r) => r.alertId);
}

/** The incident each of these alerts is linked to. */
export async function incidentIdsOfAlerts(db: Db, alertIds: readonly string[]): Promise<Map<string, string>> {
  if (alertIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('incidentAlerts')
    .select(['alertId', 'incidentId'])
    .where(sql<SqlBool>`alert_id = any(${uuids(alertIds)})`)
    .execute();
  return new Map(rows.map((r) => [r.alertId, r.incidentId]));
}

/**
 * For each dedup key, the active incident (new, in progress, on hold) linked to an alert of that key,
 * if any: where a re-opened alert's duplicate belongs.
 */
export async function activeIncidentsByDedupKey(
  db: Db,
  keys: readonly string[],
): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const { rows } = await sql<{ dedupKey: string; incidentId: string }>`
    select distinct on (a.dedup_key) a.dedup_key, i.id as incident_id
      from alerts a
      join incident_alerts l on l.alert_id = a.id
      join incidents i on i.id = l.incident_id and i.state in ('new', 'in_progress', 'on_hold')
     where a.dedup_key = any(${[...keys]}::text[])
     order by a.dedup_key, i.created_at desc`.execute(db);
  return new Map(rows.map((r) => [r.dedupKey, r.incidentId]));
}

// Notes -----------------------------------------------------------------------------------------------

export async function insertNote(
  db: Db,
  note: { id: string; incidentId: string; kind: NoteKind; body: string; author: ActorRef; createdAt: Date },
): Promise<IncidentNote> {
  const row = await db
    .insertInto('incidentNotes')
    .values({ ...note, author: JSON.stringify(note.author) })
    .returning(['id', 'incidentId', 'kind', 'body', 'author', 'createdAt'])
    .executeTakeFirstOrThrow();
  return { ...row, createdAt: new Date(row.createdAt) };
}

export async function listNotes(
  db: Db,
  incidentId: string,
  kinds: readonly NoteKind[],
): Promise<IncidentNote[]> {
  const rows = await db
    .selectFrom('incidentNotes')
    .selectAll()
    .where('incidentId', '=', incidentId)
    .where('kind', 'in', [...kinds])
    .orderBy('seq')
    .execute();
  return rows.map(({ seq: _, ...r }) => ({ ...r, createdAt: new Date(r.createdAt) }));
}
