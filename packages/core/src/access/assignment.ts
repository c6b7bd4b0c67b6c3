import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { ValidationIssue } from '../kernel/errors.js';
import { findGroup, isUserInGroup } from './groups-store.js';
import { findUser } from './users-store.js';

/**
 * What is wrong with assigning work to `groupId` and `assigneeId`, as every process assigns it
 * (incidents, problems, changes, request tasks): the group must exist, and the assignee must be an
 * active user who is a member of it (directly or through nested groups). Empty when all is well.
 */
export async function assignmentIssues(
  db: Kysely<Database>,
  { groupId, assigneeId }: { groupId?: string | null | undefined; assigneeId?: string | null | undefined },
): Promise<ValidationIssue[]> {
  if (groupId && !(await findGroup(db, groupId.toLowerCase())))
    return [{ path: 'assignmentGroupId', message: `no group ${groupId}` }];
  if (!assigneeId) return [];
  const assignee = await findUser(db, assigneeId.toLowerCase());
  if (!assignee?.active) return [{ path: 'assigneeId', message: `no active user ${assigneeId}` }];
  if (!groupId)
    return [{ path: 'assignmentGroupId', message: 'an assignee needs an assignment group it belongs to' }];
  if (!(await isUserInGroup(db, assignee.id, groupId.toLowerCase())))
    return [{ path: 'assigneeId', message: `${assignee.name} is not a member of the assignment group` }];
  return [];
}

/** An issue at `path` unless `userId` names an active user (a caller, a requester). */
export async function activeUserIssues(
  db: Kysely<Database>,
  userId: string | null | undefined,
  path: string,
): Promise<ValidationIssue[]> {
  if (!userId) return [];
  const user = await findUser(db, userId.toLowerCase());
  return user?.active ? [] : [{ path, message: `no active user ${userId}` }];
}
