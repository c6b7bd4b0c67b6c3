import type { ColumnType } from 'kysely';
import { z } from 'zod';
import type { ReadOptions } from '../kernel/actor.js';

/**
 * A business service's health: `maintenance` when an active window covers it; `down` when impact
 * analysis of the CIs with a live critical alert says so; `degraded` when it says degraded (a quorum
 * cluster still holding) or a CI it depends on has a live major alert; `up` otherwise.
 */
export const serviceHealthStates = ['up', 'degraded', 'down', 'maintenance'] as const;
export type ServiceHealthState = (typeof serviceHealthStates)[number];

/** Why a service is not up: a failing CI it depends on and the alert that says so, or its window. */
export interface ServiceHealthCause {
  readonly ciId: string;
  /** The live alert on that CI (the most severe, then the latest); null for a maintenance cause. */
  readonly alertId: string | null;
  /** `down` for a CI with a critical alert, `degraded` for a major one, `maintenance` for the window. */
  readonly state: Exclude<ServiceHealthState, 'up'>;
}

export interface ServiceHealth {
  readonly serviceId: string;
  readonly state: ServiceHealthState;
  /** When it entered this state (the service's creation when it never changed). */
  readonly since: Date;
  /** Empty when up; failing CIs by state (down first), then by CI name; at most `MAX_CAUSES`. */
  readonly causes: readonly ServiceHealthCause[];
}

/** A change of one service's health, as `follow` delivers it (and `refresh` reports it). */
export interface ServiceHealthChange {
  /** Position in the activity stream: resume with `after: seq`. */
  readonly seq: number;
  readonly previousState: ServiceHealthState;
  /** As the change left it. */
  readonly health: ServiceHealth;
  readonly occurredAt: Date;
}

/** A service with thousands of failing dependencies names the first ones: enough to act on. */
export const MAX_CAUSES = 100;
/** Most activity events one refresh round reads; a longer backlog takes several rounds. */
export const EVENTS_PER_ROUND = 2000;
/** The event type of a health change. */
export const SERVICE_HEALTH_CHANGED = 'service.health_changed';

export const serviceHealthFilterInput = z.strictObject({
  /** Only these business services (default: every one the caller may read). */
  serviceIds: z.array(z.uuid('must be a CI id')).max(1000, 'may list at most 1000 services').nullish(),
});
export type ServiceHealthFilter = z.input<typeof serviceHealthFilterInput>;

export interface FollowServiceHealthOptions extends ReadOptions {
  /** Start after this seq (e.g. the last one handled); default: from now on. */
  readonly after?: number;
  readonly filter?: ServiceHealthFilter;
  readonly signal?: AbortSignal;
}

/** What a refresh did: the changes it published, and the services it judged (the incremental set). */
export interface ServiceHealthRefresh {
  readonly changes: readonly ServiceHealthChange[];
  /** The services it recomputed, sorted; a refresh recomputes only those its events could change. */
  readonly recomputed: readonly string[];
  /** Activity events it read. */
  readonly events: number;
  /** Another replica (or round) held the lock: it did nothing. */
  readonly locked: boolean;
}

export interface LiveServiceHealthOptions {
  /** How long a burst of events is gathered before a round runs, in ms (default 25). */
  readonly delayMs?: number;
  /** How soon a round that found the lock taken tries again, in ms (default 100). */
  readonly retryMs?: number;
}

export interface ServiceHealthRunner {
  /** Stops listening and waits for a round in progress. */
  stop(): Promise<void>;
}

export interface ServiceHealthTable {
  serviceId: string;
  state: ServiceHealthState;
  since: Date;
  causes: ColumnType<ServiceHealthCause[], string, string>;
  updatedAt: Date;
}

export interface ServiceHealthCursorTable {
  id: number;
  /** The last activity seq a round processed. */
  seq: ColumnType<number, number, number>;
  /** The next round recomputes every service (after the migration, or a relationship type change). */
  fullPending: boolean;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    /** A business service's health changed state (subject: the service CI). */
    'service.health_changed': {
      serviceId: string;
      state: ServiceHealthState;
      previousState: ServiceHealthState;
      since: Date;
      causes: ServiceHealthCause[];
    };
  }
}
