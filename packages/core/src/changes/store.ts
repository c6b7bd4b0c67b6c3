import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import type {
  AcceptedConflicts,
  Blackout,
  ChangeOrder,
  ChangeRequest,
  ConflictRelation,
  MaintenanceWindow,
} from './model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;

/** A window with the CIs it names, as one row: `ci_ids` aggregated in id order. */
const windowsWithCis = (db: Db) =>
  db
    .selectFrom('maintenanceWindows as w')
    .selectAll('w')
    .select(
      sql<
        string[]
      >`coalesce((select array_agg(m.ci_id order by m.ci_id) from maintenance_window_cis m where m.window_id = w.id), '{}')`.as(
        'ciIds',
      ),
    );

function toWindow(row: Record<string, unknown>): MaintenanceWindow {
  return {
    id: row.id as string,
    name: row.name as string,
    reason: row.reason as string,
    ciIds: (row.ciIds as string[] | null) ?? [],
    startsAt: new Date(row.startsAt as string),
    endsAt: new Date(row.endsAt as string),
    changeId: (row.changeId as string | null) ?? null,
    createdBy: row.createdBy as ActorRef,
    cancelledAt: row.cancelledAt ? new Date(row.cancelledAt as string) : null,
    cancelledBy: (row.cancelledBy as ActorRef | null) ?? null,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export async function insertWindow(
  db: Db,
  window: Omit<MaintenanceWindow, 'version' | 'cancelledAt' | 'cancelledBy' | 'updatedAt'>,
): Promise<MaintenanceWindow> {
  await db
    .insertInto('maintenanceWindows')
    .values({
      id: window.id,
      name: window.name,
      reason: window.reason,
      startsAt: window.startsAt,
      endsAt: window.endsAt,
      changeId: window.changeId,
      createdBy: JSON.stringify(window.createdBy),
      createdAt: window.createdAt,
      updatedAt: window.createdAt,
    })
    .execute();
  await db
    .insertInto('maintenanceWindowCis')
    .values(window.ciIds.map((ciId) => ({ windowId: window.id, ciId })))
    .execute();
  return (await findWindow(db, window.id))!;
}

export async function findWindow(
  db: Db,
  id: string,
  forUpdate = false,
): Promise<MaintenanceWindow | undefined> {
  let q = windowsWithCis(db).where('w.id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toWindow(row as unknown as Record<string, unknown>) : undefined;
}

export async function cancelWindow(db: Db, id: string, now: Date, by: ActorRef): Promise<MaintenanceWindow> {
  await db
    .updateTable('maintenanceWindows')
    .set({ cancelledAt: now, cancelledBy: JSON.stringify(by), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .execute();
  return (await findWindow(db, id))!;
}

export interface WindowQuery {
  readonly activeAt?: Date;
  readonly ciId?: string;
  readonly includeCancelled: boolean;
  /** Reach condition on `m.ci_id`: the reader must hold it on each CI the window names (null: all). */
  readonly reach: Expression<SqlBool> | null;
  /** Keyset: after (startsAt, id) in descending order. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listWindows(db: Db, q: WindowQuery): Promise<MaintenanceWindow[]> {
  let query = windowsWithCis(db);
  if (!q.includeCancelled) query = query.where('w.cancelledAt', 'is', null);
  if (q.activeAt) query = query.where('w.startsAt', '<=', q.activeAt).where('w.endsAt', '>', q.activeAt);
  if (q.ciId)
    query = query.where(
      sql<SqlBool>`exists (select 1 from maintenance_window_cis m where m.window_id = w.id and m.ci_id = ${q.ciId})`,
    );
  if (q.reach)
    query = query.where(
      sql<SqlBool>`not exists (select 1 from maintenance_window_cis m where m.window_id = w.id and not (${q.reach}))`,
    );
  if (q.after) {
    const [startsAt, id] = q.after;
    query = query.where(
      sql<SqlBool>`(w.starts_at, w.id) < (${new Date(startsAt)}::timestamptz, ${id}::uuid)`,
    );
  }
  const rows = await query.orderBy('w.startsAt', 'desc').orderBy('w.id', 'desc').limit(q.limit).execute();
  return rows.map((r) => toWindow(r as unknown as Record<string, unknown>));
}

/**
 * Notes the windows that began or ended by `now` and were not noted yet (cancelled ones are not: their
 * cancel said it), returning those this call noted. Exact across replicas: a row noted by another
 * sweep no longer matches `…_noted_at is null` when this UPDATE gets to it.
 */
export async function noteWindowEdges(
  db: Db,
  now: Date,
): Promise<{ started: MaintenanceWindow[]; ended: MaintenanceWindow[] }> {
  const started = await db
    .updateTable('maintenanceWindows')
    .set({ startedNotedAt: now })
    .where('cancelledAt', 'is', null)
    .where('startedNotedAt', 'is', null)
    .where('startsAt', '<=', now)
    .returning('id')
    .execute();
  const ended = await db
    .updateTable('maintenanceWindows')
    .set({ endedNotedAt: now })
    .where('cancelledAt', 'is', null)
    .where('endedNotedAt', 'is', null)
    .where('endsAt', '<=', now)
    .returning('id')
    .execute();
  const ids = [...new Set([...started, ...ended].map((r) => r.id))];
  const rows =
    ids.length === 0
      ? []
      : await windowsWithCis(db).where('w.id', 'in', ids).orderBy('w.startsAt').orderBy('w.id').execute();
  const windows = rows.map((r) => toWindow(r as unknown as Record<string, unknown>));
  const startedIds = new Set(started.map((r) => r.id));
  const endedIds = new Set(ended.map((r) => r.id));
  return {
    started: windows.filter((w) => startedIds.has(w.id)),
    ended: windows.filter((w) => endedIds.has(w.id)).sort((a, b) => +a.endsAt - +b.endsAt),
  };
}

/** Which of `ciIds` exist and are live (not retired). */
export async function liveCis(db: Db, ciIds: readonly string[]): Promise<Set<string>> {
  const rows = await db
    .selectFrom('cis')
    .select('id')
    .where(sql<SqlBool>`id = any(${uuids(ciIds)}) and retired_at is null`)
    .execute();
  return new Set(rows.map((r) => r.id));
}

/**
 * The common table expressions of maintenance coverage at `at`, for a `with recursive` query:
 * `active(id, ends_at)`, the windows in force; `covered(window_id, ends_at, id)`, each CI they cover,
 * directly or through a CI that contains it (`contains`, transitively, from the windows' CIs down); and
 * `covering(ci_id, window_id)`, one window per covered CI: the one ending last (the suppression lasts as
 * long as any does). Cheap when no window is active, since the walk starts only from active windows.
 */
export const maintenanceCoverage = (at: Date) => sql`
    active as (
      select w.id, w.ends_at from maintenance_windows w
       where w.cancelled_at is null and w.starts_at <= ${at} and w.ends_at > ${at}
    ),
    covered(window_id, ends_at, id) as (
      select a.id, a.ends_at, m.ci_id from active a join maintenance_window_cis m on m.window_id = a.id
      union
      select c.window_id, c.ends_at, r.target_id
        from covered c join relationships r on r.source_id = c.id and r.type = 'contains'
    ),
    covering as (
      select distinct on (id) id as ci_id, window_id from covered order by id, ends_at desc, window_id
    )`;

/** For each of `ciIds` under maintenance at `at`: the active window covering it (see `maintenanceCoverage`). */
export async function coveringWindows(
  db: Db,
  ciIds: readonly string[],
  at: Date,
): Promise<Map<string, string>> {
  if (ciIds.length === 0) return new Map();
  const { rows } = await sql<{ ciId: string; windowId: string }>`
    with recursive ${maintenanceCoverage(at)}
    select ci_id, window_id from covering where ci_id = any(${uuids(ciIds)})`.execute(db);
  return new Map(rows.map((r) => [r.ciId, r.windowId]));
}

// Change requests --------------------------------------------------------------------------------------

const changesWithCis = (db: Db) =>
  db
    .selectFrom('changeRequests as c')
    .selectAll('c')
    .select(
      sql<
        string[]
      >`coalesce((select array_agg(x.ci_id order by x.ci_id) from change_request_cis x where x.change_id = c.id), '{}')`.as(
        'ciIds',
      ),
    );

export function toChange(row: Record<string, unknown>): ChangeRequest {
  const date = (v: unknown) => (v ? new Date(v as string) : null);
  return {
    id: row.id as string,
    number: row.number as string,
    type: row.type as ChangeRequest['type'],
    title: row.title as string,
    description: row.description as string,
    justification: row.justification as string,
    risk: row.risk as ChangeRequest['risk'],
    riskGiven: Boolean(row.riskGiven),
    serviceIds: (row.serviceIds as string[] | null) ?? [],
    ciIds: (row.ciIds as string[] | null) ?? [],
    plannedStart: date(row.plannedStart),
    plannedEnd: date(row.plannedEnd),
    state: row.state as ChangeRequest['state'],
    approval: row.approval as ChangeRequest['approval'],
    assignmentGroupId: (row.assignmentGroupId as string | null) ?? null,
    assigneeId: (row.assigneeId as string | null) ?? null,
    requestedById: (row.requestedById as string | null) ?? null,
    outcome: (row.outcome as ChangeRequest['outcome']) ?? null,
    reviewNotes: (row.reviewNotes as string | null) ?? null,
    closeNotes: (row.closeNotes as string | null) ?? null,
    cancelReason: (row.cancelReason as string | null) ?? null,
    maintenanceWindowId: (row.maintenanceWindowId as string | null) ?? null,
    acceptedConflicts: (row.acceptedConflicts as AcceptedConflicts | null) ?? null,
    openedBy: row.openedBy as ActorRef,
    implementedAt: date(row.implementedAt),
    reviewedAt: date(row.reviewedAt),
    closedAt: date(row.closedAt),
    cancelledAt: date(row.cancelledAt),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export type NewChange = Pick<
  ChangeRequest,
  | 'id'
  | 'type'
  | 'title'
  | 'description'
  | 'justification'
  | 'risk'
  | 'riskGiven'
  | 'serviceIds'
  | 'ciIds'
  | 'plannedStart'
  | 'plannedEnd'
  | 'assignmentGroupId'
  | 'assigneeId'
  | 'requestedById'
  | 'openedBy'
  | 'createdAt'
>;

export async function insertChange(db: Db, c: NewChange): Promise<ChangeRequest> {
  await db
    .insertInto('changeRequests')
    .values({
      id: c.id,
      number: sql<string>`'CHG' || lpad(nextval('change_number_seq')::text, 7, '0')`,
      type: c.type,
      title: c.title,
      description: c.description,
      justification: c.justification,
      risk: c.risk,
      riskGiven: c.riskGiven,
      serviceIds: JSON.stringify(c.serviceIds),
      plannedStart: c.plannedStart,
      plannedEnd: c.plannedEnd,
      state: 'new',
      approval: c.type === 'standard' ? 'not_required' : 'not_requested',
      assignmentGroupId: c.assignmentGroupId,
      assigneeId: c.assigneeId,
      requestedById: c.requestedById,
      openedBy: JSON.stringify(c.openedBy),
      createdAt: c.createdAt,
      updatedAt: c.createdAt,
    })
    .execute();
  await setChangeCis(db, c.id, c.ciIds);
  return (await findChange(db, c.id))!;
}

export async function setChangeCis(db: Db, changeId: string, ciIds: readonly string[]): Promise<void> {
  await db.deleteFrom('changeRequestCis').where('changeId', '=', changeId).execute();
  if (ciIds.length > 0)
    await db
      .insertInto('changeRequestCis')
      .values(ciIds.map((ciId) => ({ changeId, ciId })))
      .execute();
}

export async function findChange(db: Db, id: string, forUpdate = false): Promise<ChangeRequest | undefined> {
  let q = changesWithCis(db).where('c.id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toChange(row as unknown as Record<string, unknown>) : undefined;
}

export async function findChangeIdByNumber(db: Db, number: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('changeRequests')
    .select('id')
    .where('number', '=', number)
    .executeTakeFirst();
  return row?.id;
}

export async function findChanges(db: Db, ids: readonly string[]): Promise<ChangeRequest[]> {
  if (ids.length === 0) return [];
  const rows = await changesWithCis(db)
    .where(sql<SqlBool>`c.id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toChange(r as unknown as Record<string, unknown>));
}

export async function updateChange(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<ChangeRequest> {
  await db
    .updateTable('changeRequests')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .execute();
  return (await findChange(db, id))!;
}

/** The sort key of an order: planned start puts changes without one last (ascending). */
const orderKey = (field: ChangeOrder['field']) =>
  field === 'createdAt'
    ? sql`c.created_at`
    : field === 'plannedStart'
      ? sql`coalesce(c.planned_start, 'infinity'::timestamptz)`
      : sql`c.number`;

export interface ChangeQuery {
  readonly state?: readonly string[];
  readonly type?: readonly string[];
  readonly risk?: readonly string[];
  readonly ciId?: string;
  readonly assignmentGroupId?: string;
  readonly assigneeId?: string;
  readonly requestedById?: string;
  readonly plannedFrom?: Date;
  readonly plannedTo?: Date;
  /** Reach condition on `x.ci_id`: the reader must hold it on each CI of the change (null: all). */
  readonly reach: Expression<SqlBool> | null;
  /** Without the permission everywhere, changes on no CI are out of reach. */
  readonly everywhere: boolean;
  readonly order: ChangeOrder;
  /** Keyset: after (key, id) in the order's direction. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listChanges(db: Db, q: ChangeQuery): Promise<ChangeRequest[]> {
  let query = changesWithCis(db);
  if (q.state) query = query.where('c.state', 'in', q.state as ChangeRequest['state'][]);
  if (q.type) query = query.where('c.type', 'in', q.type as ChangeRequest['type'][]);
  if (q.risk) query = query.where('c.risk', 'in', q.risk as ChangeRequest['risk'][]);
  if (q.assignmentGroupId) query = query.where('c.assignmentGroupId', '=', q.assignmentGroupId);
  if (q.assigneeId) query = query.where('c.assigneeId', '=', q.assigneeId);
  if (q.requestedById) query = query.where('c.requestedById', '=', q.requestedById);
  if (q.plannedFrom) query = query.where('c.plannedEnd', '>', q.plannedFrom);
  if (q.plannedTo) query = query.where('c.plannedStart', '<', q.plannedTo);
  if (q.ciId)
    query = query.where(
      sql<SqlBool>`exists (select 1 from change_request_cis x where x.change_id = c.id and x.ci_id = ${q.ciId})`,
    );
  if (q.reach) {
    query = query.where(
      sql<SqlBool>`not exists (select 1 from change_request_cis x where x.change_id = c.id and not (${q.reach}))`,
    );
    if (!q.everywhere)
      query = query.where(sql<SqlBool>`exists (select 1 from change_request_cis x where x.change_id = c.id)`);
  }
  const key = orderKey(q.order.field);
  const desc = q.order.direction === 'desc';
  if (q.after) {
    const [value, id] = q.after;
    const typed = q.order.field === 'number' ? sql`${value}::text` : sql`${value}::timestamptz`;
    query = query.where(
      desc
        ? sql<SqlBool>`(${key}, c.id) < (${typed}, ${id}::uuid)`
        : sql<SqlBool>`(${key}, c.id) > (${typed}, ${id}::uuid)`,
    );
  }
  const rows = await query
    .orderBy(key, desc ? 'desc' : 'asc')
    .orderBy('c.id', desc ? 'desc' : 'asc')
    .limit(q.limit)
    .execute();
  return rows.map((r) => toChange(r as unknown as Record<string, unknown>));
}

/** The sort value of a change under an order, as a cursor carries it. */
export function orderValue(c: ChangeRequest, field: ChangeOrder['field']): string {
  if (field === 'createdAt') return c.createdAt.toISOString();
  if (field === 'plannedStart') return c.plannedStart ? c.plannedStart.toISOString() : 'infinity';
  return c.number;
}

// Conflicts -----------------------------------------------------------------------------------------------

export interface ConflictRow {
  kind: 'change' | 'blackout';
  ciId: string;
  otherCiId: string | null;
  relation: ConflictRelation;
  otherId: string;
  otherName: string;
  startsAt: Date;
  endsAt: Date;
}

/**
 * What overlaps [start, end) on `ciIds`: live changes (other than `changeId`) and blackouts, on the same
 * CI, on a CI that contains it or one it contains (`contains`, transitively). One query.
 */
export async function conflictsOf(
  db: Db,
  changeId: string,
  ciIds: readonly string[],
  start: Date,
  end: Date,
): Promise<ConflictRow[]> {
  const { rows } = await sql<ConflictRow>`
    with recursive below(ci_id, id) as (
      select c, c from unnest(${uuids(ciIds)}) c
      union
      select b.ci_id, r.target_id from below b join relationships r on r.source_id = b.id and r.type = 'contains'
    ),
    above(ci_id, id) as (
      select c, c from unnest(${uuids(ciIds)}) c
      union
      select a.ci_id, r.source_id from above a join relationships r on r.target_id = a.id and r.type = 'contains'
    ),
    related(ci_id, other_ci_id, relation) as (
      select ci_id, id, case when ci_id = id then 'same' else 'contains' end from below
      union
      select ci_id, id, 'contained_by' from above where ci_id <> id
    )
    select * from (
      select distinct on (c.id, rel.ci_id, rel.other_ci_id)
             'change' as kind, rel.ci_id, rel.other_ci_id, rel.relation, c.id as other_id,
             c.number as other_name, c.planned_start as starts_at, c.planned_end as ends_at
        from change_requests c
        join change_request_cis x on x.change_id = c.id
        join related rel on rel.other_ci_id = x.ci_id
       where c.id <> ${changeId}::uuid
         and c.state in ('assess', 'authorize', 'scheduled', 'implement')
         and c.planned_start < ${end} and c.planned_end > ${start}
      union all
      select distinct on (bo.id, rel.ci_id, rel.other_ci_id)
             'blackout', rel.ci_id, rel.other_ci_id, rel.relation, bo.id, bo.name, bo.starts_at, bo.ends_at
        from change_blackouts bo
        join related rel on rel.other_ci_id = bo.ci_id
       where bo.cancelled_at is null and bo.starts_at < ${end} and bo.ends_at > ${start}
      union all
      select 'blackout', c, null, 'everything', bo.id, bo.name, bo.starts_at, bo.ends_at
        from change_blackouts bo, unnest(${uuids(ciIds)}) c
       where bo.ci_id is null and bo.cancelled_at is null and bo.starts_at < ${end} and bo.ends_at > ${start}
    ) found
    order by starts_at, kind, other_name, ci_id`.execute(db);
  return rows.map((r) => ({ ...r, startsAt: new Date(r.startsAt), endsAt: new Date(r.endsAt) }));
}

// Blackouts -----------------------------------------------------------------------------------------------

const toBlackout = (row: Record<string, unknown>): Blackout => ({
  id: row.id as string,
  name: row.name as string,
  reason: row.reason as string,
  startsAt: new Date(row.startsAt as string),
  endsAt: new Date(row.endsAt as string),
  ciId: (row.ciId as string | null) ?? null,
  createdBy: row.createdBy as ActorRef,
  cancelledAt: row.cancelledAt ? new Date(row.cancelledAt as string) : null,
  version: Number(row.version),
  createdAt: new Date(row.createdAt as string),
  updatedAt: new Date(row.updatedAt as string),
});

export async function insertBlackout(
  db: Db,
  b: Omit<Blackout, 'version' | 'cancelledAt' | 'updatedAt'>,
): Promise<Blackout> {
  const row = await db
    .insertInto('changeBlackouts')
    .values({ ...b, createdBy: JSON.stringify(b.createdBy), updatedAt: b.createdAt })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toBlackout(row as unknown as Record<string, unknown>);
}

export async function findBlackout(db: Db, id: string, forUpdate = false): Promise<Blackout | undefined> {
  let q = db.selectFrom('changeBlackouts').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toBlackout(row as unknown as Record<string, unknown>) : undefined;
}

export async function cancelBlackout(db: Db, id: string, now: Date): Promise<Blackout> {
  const row = await db
    .updateTable('changeBlackouts')
    .set({ cancelledAt: now, updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toBlackout(row as unknown as Record<string, unknown>);
}

export async function listBlackouts(
  db: Db,
  q: { activeAt?: Date; ciId?: string; includeCancelled: boolean; reach: readonly string[] | null },
): Promise<Blackout[]> {
  let query = db.selectFrom('changeBlackouts').selectAll();
  if (!q.includeCancelled) query = query.where('cancelledAt', 'is', null);
  if (q.activeAt) query = query.where('startsAt', '<=', q.activeAt).where('endsAt', '>', q.activeAt);
  if (q.ciId) query = query.where('ciId', '=', q.ciId);
  if (q.reach) query = query.where(sql<SqlBool>`(ci_id is null or ci_id = any(${uuids(q.reach)}))`);
  const rows = await query.orderBy('startsAt', 'desc').orderBy('id', 'desc').limit(1000).execute();
  return rows.map((r) => toBlackout(r as unknown as Record<string, unknown>));
}
