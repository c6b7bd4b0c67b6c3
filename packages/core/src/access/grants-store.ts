import { type Kysely, type Selectable, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { trySweepLock } from '../kernel/scheduler-store.js';
import { groupIdsOfUser } from './groups-store.js';
import type { AccessGrantTable, Grant } from './model.js';

type Db = Kysely<Database>;

export const toGrant = ({ scopeCiId, scopeMode, ...row }: Selectable<AccessGrantTable>): Grant => ({
  id: row.id,
  role: row.role,
  userId: row.userId,
  groupId: row.groupId,
  scope: scopeCiId && scopeMode ? { ciId: scopeCiId, mode: scopeMode } : null,
  expiresAt: row.expiresAt,
  reason: row.reason,
  requestId: row.requestId,
  createdBy: row.createdBy,
  createdAt: row.createdAt,
  revokedAt: row.revokedAt,
  revokedBy: row.revokedBy,
  expiredAt: row.expiredAt,
});

export async function insertGrant(
  db: Db,
  grant: Omit<Grant, 'revokedAt' | 'revokedBy' | 'expiredAt'>,
): Promise<Grant> {
  const { scope, ...rest } = grant;
  const row = await db
    .insertInto('accessGrants')
    .values({ ...rest, scopeCiId: scope?.ciId ?? null, scopeMode: scope?.mode ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGrant(row);
}

export async function findGrant(db: Db, id: string): Promise<Grant | undefined> {
  const row = await db.selectFrom('accessGrants').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toGrant(row) : undefined;
}

export async function revokeGrant(db: Db, id: string, at: Date, by: string): Promise<Grant | undefined> {
  const row = await db
    .updateTable('accessGrants')
    .set({ revokedAt: at, revokedBy: by })
    .where('id', '=', id)
    .where('revokedAt', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row ? toGrant(row) : undefined;
}

/**
 * Marks every grant past its `expiresAt` (and neither revoked nor marked) as expired, returning those
 * this call marked. Safe from several replicas at once: a row another sweep marked first no longer
 * matches `expired_at is null` when this UPDATE gets to it, so each grant is returned by one sweep only.
 */
export async function markExpired(db: Db, now: Date): Promise<Grant[]> {
  // One sweeper at a time: another replica sweeping now does the work (and two UPDATEs taking the same
  // rows in different orders could deadlock). The guard below keeps it exact even without the lock.
  if (!(await trySweepLock(db, 'access'))) return [];
  const rows = await db
    .updateTable('accessGrants')
    .set({ expiredAt: now })
    .where('expiredAt', 'is', null)
    .where('revokedAt', 'is', null)
    .where('expiresAt', 'is not', null)
    .where('expiresAt', '<=', now)
    .returningAll()
    .execute();
  return rows
    .map(toGrant)
    .sort((a, b) => a.expiresAt!.getTime() - b.expiresAt!.getTime() || (a.id < b.id ? -1 : 1));
}

/** Whether a grant counts at `now`. */
const live = (now: Date) =>
  sql<SqlBool>`revoked_at is null and expired_at is null and (expires_at is null or expires_at > ${now})`;

export async function listGrants(
  db: Db,
  filter: {
    userId?: string | undefined;
    /** With userId: also the grants of the user's groups (nested). */
    viaGroups?: boolean;
    groupId?: string | undefined;
    role?: string | undefined;
    active?: boolean | undefined;
  },
  now: Date,
): Promise<Grant[]> {
  let q = db.selectFrom('accessGrants').selectAll().orderBy('createdAt', 'desc').orderBy('id');
  if (filter.userId) {
    const userId = filter.userId;
    q = filter.viaGroups
      ? q.where((eb) =>
          eb.or([eb('userId', '=', userId), sql<SqlBool>`group_id in ${groupIdsOfUser(userId)}`]),
        )
      : q.where('userId', '=', userId);
  }
  if (filter.groupId) q = q.where('groupId', '=', filter.groupId);
  if (filter.role) q = q.where('role', '=', filter.role);
  if (filter.active === true) q = q.where(live(now));
  if (filter.active === false) q = q.where(sql<SqlBool>`not (${live(now)})`);
  return (await q.execute()).map(toGrant);
}
