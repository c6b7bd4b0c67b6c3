import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import type { MaintenanceWindow } from './model.js';

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
 * For each of `ciIds` under maintenance at `at`: the active window covering it, directly or through a
 * CI that contains it (`contains`, transitively, from the window's CIs down). One query; cheap when no
 * window is active, since the walk starts only from active windows' CIs. Where several windows cover a
 * CI, the one ending last wins (the suppression lasts as long as any does).
 */
export async function coveringWindows(
  db: Db,
  ciIds: readonly string[],
  at: Date,
): Promise<Map<string, string>> {
  if (ciIds.length === 0) return new Map();
  const { rows } = await sql<{ ciId: string; windowId: string }>`
    with recursive active as (
      select w.id, w.ends_at from maintenance_windows w
       where w.cancelled_at is null and w.starts_at <= ${at} and w.ends_at > ${at}
    ),
    covered(window_id, ends_at, id) as (
      select a.id, a.ends_at, m.ci_id from active a join maintenance_window_cis m on m.window_id = a.id
      union
      select c.window_id, c.ends_at, r.target_id
        from covered c join relationships r on r.source_id = c.id and r.type = 'contains'
    )
    select distinct on (id) id as ci_id, window_id from covered
     where id = any(${uuids(ciIds)})
     order by id, ends_at desc, window_id`.execute(db);
  return new Map(rows.map((r) => [r.ciId, r.windowId]));
}
