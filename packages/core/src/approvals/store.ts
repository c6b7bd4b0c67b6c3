import { type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely';
import { groupIdsOfUser } from '../access/groups-store.js';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import type { Approval, ApprovalDecision, ApprovalDecisionKind, ApprovalState } from './model.js';

type Db = Kysely<Database>;

/** Approvals with their decisions (in order) aggregated into one row each. */
const withDecisions = (db: Db) =>
  db
    .selectFrom('approvals as a')
    .selectAll('a')
    .select(
      sql<unknown[]>`coalesce((select json_agg(json_build_object(
          'id', d.id, 'userId', d.user_id, 'decision', d.decision, 'comment', d.comment,
          'decidedBy', d.decided_by, 'decidedAt', d.decided_at) order by d.seq)
        from approval_decisions d where d.approval_id = a.id), '[]'::json)`.as('decisions'),
    );

const date = (v: unknown) => (v ? new Date(v as string) : null);

export function toApproval(row: Record<string, unknown>): Approval {
  const decisions = ((row.decisions as Record<string, unknown>[] | null) ?? []).map(
    (d): ApprovalDecision => ({
      id: d.id as string,
      userId: d.userId as string,
      decision: d.decision as ApprovalDecisionKind,
      comment: d.comment as string,
      decidedBy: d.decidedBy as ActorRef,
      decidedAt: new Date(d.decidedAt as string),
    }),
  );
  return {
    id: row.id as string,
    subject: { type: row.subjectType as string, id: row.subjectId as string },
    round: Number(row.round),
    step: Number(row.step),
    name: row.name as string,
    approvers: {
      groupId: (row.approverGroupId as string | null) ?? null,
      role: (row.approverRole as string | null) ?? null,
      userId: (row.approverUserId as string | null) ?? null,
    },
    quorum: Number(row.quorum),
    state: row.state as ApprovalState,
    requesterId: (row.requesterId as string | null) ?? null,
    openedBy: row.openedBy as ActorRef,
    pendingSince: date(row.pendingSince),
    settledAt: date(row.settledAt),
    decisions,
    approvals: decisions.filter((d) => d.decision === 'approve').length,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export interface NewStep {
  readonly id: string;
  readonly step: number;
  readonly name: string;
  readonly approverGroupId: string | null;
  readonly approverRole: string | null;
  readonly approverUserId: string | null;
  readonly quorum: number;
  readonly state: ApprovalState;
}

/** Serialises opening, deciding and cancelling the approvals of one subject until commit. */
export async function lockSubject(db: Db, type: string, id: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('opsgraph.approvals'), hashtext(${`${type}:${id}`}))`.execute(
    db,
  );
}

/** The latest round of a subject (0 when it never had approvals). */
export async function latestRound(db: Db, type: string, id: string): Promise<number> {
  const row = await db
    .selectFrom('approvals')
    .select((eb) => eb.fn.max('round').as('round'))
    .where('subjectType', '=', type)
    .where('subjectId', '=', id)
    .executeTakeFirst();
  return Number(row?.round ?? 0);
}

export async function insertSteps(
  db: Db,
  subject: { type: string; id: string },
  round: number,
  steps: readonly NewStep[],
  requesterId: string | null,
  by: ActorRef,
  now: Date,
): Promise<void> {
  await db
    .insertInto('approvals')
    .values(
      steps.map((s) => ({
        ...s,
        subjectType: subject.type,
        subjectId: subject.id,
        round,
        requesterId,
        openedBy: JSON.stringify(by),
        pendingSince: s.state === 'pending' ? now : null,
        createdAt: now,
        updatedAt: now,
      })),
    )
    .execute();
}

export async function findApproval(db: Db, id: string, forUpdate = false): Promise<Approval | undefined> {
  let q = withDecisions(db).where('a.id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toApproval(row as unknown as Record<string, unknown>) : undefined;
}

/** The steps of a subject's round (default: every round), in round and step order. */
export async function approvalsOfSubject(
  db: Db,
  type: string,
  id: string,
  round?: number,
): Promise<Approval[]> {
  let q = withDecisions(db).where('a.subjectType', '=', type).where('a.subjectId', '=', id);
  if (round !== undefined) q = q.where('a.round', '=', round);
  const rows = await q.orderBy('a.round').orderBy('a.step').execute();
  return rows.map((r) => toApproval(r as unknown as Record<string, unknown>));
}

/** The steps of several subjects of one type, every round, in round and step order. */
export async function approvalsOfSubjects(db: Db, type: string, ids: readonly string[]): Promise<Approval[]> {
  if (ids.length === 0) return [];
  const rows = await withDecisions(db)
    .where('a.subjectType', '=', type)
    .where(sql<SqlBool>`a.subject_id = any(${[...ids]}::uuid[])`)
    .orderBy('a.subjectId')
    .orderBy('a.round')
    .orderBy('a.step')
    .execute();
  return rows.map((r) => toApproval(r as unknown as Record<string, unknown>));
}

export async function setState(
  db: Db,
  ids: readonly string[],
  state: ApprovalState,
  now: Date,
): Promise<void> {
  if (ids.length === 0) return;
  const settled = state === 'approved' || state === 'rejected' || state === 'cancelled';
  await db
    .updateTable('approvals')
    .set({
      state,
      updatedAt: now,
      version: sql`version + 1`,
      ...(settled ? { settledAt: now } : {}),
      ...(state === 'pending' ? { pendingSince: now } : {}),
    })
    .where('id', 'in', [...ids])
    .execute();
}

export async function touch(db: Db, id: string, now: Date): Promise<void> {
  await db
    .updateTable('approvals')
    .set({ updatedAt: now, version: sql`version + 1` })
    .where('id', '=', id)
    .execute();
}

export async function insertDecision(
  db: Db,
  d: {
    id: string;
    approvalId: string;
    userId: string;
    decision: ApprovalDecisionKind;
    comment: string;
    decidedBy: ActorRef;
    decidedAt: Date;
  },
): Promise<void> {
  await db
    .insertInto('approvalDecisions')
    .values({ ...d, decidedBy: JSON.stringify(d.decidedBy) })
    .execute();
}

/**
 * The SQL condition "the user may decide approval `a`": a member of its group (at any depth), a holder
 * of its role (a grant that counts now, to the user or to a group it is in), or the named user.
 */
export function eligible(userId: string, now: Date): RawBuilder<SqlBool> {
  const groups = groupIdsOfUser(userId);
  return sql<SqlBool>`(
    a.approver_user_id = ${userId}::uuid
    or a.approver_group_id in ${groups}
    or (a.approver_role is not null and exists (
      select 1 from access_grants g
       where g.role = a.approver_role
         and g.revoked_at is null and g.expired_at is null
         and (g.expires_at is null or g.expires_at > ${now})
         and (g.user_id = ${userId}::uuid or g.group_id in ${groups}))))`;
}

/** Whether the user may decide the approval. */
export async function isEligible(db: Db, approvalId: string, userId: string, now: Date): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`
    select exists (select 1 from approvals a where a.id = ${approvalId}::uuid and ${eligible(userId, now)}) as ok`.execute(
    db,
  );
  return rows[0]?.ok === true;
}

export interface ApprovalQuery {
  /** Pending, decidable by this user, not decided by it yet, not its own subject. */
  readonly pendingFor?: string;
  /** Only steps this user may decide (a reader without the subject types' read permission). */
  readonly eligibleFor?: string;
  /** Restricts to these subject types (what the reader may see). */
  readonly subjectTypes?: readonly string[];
  readonly subjectId?: string;
  readonly state?: readonly ApprovalState[];
  readonly now: Date;
  /** Keyset: after (createdAt, id) in descending order. */
  readonly after?: readonly [string, string];
  readonly limit: number;
}

export async function listApprovals(db: Db, q: ApprovalQuery): Promise<Approval[]> {
  let query = withDecisions(db);
  if (q.pendingFor) {
    const user = q.pendingFor;
    query = query
      .where('a.state', '=', 'pending')
      .where(eligible(user, q.now))
      .where(sql<SqlBool>`a.requester_id is distinct from ${user}::uuid`)
      .where(
        sql<SqlBool>`not exists (select 1 from approval_decisions d where d.approval_id = a.id and d.user_id = ${user}::uuid)`,
      );
  }
  if (q.eligibleFor) query = query.where(eligible(q.eligibleFor, q.now));
  if (q.subjectTypes) query = query.where('a.subjectType', 'in', [...q.subjectTypes, '']);
  if (q.subjectId) query = query.where('a.subjectId', '=', q.subjectId);
  if (q.state) query = query.where('a.state', 'in', [...q.state]);
  if (q.after) {
    const [createdAt, id] = q.after;
    query = query.where(
      sql<SqlBool>`(a.created_at, a.id) < (${new Date(createdAt)}::timestamptz, ${id}::uuid)`,
    );
  }
  const rows = await query.orderBy('a.createdAt', 'desc').orderBy('a.id', 'desc').limit(q.limit).execute();
  return rows.map((r) => toApproval(r as unknown as Record<string, unknown>));
}
