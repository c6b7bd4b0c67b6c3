import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import {
  type KeysetAfter,
  type KeysetOrder,
  keysetCursor,
  keysetPage,
  parseKeysetCursor,
} from '../kernel/keyset.js';
import type {
  CapacityKind,
  CapacityLevel,
  CapacityMetric,
  CapacityMetricTable,
  CapacitySample,
} from './capacity-model.js';

type Db = Kysely<Database>;

const date = (v: unknown) => (v == null ? null : new Date(v as string));

function toMetric(row: Record<string, unknown>): CapacityMetric {
  const latestAt = date(row.latestAt);
  return {
    id: row.id as string,
    ciId: row.ciId as string,
    kind: row.kind as CapacityKind,
    name: row.name as string,
    unit: row.unit as string,
    capacity: Number(row.capacity),
    warningPercent: Number(row.warningPercent),
    criticalPercent: Number(row.criticalPercent),
    level: row.level as CapacityLevel,
    latest: latestAt ? { at: latestAt, value: Number(row.latestValue) } : null,
    retiredAt: date(row.retiredAt),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

const uuids = (ids: readonly string[]) => sql`${ids}::uuid[]`;

// Metrics ---------------------------------------------------------------------------------------------

export async function insertMetric(
  db: Db,
  m: Pick<
    CapacityMetricTable,
    'id' | 'ciId' | 'kind' | 'name' | 'unit' | 'capacity' | 'warningPercent' | 'criticalPercent' | 'createdAt'
  >,
): Promise<CapacityMetric> {
  const row = await db
    .insertInto('capacityMetrics')
    .values({ ...m, updatedAt: m.createdAt })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toMetric(row as unknown as Record<string, unknown>);
}

/** A change of definition: bumps `version`. */
export async function updateMetric(
  db: Db,
  id: string,
  change: Partial<
    Pick<CapacityMetricTable, 'name' | 'unit' | 'capacity' | 'warningPercent' | 'criticalPercent'> & {
      retiredAt: Date;
    }
  >,
  now: Date,
): Promise<CapacityMetric> {
  const row = await db
    .updateTable('capacityMetrics')
    .set({ ...change, updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toMetric(row as unknown as Record<string, unknown>);
}

/** What samples derive (latest, level): not a change of definition, so `version` stays. */
export async function setObserved(
  db: Db,
  id: string,
  observed: { latest: CapacitySample | null; level: CapacityLevel },
): Promise<CapacityMetric> {
  const row = await db
    .updateTable('capacityMetrics')
    .set({
      latestAt: observed.latest?.at ?? null,
      latestValue: observed.latest?.value ?? null,
      level: observed.level,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toMetric(row as unknown as Record<string, unknown>);
}

/** The metric; `forUpdate` locks its row, which serialises recorders of its samples. */
export async function findMetric(db: Db, id: string, forUpdate = false) {
  let q = db.selectFrom('capacityMetrics').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toMetric(row as unknown as Record<string, unknown>) : undefined;
}

export async function findMetrics(db: Db, ids: readonly string[]): Promise<CapacityMetric[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('capacityMetrics')
    .selectAll()
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toMetric(r as unknown as Record<string, unknown>));
}

/** A live metric of this name (any case) on the CI and kind, other than `except`. */
export async function findLiveByName(
  db: Db,
  ciId: string,
  kind: CapacityKind,
  name: string,
  except?: string,
): Promise<CapacityMetric | undefined> {
  let q = db
    .selectFrom('capacityMetrics')
    .selectAll()
    .where('ciId', '=', ciId)
    .where('kind', '=', kind)
    .where(sql<SqlBool>`lower(name) = ${name.toLowerCase()}`)
    .where('retiredAt', 'is', null);
  if (except) q = q.where('id', '!=', except);
  const row = await q.executeTakeFirst();
  return row ? toMetric(row as unknown as Record<string, unknown>) : undefined;
}

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const time = (v: unknown) =>
  typeof v === 'string' && TIME.test(v) && !Number.isNaN(Date.parse(v)) ? sql`${v}::timestamptz` : undefined;

/** Oldest first: a metric keeps its place in the list as others are defined. */
const ORDER = { field: 'createdAt', direction: 'asc' } as const;
const byCreation: KeysetOrder<CapacityMetric> = {
  exprs: [sql.ref('createdAt')],
  keys: (m) => [m.createdAt.toISOString()],
  params: [time],
};

export const metricCursor = (m: CapacityMetric) => keysetCursor(ORDER, byCreation, m);
export const parseMetricCursor = (cursor: string): KeysetAfter =>
  parseKeysetCursor(cursor, ORDER, byCreation, 'a capacity metric');

export interface MetricQuery {
  readonly ciIds?: readonly string[];
  readonly kind?: CapacityKind;
  readonly includeRetired?: boolean;
  readonly after?: KeysetAfter;
  readonly limit: number;
}

export async function listMetrics(db: Db, q: MetricQuery): Promise<CapacityMetric[]> {
  let query = db.selectFrom('capacityMetrics').selectAll();
  if (q.ciIds) query = query.where(sql<SqlBool>`ci_id = any(${uuids(q.ciIds)})`);
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (!q.includeRetired) query = query.where('retiredAt', 'is', null);
  const rows = await keysetPage(query, byCreation.exprs, ORDER.direction, q.after).limit(q.limit).execute();
  return rows.map((r) => toMetric(r as unknown as Record<string, unknown>));
}

// Samples ---------------------------------------------------------------------------------------------

/**
 * Writes samples in one statement; an `at` already there takes the new value (a collector sending the
 * same reading twice changes nothing). `samples` must not repeat an `at`.
 */
export async function upsertSamples(
  db: Db,
  metricId: string,
  samples: readonly CapacitySample[],
): Promise<void> {
  await sql`
    insert into capacity_samples (metric_id, at, value)
    select ${metricId}::uuid, s.at, s.value
      from unnest(${samples.map((s) => s.at.toISOString())}::timestamptz[],
                  ${samples.map((s) => s.value)}::double precision[]) as s(at, value)
    on conflict (metric_id, at) do update set value = excluded.value`.execute(db);
}

export async function latestSample(db: Db, metricId: string): Promise<CapacitySample | null> {
  const row = await db
    .selectFrom('capacitySamples')
    .select(['at', 'value'])
    .where('metricId', '=', metricId)
    .orderBy('at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { at: new Date(row.at), value: Number(row.value) } : null;
}

/** Per metric, its first `limit` samples with `from <= at <= to`, oldest first: one query for many. */
export async function samplesOf(
  db: Db,
  metricIds: readonly string[],
  range: { from: Date; to: Date; limit: number },
): Promise<Map<string, CapacitySample[]>> {
  const byMetric = new Map<string, CapacitySample[]>(metricIds.map((id) => [id, []]));
  if (metricIds.length === 0 || range.limit === 0) return byMetric;
  const { rows } = await sql<{ metricId: string; at: string | Date; value: number }>`
    select metric_id, at, value from (
      select metric_id, at, value, row_number() over (partition by metric_id order by at) as n
        from capacity_samples
       where metric_id = any(${uuids(metricIds)}) and at >= ${range.from} and at <= ${range.to}
    ) s
    where n <= ${range.limit}
    order by metric_id, at`.execute(db);
  for (const r of rows) byMetric.get(r.metricId)?.push({ at: new Date(r.at), value: Number(r.value) });
  return byMetric;
}

export interface Fit {
  readonly count: number;
  readonly slope: number | null;
  readonly intercept: number | null;
  readonly r2: number | null;
  /** The value of the window's latest sample; null when it has none. */
  readonly last: number | null;
}

/**
 * Per metric, the least-squares line of value over time (in days from `to`) through its samples with
 * `from < at <= to`, by PostgreSQL's `regr_*` aggregates: one row per metric, however many samples.
 */
export async function fitsOf(
  db: Db,
  metricIds: readonly string[],
  range: { from: Date; to: Date },
): Promise<Map<string, Fit>> {
  const fits = new Map<string, Fit>(
    metricIds.map((id) => [id, { count: 0, slope: null, intercept: null, r2: null, last: null }]),
  );
  if (metricIds.length === 0) return fits;
  const days = sql`extract(epoch from (at - ${range.to}::timestamptz)) / 86400`;
  const { rows } = await sql<{
    metricId: string;
    count: string | number;
    slope: number | null;
    intercept: number | null;
    r2: number | null;
    last: number | null;
  }>`
    select metric_id, count(*) as count,
           regr_slope(value, ${days}) as slope,
           regr_intercept(value, ${days}) as intercept,
           regr_r2(value, ${days}) as r2,
           (array_agg(value order by at desc))[1] as last
      from capacity_samples
     where metric_id = any(${uuids(metricIds)}) and at > ${range.from} and at <= ${range.to}
     group by metric_id`.execute(db);
  for (const r of rows)
    fits.set(r.metricId, {
      count: Number(r.count),
      slope: r.slope == null ? null : Number(r.slope),
      intercept: r.intercept == null ? null : Number(r.intercept),
      r2: r.r2 == null ? null : Number(r.r2),
      last: r.last == null ? null : Number(r.last),
    });
  return fits;
}

/** Deletes samples older than `olderThan`; how many. A metric's latest stays on the metric row. */
export async function pruneSamples(db: Db, olderThan: Date): Promise<number> {
  const result = await db.deleteFrom('capacitySamples').where('at', '<', olderThan).executeTakeFirst();
  return Number(result.numDeletedRows);
}
