import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type Actor, type ActorRef, can, permissions } from '../kernel/actor.js';
import type { AnyDomainEvent } from '../kernel/events.js';
import type { Kernel } from '../kernel/kernel.js';
import { isSelf } from './common.js';
import type { AccessRequest, Grant } from './model.js';
import { mayDecide } from './requests.js';

export const accessRequestEventTypes = [
  'access_request.created',
  'access_request.approved',
  'access_request.rejected',
  'access_request.cancelled',
] as const;

/** An access request made or decided, as `followAccessRequests` delivers it. */
export interface AccessRequestChange {
  readonly seq: number;
  readonly kind: 'created' | 'approved' | 'rejected' | 'cancelled';
  readonly request: AccessRequest;
  /** The grant an approval made. */
  readonly grant: Grant | null;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

export interface FollowAccessRequestsOptions {
  /** Resume after this seq; default: from now on. */
  readonly after?: number;
  /** Who follows: without one (trusted code), every request. */
  readonly actor?: Actor;
  readonly signal?: AbortSignal;
}

/**
 * Access requests made and decided, over the activity stream's follow (resumable by seq, nothing missed,
 * nothing twice). Each is judged for the actor as it is then: its own requests, those it may decide, or
 * all with access:read. Requesters and approvers may lack access:read, so this does not lean on the
 * activity stream's own filter. A credential that stops working ends the stream (UNAUTHENTICATED).
 */
export function followAccessRequests(
  kernel: Kernel,
  options: FollowAccessRequestsOptions = {},
): AsyncIterableIterator<AccessRequestChange> {
  const start = Promise.resolve(
    options.after ?? kernel.services.activity.latestSeq({ types: accessRequestEventTypes }),
  );
  start.catch(() => {}); // reported by the first next(); unhandled until then otherwise
  return abortableIterator(options.signal, (signal) => changes(kernel, options.actor, start, signal));
}

async function* changes(
  kernel: Kernel,
  subscriber: Actor | undefined,
  start: Promise<number>,
  signal: AbortSignal,
): AsyncGenerator<AccessRequestChange, void, undefined> {
  const events = kernel.services.activity.follow({
    after: await start,
    types: [...accessRequestEventTypes],
    signal,
  });
  for await (const event of events) {
    const change = toChange(event);
    if (subscriber && !(await visible(kernel, await currentActorOf(kernel, subscriber), change.request)))
      continue;
    yield change;
  }
}

async function visible(kernel: Kernel, actor: Actor, request: AccessRequest): Promise<boolean> {
  return (
    can(actor, permissions.accessRead) ||
    isSelf(actor, request.requesterId) ||
    (await mayDecide(kernel, request, actor))
  );
}

function toChange(event: AnyDomainEvent): AccessRequestChange {
  // Events come back from the activity table as JSON: dates are strings there.
  const payload = event.payload as unknown as { request: AccessRequest; grant?: Grant };
  return {
    seq: event.seq,
    kind: event.type.slice('access_request.'.length) as AccessRequestChange['kind'],
    request: reviveRequest(payload.request),
    grant: payload.grant ? reviveGrant(payload.grant) : null,
    actor: event.actor,
    occurredAt: event.occurredAt,
  };
}

const date = (value: unknown) => (value == null ? null : new Date(value as string));

const reviveRequest = (r: AccessRequest): AccessRequest => ({
  ...r,
  until: date(r.until),
  decidedAt: date(r.decidedAt),
  createdAt: date(r.createdAt)!,
  updatedAt: date(r.updatedAt)!,
});

const reviveGrant = (g: Grant): Grant => ({
  ...g,
  expiresAt: date(g.expiresAt),
  createdAt: date(g.createdAt)!,
  revokedAt: date(g.revokedAt),
  expiredAt: date(g.expiredAt),
});
