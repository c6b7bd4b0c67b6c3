import type { ActorRef } from './actor.js';

/**
 * Every domain event type and its payload. Core's processes are listed here; a plugin adds its own by
 * module augmentation:
 *
 *   declare module '@opsgraph/core' { interface DomainEventMap { 'network.prefix.full': { prefixId: string } } }
 *
 * Payloads are stored as JSON and read back from the activity table, so subscribers receive them
 * `Jsonified` (dates as ISO strings): the same event looks the same live and replayed.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging (core processes and plugins)
export interface DomainEventMap {}

export type DomainEventType = keyof DomainEventMap & string;

export interface EventSubject {
  readonly type: string;
  readonly id: string;
}

export interface DomainEvent<K extends DomainEventType = DomainEventType> {
  /** Position in the activity stream; increases in commit order, so `after: seq` never skips one. */
  readonly seq: number;
  readonly id: string;
  readonly type: K;
  readonly subject: EventSubject | null;
  readonly actor: ActorRef;
  readonly payload: Jsonified<DomainEventMap[K]>;
  readonly occurredAt: Date;
}

/** A union narrowable by `type`. */
export type AnyDomainEvent = { [K in DomainEventType]: DomainEvent<K> }[DomainEventType];

/**
 * Where the append statement reads a payload from instead of JSON shipped from this process: a row of
 * `table` (by `key`, a column of type `keyType`) that the write itself wrote, turned into JSON by
 * `json` in SQL. See `WriteScope.emitRow`.
 */
export interface RowPayloadSource {
  readonly table: string;
  readonly key: string;
  readonly keyType: string;
  /** The row (table alias `alias`) as a jsonb expression: exactly `toJson` of what the caller passes. */
  readonly json: (alias: string) => string;
}

/** What a service emits inside a write; the kernel adds seq, id, actor and time. */
export interface PendingEvent {
  readonly type: string;
  readonly subject: EventSubject | null;
  /** The payload serialised once, at emit (a snapshot), as JSON text. */
  readonly json: string | null;
  /** Or: the payload is built in SQL by the append statement (`WriteScope.emitRow`). */
  readonly row: {
    readonly source: RowPayloadSource;
    readonly key: string;
    readonly field: string;
    /** The payload's other fields, as JSON text of an object. */
    readonly rest: string;
    /** The payload as the caller has it: what this process's handlers get, JSON-shaped when they read it. */
    readonly payload: unknown;
  } | null;
  readonly actor: ActorRef;
  readonly occurredAt: Date;
}

/** Maps a type to what it looks like after a JSON round trip (dates become ISO strings). */
export type Jsonified<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Jsonified<U>[]
    : T extends object
      ? { [K in keyof T]: Jsonified<T[K]> }
      : T;

export const toJson = <T>(value: T): Jsonified<T> => JSON.parse(JSON.stringify(value)) as Jsonified<T>;

/**
 * `fn` computed once per event object: the activity tail hands the same event to every follower of a
 * process, so a thousand subscribers share one parse of its payload. The result must not be mutated.
 */
export function oncePerEvent<T>(fn: (event: AnyDomainEvent) => T): (event: AnyDomainEvent) => T {
  const results = new WeakMap<AnyDomainEvent, { value: T }>();
  return (event) => {
    let result = results.get(event);
    if (!result) {
      result = { value: fn(event) };
      results.set(event, result);
    }
    return result.value;
  };
}
