import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { jsonRows } from '../db/json-rows.js';
import { containsPattern } from './common.js';
import type { User } from './model.js';

type Db = Kysely<Database>;

export const findUser = (db: Db, id: string): Promise<User | undefined> =>
  db.selectFrom('accessUsers').selectAll().where('id', '=', id).executeTakeFirst();

export const findUsers = (db: Db, ids: readonly string[]): Promise<User[]> =>
  ids.length === 0
    ? Promise.resolve([])
    : // A list view's hot read (callers, assignees): rows as one JSON value, see jsonRows.
      jsonRows(db, db.selectFrom('accessUsers').selectAll().where('id', 'in', ids), [
        'createdAt',
        'updatedAt',
      ]);

export const findUserByExternalId = (db: Db, externalId: string): Promise<User | undefined> =>
  db.selectFrom('accessUsers').selectAll().where('externalId', '=', externalId).executeTakeFirst();

/** The user with this email, case-insensitively (served by the unique index on lower(email)). */
export const findUserByEmail = (db: Db, email: string): Promise<User | undefined> =>
  db
    .selectFrom('accessUsers')
    .selectAll()
    .where(sql<SqlBool>`lower(email) = lower(${email})`)
    .executeTakeFirst();

export const insertUser = (db: Db, user: Omit<User, 'version'>): Promise<User> =>
  db.insertInto('accessUsers').values(user).returningAll().executeTakeFirstOrThrow();

export const updateUserIfVersion = (
  db: Db,
  id: string,
  version: number,
  patch: Partial<Pick<User, 'email' | 'name' | 'externalId' | 'active' | 'managerId'>> & { updatedAt: Date },
): Promise<User | undefined> =>
  db
    .updateTable('accessUsers')
    .set({ ...patch, version: version + 1 })
    .where('id', '=', id)
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();

/** A keyset page of users by (name, id), `limit` rows after `after`. */
export async function listUsers(
  db: Db,
  filter: { search?: string | undefined; active?: boolean | undefined },
  limit: number,
  after: { name: string; id: string } | null,
): Promise<User[]> {
  let q = db.selectFrom('accessUsers').selectAll().orderBy('name').orderBy('id').limit(limit);
  if (filter.active !== undefined) q = q.where('active', '=', filter.active);
  if (filter.search) {
    const pattern = containsPattern(filter.search);
    q = q.where((eb) =>
      eb.or([
        eb('name', 'ilike', pattern),
        eb('email', 'ilike', pattern),
        eb('externalId', 'ilike', pattern),
      ]),
    );
  }
  if (after) q = q.where(sql<SqlBool>`(name, id) > (${after.name}, ${after.id}::uuid)`);
  return q.execute();
}
