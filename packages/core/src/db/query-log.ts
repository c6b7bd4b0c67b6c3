import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogEvent } from 'kysely';

/** One SQL statement the database ran (or refused), as the query log reports it. */
export interface QueryEvent {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly durationMs: number;
  /** Set when the statement failed. */
  readonly error?: unknown;
}

interface Scope {
  readonly queries: QueryEvent[];
  readonly parent: Scope | undefined;
}

/**
 * Every statement run through a database handle's Kysely (transaction control included), for metrics,
 * tracing and tests that count queries. `measure` attributes statements to the async work that ran
 * them, so concurrent requests do not count each other's queries.
 */
export class QueryLog {
  readonly #listeners = new Set<(event: QueryEvent) => void>();
  readonly #scope = new AsyncLocalStorage<Scope>();

  /** Calls `listener` with each statement run from now on; returns the unsubscribe function. */
  on(listener: (event: QueryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs `fn` and returns what it returned with the statements it ran, including those of work it
   * started and awaited (e.g. DataLoader batches), but not those of concurrent callers.
   */
  async measure<T>(fn: () => Promise<T> | T): Promise<{ result: T; queries: QueryEvent[] }> {
    const queries: QueryEvent[] = [];
    // Nested measurements each see their statements: an outer one counts the inner one's too.
    const result = await this.#scope.run({ queries, parent: this.#scope.getStore() }, fn);
    return { result, queries };
  }

  /** The measurement the caller runs in, if any: an identity, to keep concurrent measurements apart. */
  current(): object | undefined {
    return this.#scope.getStore();
  }

  /** Kysely's `log` hook. */
  readonly record = (event: LogEvent): void => {
    const entry: QueryEvent = {
      sql: event.query.sql,
      parameters: event.query.parameters,
      durationMs: event.queryDurationMillis,
      ...(event.level === 'error' ? { error: event.error } : {}),
    };
    for (let scope = this.#scope.getStore(); scope; scope = scope.parent) scope.queries.push(entry);
    for (const listener of this.#listeners) {
      try {
        listener(entry);
      } catch {
        // An observer must never fail the statement it observes.
      }
    }
  };
}

const logs = new WeakMap<object, QueryLog>();

/** Records which log a database handle reports to, for `measurementOf`. */
export function attachQueryLog(db: object, log: QueryLog): void {
  logs.set(db, log);
}

/**
 * The measurement (`QueryLog.measure`) the caller runs in on `db`, if any: work that batches statements
 * across callers groups only callers of the same measurement, so each one's statements stay its own.
 */
export function measurementOf(db: object): object | undefined {
  return logs.get(db)?.current();
}
