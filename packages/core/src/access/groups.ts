import type { Page } from '../cmdb/model.js';
import type { ReadOptions, WriteOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { parseInput } from '../kernel/validation.js';
import {
  assertAdmin,
  assertCanRead,
  changedFields,
  isSelf,
  isUniqueViolation,
  isUuid,
  namePage,
  parseNameCursor,
} from './common.js';
import * as store from './groups-store.js';
import {
  type CreateGroupInput,
  createGroupInput,
  type Group,
  type GroupFilter,
  type GroupMemberRef,
  type GroupMembers,
  type UpdateGroupInput,
  updateGroupInput,
} from './model.js';
import { findUser } from './users-store.js';

type Db = Kernel['db'];

const nameTaken = () => ValidationError.field('name', 'another group has this name');

async function checkName(db: Db, name: string, except: string | null): Promise<void> {
  const holder = await store.findGroupByName(db, name);
  if (holder && holder.id !== except) throw nameTaken();
}

const clash = (error: unknown): never => {
  throw isUniqueViolation(error) ? nameTaken() : error;
};

async function existingGroup(db: Db, id: string, field: string): Promise<Group> {
  const group = isUuid(id) ? await store.findGroup(db, id.toLowerCase()) : undefined;
  if (!group) throw new NotFoundError('group', String(id), field);
  return group;
}

export async function createGroup(
  kernel: Kernel,
  input: CreateGroupInput,
  { actor }: WriteOptions,
): Promise<Group> {
  assertAdmin(actor);
  const data = parseInput(createGroupInput, input);
  return kernel.write(actor, async ({ db, now, emit }) => {
    await checkName(db, data.name, null);
    const group = await store
      .insertGroup(db, {
        id: crypto.randomUUID(),
        name: data.name,
        description: data.description ?? null,
        createdAt: now,
        updatedAt: now,
      })
      .catch(clash);
    emit('group.created', { type: 'group', id: group.id }, { group });
    return group;
  });
}

/** Renames or redescribes a group still at `input.version`; roles naming it as approver follow a rename. */
export async function updateGroup(
  kernel: Kernel,
  id: string,
  input: UpdateGroupInput,
  { actor }: WriteOptions,
): Promise<Group> {
  assertAdmin(actor);
  const { version, ...patch } = parseInput(updateGroupInput, input);
  return kernel.write(actor, async ({ db, now, emit }) => {
    const current = await existingGroup(db, id, 'id');
    if (current.version !== version) throw ConflictError.staleVersion('group', id, version, current.version);
    const { changes, set } = changedFields(patch, current);
    if (changes.length === 0) return current;
    if (patch.name !== undefined && changes.includes('name')) await checkName(db, patch.name, current.id);
    const group = await store
      .updateGroupIfVersion(db, current.id, version, { ...set, updatedAt: now })
      .catch(clash);
    if (!group) {
      const latest = (await store.findGroup(db, current.id))!;
      throw ConflictError.staleVersion('group', id, version, latest.version);
    }
    if (group.name !== current.name) await store.renameApproverGroup(db, current.name, group.name);
    emit('group.updated', { type: 'group', id: group.id }, { group, changes });
    return group;
  });
}

/** Groups by id in one query, in the order asked, null where unknown (access:read). For DataLoaders. */
export async function getGroups(
  kernel: Kernel,
  ids: readonly string[],
  { actor }: ReadOptions = {},
): Promise<(Group | null)[]> {
  assertCanRead(actor);
  const found = new Map(
    (await store.findGroups(kernel.db, [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))])).map(
      (g) => [g.id, g],
    ),
  );
  return ids.map((id) => found.get(String(id).toLowerCase()) ?? null);
}

export async function getGroup(
  kernel: Kernel,
  id: string,
  { actor }: ReadOptions = {},
): Promise<Group | null> {
  assertCanRead(actor);
  if (!isUuid(id)) return null;
  return (await store.findGroup(kernel.db, id.toLowerCase())) ?? null;
}

export async function listGroups(
  kernel: Kernel,
  filter: GroupFilter = {},
  { actor }: ReadOptions = {},
): Promise<Page<Group>> {
  assertCanRead(actor);
  const size = pageSize(filter.first);
  if (filter.search !== undefined && typeof filter.search !== 'string')
    throw ValidationError.field('search', 'must be text');
  const rows = await store.listGroups(
    kernel.db,
    filter.search?.trim() || undefined,
    size + 1,
    parseNameCursor(filter.after),
  );
  return namePage(rows, size);
}

/** `{ userId }` or `{ groupId }`, checked: a missing or malformed id is a NotFoundError naming it. */
function parseMember(input: unknown): GroupMemberRef {
  const value = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const unknown = Object.keys(value).find((key) => key !== 'userId' && key !== 'groupId');
  if (unknown) throw ValidationError.field(unknown, 'is not a known field');
  const has = (key: string) => value[key] !== undefined;
  if (has('userId') === has('groupId'))
    throw ValidationError.field('userId', 'give either userId or groupId');
  const key = has('userId') ? 'userId' : 'groupId';
  const id = value[key];
  if (!isUuid(id)) throw new NotFoundError(key === 'userId' ? 'user' : 'group', String(id), key);
  return key === 'userId' ? { userId: id.toLowerCase() } : { groupId: id.toLowerCase() };
}

/** What a member ref names, for messages; a missing one is a NotFoundError on its field. */
async function memberName(db: Db, member: GroupMemberRef): Promise<string> {
  if ('userId' in member) {
    const user = await findUser(db, member.userId);
    if (!user) throw new NotFoundError('user', member.userId, 'userId');
    return `user ${user.name}`;
  }
  return `group ${(await existingGroup(db, member.groupId, 'groupId')).name}`;
}

/**
 * Adds a user or a group to a group. Refused: a group inside itself, directly or through others (a
 * ValidationError on `groupId`), and a member already there (on `userId` or `groupId`).
 */
export async function addGroupMember(
  kernel: Kernel,
  groupId: string,
  memberInput: GroupMemberRef,
  { actor }: WriteOptions,
): Promise<GroupMembers> {
  assertAdmin(actor);
  const member = parseMember(memberInput);
  return kernel.write(actor, async ({ db, now, emit }) => {
    const group = await existingGroup(db, groupId, 'id');
    const name = await memberName(db, member);
    if ('groupId' in member) {
      if (member.groupId === group.id)
        throw ValidationError.field('groupId', `group ${group.name} can't be a member of itself`);
      // One membership change at a time: two could otherwise each pass this check and close a cycle together.
      await store.lockMemberships(db);
      if (await store.isInside(db, group.id, member.groupId)) {
        throw ValidationError.field(
          'groupId',
          `${name} contains group ${group.name}, directly or through other groups: adding it would make a cycle`,
        );
      }
    }
    if (!(await store.insertMember(db, group.id, member, now))) {
      throw ValidationError.field(
        'userId' in member ? 'userId' : 'groupId',
        `${name} is already a member of group ${group.name}`,
      );
    }
    emit('group.member_added', { type: 'group', id: group.id }, { groupId: group.id, member });
    return store.directMembers(db, group.id);
  });
}

export async function removeGroupMember(
  kernel: Kernel,
  groupId: string,
  memberInput: GroupMemberRef,
  { actor }: WriteOptions,
): Promise<GroupMembers> {
  assertAdmin(actor);
  const member = parseMember(memberInput);
  return kernel.write(actor, async ({ db, emit }) => {
    const group = await existingGroup(db, groupId, 'id');
    const name = await memberName(db, member);
    if (!(await store.deleteMember(db, group.id, member))) {
      throw new NotFoundError(
        `${name} as a member of group`,
        group.name,
        'userId' in member ? 'userId' : 'groupId',
      );
    }
    emit('group.member_removed', { type: 'group', id: group.id }, { groupId: group.id, member });
    return store.directMembers(db, group.id);
  });
}

/** The direct members of a group; with `transitive`, `users` holds every user in it at any depth. */
export async function groupMembers(
  kernel: Kernel,
  groupId: string,
  options: ReadOptions & { readonly transitive?: boolean } = {},
): Promise<GroupMembers> {
  assertCanRead(options.actor);
  const group = await existingGroup(kernel.db, groupId, 'id');
  const direct = await store.directMembers(kernel.db, group.id);
  if (!options.transitive) return direct;
  return { users: await store.usersInGroup(kernel.db, group.id), groups: direct.groups };
}

/** Every group the user is in, directly or through nested groups (one recursive query), by name. */
export async function groupsOfUser(
  kernel: Kernel,
  userId: string,
  { actor }: ReadOptions = {},
): Promise<Group[]> {
  assertCanRead(actor, isSelf(actor, userId));
  if (!isUuid(userId)) throw new NotFoundError('user', String(userId), 'userId');
  return store.groupsOfUser(kernel.db, userId.toLowerCase());
}
