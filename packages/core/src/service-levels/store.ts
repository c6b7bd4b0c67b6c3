import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { AlertSeverity } from '../events/model.js';
import type { Priority } from '../incidents/model.js';
import type { ActorRef } from '../kernel/actor.js';
import {
  type KeysetAfter,
  type KeysetOrder,
  keysetCursor,
  keysetPage,
  parseKeysetCursor,
} from '../kernel/keyset.js';
import type { Slo, SloPeriod } from './model.js';
import type { Cause, Interval } from './outages.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;

export function toSlo(row: Record<string, unknown>): Slo {
  return {
    id: row.id as string,
    serviceId: row.serviceId as string,
    name: row.name as string,
    objective: Number(row.objective),
    period: row.period as SloPeriod,
    timeZone: row.timeZone as string,
    incidentPriorities: (row.incidentPriorities as Priority[]).map(Number) as Priority[],
    alertSeverities: row.alertSeverities as AlertSeverity[],
    createdBy: row.createdBy as ActorRef,
    retiredAt: row.retiredAt ? new Date(row.retiredAt as string) : null,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export async function insertSlo(db: Db, s: Omit<Slo, 'version' | 'updatedAt' | 'retiredAt'>): Promise<Slo> {
  const row = await db
    .insertInto('slos')
    .values({
      ...s,
      incidentPriorities: JSON.stringify(s.incidentPriorities),
      alertSeverities: JSON.stringify(s.alertSeverities),
      createdBy: JSON.stringify(s.createdBy),
      retiredAt: null,
      updatedAt: s.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSlo(row as unknown as Record<string, unknown>);
}

export type SloChange = Partial<
  Pick<
    Slo,
    'name' | 'objective' | 'period' | 'timeZone' | 'incidentPriorities' | 'alertSeverities' | 'retiredAt'
  >
>;

/** Applies `change` if the SLO is still at `version`; undefined when it is not (someone else won). */
export async function updateSlo(
  db: Db,
  id: string,
  version: number,
  change: SloChange,
  now: Date,
): Promise<Slo | undefined> {
  const { incidentPriorities, alertSeverities, ...rest } = change;
  const row = await db
    .updateTable('slos')
    .set({
      ...rest,
      ...(incidentPriorities ? { incidentPriorities: JSON.stringify(incidentPriorities) } : {}),
      ...(alertSeverities ? { alertSeverities: JSON.stringify(alertSeverities) } : {}),
      updatedAt: now,
      version: sql`version + 1`,
    })
    .where('id', '=', id)
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();
  return row ? toSlo(row as unknown as Record<string, unknown>) : undefined;
}

export async function findSlo(db: Db, id: string, forUpdate = false): Promise<Slo | undefined> {
  let q = db.selectFrom('slos').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toSlo(row as unknown as Record<string, unknown>) : undefined;
}

export async function slosById(db: Db, ids: readonly string[]): Promise<Slo[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('slos')
    .selectAll()
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toSlo(r as unknown as Record<string, unknown>));
}

/** The live SLOs of each of `serviceIds` (one query), by name in byte order like `listSlos`. */
export async function liveSlosOfServices(db: Db, serviceIds: readonly string[]): Promise<Slo[]> {
  if (serviceIds.length === 0) return [];
  const rows = await db
    .selectFrom('slos')
    .selectAll()
    .where(sql<SqlBool>`service_id = any(${uuids(serviceIds)})`)
    .where('retiredAt', 'is', null)
    .orderBy(sql`name collate "C"`)
    .orderBy('id')
    .execute();
  return rows.map((r) => toSlo(r as unknown as Record<string, unknown>));
}

/** A live SLO of this name on the service, other than `exceptId`. */
export async function liveSloNamed(db: Db, serviceId: string, name: string, exceptId: string | null) {
  let q = db
    .selectFrom('slos')
    .select('id')
    .where('serviceId', '=', serviceId)
    .where('retiredAt', 'is', null)
    .where(sql<SqlBool>`lower(name) = lower(${name})`);
  if (exceptId) q = q.where('id', '<>', exceptId);
  return q.executeTakeFirst();
}

// Listing: by name in byte order (the same on every collation), then id.
const byName: KeysetOrder<Slo> = {
  exprs: [sql`name collate "C"`],
  keys: (s) => [s.name],
  params: [(v) => (typeof v === 'string' ? sql`${v}::text` : undefined)],
};
const order = { field: 'name', direction: 'asc' } as const;

export const sloCursor = (s: Slo): string => keysetCursor(order, byName, s);
export const parseSloCursor = (cursor: string): KeysetAfter =>
  parseKeysetCursor(cursor, order, byName, 'an SLO');

export async function listSlos(
  db: Db,
  q: {
    serviceId?: string | undefined;
    period?: SloPeriod | undefined;
    includeRetired: boolean;
    after?: KeysetAfter | undefined;
    limit: number;
  },
): Promise<Slo[]> {
  let query = db.selectFrom('slos').selectAll();
  if (q.serviceId) query = query.where('serviceId', '=', q.serviceId);
  if (q.period) query = query.where('period', '=', q.period);
  if (!q.includeRetired) query = query.where('retiredAt', 'is', null);
  const rows = await keysetPage(query, byName.exprs, 'asc', q.after).limit(q.limit).execute();
  return rows.map((r) => toSlo(r as unknown as Record<string, unknown>));
}

// Services and outages ------------------------------------------------------------------------------

/**
 * For each of `ciIds` that exists: its name and whether it is of class `business_service` or below, in
 * one query (keyed by id).
 */
export async function serviceCis(
  db: Db,
  ciIds: readonly string[],
): Promise<Map<string, { name: string; isService: boolean }>> {
  if (ciIds.length === 0) return new Map();
  const { rows } = await sql<{ id: string; name: string; isService: boolean }>`
    with recursive below(name) as (
      select 'business_service'::text
      union
      select c.name from ci_classes c join below b on c.parent = b.name
    )
    select id, name, class in (select name from below) as is_service
      from cis where id = any(${uuids(ciIds)})`.execute(db);
  return new Map(rows.map(({ id, ...ci }) => [id, ci]));
}

/** The CI's name and whether it is of class `business_service` or below; undefined when there is no such CI. */
export async function serviceCi(
  db: Db,
  ciId: string,
): Promise<{ name: string; isService: boolean } | undefined> {
  return (await serviceCis(db, [ciId])).get(ciId);
}

/** What one target asks of `causes`: its service, the CIs it depends on, its rules and its interval. */
export interface CausesAsk {
  readonly serviceId: string;
  /** The service and what it depends on. */
  readonly ciIds: readonly string[];
  readonly priorities: readonly Priority[];
  readonly severities: readonly AlertSeverity[];
  readonly from: Date;
  readonly until: Date;
}

/**
 * What may have taken each asked service down during its `[from, until)`, in one query for all asks
 * (each ask's parameters travel as one JSON row, so rules and intervals may differ), in the order asked:
 * incidents of the ask's `priorities` whose business services include its service (from creation to
 * resolution or cancellation; open ones go on), and alerts of its `severities` on one of its `ciIds`
 * (from first raise to close). Each list is ordered by start, then id.
 */
export async function causesOf(db: Db, asks: readonly CausesAsk[]): Promise<Cause[][]> {
  if (asks.length === 0) return [];
  const json = JSON.stringify(
    asks.map((a, k) => ({
      k,
      service_id: a.serviceId,
      ci_ids: a.ciIds,
      priorities: a.priorities,
      severities: a.severities,
      from: a.from.toISOString(),
      until: a.until.toISOString(),
    })),
  );
  const { rows } = await sql<{
    k: number;
    kind: 'incident' | 'alert';
    id: string;
    ciId: string | null;
    start: string | Date;
    end: string | Date | null;
  }>`
    with t as (
      select * from jsonb_to_recordset(${json}::jsonb) as t(
        k int, service_id text, ci_ids uuid[], priorities smallint[], severities text[],
        "from" timestamptz, until timestamptz)
    )
    select c.k, c.kind, c.id, c.ci_id, c.start, c."end" from (
      select t.k, t."from", 'incident' as kind, i.id, i.ci_id, i.created_at as start,
             coalesce(i.resolved_at, i.cancelled_at, i.closed_at) as "end"
        from t join incidents i
          on i.service_ids @> jsonb_build_array(t.service_id)
         and i.priority = any(t.priorities)
         and i.created_at < t.until
      union all
      select t.k, t."from", 'alert', a.id, a.ci_id, a.first_seen, a.closed_at
        from t join alerts a
          on a.ci_id = any(t.ci_ids)
         and a.severity = any(t.severities)
         and a.first_seen < t.until
    ) c
     where c."end" is null or c."end" > c."from"
     order by c.k, c.start, c.id`.execute(db);
  const out: Cause[][] = asks.map(() => []);
  for (const r of rows)
    out[Number(r.k)]!.push({
      kind: r.kind,
      id: r.id,
      ciId: r.ciId ?? null,
      start: new Date(r.start).getTime(),
      end: r.end === null ? null : new Date(r.end).getTime(),
    });
  return out;
}

/**
 * For each ask, the maintenance covering each of its `ciIds` during its `[from, until)`: windows on the
 * CI itself or on a CI that contains it (`contains`, transitively), each from its start to its end or
 * its cancellation. One recursive query for all asks, walking up from the CIs asked about only; in the
 * order asked, each keyed by CI id.
 */
export async function maintenanceOf(
  db: Db,
  asks: readonly { ciIds: readonly string[]; from: Date; until: Date }[],
): Promise<Map<string, Interval[]>[]> {
  const out = asks.map(() => new Map<string, Interval[]>());
  if (!asks.some((a) => a.ciIds.length > 0)) return out;
  const json = JSON.stringify(
    asks.map((a, k) => ({ k, ci_ids: a.ciIds, from: a.from.toISOString(), until: a.until.toISOString() })),
  );
  const { rows } = await sql<{ k: number; ciId: string; startsAt: string | Date; endsAt: string | Date }>`
    with recursive asked(k, ci_id, "from", until) as (
      select t.k, c, t."from", t.until
        from jsonb_to_recordset(${json}::jsonb) as t(k int, ci_ids uuid[], "from" timestamptz, until timestamptz)
        cross join unnest(t.ci_ids) c
    ),
    up(ci_id, id) as (
      select distinct ci_id, ci_id from asked
      union
      select u.ci_id, r.source_id
        from up u join relationships r on r.target_id = u.id and r.type = 'contains'
    )
    select distinct a.k, a.ci_id, w.starts_at,
           least(w.ends_at, coalesce(w.cancelled_at, w.ends_at)) as ends_at
      from asked a
      join up u on u.ci_id = a.ci_id
      join maintenance_window_cis m on m.ci_id = u.id
      join maintenance_windows w on w.id = m.window_id
     where w.starts_at < a.until and w.ends_at > a."from"
       and (w.cancelled_at is null or w.cancelled_at > w.starts_at)
     order by a.k, a.ci_id, w.starts_at`.execute(db);
  for (const r of rows) {
    const byCi = out[Number(r.k)]!;
    const list = byCi.get(r.ciId) ?? [];
    list.push([new Date(r.startsAt).getTime(), new Date(r.endsAt).getTime()]);
    byCi.set(r.ciId, list);
  }
  return out;
}
