import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

/**
 * PGlite is one connection. Kysely's `PostgresDialect` wants a pool: this one hands out that single
 * connection to one holder at a time, so concurrent transactions run one after another instead of
 * interleaving their statements on the same session.
 */
export class PGlitePool implements PostgresPool {
  #queue: Array<() => void> = [];
  #held = false;

  constructor(
    readonly pglite: PGlite,
    /** A holder that keeps the connection this long is almost always a deadlock: say so. */
    private readonly waitTimeoutMs = 60_000,
  ) {}

  async connect(): Promise<PostgresPoolClient> {
    if (this.#held) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#queue = this.#queue.filter((w) => w !== grant);
          reject(
            new Error(
              `Waited ${this.waitTimeoutMs} ms for the embedded database connection. PGlite has one connection: ` +
                'code inside a transaction must use the transaction, not the root database.',
            ),
          );
        }, this.waitTimeoutMs);
        const grant = () => {
          clearTimeout(timer);
          resolve();
        };
        this.#queue.push(grant);
      });
    }
    this.#held = true;
    return this.#client();
  }

  #client(): PostgresPoolClient {
    let released = false;
    const pglite = this.pglite;
    return {
      query: (async (sql: string, parameters: ReadonlyArray<unknown>) => {
        const result = await pglite.query(sql, parameters as unknown[], { rowMode: 'object' });
        return {
          command: result.command ?? 'SELECT',
          rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length,
          rows: result.rows,
        } as PostgresQueryResult<unknown>;
      }) as PostgresPoolClient['query'],
      release: () => {
        if (released) return;
        released = true;
        const next = this.#queue.shift();
        if (next) next();
        else this.#held = false;
      },
    };
  }

  /** The one connection: in use or idle, and how many wait for it. */
  stats() {
    return { max: 1, total: 1, idle: this.#held ? 0 : 1, waiting: this.#queue.length };
  }

  async end(): Promise<void> {
    // The PGlite instance is closed by its owner (the DatabaseHandle), not by Kysely.
  }
}
