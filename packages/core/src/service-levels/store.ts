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

/** The CI's class and whether it is of class `business_service` or below; undefined when there is no such CI. */
export async function serviceCi(
  db: Db,
  ciId: string,
): Promise<{ name: string; isService: boolean } | undefined> {
  const { rows } = await sql<{ name: string; isService: boolean }>`
    with recursive below(name) as (
      select 'business_service'::text
      union
      select c.name from ci_classes c join below b on c.parent = b.name
    )
    select name, class in (select name from below) as is_service from cis where id = ${ciId}::uuid`.execute(
    db,
  );
  return rows[0];
}

/**
 * What may have taken the service down during `[from, until)`: incidents of `priorities` whose business
 * services include it (from creation to resolution or cancellation; open ones go on), and alerts of
 * `severities` on one of `ciIds` (the service and what it depends on; from first raise to close).
 */
export async function causes(
  db: Db,
  q: {
    serviceId: string;
    ciIds: readonly string[];
    priorities: readonly Priority[];
    severities: readonly AlertSeverity[];
    from: Date;
    until: Date;
  },
): Promise<Cause[]> {
  const { rows } = await sql<{
    kind: 'incident' | 'alert';
    id: string;
    ciId: string | null;
    start: string | Date;
    end: string | Date | null;
  }>`
    select * from (
      select 'incident' as kind, i.id, i.ci_id, i.created_at as start,
             coalesce(i.resolved_at, i.cancelled_at, i.closed_at) as "end"
        from incidents i
       where i.service_ids @> ${JSON.stringify([q.serviceId])}::jsonb
         and i.priority = any(${[...q.priorities]}::smallint[])
         and i.created_at < ${q.until}
      union all
      select 'alert', a.id, a.ci_id, a.first_seen, a.closed_at
        from alerts a
       where a.ci_id = any(${uuids(q.ciIds)})
         and a.severity = any(${[...q.severities]}::text[])
         and a.first_seen < ${q.until}
    ) c
     where c."end" is null or c."end" > ${q.from}
     order by c.start, c.id`.execute(db);
  return rows.map((r) => ({
    kind: r.kind,
    id: r.id,
    ciId: r.ciId ?? null,
    start: new Date(r.start).getTime(),
    end: r.end === null ? null : new Date(r.end).getTime(),
  }));
}

/**
 * The maintenance covering each of `ciIds` during `[from, until)`: windows on the CI itself or on a CI
 * that contains it (`contains`, transitively), each from its start to its end or its cancellation.
 * One recursive query, walking up from the CIs asked about only.
 */
export async function maintenanceOf(
  db: Db,
  ciIds: readonly string[],
  from: Date,
  until: Date,
): Promise<Map<string, Interval[]>> {
  const out = new Map<string, Interval[]>();
  if (ciIds.length === 0) return out;
  const { rows } = await sql<{ ciId: string; startsAt: string | Date; endsAt: string | Date }>`
    with recursive up(ci_id, id) as (
      select c, c from unnest(${uuids(ciIds)}) c
      union
      select u.ci_id, r.source_id
        from up u join relationships r on r.target_id = u.id and r.type = 'contains'
    )
    select distinct u.ci_id, w.starts_at, least(w.ends_at, coalesce(w.cancelled_at, w.ends_at)) as ends_at
      from up u
      join maintenance_window_cis m on m.ci_id = u.id
      join maintenance_windows w on w.id = m.window_id
     where w.starts_at < ${until} and w.ends_at > ${from}
       and (w.cancelled_at is null or w.cancelled_at > w.starts_at)
     order by u.ci_id, w.starts_at`.execute(db);
  for (const r of rows) {
    const list = out.get(r.ciId) ?? [];
    list.push([new Date(r.startsAt).getTime(), new Date(r.endsAt).getTime()]);
    out.set(r.ciId, list);
  }
  return out;
}
