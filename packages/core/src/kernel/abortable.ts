/**
 * Wraps a generator that waits (e.g. for the next event) so `return()` (a `break`, a closed
 * subscription) stops it at once: a plain async generator only notices at its next yield, so the wait
 * is aborted first. `signal` (the caller's) aborts it too.
 */
export function abortableIterator<T>(
  signal: AbortSignal | undefined,
  start: (signal: AbortSignal) => AsyncGenerator<T>,
): AsyncIterableIterator<T> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  const inner = start(controller.signal);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => inner.next(),
    return: async () => {
      stop();
      signal?.removeEventListener('abort', stop);
      await inner.return(undefined);
      return { done: true, value: undefined };
    },
  };
}
