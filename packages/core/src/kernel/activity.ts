import { abortableIterator } from './abortable.js';
import { type ActivityQuery, latestSeq, listActivity } from './activity-store.js';
import { assertCan, can, permissions, type ReadOptions, readPermissionOf } from './actor.js';
import type { AnyDomainEvent, DomainEvent, DomainEventType } from './events.js';
import type { Kernel } from './kernel.js';

export interface FollowOptions extends ActivityQuery, ReadOptions {
  /** Stops the stream. */
  readonly signal?: AbortSignal;
  /** Keeps only the events this returns true for (e.g. per-event authorization). */
  readonly filter?: (event: AnyDomainEvent) => boolean | Promise<boolean>;
}

/** The activity stream: every committed domain event, in commit order, resumable by seq. */
export class ActivityService {
  constructor(private readonly kernel: Kernel) {}

  /** Events after `after` (default 0), oldest first. */
  /** Events after `after` (default 0), oldest first; with an actor, only those it may see. */
  async list(query: ActivityQuery = {}, options: ReadOptions = {}): Promise<AnyDomainEvent[]> {
    const { actor } = options;
    if (actor) assertCan(actor, permissions.activityRead);
    const events = await listActivity(this.kernel.db, {
      ...query,
      limit: Math.min(query.limit ?? 100, 1000),
    });
    return actor ? events.filter((event) => can(actor, readPermissionOf(event.type))) : events;
  }

  /** The seq of the newest event (of `types`, when given): follow `after` it to miss nothing from now on. */
  async latestSeq(options: ReadOptions & { readonly types?: readonly string[] } = {}): Promise<number> {
    if (options.actor) assertCan(options.actor, permissions.activityRead);
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
    if (options.actor) assertCan(options.actor, permissions.activityRead);
    return abortableIterator(options.signal, (signal) => this.#follow({ ...options, signal }));
  }

  async *#follow(
    options: FollowOptions & { signal: AbortSignal },
  ): AsyncGenerator<AnyDomainEvent, void, undefined> {
    const { signal, actor } = options;
    await this.kernel.bus.listenRemote();
    let after = options.after ?? 0;
    const batch = 500;
    while (!signal.aborted) {
      const seen = this.kernel.bus.generation;
      const events = await listActivity(this.kernel.db, { ...options, after, limit: batch });
      for (const event of events) {
        after = event.seq;
        if (signal.aborted) return;
        if (actor && !can(actor, readPermissionOf(event.type))) continue;
        if (options.filter && !(await options.filter(event))) continue;
        yield event;
      }
      if (events.length < batch) await this.kernel.bus.waitForChange(seen, signal);
    }
  }
}
