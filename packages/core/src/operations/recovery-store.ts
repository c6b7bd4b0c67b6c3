import { type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import {
  type KeysetAfter,
  type KeysetOrder,
  keysetCursor,
  keysetPage,
  parseKeysetCursor,
} from '../kernel/keyset.js';
import { BUSINESS_SERVICE_CLASS } from '../topology/model.js';
import {
  type DrPlan,
  type DrPlanState,
  type DrTest,
  type DrTestOutcome,
  isoDuration,
  type RunbookStep,
  type StoredRunbookStep,
} from './recovery-model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;
const date = (v: unknown) => (v ? new Date(v as string) : null);

// Plans -----------------------------------------------------------------------------------------------

/** Serialises plan writes of one service, so "one live plan per service" is checked on settled rows. */
export async function lockService(db: Db, serviceId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`opsgraph.recovery.service:${serviceId}`}))`.execute(db);
}

/** The CI `id` with whether it is live and of class `business_service` or a subclass; undefined if none. */
export async function serviceCi(db: Db, id: string) {
  const result = await sql<{ id: string; class: string; status: string; isService: boolean }>`
    with recursive under(name) as (
      select ${BUSINESS_SERVICE_CLASS}::text
      union
      select k.name from ci_classes k join under u on k.parent = u.name
    )
    select c.id, c.class, c.status, c.class in (select name from under) as is_service
      from cis c where c.id = ${id}::uuid`.execute(db);
  return result.rows[0];
}

/** Those of `ids` that name live CIs. */
export async function liveCis(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('cis')
    .select('id')
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .where('status', '<>', 'retired')
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Those of `ids` that name groups. */
export async function existingGroups(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('accessGroups')
    .select('id')
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .execute();
  return new Set(rows.map((r) => r.id));
}

export interface PlanRow {
  id: string;
  serviceId: string;
  rtoSeconds: number;
  rpoSeconds: number;
  testEverySeconds: number | null;
  ownerGroupId: string | null;
  steps: StoredRunbookStep[];
  state: DrPlanState;
  version: number;
  createdBy: ActorRef;
  createdAt: Date;
  updatedAt: Date;
  retiredAt: Date | null;
  retiredReason: string | null;
  lastPassedAt: Date | null;
}

/** When the newest passing test of the plan `p` ended (the row must be aliased or named `dr_plans`). */
const lastPassedAt = (plan: string) =>
  sql<Date | null>`(select max(t.ended_at) from dr_tests t where t.plan_id = ${sql.ref(`${plan}.id`)} and t.outcome = 'passed')`;

/** The moment a live plan with a schedule is next due for a test (null otherwise). */
const nextDue = (plan: string) => sql`case when ${sql.ref(`${plan}.state`)} = 'live'
  then coalesce(${lastPassedAt(plan)}, ${sql.ref(`${plan}.created_at`)})
       + ${sql.ref(`${plan}.test_every_seconds`)} * interval '1 second' end`;

const planColumns = (db: Db) =>
  db.selectFrom('drPlans').selectAll('drPlans').select(lastPassedAt('dr_plans').as('lastPassedAt'));

function toRow(row: Record<string, unknown>): PlanRow {
  return {
    ...(row as unknown as PlanRow),
    rtoSeconds: Number(row.rtoSeconds),
    rpoSeconds: Number(row.rpoSeconds),
    testEverySeconds: row.testEverySeconds == null ? null : Number(row.testEverySeconds),
    // jsonb sorts keys its own way: rebuild each step in one key order, so a change compares by value.
    steps: (row.steps as StoredRunbookStep[]).map((s) => ({
      title: s.title,
      details: s.details,
      ciId: s.ciId,
      expectedDurationSeconds: s.expectedDurationSeconds,
      ownerGroupId: s.ownerGroupId,
    })),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
    retiredAt: date(row.retiredAt),
    lastPassedAt: date(row.lastPassedAt),
  };
}

/** A plan row with its newest test, as of `now` (whether its test schedule has lapsed). */
export function toPlan(row: PlanRow, lastTest: DrTest | null, now: Date): DrPlan {
  const nextTestDue =
    row.state === 'live' && row.testEverySeconds !== null
      ? new Date((row.lastPassedAt ?? row.createdAt).getTime() + row.testEverySeconds * 1000)
      : null;
  return {
    id: row.id,
    serviceId: row.serviceId,
    rto: isoDuration(row.rtoSeconds),
    rtoSeconds: row.rtoSeconds,
    rpo: isoDuration(row.rpoSeconds),
    rpoSeconds: row.rpoSeconds,
    testEvery: row.testEverySeconds === null ? null : isoDuration(row.testEverySeconds),
    testEverySeconds: row.testEverySeconds,
    ownerGroupId: row.ownerGroupId,
    steps: row.steps.map(toStep),
    state: row.state,
    version: row.version,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    retiredAt: row.retiredAt,
    retiredReason: row.retiredReason,
    lastTest,
    lastPassedAt: row.lastPassedAt,
    nextTestDue,
    testOverdue: nextTestDue !== null && nextTestDue.getTime() < now.getTime(),
  };
}

const toStep = (s: StoredRunbookStep, i: number): RunbookStep => ({
  position: i + 1,
  title: s.title,
  details: s.details,
  ciId: s.ciId,
  expectedDuration: s.expectedDurationSeconds === null ? null : isoDuration(s.expectedDurationSeconds),
  expectedDurationSeconds: s.expectedDurationSeconds,
  ownerGroupId: s.ownerGroupId,
});

export async function insertPlan(
  db: Db,
  p: Omit<PlanRow, 'version' | 'updatedAt' | 'retiredAt' | 'retiredReason' | 'lastPassedAt' | 'state'>,
): Promise<void> {
  await db
    .insertInto('drPlans')
    .values({
      ...p,
      steps: JSON.stringify(p.steps),
      createdBy: JSON.stringify(p.createdBy),
      state: 'live',
      updatedAt: p.createdAt,
      retiredAt: null,
      retiredReason: null,
    })
    .execute();
}

export async function updatePlan(
  db: Db,
  id: string,
  change: Partial<
    Pick<PlanRow, 'rtoSeconds' | 'rpoSeconds' | 'testEverySeconds' | 'ownerGroupId' | 'steps'> & {
      state: DrPlanState;
      retiredAt: Date;
      retiredReason: string;
    }
  >,
  now: Date,
): Promise<void> {
  const { steps, ...rest } = change;
  await db
    .updateTable('drPlans')
    .set({
      ...rest,
      ...(steps ? { steps: JSON.stringify(steps) } : {}),
      updatedAt: now,
      version: sql`version + 1`,
    })
    .where('id', '=', id)
    .execute();
}

export async function findPlan(db: Db, id: string, forUpdate = false): Promise<PlanRow | undefined> {
  let q = planColumns(db).where('drPlans.id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toRow(row as unknown as Record<string, unknown>) : undefined;
}

export async function listPlansById(db: Db, ids: readonly string[]): Promise<PlanRow[]> {
  const rows = await planColumns(db)
    .where(sql<SqlBool>`dr_plans.id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toRow(r as unknown as Record<string, unknown>));
}

export async function livePlanOf(db: Db, serviceId: string): Promise<PlanRow | undefined> {
  const row = await planColumns(db)
    .where('drPlans.serviceId', '=', serviceId)
    .where('drPlans.state', '=', 'live')
    .executeTakeFirst();
  return row ? toRow(row as unknown as Record<string, unknown>) : undefined;
}

/** The list's one order: newest first, then id. */
const byCreated: KeysetOrder<{ createdAt: Date }> = {
  exprs: [sql.ref('dr_plans.created_at')],
  keys: (p) => [p.createdAt.toISOString()],
  params: [
    (v) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? sql`${v}::timestamptz` : undefined),
  ],
};
const createdDesc = { field: 'createdAt', direction: 'desc' } as const;

export const planCursor = (p: { id: string; createdAt: Date }): string =>
  keysetCursor(createdDesc, byCreated, p);
export const parsePlanCursor = (cursor: string): KeysetAfter =>
  parseKeysetCursor(cursor, createdDesc, byCreated, 'a DR plan');

export interface PlanQuery {
  readonly serviceId?: string | undefined;
  readonly ownerGroupId?: string | undefined;
  readonly state: readonly DrPlanState[];
  readonly overdue?: boolean | undefined;
  readonly now: Date;
  readonly after?: KeysetAfter | undefined;
  readonly limit: number;
}

export async function listPlans(db: Db, q: PlanQuery): Promise<PlanRow[]> {
  let query = planColumns(db).where('drPlans.state', 'in', [...q.state]);
  if (q.serviceId) query = query.where('drPlans.serviceId', '=', q.serviceId);
  if (q.ownerGroupId) query = query.where('drPlans.ownerGroupId', '=', q.ownerGroupId);
  if (q.overdue !== undefined) {
    const lapsed = sql<SqlBool>`coalesce(${nextDue('dr_plans')} < ${q.now}, false)`;
    query = query.where(q.overdue ? lapsed : sql<SqlBool>`not ${lapsed}`);
  }
  const page = keysetPage(query, byCreated.exprs, 'desc', q.after).limit(q.limit);
  return (await page.execute()).map((r) => toRow(r as unknown as Record<string, unknown>));
}

// Tests -----------------------------------------------------------------------------------------------

export function toTest(row: Record<string, unknown>): DrTest {
  const achievedRtoSeconds = Number(row.achievedRtoSeconds);
  const achievedRpoSeconds = Number(row.achievedRpoSeconds);
  const targetRtoSeconds = Number(row.targetRtoSeconds);
  const targetRpoSeconds = Number(row.targetRpoSeconds);
  const outcome = row.outcome as DrTestOutcome;
  return {
    id: row.id as string,
    planId: row.planId as string,
    planVersion: Number(row.planVersion),
    startedAt: new Date(row.startedAt as string),
    endedAt: new Date(row.endedAt as string),
    achievedRto: isoDuration(achievedRtoSeconds),
    achievedRtoSeconds,
    achievedRpo: isoDuration(achievedRpoSeconds),
    achievedRpoSeconds,
    targetRtoSeconds,
    targetRpoSeconds,
    rtoMet: achievedRtoSeconds <= targetRtoSeconds,
    rpoMet: achievedRpoSeconds <= targetRpoSeconds,
    outcome,
    passed: outcome === 'passed',
    notes: row.notes as string,
    recordedBy: row.recordedBy as ActorRef,
    recordedAt: new Date(row.recordedAt as string),
  };
}

export async function insertTest(
  db: Db,
  t: {
    id: string;
    planId: string;
    planVersion: number;
    startedAt: Date;
    endedAt: Date;
    achievedRtoSeconds: number;
    achievedRpoSeconds: number;
    targetRtoSeconds: number;
    targetRpoSeconds: number;
    outcome: DrTestOutcome;
    notes: string;
    recordedBy: ActorRef;
    recordedAt: Date;
  },
): Promise<DrTest> {
  const row = await db
    .insertInto('drTests')
    .values({ ...t, recordedBy: JSON.stringify(t.recordedBy) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toTest(row as unknown as Record<string, unknown>);
}

/** The newest test (by start) of each of `planIds`, in one query. */
export async function latestTests(db: Db, planIds: readonly string[]): Promise<Map<string, DrTest>> {
  if (planIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('drTests')
    .selectAll()
    .distinctOn('planId')
    .where(sql<SqlBool>`plan_id = any(${uuids(planIds)})`)
    .orderBy('planId')
    .orderBy('startedAt', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return new Map(rows.map((r) => [r.planId, toTest(r as unknown as Record<string, unknown>)]));
}

/** A plan's tests newest first (by start, then id), after the (start, id) position `after`. */
export async function listTests(
  db: Db,
  planId: string,
  after: [string, string] | undefined,
  limit: number,
): Promise<DrTest[]> {
  let q = db.selectFrom('drTests').selectAll().where('planId', '=', planId);
  if (after) q = q.where(sql<SqlBool>`(started_at, id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`);
  const rows = await q.orderBy('startedAt', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => toTest(r as unknown as Record<string, unknown>));
}

/**
 * The newest `limit` tests (by start, then id) of each of `planIds`, in one query: a lateral join that
 * reads each plan's first rows from the (plan_id, started_at desc, id desc) index.
 */
export async function firstTestsOf(
  db: Db,
  planIds: readonly string[],
  limit: number,
): Promise<Map<string, DrTest[]>> {
  const out = new Map<string, DrTest[]>();
  if (planIds.length === 0 || limit === 0) return out;
  const { rows } = await sql<Record<string, unknown>>`
    select t.* from unnest(${uuids(planIds)}) p(id)
     cross join lateral (
       select * from dr_tests d where d.plan_id = p.id
        order by d.started_at desc, d.id desc limit ${limit}
     ) t
     order by t.plan_id, t.started_at desc, t.id desc`.execute(db);
  for (const row of rows) {
    const test = toTest(row);
    out.set(test.planId, [...(out.get(test.planId) ?? []), test]);
  }
  return out;
}

// Recovery order --------------------------------------------------------------------------------------

/** A CI of a service's dependency subgraph, with the CIs of the subgraph it needs. */
export interface NeedRow {
  readonly origin: string;
  readonly id: string;
  readonly depth: number;
  readonly name: string;
  readonly class: string;
  readonly status: string;
  readonly needs: string[];
  /** It needs a live CI beyond the depth limit. */
  readonly beyond: boolean;
}

/**
 * The CIs `from` needs recovered first, one step away: by each relationship type's propagation, the
 * end a failure comes from. `to_source` types (depends_on, runs_on, hosted_on): the source needs the
 * target. `to_target` types (contains, member_of): the target needs the source (a cluster its members,
 * a rack's server its rack). `both` types (connected_to) are read as recorded, the source needing the
 * target: a failure crosses them either way, but a recovery order needs one direction. `none`: never.
 */
const needsOf = (from: RawBuilder<unknown>) => sql`
  select r.target_id as needed from relationships r
   where r.source_id = ${from}
     and r.type in (select k.name from relationship_types k where k.propagation in ('to_source', 'both'))
  union all
  select r.source_id from relationships r
   where r.target_id = ${from}
     and r.type in (select k.name from relationship_types k where k.propagation = 'to_target')`;

/**
 * For each of `serviceIds`, the CIs it needs transitively (itself included) within `maxDepth`
 * relationships, each with the CIs of that set it needs directly: the edges of the subgraph. One
 * breadth-first walk per service, in one query; each level is one row carrying the CIs seen so far, so
 * a CI is expanded once however many paths (or cycles) reach it. Retired CIs are skipped: never reached,
 * never walked through, never started from. At most `limit` rows come back per query.
 */
export async function dependencySubgraphs(
  db: Db,
  serviceIds: readonly string[],
  maxDepth: number,
  limit: number,
): Promise<NeedRow[]> {
  if (serviceIds.length === 0) return [];
  const result = await sql<NeedRow>`
    with recursive bfs(origin, depth, ids, seen) as (
      select c.id, 0, array[c.id], array[c.id]
        from cis c where c.id = any(${uuids(serviceIds)}) and c.status <> 'retired'
      union all
      select b.origin, b.depth + 1, n.ids, b.seen || n.ids
        from bfs b
        cross join lateral (
          select array_agg(distinct e.needed) as ids
            from unnest(b.ids) f(id)
            cross join lateral (${needsOf(sql`f.id`)}) e
            left join unnest(b.seen) v(id) on v.id = e.needed
            join cis c on c.id = e.needed and c.status <> 'retired'
           where v.id is null
        ) n
       where b.depth < ${maxDepth} and n.ids is not null
    ),
    nodes as (select b.origin, x.id, b.depth from bfs b cross join lateral unnest(b.ids) x(id))
    select n.origin, n.id, n.depth, c.name, c.class, c.status,
           coalesce((select array_agg(distinct e.needed::text order by e.needed::text)
                       from (${needsOf(sql`n.id`)}) e
                       join nodes m on m.origin = n.origin and m.id = e.needed), '{}'::text[]) as needs,
           exists (select 1
                     from (${needsOf(sql`n.id`)}) e
                     join cis x on x.id = e.needed and x.status <> 'retired'
                    where not exists (select 1 from nodes m where m.origin = n.origin and m.id = e.needed)) as beyond
      from nodes n
      join cis c on c.id = n.id
     order by n.origin, n.depth, c.name, c.id
     limit ${limit}`.execute(db);
  return result.rows.map((r) => ({ ...r, depth: Number(r.depth), needs: r.needs ?? [] }));
}
