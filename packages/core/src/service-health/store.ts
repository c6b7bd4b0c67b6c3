import { type Kysely, sql } from 'kysely';
import { coveringWindows } from '../changes/store.js';
import type { Database } from '../db/database.js';
import type { Alert } from '../events/model.js';
import { toAlert } from '../events/store.js';
import { BUSINESS_SERVICE_CLASS } from '../topology/model.js';
import type { ServiceHealth, ServiceHealthCause, ServiceHealthState } from './model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;

/**
 * Only one replica (one round) refreshes at a time, for the rest of the transaction: the others skip
 * and retry, so each change is published once.
 */
export async function tryRefreshLock(db: Db): Promise<boolean> {
  const { rows } = await sql<{
    ok: boolean;
  }>`select pg_try_advisory_xact_lock(hashtext('opsgraph.service_health')) as ok`.execute(db);
  return rows[0]?.ok === true;
}

export async function readCursor(db: Db): Promise<{ seq: number; fullPending: boolean }> {
  const row = await db
    .selectFrom('serviceHealthCursor')
    .select(['seq', 'fullPending'])
    .where('id', '=', 1)
    .executeTakeFirst();
  return { seq: Number(row?.seq ?? 0), fullPending: row?.fullPending ?? true };
}

export async function writeCursor(db: Db, seq: number): Promise<void> {
  await db
    .insertInto('serviceHealthCursor')
    .values({ id: 1, seq, fullPending: false })
    .onConflict((oc) => oc.column('id').doUpdateSet({ seq, fullPending: false }))
    .execute();
}

/** `business_service` and every class under it, as the class tree is now. */
export async function serviceClasses(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    with recursive tree(name) as (
      select name from ci_classes where name = ${BUSINESS_SERVICE_CLASS}
      union
      select c.name from ci_classes c join tree t on c.parent = t.name
    )
    select name from tree`.execute(db);
  return rows.map((r) => r.name);
}

export interface ServiceRow {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
}

/** The live business services among `ids` (every one when null), by name. */
export async function liveServices(db: Db, ids: readonly string[] | null): Promise<ServiceRow[]> {
  if (ids && ids.length === 0) return [];
  const classes = await serviceClasses(db);
  let q = db
    .selectFrom('cis')
    .select(['id', 'name', 'createdAt'])
    .where('class', 'in', classes)
    .where('status', '<>', 'retired')
    .orderBy('name')
    .orderBy('id');
  if (ids) q = q.where(sql<boolean>`id = any(${uuids(ids)})`);
  return (await q.execute()).map((r) => ({ ...r, createdAt: new Date(r.createdAt) }));
}

/** Those of `ids` that name live CIs (a walk starts only from those). */
export async function liveCis(db: Db, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('cis')
    .select('id')
    .where(sql<boolean>`id = any(${uuids(ids)})`)
    .where('status', '<>', 'retired')
    .execute();
  return rows.map((r) => r.id);
}

/** The CIs related to any of `ids`, either way: a retired CI is walked from no more, its neighbours are. */
export async function neighbours(db: Db, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    select target_id as id from relationships where source_id = any(${uuids(ids)})
    union
    select source_id from relationships where target_id = any(${uuids(ids)})`.execute(db);
  return rows.map((r) => r.id);
}

/** `ids` and what they contain, transitively: what a maintenance window on them covers. */
export async function containedIn(db: Db, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    with recursive covered(id) as (
      select unnest(${uuids(ids)})
      union
      select r.target_id from covered c join relationships r on r.source_id = c.id and r.type = 'contains'
    )
    select id from covered`.execute(db);
  return rows.map((r) => r.id);
}

/** Of `serviceIds`, those an active maintenance window covers at `at` (shared coverage rule). */
export async function inMaintenance(db: Db, serviceIds: readonly string[], at: Date): Promise<Set<string>> {
  return new Set((await coveringWindows(db, serviceIds, at)).keys());
}

export interface FailingAlert {
  readonly ciId: string;
  readonly alertId: string;
  readonly severity: 'critical' | 'major';
}

/**
 * Per CI among `ciIds`, the live (open or acknowledged), unsuppressed alert that says how it fails: a
 * critical one if any, else a major one; the latest seen first. Minor and lower change no health.
 */
export async function failingAlerts(db: Db, ciIds: readonly string[]): Promise<FailingAlert[]> {
  if (ciIds.length === 0) return [];
  const { rows } = await sql<FailingAlert>`
    select distinct on (ci_id) ci_id, id as alert_id, severity
      from alerts
     where ci_id = any(${uuids(ciIds)})
       and status in ('open', 'acknowledged')
       and maintenance_window_id is null
       and severity in ('critical', 'major')
     order by ci_id, (severity = 'critical') desc, last_seen desc, id`.execute(db);
  return rows;
}

const toHealth = (row: {
  serviceId: string;
  state: string;
  since: Date | string;
  causes: unknown;
}): ServiceHealth => ({
  serviceId: row.serviceId,
  state: row.state as ServiceHealthState,
  since: new Date(row.since),
  causes: (row.causes as ServiceHealthCause[] | null) ?? [],
});

/** The stored health of `ids` (services with no row are up). */
export async function storedHealth(db: Db, ids: readonly string[]): Promise<Map<string, ServiceHealth>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('serviceHealth')
    .selectAll()
    .where(sql<boolean>`service_id = any(${uuids(ids)})`)
    .execute();
  return new Map(rows.map((r) => [r.serviceId, toHealth(r)]));
}

export async function saveHealth(db: Db, health: ServiceHealth, now: Date): Promise<void> {
  const values = {
    serviceId: health.serviceId,
    state: health.state,
    since: health.since,
    causes: JSON.stringify(health.causes),
    updatedAt: now,
  };
  await db
    .insertInto('serviceHealth')
    .values(values)
    .onConflict((oc) =>
      oc.column('serviceId').doUpdateSet({
        state: values.state,
        since: values.since,
        causes: values.causes,
        updatedAt: now,
      }),
    )
    .execute();
}

/** Forgets the health of CIs that are no longer live business services. */
export async function dropHealth(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .deleteFrom('serviceHealth')
    .where(sql<boolean>`service_id = any(${uuids(ids)})`)
    .execute();
}

/** The alerts of `ids` (any status), in one query: what causes name. */
export async function alertsByIds(db: Db, ids: readonly string[]): Promise<Alert[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('alerts')
    .selectAll()
    .where(sql<boolean>`id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toAlert(r as unknown as Record<string, unknown>));
}
