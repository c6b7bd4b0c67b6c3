import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from '../db/connect.js';
import type { Database } from '../db/database.js';
import { appendEvents } from './activity-store.js';
import type { ActivityTail } from './activity-tail.js';
import { type Actor, actorRef } from './actor.js';
import type { EventBus } from './bus.js';
import type { Clock } from './clock.js';
import type {
  AnyDomainEvent,
  DomainEventMap,
  DomainEventType,
  EventSubject,
  PendingEvent,
  RowPayloadSource,
} from './events.js';
import type { Logger } from './logger.js';
import type { CoreServices, OpsGraphPlugins } from './registry.js';

/** What one write sees: its transaction, its time, its actor, and a way to emit events. */
export interface WriteScope {
  readonly db: Transaction<Database>;
  readonly now: Date;
  readonly actor: Actor;
  /**
   * The kernel bound to this transaction: call other services through `scope.kernel.services` (not
   * your own `this.kernel`), so their reads see this write and, on PGlite's single connection, do not
   * wait for it.
   */
  readonly kernel: Kernel;
  /** Records an event in this transaction; it is published only if the transaction commits. */
  emit<K extends DomainEventType>(type: K, subject: EventSubject | null, payload: DomainEventMap[K]): void;
  /**
   * As `emit`, for an event whose payload carries a row this write wrote under `row.field` (an alert,
   * say): the statement that appends the events builds that field in SQL from the row (`row.source`,
   * by `row.key`) as it is at the end of the write, so a write emitting hundreds of them ships no JSON
   * of them from this process. Only for a row no later statement of the write changes, and
   * `row.source.json` must give exactly what `emit` would store for `payload[row.field]`. Handlers in
   * this process get `payload` itself, JSON-shaped on first read (do not mutate it after).
   */
  emitRow<K extends DomainEventType>(
    type: K,
    subject: EventSubject | null,
    payload: DomainEventMap[K],
    row: {
      readonly source: RowPayloadSource;
      readonly key: string;
      readonly field: keyof DomainEventMap[K] & string;
    },
  ): void;
}

/**
 * What services are built on. Inside `og.transaction()` the same services are built on a kernel bound
 * to that transaction, so a service calling another (through `services`) stays in it.
 */
export interface Kernel {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly bus: EventBus;
  /** The newest committed events, read once per process for every live follower. */
  readonly tail: ActivityTail;
  readonly services: CoreServices;
  readonly plugins: OpsGraphPlugins;
  readonly inTransaction: boolean;
  /** Runs `fn` in a transaction: the current one if there is one, else a new one. */
  write<T>(actor: Actor, fn: (scope: WriteScope) => Promise<T>): Promise<T>;
  /** Runs `fn` with services bound to one transaction (joining the current one). */
  transaction<T>(fn: (kernel: Kernel) => Promise<T>): Promise<T>;
}

export interface KernelShared {
  readonly root: Kysely<Database>;
  readonly dialect: Dialect;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly bus: EventBus;
  readonly tail: ActivityTail;
  readonly buildCore: (kernel: Kernel) => CoreServices;
  readonly buildPlugins: (kernel: Kernel) => OpsGraphPlugins;
}

interface TxState {
  readonly pending: PendingEvent[];
  readonly now: Date;
}

export class KernelImpl implements Kernel {
  #services?: CoreServices;
  #plugins?: OpsGraphPlugins;

  constructor(
    private readonly shared: KernelShared,
    readonly db: Kysely<Database>,
    private readonly tx: TxState | null,
  ) {}

  get dialect() {
    return this.shared.dialect;
  }
  get clock() {
    return this.shared.clock;
  }
  get logger() {
    return this.shared.logger;
  }
  get bus() {
    return this.shared.bus;
  }
  get tail() {
    return this.shared.tail;
  }
  get inTransaction() {
    return this.tx !== null;
  }
  get services(): CoreServices {
    this.#services ??= this.shared.buildCore(this);
    return this.#services;
  }
  get plugins(): OpsGraphPlugins {
    this.#plugins ??= this.shared.buildPlugins(this);
    return this.#plugins;
  }

  async transaction<T>(fn: (kernel: Kernel) => Promise<T>): Promise<T> {
    if (this.tx) return fn(this);
    let committed: AnyDomainEvent[] = [];
    const result = await this.shared.root.transaction().execute(async (trx) => {
      const state: TxState = { pending: [], now: this.shared.clock.now() };
      const value = await fn(new KernelImpl(this.shared, trx, state));
      committed = await appendEvents(trx, state.pending);
      return value;
    });
    this.shared.bus.publish(committed);
    return result;
  }

  write<T>(actor: Actor, fn: (scope: WriteScope) => Promise<T>): Promise<T> {
    return this.transaction(async (kernel) => {
      const self = kernel as KernelImpl;
      const state = self.tx!;
      const ref = actorRef(actor);
      return fn({
        db: self.db as Transaction<Database>,
        now: state.now,
        actor,
        kernel: self,
        emit: (type, subject, payload) => {
          // Serialised once, now: a snapshot of the payload, stored as it is and parsed only if read.
          const json = JSON.stringify(payload) ?? null;
          state.pending.push({ type, subject, json, row: null, actor: ref, occurredAt: state.now });
        },
        emitRow: (type, subject, payload, { source, key, field }) => {
          const { [field]: _, ...rest } = payload as Record<string, unknown>;
          state.pending.push({
            type,
            subject,
            json: null,
            row: { source, key, field, rest: JSON.stringify(rest), payload },
            actor: ref,
            occurredAt: state.now,
          });
        },
      });
    });
  }
}
