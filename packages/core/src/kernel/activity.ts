import { abortableIterator } from './abortable.js';
import { type ActivityQuery, latestSeq, listActivity } from './activity-store.js';
import { type Actor, canSomewhere, permissions, type ReadOptions } from './actor.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';
import type { AnyDomainEvent, DomainEvent, DomainEventType } from './events.js';
import type { Kernel } from './kernel.js';
import { canSeeEvent } from './reach.js';

export interface FollowOptions extends ActivityQuery, ReadOptions {
  /** Stops the stream. */
  readonly signal?: AbortSignal;
  /** Keeps only the events this returns true for (e.g. per-event authorization). */
  readonly filter?: (event: AnyDomainEvent) => boolean | Promise<boolean>;
}

/** Events a follower behind the shared tail reads from the table at a time. */
const BACKLOG_BATCH = 500;

/** The activity stream: every committed domain event, in commit order, resumable by seq. */
export class ActivityService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Events after `after` (default 0), oldest first; with an actor, only those it may see (see
   * `visibleTo`). The limit counts events read, so a page may hold fewer: continue after the last seq
   * read, or follow.
   */
  async list(query: ActivityQuery = {}, options: ReadOptions = {}): Promise<AnyDomainEvent[]> {
    const { actor } = options;
    gate(actor);
    const events = await listActivity(this.kernel.db, {
      ...query,
      limit: Math.min(query.limit ?? 100, 1000),
    });
    return actor ? events.filter((event) => visibleTo(actor, event)) : events;
  }

  /** The seq of the newest event (of `types`, when given): follow `after` it to miss nothing from now on. */
  async latestSeq(options: ReadOptions & { readonly types?: readonly string[] } = {}): Promise<number> {
    gate(options.actor);
    return latestSeq(this.kernel.db, options.types);
  }

  /** Calls `handler` with each committed event of `type` ('*' for all) published by this process. */
  on<K extends DomainEventType>(
    type: K,
    handler: (event: DomainEvent<K>) => void | Promise<void>,
  ): () => void;
  on(type: '*', handler: (event: AnyDomainEvent) => void | Promise<void>): () => void;
  on(type: string, handler: (event: never) => void | Promise<void>): () => void {
    return this.kernel.bus.on(type as '*', handler as (event: AnyDomainEvent) => void);
  }

  /**
   * Every event after `after`: first the backlog from the table, then live ones as they commit (here or
   * on another replica), in order, none twice. The table is the source of truth; notifications only
   * say "read again", so a missed notification delays an event but never loses it.
   */
  follow(options: FollowOptions = {}): AsyncIterableIterator<AnyDomainEvent> {
    gate(options.actor);
    return abortableIterator(options.signal, (signal) => this.#follow({ ...options, signal }));
  }

  async *#follow(
    options: FollowOptions & { signal: AbortSignal },
  ): AsyncGenerator<AnyDomainEvent, void, undefined> {
    const { signal } = options;
    const { bus, tail } = this.kernel;
    await bus.listenRemote();
    let after = options.after ?? 0;
    const types = options.types?.length ? new Set<string>(options.types) : undefined;
    const { subject } = options;
    let stale = false; // the last wait timed out: a NOTIFY may have been lost, so read regardless
    while (!signal.aborted) {
      const seen = bus.generation;
      let events = tail.eventsAfter(after);
      if (events === undefined && !tail.started) {
        await tail.catchUp(seen, false, after);
        continue;
      }
      let readUpTo = 0;
      if (events === undefined) {
        // Behind the process's shared tail: this follower's backlog, narrowed by the table's indexes.
        // Every seq up to the head read first had committed, so a short page has seen all of them.
        const head = await latestSeq(this.kernel.db);
        events = await listActivity(this.kernel.db, { ...options, after, limit: BACKLOG_BATCH });
        if (events.length < BACKLOG_BATCH) {
          readUpTo = head;
          await tail.catchUp(seen);
        }
      } else if (events.length === 0) {
        if (tail.covers(seen) && !stale) stale = !(await bus.waitForChange(seen, signal));
        else {
          await tail.catchUp(seen, stale);
          stale = false;
        }
        continue;
      }
      for (const event of events) {
        after = event.seq;
        if (signal.aborted) return;
        if (types && !types.has(event.type)) continue;
        if (subject && (event.subject?.type !== subject.type || event.subject.id !== subject.id)) continue;
        // The subscriber as it is now, not as it was when it subscribed: a revoked or expired grant
        // hides the very next event, a revoked token or deactivated user ends the stream.
        const current = options.actor && currentActorOf(this.kernel, options.actor);
        const actor = current instanceof Promise ? await current : current;
        if (actor) gate(actor);
        if (actor && !visibleTo(actor, event)) continue;
        if (options.filter && !(await options.filter(event))) continue;
        yield event;
      }
      after = Math.max(after, readUpTo);
    }
  }
}

/**
 * The actor with its permissions as they are now (through the access process's short cache; without a
 * promise when the cache has it, as it does for nearly every event of a live stream); a credential that
 * no longer works ends the caller's stream with UNAUTHENTICATED.
 */
export function currentActorOf(kernel: Kernel, actor: Actor): Actor | Promise<Actor> {
  const cached = kernel.services.access.cachedActor(actor);
  if (cached !== undefined) return stillSignedIn(cached, actor);
  return kernel.services.access.currentActor(actor).then((current) => stillSignedIn(current, actor));
}

function stillSignedIn(current: Actor | null, actor: Actor): Actor {
  if (!current) {
    throw new UnauthenticatedError(
      `The credentials of ${actor.name} were revoked or have expired, or the user was deactivated: sign in again`,
    );
  }
  return current;
}

/** activity:read anywhere (everywhere, or through a scope) opens the stream; each event is then checked. */
function gate(actor: Actor | undefined): void {
  if (actor && !canSomewhere(actor, permissions.activityRead))
    throw new ForbiddenError(permissions.activityRead, actor.name);
}

/**
 * Whether an actor may see an event: activity:read and the event's read permission (`cmdb:read` for
 * `ci.*`), each on every CI the event is about (its CI subject, a relationship's two ends), or
 * everywhere when it is about no CI. See `canSeeEvent`.
 */
export function visibleTo(actor: Actor, event: AnyDomainEvent): boolean {
  return canSeeEvent(actor, event) && canSeeEvent(actor, event, permissions.activityRead);
}
