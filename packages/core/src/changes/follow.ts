import type { z } from 'zod';
import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type ActorRef, canSomewhere, permissions, type ReadOptions } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { type ChangeFilter, type ChangeRequest, changeFilterInput } from './model.js';

type ParsedFilter = z.output<typeof changeFilterInput>;

export const changeEventTypes = [
  'change.created',
  'change.updated',
  'change.assigned',
  'change.state_changed',
  'change.rescheduled',
] as const;
export type ChangeEventType = (typeof changeEventTypes)[number];

/** One change of a change request, with the change as it is when delivered. */
export interface ChangeRequestChange {
  readonly seq: number;
  readonly type: ChangeEventType;
  readonly change: ChangeRequest;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

export interface FollowChangesOptions extends ReadOptions {
  /** Resume after this activity seq (default: from now on). */
  readonly after?: number;
  readonly signal?: AbortSignal;
}

/** Whether a change passes a filter, as `changes(filter)` would list it. */
export function changeMatches(c: ChangeRequest, f: ParsedFilter): boolean {
  if (f.state && !f.state.includes(c.state)) return false;
  if (f.type && !f.type.includes(c.type)) return false;
  if (f.risk && !f.risk.includes(c.risk)) return false;
  for (const key of ['assignmentGroupId', 'assigneeId', 'requestedById'] as const) {
    const wanted = f[key];
    if (wanted && wanted.toLowerCase() !== c[key]) return false;
  }
  if (f.ciId && !c.ciIds.includes(f.ciId.toLowerCase())) return false;
  const from = f.plannedFrom;
  const to = f.plannedTo;
  if (from && !(c.plannedEnd && c.plannedEnd > from)) return false;
  if (to && !(c.plannedStart && c.plannedStart < to)) return false;
  return true;
}

/**
 * Change request changes over the activity stream's follow (nothing missed, nothing twice, resumable
 * by seq), narrowed to those matching `filter` that the actor may read as it is at each event.
 */
export function followChanges(
  kernel: Kernel,
  filterIn: ChangeFilter,
  options: FollowChangesOptions,
): AsyncIterableIterator<ChangeRequestChange> {
  const filter = parseInput(changeFilterInput, filterIn, 'filter');
  const start = Promise.resolve(options.after ?? kernel.services.activity.latestSeq());
  start.catch(() => {});
  return abortableIterator(options.signal, (signal) => stream(kernel, filter, options, start, signal));
}

async function* stream(
  kernel: Kernel,
  filter: ParsedFilter,
  options: FollowChangesOptions,
  start: Promise<number>,
  signal: AbortSignal,
): AsyncGenerator<ChangeRequestChange, void, undefined> {
  const after = await start;
  for await (const event of kernel.services.activity.follow({ after, types: changeEventTypes, signal })) {
    const actor = options.actor && (await currentActorOf(kernel, options.actor));
    if (actor && !canSomewhere(actor, permissions.changeRead))
      throw new ForbiddenError(permissions.changeRead, actor.name);
    if (!event.subject) continue;
    const change = await kernel.services.changes.change(event.subject.id, { actor });
    if (!change || !changeMatches(change, filter)) continue;
    yield {
      seq: event.seq,
      type: event.type as ChangeEventType,
      change,
      actor: event.actor,
      occurredAt: event.occurredAt,
    };
  }
}
