import type { Page } from '../cmdb/model.js';
import { can, permissions, type ReadOptions, type WriteOptions } from '../kernel/actor.js';
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
import {
  type CreateUserInput,
  createUserInput,
  type UpdateUserInput,
  type User,
  type UserFilter,
  updateUserInput,
} from './model.js';
import * as store from './users-store.js';

type Db = Kernel['db'];

/** Refuses an email or external id another user has (`except`: the user being changed). */
async function checkUnique(
  db: Db,
  fields: { email?: string | undefined; externalId?: string | null | undefined },
  except: string | null,
): Promise<void> {
  if (fields.email !== undefined) {
    const holder = await store.findUserByEmail(db, fields.email);
    if (holder && holder.id !== except) throw ValidationError.field('email', 'another user has this email');
  }
  if (fields.externalId) {
    const holder = await store.findUserByExternalId(db, fields.externalId);
    if (holder && holder.id !== except)
      throw ValidationError.field('externalId', 'another user has this external id');
  }
}

/**
 * Refuses a manager that does not exist, the user itself, or one the user manages (directly or down
 * the line): a management chain never loops.
 */
async function checkManager(db: Db, userId: string | null, managerId: string): Promise<void> {
  if (managerId === userId) throw ValidationError.field('managerId', 'a user cannot be its own manager');
  const seen = new Set<string>();
  let current: string | null = managerId;
  while (current && !seen.has(current)) {
    seen.add(current);
    const user = await store.findUser(db, current);
    if (!user) throw ValidationError.field('managerId', `no user ${managerId}`);
    if (userId && user.managerId === userId)
      throw ValidationError.field(
        'managerId',
        `${user.name} reports to this user: a management chain cannot loop`,
      );
    current = user.managerId;
  }
}

/** A concurrent writer took the email or external id after our check: say which, as the check would. */
function uniqueClash(error: unknown): never {
  if (isUniqueViolation(error)) {
    const text = String((error as { constraint?: string }).constraint ?? (error as Error).message);
    if (text.includes('email')) throw ValidationError.field('email', 'another user has this email');
    if (text.includes('external'))
      throw ValidationError.field('externalId', 'another user has this external id');
  }
  throw error;
}

export async function createUser(
  kernel: Kernel,
  input: CreateUserInput,
  { actor }: WriteOptions,
): Promise<User> {
  assertAdmin(actor);
  const data = parseInput(createUserInput, input);
  return kernel.write(actor, async ({ db, now, emit }) => {
    await checkUnique(db, data, null);
    if (data.managerId) await checkManager(db, null, data.managerId);
    const user = await store
      .insertUser(db, {
        id: crypto.randomUUID(),
        externalId: data.externalId ?? null,
        email: data.email,
        name: data.name,
        active: data.active,
        managerId: data.managerId ?? null,
        createdAt: now,
        updatedAt: now,
      })
      .catch(uniqueClash);
    emit('user.created', { type: 'user', id: user.id }, { user });
    return user;
  });
}

/**
 * Changes a user if it is still at `input.version` (else `ConflictError`). `active: false` deactivates:
 * the user's actors and tokens stop working at once; its grants stay, for a reactivation.
 */
export async function updateUser(
  kernel: Kernel,
  id: string,
  input: UpdateUserInput,
  { actor }: WriteOptions,
): Promise<User> {
  assertAdmin(actor);
  const { version, ...patch } = parseInput(updateUserInput, input);
  return kernel.write(actor, async ({ db, now, emit }) => {
    const current = isUuid(id) ? await store.findUser(db, id) : undefined;
    if (!current) throw new NotFoundError('user', id, 'id');
    if (current.version !== version) throw ConflictError.staleVersion('user', id, version, current.version);
    const { changes, set } = changedFields(patch, current);
    if (changes.length === 0) return current;
    await checkUnique(
      db,
      {
        ...(changes.includes('email') ? { email: patch.email } : {}),
        ...(changes.includes('externalId') ? { externalId: patch.externalId } : {}),
      },
      current.id,
    );
    if (changes.includes('managerId') && patch.managerId) await checkManager(db, current.id, patch.managerId);
    const user = await store
      .updateUserIfVersion(db, current.id, version, { ...set, updatedAt: now })
      .catch(uniqueClash);
    if (!user) {
      const latest = (await store.findUser(db, current.id))!;
      throw ConflictError.staleVersion('user', id, version, latest.version);
    }
    emit('user.updated', { type: 'user', id: user.id }, { user, changes });
    return user;
  });
}

export async function getUser(kernel: Kernel, id: string, { actor }: ReadOptions = {}): Promise<User | null> {
  assertCanRead(actor, isSelf(actor, id));
  if (!isUuid(id)) return null;
  return (await store.findUser(kernel.db, id.toLowerCase())) ?? null;
}

/**
 * The users with these ids, in the order asked, in one query: null for an unknown id or a user the actor
 * may not see (without access:read, only themselves). For lists that show people (callers, assignees).
 */
export async function getUsersById(
  kernel: Kernel,
  ids: readonly string[],
  { actor }: ReadOptions = {},
): Promise<(User | null)[]> {
  const readable = (id: string) =>
    isUuid(id) && (!actor || can(actor, permissions.accessRead) || isSelf(actor, id));
  const wanted = [...new Set(ids.filter(readable).map((id) => id.toLowerCase()))];
  const byId = new Map((await store.findUsers(kernel.db, wanted)).map((user) => [user.id, user]));
  return ids.map((id) => (readable(id) ? (byId.get(id.toLowerCase()) ?? null) : null));
}

export async function getUserByExternalId(
  kernel: Kernel,
  externalId: string,
  { actor }: ReadOptions = {},
): Promise<User | null> {
  const user =
    typeof externalId === 'string' ? await store.findUserByExternalId(kernel.db, externalId) : undefined;
  assertCanRead(actor, isSelf(actor, user?.id));
  return user ?? null;
}

/** A page of users by name (then id); `search` matches name, email or external id. */
export async function listUsers(
  kernel: Kernel,
  filter: UserFilter = {},
  { actor }: ReadOptions = {},
): Promise<Page<User>> {
  assertCanRead(actor);
  const size = pageSize(filter.first);
  if (filter.search !== undefined && typeof filter.search !== 'string')
    throw ValidationError.field('search', 'must be text');
  if (filter.active !== undefined && typeof filter.active !== 'boolean')
    throw ValidationError.field('active', 'must be true or false');
  const rows = await store.listUsers(
    kernel.db,
    { search: filter.search?.trim() || undefined, active: filter.active },
    size + 1,
    parseNameCursor(filter.after),
  );
  return namePage(rows, size);
}

/**
 * The user with `externalId`, created (audited as the system) when there is none: the first login of
 * someone the identity provider knows. Two first logins at once create one user.
 */
export async function provisionUser(
  kernel: Kernel,
  externalId: string,
  profile: { readonly email: string; readonly name: string },
  actor: WriteOptions['actor'],
): Promise<User> {
  const existing = await store.findUserByExternalId(kernel.db, externalId);
  if (existing) return existing;
  try {
    return await createUser(kernel, { ...profile, externalId }, { actor });
  } catch (error) {
    const raced = await store.findUserByExternalId(kernel.db, externalId);
    if (raced) return raced;
    throw error;
  }
}
