import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type ActorRef, can, permissions, type ReadOptions } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { type RequestFilter, requestFilterInput, type ServiceRequest } from './model.js';

export const requestEventTypes = [
  'request.submitted',
  'request.state_changed',
  'request.device_assigned',
  'request_task.opened',
  'request_task.assigned',
  'request_task.state_changed',
] as const;
export type RequestEventType = (typeof requestEventTypes)[number];

/** One change of a request (or of one of its tasks), with the request as it is when delivered. */
export interface RequestChange {
  readonly seq: number;
  readonly type: RequestEventType;
  readonly request: ServiceRequest;
  /** The task the change is about, for `request_task.*` and `request.device_assigned`. */
  readonly taskId: string | null;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

export interface FollowRequestsOptions extends ReadOptions {
  /** Resume after this activity seq (default: from now on). */
  readonly after?: number;
  readonly signal?: AbortSignal;
}

/** Whether a request passes a filter, as `requests(filter)` would list it. */
export function requestMatches(r: ServiceRequest, f: RequestFilter): boolean {
  if (f.state && !f.state.includes(r.state)) return false;
  for (const key of ['itemId', 'requestedForId', 'requestedById'] as const) {
    const wanted = f[key];
    if (wanted && wanted.toLowerCase() !== r[key]) return false;
  }
  return true;
}

/**
 * Request changes over the activity stream's follow (nothing missed, nothing twice, resumable by seq),
 * narrowed to the requests matching `filter` that the actor may read as it is at each event.
 */
export function followRequests(
  kernel: Kernel,
  filterIn: RequestFilter,
  options: FollowRequestsOptions,
): AsyncIterableIterator<RequestChange> {
  const filter = parseInput(requestFilterInput, filterIn, 'filter');
  if (
    options.actor &&
    !['request:read', 'request:fulfil', 'request:admin'].some((p) => can(options.actor!, p))
  )
    throw new ForbiddenError(permissions.requestRead, options.actor.name);
  const start = Promise.resolve(options.after ?? kernel.services.activity.latestSeq());
  start.catch(() => {});
  return abortableIterator(options.signal, (signal) => changes(kernel, filter, options, start, signal));
}

async function* changes(
  kernel: Kernel,
  filter: RequestFilter,
  options: FollowRequestsOptions,
  start: Promise<number>,
  signal: AbortSignal,
): AsyncGenerator<RequestChange, void, undefined> {
  const after = await start;
  for await (const event of kernel.services.activity.follow({ after, types: requestEventTypes, signal })) {
    // The subscriber as it is now: a revoked credential ends the stream, a lost permission hides events.
    const actor = options.actor && (await currentActorOf(kernel, options.actor));
    if (actor && !['request:read', 'request:fulfil', 'request:admin'].some((p) => can(actor, p)))
      throw new ForbiddenError(permissions.requestRead, actor.name);
    const payload = event.payload as { request?: { id?: string }; task?: { id?: string } };
    const requestId = event.subject?.type === 'request' ? event.subject.id : payload.request?.id;
    if (!requestId) continue;
    const request = await kernel.services.requests.request(requestId, { actor });
    if (!request || !requestMatches(request, filter)) continue;
    yield {
      seq: event.seq,
      type: event.type as RequestEventType,
      request,
      taskId: payload.task?.id ?? null,
      actor: event.actor,
      occurredAt: event.occurredAt,
    };
  }
}
