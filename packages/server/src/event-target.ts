import type { AnyDomainEvent, OpsGraph } from '@opsgraph/core';

/** What a listener of the activity event target receives as `event.detail`: where to look, not the data. */
export interface ActivityEventDetail {
  /** Position in the activity stream (`og.activity.list({ after: seq - 1, limit: 1 })` reads it). */
  readonly seq: number;
  readonly type: string;
  readonly subject: { readonly type: string; readonly id: string } | null;
}

type Listener = ((event: CustomEvent<ActivityEventDetail>) => void) | { handleEvent(event: Event): void };

export interface ActivityEventTarget extends EventTarget {
  /** Resolves once it follows: every commit from then on reaches the listeners of its topic. */
  readonly ready: Promise<void>;
  /** Stops following; listeners hear nothing more. */
  close(): void;
}

/** How long to wait before following again after the stream failed (e.g. the database restarted). */
const RETRY_MS = 1_000;

/**
 * A Yoga pub/sub event target (`createPubSub({ eventTarget })`) over OpsGraph's committed domain events:
 * topics are event types (`'alert.opened'`) or a type and a subject id (`pubsub.subscribe('ci.updated',
 * ciId)`), and a commit on any replica reaches every replica's listeners, through the activity table and
 * PostgreSQL LISTEN/NOTIFY (in-process on PGlite); it follows from its creation until `close()`. The detail is the seq, type and subject only, so no
 * payload nears NOTIFY's 8 kB: a subscriber loads what it needs, with its reader's permissions. One
 * follower of the stream serves every topic. It carries committed events only: publish by writing
 * through a service (`scope.emit`), not `pubsub.publish`, which it refuses.
 */
export function createActivityEventTarget(og: OpsGraph): ActivityEventTarget {
  const listeners = new Map<string, Set<Listener>>();
  const controller = new AbortController();
  let started!: () => void;
  const ready = new Promise<void>((resolve) => {
    started = resolve;
  });

  const deliver = (event: AnyDomainEvent) => {
    const detail: ActivityEventDetail = { seq: event.seq, type: event.type, subject: event.subject ?? null };
    const topics = event.subject ? [event.type, `${event.type}:${event.subject.id}`] : [event.type];
    for (const topic of topics) {
      for (const listener of listeners.get(topic) ?? []) {
        const custom = new CustomEvent(topic, { detail });
        try {
          if (typeof listener === 'function') listener(custom);
          else listener.handleEvent(custom);
        } catch (error) {
          og.logger.error({ err: error, topic }, 'an activity event listener failed');
        }
      }
    }
  };

  const follow = async () => {
    let after = await og.activity.latestSeq();
    started();
    while (!controller.signal.aborted) {
      try {
        for await (const event of og.activity.follow({ after, signal: controller.signal })) {
          after = event.seq;
          deliver(event);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        og.logger.warn(
          { err: error, after },
          `the activity event target lost its stream; following again in ${RETRY_MS} ms`,
        );
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  };

  follow().catch((error) => og.logger.error({ err: error }, 'the activity event target stopped'));
  const target = new EventTarget() as ActivityEventTarget;
  return Object.assign(target, {
    ready,
    addEventListener(type: string, listener: Listener | null) {
      if (!listener) return;
      const set = listeners.get(type) ?? new Set<Listener>();
      set.add(listener);
      listeners.set(type, set);
    },
    removeEventListener(type: string, listener: Listener | null) {
      if (listener) listeners.get(type)?.delete(listener);
    },
    dispatchEvent(event: Event): boolean {
      throw new TypeError(
        `The activity event target carries committed domain events only; "${event.type}" was published directly. Emit it from a service write (scope.emit) so it is stored and reaches every replica.`,
      );
    },
    close() {
      controller.abort();
      listeners.clear();
    },
  });
}
