import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import { jsonRows } from '../db/json-rows.js';
import { containsPattern } from './common.js';
import type { Group, GroupMemberRef, User } from './model.js';

type Db = Kysely<Database>;

export const findGroup = (db: Db, id: string): Promise<Group | undefined> =>
  db.selectFrom('accessGroups').selectAll().where('id', '=', id).executeTakeFirst();

export const findGroups = (db: Db, ids: readonly string[]): Promise<Group[]> =>
  ids.length === 0
    ? Promise.resolve([])
    : // A list view's hot read (assignment groups): rows as one JSON value, see jsonRows.
      jsonRows(db, db.selectFrom('accessGroups').selectAll().where('id', 'in', ids), [
        'createdAt',
        'updatedAt',
      ]);

/** The group with this name, case-insensitively. */
export const findGroupByName = (db: Db, name: string): Promise<Group | undefined> =>
  db
    .selectFrom('accessGroups')
    .selectAll()
    .where(sql<SqlBool>`lower(name) = lower(${name})`)
    .executeTakeFirst();

export const insertGroup = (db: Db, group: Omit<Group, 'version'>): Promise<Group> =>
  db.insertInto('accessGroups').values(group).returningAll().executeTakeFirstOrThrow();

export const updateGroupIfVersion = (
  db: Db,
  id: string,
  version: number,
  patch: Partial<Pick<Group, 'name' | 'description'>> & { updatedAt: Date },
): Promise<Group | undefined> =>
  db
    .updateTable('accessGroups')
    .set({ ...patch, version: version + 1 })
    .where('id', '=', id)
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();

/** Roles naming a group as approver follow its rename. */
export async function renameApproverGroup(db: Db, from: string, to: string): Promise<void> {
  await db.updateTable('accessRoles').set({ approverGroup: to }).where('approverGroup', '=', from).execute();
}

export async function listGroups(
  db: Db,
  search: string | undefined,
  limit: number,
  after: { name: string; id: string } | null,
): Promise<Group[]> {
  let q = db.selectFrom('accessGroups').selectAll().orderBy('name').orderBy('id').limit(limit);
  if (search) q = q.where('name', 'ilike', containsPattern(search));
  if (after) q = q.where(sql<SqlBool>`(name, id) > (${after.name}, ${after.id}::uuid)`);
  return q.execute();
}

/** Serialises changes of group membership until commit, so two can't close a cycle together. */
export async function lockMemberships(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('opsgraph.access.group_members'))`.execute(db);
}

/** Whether `groupId` is `within` or inside it, at any depth: adding `within` to `groupId` would close a cycle. */
export async function isInside(db: Db, groupId: string, within: string): Promise<boolean> {
  const result = await sql<{ found: boolean }>`
    with recursive inside(id) as (
      select ${within}::uuid
      union
      select m.member_group_id from access_group_members m join inside i on m.group_id = i.id
       where m.member_group_id is not null
    )
    select exists (select 1 from inside where id = ${groupId}::uuid) as found`.execute(db);
  return result.rows[0]?.found === true;
}

export async function insertMember(
  db: Db,
  groupId: string,
  member: GroupMemberRef,
  at: Date,
): Promise<boolean> {
  const result = await db
    .insertInto('accessGroupMembers')
    .values({
      groupId,
      memberUserId: 'userId' in member ? member.userId : null,
      memberGroupId: 'groupId' in member ? member.groupId : null,
      createdAt: at,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('groupId')
    .executeTakeFirst();
  return result !== undefined;
}

export async function deleteMember(db: Db, groupId: string, member: GroupMemberRef): Promise<boolean> {
  const result = await db
    .deleteFrom('accessGroupMembers')
    .where('groupId', '=', groupId)
    .where((eb) =>
      'userId' in member ? eb('memberUserId', '=', member.userId) : eb('memberGroupId', '=', member.groupId),
    )
    .returning('groupId')
    .executeTakeFirst();
  return result !== undefined;
}

/** The direct members of a group, users and groups, each by name. */
export async function directMembers(db: Db, groupId: string): Promise<{ users: User[]; groups: Group[] }> {
  const [users, groups] = await Promise.all([
    db
      .selectFrom('accessGroupMembers as m')
      .innerJoin('accessUsers as u', 'u.id', 'm.memberUserId')
      .selectAll('u')
      .where('m.groupId', '=', groupId)
      .orderBy('u.name')
      .orderBy('u.id')
      .execute(),
    db
      .selectFrom('accessGroupMembers as m')
      .innerJoin('accessGroups as g', 'g.id', 'm.memberGroupId')
      .selectAll('g')
      .where('m.groupId', '=', groupId)
      .orderBy('g.name')
      .orderBy('g.id')
      .execute(),
  ]);
  return { users, groups };
}

/** The ids of every group a user is in, directly or through groups inside groups: one recursive query. */
export const groupIdsOfUser = (userId: string) => sql<string>`(
  with recursive holders(id) as (
    select m.group_id from access_group_members m where m.member_user_id = ${userId}::uuid
    union
    select m.group_id from access_group_members m join holders h on m.member_group_id = h.id
  )
  select id from holders)`;

export const groupsOfUser = (db: Db, userId: string): Promise<Group[]> =>
  db
    .selectFrom('accessGroups')
    .selectAll()
    .where(sql<SqlBool>`id in ${groupIdsOfUser(userId)}`)
    .orderBy('name')
    .orderBy('id')
    .execute();

/** Every user in a group, directly or through groups inside it. */
export async function usersInGroup(db: Db, groupId: string): Promise<User[]> {
  return db
    .selectFrom('accessUsers')
    .selectAll()
    .where(
      sql<SqlBool>`id in (
        with recursive inside(id) as (
          select ${groupId}::uuid
          union
          select m.member_group_id from access_group_members m join inside i on m.group_id = i.id
           where m.member_group_id is not null
        )
        select m.member_user_id from access_group_members m join inside i on m.group_id = i.id
         where m.member_user_id is not null)`,
    )
    .orderBy('name')
    .orderBy('id')
    .execute();
}

/** Whether a user is in a group, directly or through groups inside it. */
export async function isUserInGroup(db: Db, userId: string, groupId: string): Promise<boolean> {
  const result = await sql<{ found: boolean }>`
    select ${groupId}::uuid in ${groupIdsOfUser(userId)} as found`.execute(db);
  return result.rows[0]?.found === true;
}
