import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { timeIdPage } from '../kernel/pagination.js';
import { trySweepLock as trySchedulerLock } from '../kernel/scheduler-store.js';
import type { CiBackupCompliance, Job, JobKind, JobRun, JobRunStatus } from './model.js';
import { OVERRUN_TOLERANCE_MIN_MINUTES, OVERRUN_TOLERANCE_RATIO } from './model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;
const date = (v: unknown) => (v ? new Date(v as string) : null);
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

// Jobs -------------------------------------------------------------------------------------------------

/** A job row with its targets (`target_ci_ids`, sorted) aggregated in. */
const jobsWithTargets = (db: Db) =>
  db
    .selectFrom('jobs')
    .selectAll('jobs')
    .select(
      sql<
        string[]
      >`coalesce((select array_agg(t.ci_id::text order by t.ci_id) from job_targets t where t.job_id = jobs.id), '{}')`.as(
        'targetCiIds',
      ),
    );

export function toJob(row: Record<string, unknown>): Job {
  return {
    id: row.id as string,
    name: row.name as string,
    kind: row.kind as JobKind,
    schedule: row.schedule as string,
    timeZone: row.timeZone as string,
    targetCiIds: (row.targetCiIds as string[] | null) ?? [],
    expectedDurationMinutes: Number(row.expectedDurationMinutes),
    startGraceMinutes: Number(row.startGraceMinutes),
    ownerGroupId: (row.ownerGroupId as string | null) ?? null,
    rpoMinutes: num(row.rpoMinutes),
    enabled: row.enabled as boolean,
    enabledSince: new Date(row.enabledSince as string),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export async function findJob(db: Db, id: string, forUpdate = false): Promise<Job | undefined> {
  if (forUpdate) await db.selectFrom('jobs').select('id').where('id', '=', id).forUpdate().execute();
  const row = await jobsWithTargets(db).where('jobs.id', '=', id).executeTakeFirst();
  return row ? toJob(row as unknown as Record<string, unknown>) : undefined;
}

export async function findJobByName(db: Db, name: string): Promise<Job | undefined> {
  const row = await jobsWithTargets(db)
    .where(sql<SqlBool>`lower(jobs.name) = lower(${name})`)
    .executeTakeFirst();
  return row ? toJob(row as unknown as Record<string, unknown>) : undefined;
}

export async function findJobs(db: Db, ids: readonly string[]): Promise<Job[]> {
  if (ids.length === 0) return [];
  const rows = await jobsWithTargets(db)
    .where(sql<SqlBool>`jobs.id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toJob(r as unknown as Record<string, unknown>));
}

/** Serialises job definitions, so a name is checked for uniqueness against a settled table. */
export async function lockJobNames(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('opsgraph.operations.jobs'))`.execute(db);
}

export type JobRow = Omit<Job, 'targetCiIds' | 'version' | 'updatedAt'>;

export async function insertJob(db: Db, job: JobRow): Promise<void> {
  await db
    .insertInto('jobs')
    .values({ ...job, updatedAt: job.createdAt })
    .execute();
}

export async function updateJob(db: Db, id: string, change: Record<string, unknown>, now: Date) {
  await db
    .updateTable('jobs')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .execute();
}

/** Makes the job's targets exactly `ciIds`; kept targets keep when they became one. */
export async function setTargets(db: Db, jobId: string, ciIds: readonly string[], now: Date): Promise<void> {
  await db
    .deleteFrom('jobTargets')
    .where('jobId', '=', jobId)
    .where(sql<SqlBool>`not (ci_id = any(${uuids(ciIds)}))`)
    .execute();
  await db
    .insertInto('jobTargets')
    .values(ciIds.map((ciId) => ({ jobId, ciId, createdAt: now })))
    .onConflict((oc) => oc.columns(['jobId', 'ciId']).doNothing())
    .execute();
}

/** The CIs of `ids` that exist, with whether they are retired. */
export async function cisOf(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return db
    .selectFrom('cis')
    .select(['id', 'name', 'retiredAt'])
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .execute();
}

export async function groupExists(db: Db, id: string): Promise<boolean> {
  return !!(await db.selectFrom('accessGroups').select('id').where('id', '=', id).executeTakeFirst());
}

export interface JobQuery {
  readonly kind?: readonly JobKind[];
  readonly enabled?: boolean;
  readonly ciId?: string;
  readonly ownerGroupId?: string;
  readonly text?: string;
  /** (lower(name), id) of the last row of the previous page. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

/** Jobs by name (case-insensitive), then id: a keyset page. */
export async function listJobs(db: Db, q: JobQuery): Promise<Job[]> {
  let query = jobsWithTargets(db);
  if (q.kind) query = query.where('jobs.kind', 'in', q.kind);
  if (q.enabled !== undefined) query = query.where('jobs.enabled', '=', q.enabled);
  if (q.ownerGroupId) query = query.where('jobs.ownerGroupId', '=', q.ownerGroupId);
  if (q.ciId)
    query = query.where(
      sql<SqlBool>`exists (select 1 from job_targets t where t.job_id = jobs.id and t.ci_id = ${q.ciId}::uuid)`,
    );
  if (q.text) query = query.where(sql<SqlBool>`strpos(lower(jobs.name), ${q.text.toLowerCase()}) > 0`);
  if (q.after)
    query = query.where(sql<SqlBool>`(lower(jobs.name), jobs.id) > (${q.after[0]}, ${q.after[1]}::uuid)`);
  const rows = await query.orderBy(sql`lower(jobs.name)`).orderBy('jobs.id').limit(q.limit).execute();
  return rows.map((r) => toJob(r as unknown as Record<string, unknown>));
}

// Runs -------------------------------------------------------------------------------------------------

export function toRun(row: Record<string, unknown>): JobRun {
  return {
    id: row.id as string,
    jobId: row.jobId as string,
    status: row.status as JobRunStatus,
    slotAt: date(row.slotAt),
    runKey: (row.runKey as string | null) ?? null,
    startedAt: date(row.startedAt),
    finishedAt: date(row.finishedAt),
    bytes: num(row.bytes),
    durationMs: num(row.durationMs),
    message: (row.message as string | null) ?? null,
    overranAt: date(row.overranAt),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export async function runByKey(db: Db, jobId: string, runKey: string): Promise<JobRun | undefined> {
  const row = await db
    .selectFrom('jobRuns')
    .selectAll()
    .where('jobId', '=', jobId)
    .where('runKey', '=', runKey)
    .executeTakeFirst();
  return row ? toRun(row as unknown as Record<string, unknown>) : undefined;
}

/** The latest open (started) run of the job; with `unkeyed`, only one the sender gave no key. */
export async function latestOpenRun(db: Db, jobId: string, unkeyed: boolean): Promise<JobRun | undefined> {
  let q = db.selectFrom('jobRuns').selectAll().where('jobId', '=', jobId).where('status', '=', 'started');
  if (unkeyed) q = q.where('runKey', 'is', null);
  const row = await q.orderBy('startedAt', 'desc').orderBy('id', 'desc').executeTakeFirst();
  return row ? toRun(row as unknown as Record<string, unknown>) : undefined;
}

export type NewRun = Omit<JobRun, 'overranAt' | 'updatedAt'>;

export async function insertRun(db: Db, run: NewRun): Promise<JobRun> {
  const row = await db
    .insertInto('jobRuns')
    .values({ ...run, overranAt: null, updatedAt: run.createdAt })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRun(row as unknown as Record<string, unknown>);
}

export async function completeRun(
  db: Db,
  id: string,
  change: Pick<JobRun, 'status' | 'finishedAt' | 'bytes' | 'durationMs' | 'message' | 'runKey'>,
  now: Date,
): Promise<JobRun> {
  const row = await db
    .updateTable('jobRuns')
    .set({ ...change, updatedAt: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRun(row as unknown as Record<string, unknown>);
}

/** When a run happened, for ordering: its start, or the slot it missed. */
const runTime = sql`coalesce(started_at, slot_at)`;

/** A page of the job's runs, newest first (by start, or the slot a missed one was due, then id). */
export async function listRuns(db: Db, jobId: string, after: [string, string] | undefined, first: number) {
  let q = db.selectFrom('jobRuns').selectAll().where('jobId', '=', jobId);
  if (after) q = q.where(sql<SqlBool>`(${runTime}, id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`);
  const rows = await q
    .orderBy(runTime, 'desc')
    .orderBy('id', 'desc')
    .limit(first + 1)
    .execute();
  return timeIdPage(
    rows.map((r) => toRun(r as unknown as Record<string, unknown>)),
    first,
    (r) => (r.startedAt ?? r.slotAt)!,
  );
}

// Sweep ------------------------------------------------------------------------------------------------

/** Whether this transaction is the one sweeper; held to commit, so a second replica skips this round. */
export const trySweepLock = (db: Db): Promise<boolean> => trySchedulerLock(db, 'operations');

/** The enabled jobs, locked (reports of their runs wait for the sweep), with their targets. */
export async function enabledJobsLocked(db: Db): Promise<Job[]> {
  await db.selectFrom('jobs').select('id').where('enabled', '=', true).orderBy('id').forUpdate().execute();
  const rows = await jobsWithTargets(db).where('jobs.enabled', '=', true).orderBy('jobs.id').execute();
  return rows.map((r) => toJob(r as unknown as Record<string, unknown>));
}

/** A job's schedule slot, as the sweep looks at it. */
export interface JobSlot {
  readonly jobId: string;
  readonly slotAt: Date;
}

const slotsJson = (slots: readonly JobSlot[]) =>
  JSON.stringify(slots.map((s) => ({ job_id: s.jobId, slot_at: s.slotAt.toISOString() })));

/** Of `slots` (of any jobs, in one query), those some run already serves, as `<jobId>|<epoch ms>`. */
export async function servedSlots(db: Db, slots: readonly JobSlot[]): Promise<Set<string>> {
  if (slots.length === 0) return new Set();
  const result = await sql<{ jobId: string; slotAt: Date }>`
    select distinct r.job_id, r.slot_at
      from jsonb_to_recordset(${slotsJson(slots)}::jsonb) as v(job_id uuid, slot_at timestamptz)
      join job_runs r on r.job_id = v.job_id and r.slot_at = v.slot_at`.execute(db);
  return new Set(result.rows.map((r) => `${r.jobId}|${new Date(r.slotAt).getTime()}`));
}

/** Writes a missed run per slot in one statement; a slot already recorded as missed is skipped. Those written. */
export async function insertMissed(db: Db, slots: readonly JobSlot[], now: Date): Promise<JobRun[]> {
  if (slots.length === 0) return [];
  const result = await sql<Record<string, unknown>>`
    insert into job_runs (id, job_id, status, slot_at, created_at, updated_at)
    select gen_random_uuid(), v.job_id, 'missed', v.slot_at, ${now}, ${now}
      from jsonb_to_recordset(${slotsJson(slots)}::jsonb) as v(job_id uuid, slot_at timestamptz)
    on conflict (job_id, slot_at) where status = 'missed' do nothing
    returning *`.execute(db);
  return result.rows.map((r) => toRun(r));
}

/** Marks started runs past their expected duration plus tolerance as overran (once). Those marked. */
export async function markOverran(db: Db, now: Date): Promise<JobRun[]> {
  const result = await sql<Record<string, unknown>>`
    update job_runs r
       set overran_at = ${now}, updated_at = ${now}
      from jobs j
     where j.id = r.job_id and r.status = 'started' and r.overran_at is null
       and r.started_at + make_interval(mins => j.expected_duration_minutes)
           + greatest(make_interval(mins => ${sql.lit(OVERRUN_TOLERANCE_MIN_MINUTES)}),
                      make_interval(mins => j.expected_duration_minutes) * ${sql.lit(OVERRUN_TOLERANCE_RATIO)})
           < ${now}
    returning r.*`.execute(db);
  return result.rows.map((r) => toRun(r));
}

// Backup compliance ------------------------------------------------------------------------------------

export interface ComplianceRow {
  readonly ciId: string;
  readonly ciName: string;
  readonly rpoMinutes: number;
  readonly targetSince: Date;
  readonly lastGoodBackupAt: Date | null;
}

/**
 * Every live CI targeted by an enabled backup job (or only those of `ciIds`): its strictest RPO, when
 * it first became a target, and the start of the latest succeeded run of any backup job targeting it.
 */
export async function backupTargets(db: Db, ciIds?: readonly string[]): Promise<ComplianceRow[]> {
  const only = ciIds ? sql`and t.ci_id = any(${uuids(ciIds)})` : sql``;
  const result = await sql<Record<string, unknown>>`
    with targets as (
      select t.ci_id, min(j.rpo_minutes) as rpo_minutes, min(t.created_at) as target_since
        from job_targets t join jobs j on j.id = t.job_id
       where j.kind = 'backup' and j.enabled ${only}
       group by t.ci_id
    )
    select g.ci_id, c.name as ci_name, g.rpo_minutes, g.target_since,
           (select max(r.started_at)
              from job_targets t2
              join jobs j2 on j2.id = t2.job_id and j2.kind = 'backup'
              join job_runs r on r.job_id = t2.job_id and r.status = 'succeeded'
             where t2.ci_id = g.ci_id) as last_good_at
      from targets g join cis c on c.id = g.ci_id and c.retired_at is null
     order by c.name, g.ci_id`.execute(db);
  // Raw results come back camel-cased, as every query's.
  return result.rows.map((r) => ({
    ciId: r.ciId as string,
    ciName: r.ciName as string,
    rpoMinutes: Number(r.rpoMinutes),
    targetSince: new Date(r.targetSince as string),
    lastGoodBackupAt: date(r.lastGoodAt),
  }));
}

export function toCompliance(row: ComplianceRow, now: Date): CiBackupCompliance {
  const rpoMs = row.rpoMinutes * 60_000;
  const ageMs = row.lastGoodBackupAt ? now.getTime() - row.lastGoodBackupAt.getTime() : null;
  const compliant = ageMs !== null ? ageMs <= rpoMs : now.getTime() - row.targetSince.getTime() <= rpoMs;
  return {
    ciId: row.ciId,
    rpoMinutes: row.rpoMinutes,
    lastGoodBackupAt: row.lastGoodBackupAt,
    ageMs,
    targetSince: row.targetSince,
    compliant,
  };
}

export async function complianceStates(db: Db, ciIds?: readonly string[]) {
  // Locked in one order, so two reports clearing overlapping CIs wait rather than deadlock.
  let q = db.selectFrom('backupComplianceStates').selectAll().orderBy('ciId').forUpdate();
  if (ciIds) q = q.where(sql<SqlBool>`ci_id = any(${uuids(ciIds)})`);
  return q.execute();
}

export async function setComplianceState(db: Db, ciId: string, compliant: boolean, now: Date) {
  await db
    .insertInto('backupComplianceStates')
    .values({ ciId, compliant, changedAt: now })
    .onConflict((oc) => oc.column('ciId').doUpdateSet({ compliant, changedAt: now }))
    .execute();
}

export async function dropComplianceState(db: Db, ciId: string) {
  await db.deleteFrom('backupComplianceStates').where('ciId', '=', ciId).execute();
}
