import type { GraphQLContext } from '../context.js';

/** The error a stream ended with, delivered as its last item so the resolver can report it. */
export class StreamFailure {
  constructor(readonly error: unknown) {}
}

/**
 * A subscription's source as its resolver should see it:
 * - before each item, the context's actor is replaced by the subscriber as it is now (the access
 *   process's short cache): field and type authorization of the event then judge current grants, not
 *   those of the moment it subscribed (core's streams filter by the same actor);
 * - an error the source throws (e.g. the subscriber's token was revoked) becomes a last item. A
 *   subscription whose source throws makes graphql-ws close the whole socket (4500) and every other
 *   subscription on it; an item the resolver throws on is one error for this subscription only, which
 *   then completes. Resolvers call `unwrap` on each item.
 */
export function liveStream<T>(
  context: GraphQLContext,
  source: AsyncIterableIterator<T>,
): AsyncIterableIterator<T | StreamFailure> {
  const subscriber = context.actor;
  let failed = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (failed) return { done: true, value: undefined };
      try {
        const item = await source.next();
        if (!item.done) {
          const cached = context.og.access.cachedActor(subscriber);
          const current = cached !== undefined ? cached : await context.og.access.currentActor(subscriber);
          // Core's stream ends itself when the credential goes; this covers a source that does not.
          if (current) (context as { actor: GraphQLContext['actor'] }).actor = current;
        }
        return item;
      } catch (error) {
        failed = true;
        return { done: false, value: new StreamFailure(error) };
      }
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
  };
}

/** The item, or the stream's error thrown for this subscription alone. */
export function unwrap<T>(item: T | StreamFailure): T {
  if (item instanceof StreamFailure) throw item.error;
  return item;
}
