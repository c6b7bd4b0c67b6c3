import type { Page } from '../cmdb/model.js';
import type { Actor, ReadOptions, WriteOptions } from '../kernel/actor.js';
import type { AnyDomainEvent } from '../kernel/events.js';
import type { Kernel } from '../kernel/kernel.js';
import { actorForUser, resolveToken, resolveUser } from './effective.js';
import { actorCacheOf } from './freshness.js';
import * as grants from './grants.js';
import * as groups from './groups.js';
import type {
  AccessRequest,
  AccessRequestFilter,
  ApiToken,
  ApproveAccessRequestInput,
  CreatedApiToken,
  CreateGroupInput,
  CreateTokenInput,
  CreateUserInput,
  DefineRoleInput,
  Grant,
  GrantFilter,
  GrantInput,
  Group,
  GroupFilter,
  GroupMemberRef,
  GroupMembers,
  RejectAccessRequestInput,
  RequestAccessInput,
  Role,
  UpdateGroupInput,
  UpdateUserInput,
  User,
  UserFilter,
  UserRef,
} from './model.js';
import {
  type AccessRequestChange,
  type FollowAccessRequestsOptions,
  followAccessRequests,
} from './request-changes.js';
import * as requests from './requests.js';
import * as roles from './roles.js';
import * as tokens from './tokens.js';
import * as users from './users.js';

export { hashSecret } from './tokens.js';

/**
 * Access management (ITIL): users, nested assignment groups, roles, grants (global or scoped to CIs,
 * maybe time-bound), access requests and their approval, API tokens, and the actors all of it yields.
 * Each operation lives in a file of its concern (users.ts, groups.ts, roles.ts, grants.ts,
 * requests.ts, tokens.ts, effective.ts); this class is their one public face, `og.access`.
 */
export class AccessService {
  constructor(private readonly kernel: Kernel) {}

  // Users ------------------------------------------------------------------------------------------

  /** Creates a user (access:admin). Email unique case-insensitively, externalId unique. */
  createUser(input: CreateUserInput, options: WriteOptions): Promise<User> {
    return users.createUser(this.kernel, input, options);
  }

  /** Changes a user still at `input.version` (else ConflictError); `active: false` deactivates it. */
  updateUser(id: string, input: UpdateUserInput, options: WriteOptions): Promise<User> {
    return users.updateUser(this.kernel, id, input, options);
  }

  /** A user (access:read, or the user itself); null when unknown. */
  user(id: string, options: ReadOptions = {}): Promise<User | null> {
    return users.getUser(this.kernel, id, options);
  }

  /** Users by id in one query, in the order asked; null where unknown or not visible to the actor. */
  usersById(ids: readonly string[], options: ReadOptions = {}): Promise<(User | null)[]> {
    return users.getUsersById(this.kernel, ids, options);
  }

  userByExternalId(externalId: string, options: ReadOptions = {}): Promise<User | null> {
    return users.getUserByExternalId(this.kernel, externalId, options);
  }

  /** A keyset page of users by name; `search` matches name, email or external id. */
  users(filter: UserFilter = {}, options: ReadOptions = {}): Promise<Page<User>> {
    return users.listUsers(this.kernel, filter, options);
  }

  // Groups -----------------------------------------------------------------------------------------

  createGroup(input: CreateGroupInput, options: WriteOptions): Promise<Group> {
    return groups.createGroup(this.kernel, input, options);
  }

  updateGroup(id: string, input: UpdateGroupInput, options: WriteOptions): Promise<Group> {
    return groups.updateGroup(this.kernel, id, input, options);
  }

  group(id: string, options: ReadOptions = {}): Promise<Group | null> {
    return groups.getGroup(this.kernel, id, options);
  }

  /** Groups by id in one query, in the order asked; null where unknown or not visible to the actor. */
  groupsById(ids: readonly string[], options: ReadOptions = {}): Promise<(Group | null)[]> {
    return groups.getGroupsById(this.kernel, ids, options);
  }

  groups(filter: GroupFilter = {}, options: ReadOptions = {}): Promise<Page<Group>> {
    return groups.listGroups(this.kernel, filter, options);
  }

  /** Adds a user or a group to a group; a cycle or a duplicate is a ValidationError naming the field. */
  addGroupMember(groupId: string, member: GroupMemberRef, options: WriteOptions): Promise<GroupMembers> {
    return groups.addGroupMember(this.kernel, groupId, member, options);
  }

  removeGroupMember(groupId: string, member: GroupMemberRef, options: WriteOptions): Promise<GroupMembers> {
    return groups.removeGroupMember(this.kernel, groupId, member, options);
  }

  /** Direct members; with `transitive`, `users` holds every user in the group at any depth. */
  groupMembers(
    groupId: string,
    options: ReadOptions & { readonly transitive?: boolean } = {},
  ): Promise<GroupMembers> {
    return groups.groupMembers(this.kernel, groupId, options);
  }

  /** Every group the user is in, directly or through nested groups. */
  groupsOfUser(userId: string, options: ReadOptions = {}): Promise<Group[]> {
    return groups.groupsOfUser(this.kernel, userId, options);
  }

  // Roles ------------------------------------------------------------------------------------------

  roles(options: ReadOptions = {}): Promise<Role[]> {
    return roles.listRoles(this.kernel, options);
  }

  role(name: string, options: ReadOptions = {}): Promise<Role | null> {
    return roles.getRole(this.kernel, name, options);
  }

  /** Defines (or redefines) a runtime role (access:admin; only with permissions the actor holds). */
  defineRole(input: DefineRoleInput, options: WriteOptions): Promise<Role> {
    return roles.defineRole(this.kernel, input, options);
  }

  // Grants -----------------------------------------------------------------------------------------

  /** Gives a role to a user or group, everywhere or on a scope, maybe until `expiresAt` (access:admin). */
  grant(input: GrantInput, options: WriteOptions): Promise<Grant> {
    return grants.createGrant(this.kernel, input, options);
  }

  revokeGrant(id: string, options: WriteOptions): Promise<Grant> {
    return grants.revokeGrant(this.kernel, id, options);
  }

  grantById(id: string, options: ReadOptions = {}): Promise<Grant | null> {
    return grants.getGrant(this.kernel, id, options);
  }

  grants(
    filter: GrantFilter & { readonly includeGroups?: boolean } = {},
    options: ReadOptions = {},
  ): Promise<Grant[]> {
    return grants.listGrants(this.kernel, filter, options);
  }

  /** Marks grants whose time is up as expired, one `grant.expired` each; idempotent, replica-safe. */
  sweepExpired({ now }: { now?: Date } = {}): Promise<Grant[]> {
    return grants.sweepExpired(this.kernel, now);
  }

  // Access requests --------------------------------------------------------------------------------

  requestAccess(input: RequestAccessInput, options: WriteOptions): Promise<AccessRequest> {
    return requests.requestAccess(this.kernel, input, options);
  }

  approveAccessRequest(
    id: string,
    input: ApproveAccessRequestInput,
    options: WriteOptions,
  ): Promise<{ request: AccessRequest; grant: Grant }> {
    return requests.approveAccessRequest(this.kernel, id, input, options);
  }

  rejectAccessRequest(
    id: string,
    input: RejectAccessRequestInput,
    options: WriteOptions,
  ): Promise<AccessRequest> {
    return requests.rejectAccessRequest(this.kernel, id, input, options);
  }

  cancelAccessRequest(
    id: string,
    options: WriteOptions & { readonly version?: number },
  ): Promise<AccessRequest> {
    return requests.cancelAccessRequest(this.kernel, id, options);
  }

  accessRequest(id: string, options: ReadOptions = {}): Promise<AccessRequest | null> {
    return requests.getAccessRequest(this.kernel, id, options);
  }

  accessRequests(filter: AccessRequestFilter = {}, options: ReadOptions = {}): Promise<AccessRequest[]> {
    return requests.listAccessRequests(this.kernel, filter, options);
  }

  /** Whether `actor` may approve or reject the request: one of its role's approvers, never the requester. */
  mayDecideAccessRequest(request: AccessRequest, actor: Actor): Promise<boolean> {
    return requests.mayDecide(this.kernel, request, actor);
  }

  /**
   * Access requests made and decided after `after` (default: from now on), in order; with an actor,
   * those it may see (its own, those it may decide, all with access:read), judged per event.
   */
  followAccessRequests(
    options: FollowAccessRequestsOptions = {},
  ): AsyncIterableIterator<AccessRequestChange> {
    return followAccessRequests(this.kernel, options);
  }

  /** The request's audit trail: its events and its grant's, oldest first. */
  accessRequestHistory(id: string, options: ReadOptions = {}): Promise<AnyDomainEvent[]> {
    return requests.accessRequestHistory(this.kernel, id, options);
  }

  // Effective access -------------------------------------------------------------------------------

  /** The actor of a user, from its grants and its groups' (nested); null when unknown or inactive. */
  actorForUser(ref: UserRef): Promise<Actor | null> {
    return actorForUser(this.kernel, ref);
  }

  /**
   * The actor as its permissions are now: a user's or a token's re-resolved (null when the user is
   * inactive, or the token revoked or expired), through a cache of about a second dropped on every
   * access change and CI relationship change. System, plugin and anonymous actors, and user actors an
   * app built itself (no `userId`), come back as they are.
   */
  async currentActor(actor: Actor): Promise<Actor | null> {
    const key = cacheKeyOf(actor);
    if (!key) return actor;
    const cache = actorCacheOf(this.kernel.bus);
    const cached = cache.get(key.key, this.kernel.clock.now());
    if (cached !== undefined) return cached;
    return cache.resolve(key.key, async () => {
      if (key.kind === 'user') return resolveUser(this.kernel, { id: key.id.toLowerCase() });
      const token = await tokens.findToken(this.kernel, key.id);
      return token ? resolveToken(this.kernel, token) : null;
    });
  }

  /**
   * `currentActor` when its cache holds the answer, synchronously (a live stream asks for every event
   * it delivers); undefined when it does not: ask `currentActor`.
   */
  cachedActor(actor: Actor): Actor | null | undefined {
    const key = cacheKeyOf(actor);
    return key ? actorCacheOf(this.kernel.bus).get(key.key, this.kernel.clock.now()) : actor;
  }

  // API tokens -------------------------------------------------------------------------------------

  /** Creates a token; the secret is returned once. A token never grants more than its creator holds. */
  createToken(input: CreateTokenInput, options: WriteOptions): Promise<CreatedApiToken> {
    return tokens.createToken(this.kernel, input, options);
  }

  /** The actor a secret stands for now, or null when unknown, revoked, expired, or its owner inactive. */
  authenticate(secret: string): Promise<Actor | null> {
    return tokens.authenticate(this.kernel, secret);
  }

  listTokens(options: ReadOptions = {}): Promise<ApiToken[]> {
    return tokens.listTokens(this.kernel, options);
  }

  revokeToken(id: string, options: WriteOptions): Promise<ApiToken> {
    return tokens.revokeToken(this.kernel, id, options);
  }
}

/** Where `currentActor` caches an actor that is re-resolved (a token's, or a directory user's); null for the rest. */
function cacheKeyOf(actor: Actor): { key: string; id: string; kind: 'user' | 'token' } | null {
  if (actor.kind === 'token') return { key: `token:${actor.id}`, id: actor.id, kind: 'token' };
  if (actor.kind === 'user' && actor.userId)
    return { key: `user:${actor.userId}`, id: actor.userId, kind: 'user' };
  return null;
}
