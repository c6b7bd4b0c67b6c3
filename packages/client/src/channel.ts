/**
 * A push-to-pull queue: producers push values, fail or end it; the consumer pulls with `for await`.
 * `return()` (e.g. `break` out of the loop) ends it at once, also while a `next()` is waiting, and runs
 * `onReturn` once so the producer can unsubscribe.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  #values: T[] = [];
  #error: { reason: unknown } | undefined;
  #ended = false;
  #waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  #onReturn: (() => void) | undefined;

  constructor(onReturn?: () => void) {
    this.#onReturn = onReturn;
  }

  /** True once ended, failed or returned: nothing more will be delivered. */
  get closed(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  push(value: T): void {
    if (this.closed) return;
    if (this.#waiting) {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting.resolve({ value, done: false });
    } else {
      this.#values.push(value);
    }
  }

  /** Ends with an error, after the values already queued. */
  fail(reason: unknown): void {
    if (this.closed) return;
    this.#error = { reason };
    this.#cleanup();
    if (this.#waiting) {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting.reject(reason);
    }
  }

  /** Ends normally, after the values already queued. */
  end(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#cleanup();
    if (this.#waiting) {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#values.length > 0) return Promise.resolve({ value: this.#values.shift() as T, done: false });
    if (this.#error) {
      const { reason } = this.#error;
      this.#error = undefined;
      this.#ended = true; // report the error once, then done
      return Promise.reject(reason);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiting) return Promise.reject(new Error('next() called while a previous next() is pending'));
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#values = [];
    this.#error = undefined;
    this.end();
    this.#ended = true;
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(reason?: unknown): Promise<IteratorResult<T>> {
    this.#values = [];
    this.fail(reason);
    return this.next();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #cleanup(): void {
    const onReturn = this.#onReturn;
    this.#onReturn = undefined;
    onReturn?.();
  }
}
