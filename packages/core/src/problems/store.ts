import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import {
  type KeysetAfter,
  type KeysetOrder,
  keysetCursor,
  keysetPage,
  parseKeysetCursor,
} from '../kernel/keyset.js';
import type {
  KnownError,
  KnownErrorState,
  Problem,
  ProblemIncidentLink,
  ProblemNote,
  ProblemOrderField,
  ProblemState,
} from './model.js';

type Db = Kysely<Database>;

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;
const date = (v: unknown) => (v ? new Date(v as string) : null);

function toProblem(row: Record<string, unknown>): Problem {
  return {
    ...(row as unknown as Problem),
    serviceIds: (row.serviceIds as string[] | null) ?? [],
    impact: Number(row.impact) as Problem['impact'],
    urgency: Number(row.urgency) as Problem['urgency'],
    priority: Number(row.priority) as Problem['priority'],
    resolvedAt: date(row.resolvedAt),
    resolvedBy: (row.resolvedBy as ActorRef | null) ?? null,
    closedAt: date(row.closedAt),
    cancelledAt: date(row.cancelledAt),
    reopenCount: Number(row.reopenCount),
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export type NewProblem = Pick<
  Problem,
  | 'id'
  | 'title'
  | 'description'
  | 'ciId'
  | 'serviceIds'
  | 'impact'
  | 'urgency'
  | 'priority'
  | 'category'
  | 'assignmentGroupId'
  | 'assigneeId'
  | 'openedBy'
  | 'createdAt'
>;

export async function insertProblem(db: Db, p: NewProblem): Promise<Problem> {
  const row = await db
    .insertInto('problems')
    .values({
      ...p,
      number: sql<string>`'PRB' || lpad(nextval('problem_number_seq')::text, 7, '0')`,
      serviceIds: JSON.stringify(p.serviceIds),
      state: 'new',
      rootCause: null,
      workaround: null,
      resolutionCode: null,
      resolutionNotes: null,
      resolvedAt: null,
      resolvedBy: null,
      closedAt: null,
      cancelledAt: null,
      openedBy: JSON.stringify(p.openedBy),
      updatedAt: p.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toProblem(row as unknown as Record<string, unknown>);
}

export async function findProblem(db: Db, id: string, forUpdate = false): Promise<Problem | undefined> {
  let q = db.selectFrom('problems').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toProblem(row as unknown as Record<string, unknown>) : undefined;
}

export async function findProblemByNumber(db: Db, number: string): Promise<Problem | undefined> {
  const row = await db.selectFrom('problems').selectAll().where('number', '=', number).executeTakeFirst();
  return row ? toProblem(row as unknown as Record<string, unknown>) : undefined;
}

export async function findProblems(db: Db, ids: readonly string[]): Promise<Problem[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('problems')
    .selectAll()
    .where(sql<SqlBool>`id = any(${uuids(ids)})`)
    .execute();
  return rows.map((r) => toProblem(r as unknown as Record<string, unknown>));
}

export async function updateProblem(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<Problem> {
  const row = await db
    .updateTable('problems')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toProblem(row as unknown as Record<string, unknown>);
}

// Listing -------------------------------------------------------------------------------------------

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const time = (v: unknown) =>
  typeof v === 'string' && TIME.test(v) && !Number.isNaN(Date.parse(v)) ? sql`${v}::timestamptz` : undefined;
const int = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 ? sql`${v}::int` : undefined);
const str = (v: unknown) => (typeof v === 'string' && v.length <= 40 ? sql`${v}::text` : undefined);

/** The orders a problem list can take; each ends with the id, so every row has one place. */
const orders: Record<ProblemOrderField, KeysetOrder<Problem>> = {
  createdAt: {
    exprs: [sql.ref('createdAt')],
    keys: (p) => [p.createdAt.toISOString()],
    params: [time],
  },
  updatedAt: {
    exprs: [sql.ref('updatedAt')],
    keys: (p) => [p.updatedAt.toISOString()],
    params: [time],
  },
  priority: {
    exprs: [sql.ref('priority'), sql.ref('createdAt')],
    keys: (p) => [p.priority, p.createdAt.toISOString()],
    params: [int, time],
  },
  // PRB0001001 < PRB10000000: by length, then text.
  number: {
    exprs: [sql`length(number)`, sql.ref('number')],
    keys: (p) => [p.number.length, p.number],
    params: [int, str],
  },
};

export interface ParsedProblemOrder {
  readonly field: ProblemOrderField;
  readonly direction: 'asc' | 'desc';
}

export function problemCursor(order: ParsedProblemOrder, p: Problem): string {
  return keysetCursor(order, orders[order.field], p);
}

export type ProblemAfter = KeysetAfter;

/** Reads a cursor back, checked in full: it comes from the client. */
export function parseProblemCursor(cursor: string, order: ParsedProblemOrder): ProblemAfter {
  return parseKeysetCursor(cursor, order, orders[order.field], 'a problem');
}

/** `strpos(lower(col), lower(text)) > 0` on any of the columns: a substring match with no pattern syntax. */
const containsText = (columns: readonly string[], text: string) =>
  sql<SqlBool>`(${sql.join(
    columns.map((c) => sql`strpos(lower(coalesce(${sql.ref(c)}, '')), ${text.toLowerCase()}) > 0`),
    sql` or `,
  )})`;

export interface ProblemQuery {
  /** Only these problems (a change checked against a filter). */
  readonly ids?: readonly string[];
  readonly state?: readonly string[];
  readonly priority?: readonly number[];
  readonly ciId?: string;
  readonly serviceId?: string;
  readonly assignmentGroupId?: string;
  readonly assigneeId?: string;
  readonly incidentId?: string;
  readonly knownError?: boolean;
  readonly text?: string;
  readonly reach: Expression<SqlBool> | null;
  readonly order: ParsedProblemOrder;
  readonly after?: ProblemAfter;
  readonly limit: number;
}

export async function listProblems(db: Db, q: ProblemQuery): Promise<Problem[]> {
  const { exprs } = orders[q.order.field];
  let query = db.selectFrom('problems').selectAll();
  if (q.ids) query = query.where(sql<SqlBool>`id = any(${uuids(q.ids)})`);
  if (q.state) query = query.where('state', 'in', q.state as ProblemState[]);
  if (q.priority) query = query.where('priority', 'in', q.priority as Problem['priority'][]);
  if (q.ciId) query = query.where('ciId', '=', q.ciId);
  if (q.serviceId) query = query.where(sql<SqlBool>`service_ids @> ${JSON.stringify([q.serviceId])}::jsonb`);
  if (q.assignmentGroupId) query = query.where('assignmentGroupId', '=', q.assignmentGroupId);
  if (q.assigneeId) query = query.where('assigneeId', '=', q.assigneeId);
  if (q.incidentId)
    query = query.where(
      sql<SqlBool>`exists (select 1 from problem_incidents l where l.problem_id = problems.id and l.incident_id = ${q.incidentId}::uuid)`,
    );
  if (q.knownError !== undefined) {
    const published = sql<SqlBool>`exists (select 1 from known_errors k where k.problem_id = problems.id and k.state = 'published')`;
    query = query.where(q.knownError ? published : sql<SqlBool>`not ${published}`);
  }
  if (q.text) query = query.where(containsText(['title', 'description', 'root_cause', 'workaround'], q.text));
  if (q.reach) query = query.where(q.reach);
  const rows = await keysetPage(query, exprs, q.order.direction, q.after).limit(q.limit).execute();
  return rows.map((r) => toProblem(r as unknown as Record<string, unknown>));
}

// Incidents ---------------------------------------------------------------------------------------------

/** Links incidents to a problem; links already there are left alone. Those linked now. */
export async function linkIncidents(
  db: Db,
  problemId: string,
  incidentIds: readonly string[],
  now: Date,
  by: ActorRef,
): Promise<string[]> {
  if (incidentIds.length === 0) return [];
  const { rows } = await sql<{ incidentId: string }>`
    insert into problem_incidents (problem_id, incident_id, linked_at, linked_by)
    select ${problemId}::uuid, i, ${now}, ${JSON.stringify(by)}::jsonb
      from unnest(${uuids([...new Set(incidentIds)].sort())}) i
    on conflict do nothing
    returning incident_id`.execute(db);
  return rows.map((r) => r.incidentId);
}

/** Unlinks incidents from a problem. Those that were linked. */
export async function unlinkIncidents(
  db: Db,
  problemId: string,
  incidentIds: readonly string[],
): Promise<string[]> {
  if (incidentIds.length === 0) return [];
  const rows = await db
    .deleteFrom('problemIncidents')
    .where('problemId', '=', problemId)
    .where(sql<SqlBool>`incident_id = any(${uuids(incidentIds)})`)
    .returning('incidentId')
    .execute();
  return rows.map((r) => r.incidentId).sort();
}

export async function incidentLinksOf(db: Db, problemIds: readonly string[]): Promise<ProblemIncidentLink[]> {
  if (problemIds.length === 0) return [];
  const rows = await db
    .selectFrom('problemIncidents')
    .selectAll()
    .where(sql<SqlBool>`problem_id = any(${uuids(problemIds)})`)
    .orderBy('linkedAt')
    .orderBy('incidentId')
    .execute();
  return rows.map((r) => ({ ...r, linkedAt: new Date(r.linkedAt) }));
}

/** The problems linked to each of these incidents, oldest link first. */
export async function problemsOfIncidents(
  db: Db,
  incidentIds: readonly string[],
  reach: Expression<SqlBool> | null,
): Promise<{ incidentId: string; problem: Problem }[]> {
  if (incidentIds.length === 0) return [];
  let query = db
    .selectFrom('problemIncidents as l')
    .innerJoin('problems', 'problems.id', 'l.problemId')
    .selectAll('problems')
    .select('l.incidentId as linkIncidentId')
    .where(sql<SqlBool>`l.incident_id = any(${uuids(incidentIds)})`);
  if (reach) query = query.where(reach);
  const rows = await query.orderBy('l.linkedAt').orderBy('problems.number').execute();
  return rows.map((r) => ({
    incidentId: r.linkIncidentId,
    problem: toProblem(r as unknown as Record<string, unknown>),
  }));
}

// Notes -----------------------------------------------------------------------------------------------

export async function insertNote(
  db: Db,
  note: { id: string; problemId: string; body: string; author: ActorRef; createdAt: Date },
): Promise<ProblemNote> {
  const row = await db
    .insertInto('problemNotes')
    .values({ ...note, author: JSON.stringify(note.author) })
    .returning(['id', 'problemId', 'body', 'author', 'createdAt'])
    .executeTakeFirstOrThrow();
  return { ...row, createdAt: new Date(row.createdAt) };
}

export async function listNotes(db: Db, problemIds: readonly string[]): Promise<ProblemNote[]> {
  if (problemIds.length === 0) return [];
  const rows = await db
    .selectFrom('problemNotes')
    .selectAll()
    .where(sql<SqlBool>`problem_id = any(${uuids(problemIds)})`)
    .orderBy('seq')
    .execute();
  return rows.map(({ seq: _, ...r }) => ({ ...r, createdAt: new Date(r.createdAt) }));
}

// Known errors ------------------------------------------------------------------------------------------

function toKnownError(row: Record<string, unknown>): KnownError {
  return {
    id: row.id as string,
    number: row.number as string,
    problemId: row.problemId as string,
    problemNumber: row.problemNumber as string,
    title: row.title as string,
    workaround: row.workaround as string,
    rootCause: (row.rootCause as string | null) ?? null,
    ciId: (row.ciId as string | null) ?? null,
    serviceIds: (row.serviceIds as string[] | null) ?? [],
    state: row.state as KnownErrorState,
    publishedAt: new Date(row.publishedAt as string),
    publishedBy: row.publishedBy as ActorRef,
    retiredAt: date(row.retiredAt),
    retiredBy: (row.retiredBy as ActorRef | null) ?? null,
    retiredReason: (row.retiredReason as string | null) ?? null,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

/** Known errors with what they take from their problem (number, root cause, CI, services). */
const knownErrorRows = (db: Db) =>
  db
    .selectFrom('knownErrors as k')
    .innerJoin('problems as p', 'p.id', 'k.problemId')
    .selectAll('k')
    .select(['p.number as problemNumber', 'p.rootCause', 'p.ciId', 'p.serviceIds']);

export async function findKnownError(
  db: Db,
  by: { id: string } | { number: string } | { problemId: string },
): Promise<KnownError | undefined> {
  let q = knownErrorRows(db);
  if ('id' in by) q = q.where('k.id', '=', by.id);
  else if ('number' in by) q = q.where('k.number', '=', by.number);
  else q = q.where('k.problemId', '=', by.problemId);
  const row = await q.executeTakeFirst();
  return row ? toKnownError(row as unknown as Record<string, unknown>) : undefined;
}

/** The known errors of these problems (one each at most), in one query. */
export async function knownErrorsOfProblems(db: Db, problemIds: readonly string[]): Promise<KnownError[]> {
  if (problemIds.length === 0) return [];
  const rows = await knownErrorRows(db)
    .where(sql<SqlBool>`k.problem_id = any(${uuids(problemIds)})`)
    .execute();
  return rows.map((r) => toKnownError(r as unknown as Record<string, unknown>));
}

/** Locks a problem's known error for a change. */
export async function lockKnownError(db: Db, problemId: string): Promise<void> {
  await db.selectFrom('knownErrors').select('id').where('problemId', '=', problemId).forUpdate().execute();
}

export async function insertKnownError(
  db: Db,
  k: { id: string; problemId: string; title: string; workaround: string; by: ActorRef; now: Date },
): Promise<void> {
  await db
    .insertInto('knownErrors')
    .values({
      id: k.id,
      number: sql<string>`'KE' || lpad(nextval('known_error_number_seq')::text, 7, '0')`,
      problemId: k.problemId,
      title: k.title,
      workaround: k.workaround,
      state: 'published',
      publishedAt: k.now,
      publishedBy: JSON.stringify(k.by),
      createdAt: k.now,
      updatedAt: k.now,
    })
    .execute();
}

export async function updateKnownError(
  db: Db,
  id: string,
  change: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await db
    .updateTable('knownErrors')
    .set({ ...(change as object), updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .execute();
}

export interface KnownErrorQuery {
  /** Known errors whose problem is on this CI. */
  readonly ciId?: string;
  /** Known errors whose problem reaches this business service. */
  readonly serviceId?: string;
  /** Known errors whose problem is on one of these CIs or reaches one of these services (matching). */
  readonly match?: { readonly ciIds: readonly string[]; readonly serviceIds: readonly string[] };
  readonly text?: string;
  readonly state: readonly KnownErrorState[];
  /** Reach condition on the problem's CI (`p.ci_id`); null: all. */
  readonly reach: Expression<SqlBool> | null;
  readonly limit: number;
}

/** Known errors, newest publication first. */
export async function listKnownErrors(db: Db, q: KnownErrorQuery): Promise<KnownError[]> {
  let query = knownErrorRows(db).where('k.state', 'in', [...q.state]);
  if (q.ciId) query = query.where('p.ciId', '=', q.ciId);
  if (q.serviceId)
    query = query.where(sql<SqlBool>`p.service_ids @> ${JSON.stringify([q.serviceId])}::jsonb`);
  if (q.match) {
    const { ciIds, serviceIds } = q.match;
    query = query.where(
      sql<SqlBool>`(p.ci_id = any(${uuids(ciIds)}) or p.service_ids ?| ${[...serviceIds]}::text[])`,
    );
  }
  if (q.text) query = query.where(containsText(['k.title', 'k.workaround', 'p.root_cause'], q.text));
  if (q.reach) query = query.where(q.reach);
  const rows = await query.orderBy('k.publishedAt', 'desc').orderBy('k.id', 'desc').limit(q.limit).execute();
  return rows.map((r) => toKnownError(r as unknown as Record<string, unknown>));
}
