import type { AnyDomainEvent, DomainEvent, DomainEventType } from './events.js';
import type { Logger } from './logger.js';

type Handler = (event: AnyDomainEvent) => void | Promise<void>;

/**
 * In-process delivery of committed events, plus a wake-up signal for stream readers. Handlers never
 * see an event of a transaction that rolled back, and a failing handler is logged, never rethrown
 * into the write that caused it.
 */
export class EventBus {
  #handlers = new Map<string, Set<Handler>>();
  #generation = 0;
  #change: { promise: Promise<void>; resolve: () => void; timer: ReturnType<typeof setTimeout> } | undefined;

  #remote: (() => Promise<void>) | undefined;
  #remoteStarted: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** How to hear other processes' commits (PostgreSQL LISTEN); started on first need. */
  setRemote(start: () => Promise<void>): void {
    this.#remote = start;
  }

  /** Starts hearing other processes' commits, once; resolves when listening. */
  async listenRemote(): Promise<void> {
    if (!this.#remote) return;
    this.#remoteStarted ??= this.#remote().catch((error) => {
      this.#remoteStarted = undefined;
      throw error;
    });
    await this.#remoteStarted;
  }

  on<K extends DomainEventType>(
    type: K,
    handler: (event: DomainEvent<K>) => void | Promise<void>,
  ): () => void;
  on(type: '*', handler: (event: AnyDomainEvent) => void | Promise<void>): () => void;
  on(type: string, handler: (event: never) => void | Promise<void>): () => void {
    const set = this.#handlers.get(type) ?? new Set();
    set.add(handler as Handler);
    this.#handlers.set(type, set);
    return () => set.delete(handler as Handler);
  }

  publish(events: readonly AnyDomainEvent[]): void {
    if (events.length === 0) return;
    for (const event of events) {
      for (const handler of [...(this.#handlers.get(event.type) ?? []), ...(this.#handlers.get('*') ?? [])]) {
        try {
          const result = handler(event);
          if (result instanceof Promise) result.catch((error) => this.#handlerFailed(event, error));
        } catch (error) {
          this.#handlerFailed(event, error);
        }
      }
    }
    this.wake();
  }

  /** The stream grew (here, or on another replica through NOTIFY). */
  wake(): void {
    this.#generation++;
    const change = this.#change;
    this.#change = undefined;
    if (change) {
      clearTimeout(change.timer);
      change.resolve();
    }
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * Resolves once the generation differs from `seen` (at once if it already does), or on abort: true;
   * false after about `timeoutMs` without a change.
   */
  async waitForChange(seen: number, signal?: AbortSignal, timeoutMs = 30_000): Promise<boolean> {
    if (this.#generation !== seen || signal?.aborted) return true;
    const change = this.#nextChange(timeoutMs);
    if (!signal) await change;
    else
      await new Promise<void>((resolve) => {
        const aborted = () => resolve();
        signal.addEventListener('abort', aborted, { once: true });
        void change.then(() => {
          signal.removeEventListener('abort', aborted);
          resolve();
        });
      });
    return this.#generation !== seen || signal?.aborted === true;
  }

  /**
   * One promise and one timer for every waiter of the next change: a thousand live subscriptions
   * woken by a commit cost one clearTimeout, not a thousand.
   */
  #nextChange(timeoutMs: number): Promise<void> {
    if (!this.#change) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      // A periodic re-read bounds the damage of a lost NOTIFY (e.g. while the LISTEN connection reconnects).
      const timer = setTimeout(() => {
        if (this.#change?.promise === promise) this.#change = undefined;
        resolve();
      }, timeoutMs);
      this.#change = { promise, resolve, timer };
    }
    return this.#change.promise;
  }

  #handlerFailed(event: AnyDomainEvent, error: unknown): void {
    this.logger.error({ err: error, event: event.type, seq: event.seq }, 'domain event handler failed');
  }
}
