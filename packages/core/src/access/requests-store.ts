import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../db/database.js';
import type { AccessRequest, AccessRequestState, AccessRequestTable } from './model.js';

type Db = Kysely<Database>;

const toRequest = ({ scopeCiId, scopeMode, ...row }: Selectable<AccessRequestTable>): AccessRequest => ({
  id: row.id,
  requesterId: row.requesterId,
  role: row.role,
  scope: scopeCiId && scopeMode ? { ciId: scopeCiId, mode: scopeMode } : null,
  reason: row.reason,
  durationSeconds: row.durationSeconds,
  until: row.until,
  state: row.state,
  version: row.version,
  decidedBy: row.decidedBy,
  decidedAt: row.decidedAt,
  decisionNote: row.decisionNote,
  grantId: row.grantId,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

export async function insertRequest(
  db: Db,
  request: Omit<
    AccessRequest,
    'version' | 'state' | 'decidedBy' | 'decidedAt' | 'decisionNote' | 'grantId' | 'updatedAt'
  >,
): Promise<AccessRequest> {
  const { scope, ...rest } = request;
  const row = await db
    .insertInto('accessRequests')
    .values({
      ...rest,
      scopeCiId: scope?.ciId ?? null,
      scopeMode: scope?.mode ?? null,
      state: 'pending',
      updatedAt: request.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRequest(row);
}

export async function findRequest(db: Db, id: string): Promise<AccessRequest | undefined> {
  const row = await db.selectFrom('accessRequests').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRequest(row) : undefined;
}

/** Decides a request still pending at `version`; undefined when someone else changed it first. */
export async function decideRequest(
  db: Db,
  id: string,
  version: number,
  decision: {
    state: Exclude<AccessRequestState, 'pending'>;
    decidedBy: string;
    decidedAt: Date;
    decisionNote: string | null;
    grantId: string | null;
  },
): Promise<AccessRequest | undefined> {
  const row = await db
    .updateTable('accessRequests')
    .set({ ...decision, version: version + 1, updatedAt: decision.decidedAt })
    .where('id', '=', id)
    .where('state', '=', 'pending')
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();
  return row ? toRequest(row) : undefined;
}

export async function listRequests(
  db: Db,
  filter: { state?: AccessRequestState | undefined; requesterId?: string | undefined },
  limit: number,
): Promise<AccessRequest[]> {
  let q = db.selectFrom('accessRequests').selectAll().orderBy('createdAt', 'desc').orderBy('id').limit(limit);
  if (filter.state) q = q.where('state', '=', filter.state);
  if (filter.requesterId) q = q.where('requesterId', '=', filter.requesterId);
  return (await q.execute()).map(toRequest);
}

/** The requester's pending request for the same role on the same scope, if any. */
export async function findPendingLike(
  db: Db,
  requesterId: string,
  role: string,
  scope: { ciId: string; mode: string } | null,
): Promise<AccessRequest | undefined> {
  let q = db
    .selectFrom('accessRequests')
    .selectAll()
    .where('requesterId', '=', requesterId)
    .where('role', '=', role)
    .where('state', '=', 'pending');
  q = scope
    ? q.where('scopeCiId', '=', scope.ciId).where('scopeMode', '=', scope.mode as never)
    : q.where('scopeCiId', 'is', null);
  const row = await q.executeTakeFirst();
  return row ? toRequest(row) : undefined;
}
