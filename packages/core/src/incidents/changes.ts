import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type ActorRef, canSomewhere, permissions, type ReadOptions } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { type Incident, type IncidentFilter, incidentFilterInput } from './model.js';

export const incidentEventTypes = [
  'incident.created',
  'incident.updated',
  'incident.assigned',
  'incident.state_changed',
  'incident.noted',
  'incident.alerts_linked',
  'incident.major_declared',
  'incident.major_cleared',
  'incident.major_update',
] as const;
export type IncidentEventType = (typeof incidentEventTypes)[number];

/** One change of an incident, with the incident as it is when the change is delivered. */
export interface IncidentChange {
  readonly seq: number;
  readonly type: IncidentEventType;
  readonly incident: Incident;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

export interface FollowIncidentsOptions extends ReadOptions {
  /** Resume after this activity seq (default: from now on). */
  readonly after?: number;
  readonly signal?: AbortSignal;
}

/** Whether an incident passes a filter, as `incidents(filter)` would list it. */
export function incidentMatches(i: Incident, f: IncidentFilter): boolean {
  if (f.state && !f.state.includes(i.state)) return false;
  if (f.priority && !f.priority.includes(i.priority)) return false;
  for (const key of ['ciId', 'assignmentGroupId', 'assigneeId', 'callerId'] as const) {
    const wanted = f[key];
    if (wanted && wanted.toLowerCase() !== i[key]) return false;
  }
  if (f.serviceId && !i.serviceIds.includes(f.serviceId.toLowerCase())) return false;
  if (f.major !== undefined && f.major !== i.major) return false;
  return true;
}

/**
 * Incident changes over the activity stream's follow (nothing missed, nothing twice, resumable by
 * seq), narrowed to the incidents matching `filter` that the actor may read as it is at each event:
 * each incident is loaded then, so a change delivered late shows the incident as it is now.
 */
export function followIncidents(
  kernel: Kernel,
  filterIn: IncidentFilter,
  options: FollowIncidentsOptions,
): AsyncIterableIterator<IncidentChange> {
  const filter = parseInput(incidentFilterInput, filterIn, 'filter');
  const start = Promise.resolve(options.after ?? kernel.services.activity.latestSeq());
  start.catch(() => {});
  return abortableIterator(options.signal, (signal) => changes(kernel, filter, options, start, signal));
}

async function* changes(
  kernel: Kernel,
  filter: IncidentFilter,
  options: FollowIncidentsOptions,
  start: Promise<number>,
  signal: AbortSignal,
): AsyncGenerator<IncidentChange, void, undefined> {
  const after = await start;
  for await (const event of kernel.services.activity.follow({ after, types: incidentEventTypes, signal })) {
    // The subscriber as it is now: a revoked credential ends the stream, a lost permission hides events.
    const actor = options.actor && (await currentActorOf(kernel, options.actor));
    if (actor && !canSomewhere(actor, permissions.incidentRead))
      throw new ForbiddenError(permissions.incidentRead, actor.name);
    if (!event.subject) continue;
    const incident = await kernel.services.incidents.incident(event.subject.id, { actor });
    if (!incident || !incidentMatches(incident, filter)) continue;
    yield {
      seq: event.seq,
      type: event.type as IncidentEventType,
      incident,
      actor: event.actor,
      occurredAt: event.occurredAt,
    };
  }
}
