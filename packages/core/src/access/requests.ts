import { type Actor, can, permissions, type ReadOptions, type WriteOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { AnyDomainEvent } from '../kernel/events.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { actorKey, forbidden, isSelf, isUuid } from './common.js';
import { activeUserOf } from './effective.js';
import { loadUserGrants, resolveScopes, scopeKey } from './effective-store.js';
import { checkedScope, giveRole } from './grants.js';
import { findGroupByName, isUserInGroup } from './groups-store.js';
import {
  type AccessRequest,
  type AccessRequestFilter,
  type ApproveAccessRequestInput,
  accessRequestStates,
  approveInput,
  type Grant,
  MAX_SCOPE_CIS,
  type RejectAccessRequestInput,
  type RequestAccessInput,
  type Role,
  rejectInput,
  requestAccessInput,
} from './model.js';
import * as store from './requests-store.js';
import { findRole } from './roles-store.js';
import { findUser } from './users-store.js';

type Db = Kernel['db'];

/**
 * Asks for a role, maybe on a scope, for `durationSeconds` from approval or `until` a moment (neither:
 * until revoked). Needs access:request, by a user or a token of a user.
 */
export async function requestAccess(
  kernel: Kernel,
  input: RequestAccessInput,
  { actor }: WriteOptions,
): Promise<AccessRequest> {
  if (!can(actor, permissions.accessRequest)) throw forbidden(actor, permissions.accessRequest, undefined);
  if (!actor.userId) {
    throw forbidden(
      actor,
      permissions.accessRequest,
      undefined,
      'only a user, or a token of a user, can request access',
    );
  }
  const data = parseInput(requestAccessInput, input);
  return kernel.write(actor, async (scope) => {
    const { db, now, emit } = scope;
    const requester = (await activeUserOf(scope.kernel, actor))!;
    const role = await findRole(db, data.role);
    if (!role) throw new NotFoundError('role', data.role, 'role');
    if (data.until && data.until <= now) throw ValidationError.field('until', 'must be in the future');
    if (data.scope) await checkedScope(scope, data.scope);
    const twin = await store.findPendingLike(db, requester.id, role.name, data.scope ?? null);
    if (twin) {
      throw ValidationError.field(
        'role',
        `you already asked for this (access request ${twin.id} is pending)`,
      );
    }
    const request = await store.insertRequest(db, {
      id: crypto.randomUUID(),
      requesterId: requester.id,
      role: role.name,
      scope: data.scope ?? null,
      reason: data.reason,
      durationSeconds: data.durationSeconds ?? null,
      until: data.until ?? null,
      createdAt: now,
    });
    emit('access_request.created', { type: 'access_request', id: request.id }, { request });
    return request;
  });
}

async function pendingRequest(db: Db, id: string, version: number | undefined): Promise<AccessRequest> {
  const request = isUuid(id) ? await store.findRequest(db, id.toLowerCase()) : undefined;
  if (!request) throw new NotFoundError('access request', String(id), 'id');
  if (request.state !== 'pending')
    throw new ConflictError(
      `access request ${request.id} is ${request.state} already`,
      'id',
      request.version,
    );
  if (version !== undefined && version !== request.version)
    throw ConflictError.staleVersion('access request', request.id, version, request.version);
  return request;
}

/**
 * How the actor may decide requests for `role`: `designated` (a user in the role's approver group, at any
 * depth, or holding its approver role wherever the request applies), `admin` (access:admin), or null.
 */
async function authorityOver(
  db: Db,
  now: Date,
  actor: Actor,
  role: Role,
  request: AccessRequest,
): Promise<'designated' | 'admin' | null> {
  const user =
    actor.kind === 'user' && actor.userId ? await findUser(db, actor.userId.toLowerCase()) : undefined;
  if (user?.active) {
    if (role.approverGroup) {
      const group = await findGroupByName(db, role.approverGroup);
      if (group) {
        if (await isUserInGroup(db, user.id, group.id)) return 'designated';
      }
    }
    if (role.approverRole) {
      const held =
        (await loadUserGrants(db, { id: user.id }, now))?.grants.filter(
          (g) => g.role === role.approverRole,
        ) ?? [];
      if (held.some((g) => !g.scope)) return 'designated';
      const scoped = held.flatMap((g) => (g.scope ? [g.scope] : []));
      if (request.scope && scoped.length > 0) {
        const { covered } = await resolveScopes(db, scoped, MAX_SCOPE_CIS * scoped.length);
        if (scoped.some((s) => covered.get(scopeKey(s))?.has(request.scope!.ciId))) return 'designated';
      }
    }
  }
  return can(actor, permissions.accessAdmin) ? 'admin' : null;
}

async function assertMayDecide(scope: WriteScope, request: AccessRequest, verb: string) {
  const { db, now, actor } = scope;
  if (isSelf(actor, request.requesterId)) {
    throw forbidden(
      actor,
      permissions.accessAdmin,
      'id',
      `a requester can never ${verb} their own access request`,
    );
  }
  const role = (await findRole(db, request.role))!;
  const authority = await authorityOver(db, now, actor, role, request);
  if (!authority) {
    const who = [
      role.approverGroup && `members of group ${role.approverGroup}`,
      role.approverRole && `holders of role ${role.approverRole}`,
      `holders of ${permissions.accessAdmin}`,
    ].filter(Boolean);
    throw forbidden(
      actor,
      permissions.accessAdmin,
      undefined,
      `requests for role ${role.name} are decided by ${who.join(', ')}`,
    );
  }
  return { role, authority };
}

/**
 * Approves a pending request and, in the same transaction, grants the role to the requester (expiry:
 * approval time + duration, or `until`). Decided by the role's approvers or access:admin holders, never
 * by the requester; an approver by access:admin alone must hold the role's permissions where it applies.
 */
export async function approveAccessRequest(
  kernel: Kernel,
  id: string,
  input: ApproveAccessRequestInput = {},
  { actor }: WriteOptions,
): Promise<{ request: AccessRequest; grant: Grant }> {
  const data = parseInput(approveInput, input ?? {});
  return kernel.write(actor, async (scope) => {
    const { db, now, emit } = scope;
    const request = await pendingRequest(db, id, data.version);
    const { authority } = await assertMayDecide(scope, request, 'approve');
    if (request.until && request.until <= now) {
      throw ValidationError.field('until', 'has passed: the requester must ask again');
    }
    const expiresAt = request.durationSeconds
      ? new Date(now.getTime() + request.durationSeconds * 1000)
      : request.until;
    const { grant } = await giveRole(
      scope,
      {
        role: request.role,
        userId: request.requesterId,
        scope: request.scope,
        expiresAt,
        reason: request.reason,
        requestId: request.id,
      },
      { escalation: authority === 'admin' },
    );
    const approved = await store.decideRequest(db, request.id, request.version, {
      state: 'approved',
      decidedBy: actorKey(actor),
      decidedAt: now,
      decisionNote: data.note ?? null,
      grantId: grant.id,
    });
    if (!approved) throw new ConflictError(`access request ${request.id} was decided by someone else`, 'id');
    emit(
      'access_request.approved',
      { type: 'access_request', id: approved.id },
      { request: approved, grant },
    );
    return { request: approved, grant };
  });
}

export async function rejectAccessRequest(
  kernel: Kernel,
  id: string,
  input: RejectAccessRequestInput,
  { actor }: WriteOptions,
): Promise<AccessRequest> {
  const data = parseInput(rejectInput, input);
  return kernel.write(actor, async (scope) => {
    const { db, now, emit } = scope;
    const request = await pendingRequest(db, id, data.version);
    await assertMayDecide(scope, request, 'reject');
    const rejected = await store.decideRequest(db, request.id, request.version, {
      state: 'rejected',
      decidedBy: actorKey(actor),
      decidedAt: now,
      decisionNote: data.note,
      grantId: null,
    });
    if (!rejected) throw new ConflictError(`access request ${request.id} was decided by someone else`, 'id');
    emit('access_request.rejected', { type: 'access_request', id: rejected.id }, { request: rejected });
    return rejected;
  });
}

/** Withdraws a pending request; only its requester may. */
export async function cancelAccessRequest(
  kernel: Kernel,
  id: string,
  { actor, version }: WriteOptions & { readonly version?: number },
): Promise<AccessRequest> {
  return kernel.write(actor, async ({ db, now, emit }) => {
    const request = await pendingRequest(db, id, version);
    if (!isSelf(actor, request.requesterId)) {
      throw forbidden(
        actor,
        permissions.accessRequest,
        'id',
        'only the requester can cancel an access request',
      );
    }
    const cancelled = await store.decideRequest(db, request.id, request.version, {
      state: 'cancelled',
      decidedBy: actorKey(actor),
      decidedAt: now,
      decisionNote: null,
      grantId: null,
    });
    if (!cancelled) throw new ConflictError(`access request ${request.id} was decided by someone else`, 'id');
    emit('access_request.cancelled', { type: 'access_request', id: cancelled.id }, { request: cancelled });
    return cancelled;
  });
}

/** access:read sees every request; anyone else only their own. */
function visibleRequester(actor: Actor | undefined, requesterId: string | undefined): string | undefined {
  if (!actor || can(actor, permissions.accessRead)) return requesterId;
  if (actor.userId && (requesterId === undefined || isSelf(actor, requesterId))) return actor.userId;
  throw forbidden(actor, permissions.accessRead, requesterId === undefined ? undefined : 'requesterId');
}

/** Requests, newest first; without access:read, the actor's own. */
export async function listAccessRequests(
  kernel: Kernel,
  filter: AccessRequestFilter = {},
  { actor }: ReadOptions = {},
): Promise<AccessRequest[]> {
  if (filter.state !== undefined && !accessRequestStates.includes(filter.state))
    throw ValidationError.field('state', `must be one of ${accessRequestStates.join(', ')}`);
  if (filter.requesterId !== undefined && !isUuid(filter.requesterId))
    throw ValidationError.field('requesterId', 'must be a UUID');
  const first = filter.first ?? 100;
  if (!Number.isInteger(first) || first < 1 || first > 500)
    throw ValidationError.field('first', 'must be an integer from 1 to 500');
  if (filter.decidable) {
    if (!actor) throw ValidationError.field('decidable', 'needs an actor: whose decisions?');
    // Pending requests are few; judging each (group, role, scope) keeps one rule for list and decide.
    const pending = await store.listRequests(kernel.db, { state: 'pending', requesterId: undefined }, 500);
    const decidable: AccessRequest[] = [];
    for (const request of pending) {
      if (decidable.length >= first) break;
      if (await mayDecide(kernel, request, actor)) decidable.push(request);
    }
    return decidable;
  }
  const requesterId = visibleRequester(actor, filter.requesterId?.toLowerCase());
  return store.listRequests(
    kernel.db,
    { state: filter.state, requesterId: requesterId?.toLowerCase() },
    first,
  );
}

export async function getAccessRequest(
  kernel: Kernel,
  id: string,
  { actor }: ReadOptions = {},
): Promise<AccessRequest | null> {
  const request = isUuid(id) ? await store.findRequest(kernel.db, id.toLowerCase()) : undefined;
  if (request && actor && !(await mayDecide(kernel, request, actor)))
    visibleRequester(actor, request.requesterId);
  else if (!request && actor) visibleRequester(actor, undefined);
  return request ?? null;
}

/**
 * Whether the actor may approve or reject the request (as one of its role's approvers, or as an
 * access:admin holder), the requester never. Also what lets an approver see the request.
 */
export async function mayDecide(kernel: Kernel, request: AccessRequest, actor: Actor): Promise<boolean> {
  if (isSelf(actor, request.requesterId)) return false;
  const role = await findRole(kernel.db, request.role);
  if (!role) return false;
  return (await authorityOver(kernel.db, kernel.clock.now(), actor, role, request)) !== null;
}

/**
 * The audit trail of a request: its events (created, approved, rejected, cancelled) and those of the
 * grant its approval made (created, revoked, expired), in order, each with its actor.
 */
export async function accessRequestHistory(
  kernel: Kernel,
  id: string,
  options: ReadOptions = {},
): Promise<AnyDomainEvent[]> {
  const request = await getAccessRequest(kernel, id, options);
  if (!request) throw new NotFoundError('access request', String(id), 'id');
  const activity = kernel.services.activity;
  const [own, grant] = await Promise.all([
    activity.list({ subject: { type: 'access_request', id: request.id }, limit: 1000 }),
    request.grantId
      ? activity.list({ subject: { type: 'grant', id: request.grantId }, limit: 1000 })
      : Promise.resolve([]),
  ]);
  return [...own, ...grant].sort((a, b) => a.seq - b.seq);
}
