import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { type ActorRef, canSomewhere, permissions, type ReadOptions } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseInput } from '../kernel/validation.js';
import { type Problem, type ProblemFilter, problemFilterInput } from './model.js';
import * as store from './store.js';

export const problemEventTypes = [
  'problem.created',
  'problem.updated',
  'problem.assigned',
  'problem.state_changed',
  'problem.noted',
  'problem.incidents_linked',
  'problem.incidents_unlinked',
  'known_error.published',
  'known_error.updated',
  'known_error.retired',
] as const;
export type ProblemEventType = (typeof problemEventTypes)[number];

/** One change of a problem or its known error, with the problem as it is when the change is delivered. */
export interface ProblemChange {
  readonly seq: number;
  readonly type: ProblemEventType;
  readonly problem: Problem;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

export interface FollowProblemsOptions extends ReadOptions {
  /** Resume after this activity seq (default: from now on). */
  readonly after?: number;
  readonly signal?: AbortSignal;
}

/**
 * Whether a problem passes a filter as `problems(filter)` would list it, for the fields a problem
 * carries (`incidentId`, `knownError` and `text` need the database: they are checked there).
 */
export function problemMatches(p: Problem, f: ProblemFilter): boolean {
  if (f.state && !f.state.includes(p.state)) return false;
  if (f.priority && !f.priority.includes(p.priority)) return false;
  for (const key of ['ciId', 'assignmentGroupId', 'assigneeId'] as const) {
    const wanted = f[key];
    if (wanted && wanted.toLowerCase() !== p[key]) return false;
  }
  if (f.serviceId && !p.serviceIds.includes(f.serviceId.toLowerCase())) return false;
  return true;
}

/**
 * Problem changes over the activity stream's follow (nothing missed, nothing twice, resumable by seq),
 * narrowed to the problems matching `filter` that the actor may read as it is at each event.
 */
export function followProblems(
  kernel: Kernel,
  filterIn: ProblemFilter,
  options: FollowProblemsOptions,
): AsyncIterableIterator<ProblemChange> {
  const filter = parseInput(problemFilterInput, filterIn, 'filter');
  const start = Promise.resolve(options.after ?? kernel.services.activity.latestSeq());
  start.catch(() => {});
  return abortableIterator(options.signal, (signal) => changes(kernel, filter, options, start, signal));
}

async function* changes(
  kernel: Kernel,
  filter: ProblemFilter,
  options: FollowProblemsOptions,
  start: Promise<number>,
  signal: AbortSignal,
): AsyncGenerator<ProblemChange, void, undefined> {
  const after = await start;
  const needsQuery = filter.incidentId !== undefined || filter.knownError !== undefined || !!filter.text;
  for await (const event of kernel.services.activity.follow({ after, types: problemEventTypes, signal })) {
    // The subscriber as it is now: a revoked credential ends the stream, a lost permission hides events.
    const actor = options.actor && (await currentActorOf(kernel, options.actor));
    if (actor && !canSomewhere(actor, permissions.problemRead))
      throw new ForbiddenError(permissions.problemRead, actor.name);
    if (!event.subject) continue;
    const problem = await kernel.services.problems.problem(event.subject.id, { actor });
    if (!problem || !problemMatches(problem, filter)) continue;
    if (needsQuery) {
      const [still] = await store.listProblems(kernel.db, {
        ids: [problem.id],
        ...(filter.incidentId ? { incidentId: filter.incidentId.toLowerCase() } : {}),
        ...(filter.knownError !== undefined ? { knownError: filter.knownError } : {}),
        ...(filter.text ? { text: filter.text } : {}),
        reach: null,
        order: { field: 'createdAt', direction: 'desc' },
        limit: 1,
      });
      if (!still) continue;
    }
    yield {
      seq: event.seq,
      type: event.type as ProblemEventType,
      problem,
      actor: event.actor,
      occurredAt: event.occurredAt,
    };
  }
}
