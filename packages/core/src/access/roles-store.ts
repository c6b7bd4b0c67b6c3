import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { Role } from './model.js';

type Db = Kysely<Database>;

export const findRole = (db: Db, name: string): Promise<Role | undefined> =>
  db.selectFrom('accessRoles').selectAll().where('name', '=', name).executeTakeFirst();

export const listRoles = (db: Db): Promise<Role[]> =>
  db.selectFrom('accessRoles').selectAll().orderBy('name').execute();

export interface RoleRow {
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly string[];
  readonly approverGroup: string | null;
  readonly approverRole: string | null;
}

export const insertRole = (db: Db, owner: string, role: RoleRow, at: Date): Promise<Role> =>
  db
    .insertInto('accessRoles')
    .values({ ...role, permissions: JSON.stringify(role.permissions), owner, createdAt: at, updatedAt: at })
    .returningAll()
    .executeTakeFirstOrThrow();

/** Redefines a role of `owner` still at `version`; undefined when it is not (anymore). */
export const updateRoleIfVersion = (
  db: Db,
  owner: string,
  version: number,
  role: RoleRow,
  at: Date,
): Promise<Role | undefined> =>
  db
    .updateTable('accessRoles')
    .set({ ...role, permissions: JSON.stringify(role.permissions), version: version + 1, updatedAt: at })
    .where('name', '=', role.name)
    .where('owner', '=', owner)
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();

/** Whether a stored role already says what `role` says. */
export const sameRole = (stored: Role, role: RoleRow): boolean =>
  stored.description === role.description &&
  stored.approverGroup === role.approverGroup &&
  stored.approverRole === role.approverRole &&
  JSON.stringify([...stored.permissions].sort()) === JSON.stringify([...role.permissions].sort());

export async function setApproverRole(db: Db, name: string, approverRole: string): Promise<void> {
  await db.updateTable('accessRoles').set({ approverRole }).where('name', '=', name).execute();
}
