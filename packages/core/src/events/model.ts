import type { ColumnType, Generated, GeneratedAlways } from 'kysely';
import { z } from 'zod';
import { type OrderDirection, orderDirections, type PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';

/** Severities of an event, most severe first; `clear` says the condition is over. */
export const eventSeverities = ['critical', 'major', 'minor', 'warning', 'info', 'clear'] as const;
export type EventSeverity = (typeof eventSeverities)[number];
/** Severities an alert can have: an alert keeps the latest non-clear one. */
export type AlertSeverity = Exclude<EventSeverity, 'clear'>;

/**
 * What an event asks of its alert: `trigger` opens or repeats it, `acknowledge` acknowledges it (a
 * PagerDuty `acknowledge`), `resolve` closes it. Defaults from the severity: `clear` resolves, any
 * other triggers.
 */
export const eventActions = ['trigger', 'acknowledge', 'resolve'] as const;
export type EventAction = (typeof eventActions)[number];

export const alertStatuses = ['open', 'acknowledged', 'closed'] as const;
export type AlertStatus = (typeof alertStatuses)[number];

/** How ingesting one event went. */
export const ingestOutcomes = ['opened', 'repeated', 'acknowledged', 'closed', 'ignored'] as const;
export type IngestOutcome = (typeof ingestOutcomes)[number];

/** How event management judges flapping and correlates alerts (`createOpsGraph({ events })`). */
export interface EventsOptions {
  /**
   * A dedup key whose alerts closed more than `cycles` times within `windowMs` opens its next alert
   * as flapping. Default: more than 3 times in an hour.
   */
  readonly flapping?: { readonly cycles?: number; readonly windowMs?: number };
  /**
   * Topology correlation: a new alert is grouped under a live alert on a CI it depends on (within
   * `maxDepth` relationships) that opened within `windowMs` of it. Default: 15 minutes, depth 10.
   * `false` turns it off.
   */
  readonly correlation?: false | { readonly windowMs?: number; readonly maxDepth?: number };
}

export interface ResolvedEventsOptions {
  readonly flapping: { readonly cycles: number; readonly windowMs: number };
  readonly correlation: { readonly windowMs: number; readonly maxDepth: number } | null;
}

export function resolveEventsOptions(options: EventsOptions = {}): ResolvedEventsOptions {
  const positive = (value: number | undefined, fallback: number, name: string) => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0)
      throw new TypeError(`events.${name} must be a positive number`);
    return value;
  };
  return {
    flapping: {
      cycles: positive(options.flapping?.cycles, 3, 'flapping.cycles'),
      windowMs: positive(options.flapping?.windowMs, 3_600_000, 'flapping.windowMs'),
    },
    correlation:
      options.correlation === false
        ? null
        : {
            windowMs: positive(options.correlation?.windowMs, 15 * 60_000, 'correlation.windowMs'),
            maxDepth: Math.min(50, positive(options.correlation?.maxDepth, 10, 'correlation.maxDepth')),
          },
  };
}

/** How many occurrences (stored events) are kept per alert: the latest ones. */
export const OCCURRENCES_KEPT_PER_ALERT = 100;
/**
 * An alert's older occurrences are removed in steps: when it has gained about this many since its last
 * trim, not on every event. An alert then stores between OCCURRENCES_KEPT_PER_ALERT and about this many
 * more; readers only ever see the latest OCCURRENCES_KEPT_PER_ALERT.
 */
export const OCCURRENCES_TRIM_STEP = 50;
/** At most this many events per `ingest` call. */
export const MAX_EVENTS_PER_INGEST = 10_000;

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);
const label = z.string().max(1000);

/** One event, as every source is normalised to (and as `ingest` takes it). */
export const eventInput = z.strictObject({
  /** Where it comes from: `alertmanager`, `pagerduty`, a monitoring tool's name. */
  source: text(200),
  /** The host (or device) it is about: matched against CIs' host name, name and IP addresses. */
  node: text(255),
  /** The part of the node: a disk, a service, an interface. */
  resource: z.string().trim().max(255).default(''),
  /** What happened: `HighCpu`, `disk_full`, a check's name. */
  type: text(255),
  severity: z.enum(eventSeverities),
  /** Defaults from the severity: `clear` resolves, any other triggers. */
  action: z.enum(eventActions).optional(),
  message: z.string().max(4000).default(''),
  /** Given, or derived from source, node, type and resource. */
  dedupKey: text(512).optional(),
  labels: z.record(z.string().min(1).max(200), label).default({}),
  /** When it happened at the source; defaults to when it is ingested. */
  occurredAt: z.coerce.date().nullish(),
  /** The CI it is about, when the sender knows; else bound by node. */
  ciId: z.uuid().nullish(),
  /** The body as received, kept with the occurrence. */
  raw: z.unknown().optional(),
});
export type EventInput = z.input<typeof eventInput>;

/** A normalised event: every field filled in. */
export interface NormalizedEvent {
  readonly source: string;
  readonly node: string;
  readonly resource: string;
  readonly type: string;
  readonly severity: EventSeverity;
  readonly action: EventAction;
  readonly message: string;
  readonly dedupKey: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly occurredAt: Date | null;
  readonly ciId: string | null;
  readonly raw: unknown;
}

export interface AlertTable {
  id: string;
  dedupKey: string;
  status: AlertStatus;
  severity: AlertSeverity;
  source: string;
  node: string;
  resource: string;
  type: string;
  message: string;
  labels: ColumnType<Record<string, string>, string, string>;
  ciId: string | null;
  /** Events folded into the alert (triggers; acknowledge and resolve events do not count). */
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: ColumnType<ActorRef | null, string | null, string | null>;
  closedAt: Date | null;
  closedBy: ColumnType<ActorRef | null, string | null, string | null>;
  /** `cleared`: a clear/resolve event closed it; `manual`: someone closed it. */
  closeReason: 'cleared' | 'manual' | null;
  flapping: Generated<boolean>;
  maintenanceWindowId: string | null;
  rootAlertId: string | null;
  groupKey: string | null;
  /** Counts lifecycle changes (acknowledge, close), not repeats: a noisy alert stays acknowledgeable. */
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface EventOccurrenceTable {
  seq: GeneratedAlways<number>;
  alertId: string;
  dedupKey: string;
  source: string;
  node: string;
  resource: string;
  type: string;
  severity: EventSeverity;
  action: EventAction;
  message: string;
  labels: ColumnType<Record<string, string>, string, string>;
  ciId: string | null;
  occurredAt: Date | null;
  receivedAt: Date;
  raw: ColumnType<unknown, string | null, string | null>;
}

export interface Alert {
  readonly id: string;
  readonly dedupKey: string;
  readonly status: AlertStatus;
  readonly severity: AlertSeverity;
  readonly source: string;
  readonly node: string;
  readonly resource: string;
  readonly type: string;
  readonly message: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ciId: string | null;
  readonly count: number;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
  readonly acknowledgedAt: Date | null;
  readonly acknowledgedBy: ActorRef | null;
  readonly closedAt: Date | null;
  readonly closedBy: ActorRef | null;
  readonly closeReason: 'cleared' | 'manual' | null;
  /**
   * Its dedup key opened and closed more than the flapping threshold within the window when it opened:
   * it is kept as any alert, but should not page anyone or open an incident.
   */
  readonly flapping: boolean;
  /** Opened or repeated while its CI (or one containing it) was in this maintenance window. */
  readonly maintenanceWindowId: string | null;
  /** `maintenanceWindowId` is set: kept, but should not page anyone or open an incident. */
  readonly suppressed: boolean;
  /**
   * The live alert whose failure explains this one (on a CI this alert's CI depends on, per topology,
   * opened within the correlation window); null when it is a root or stands alone.
   */
  readonly rootAlertId: string | null;
  /** Its label group (an event rule's `groupBy`): the label values as a JSON object; null when ungrouped. */
  readonly groupKey: string | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One stored event of an alert. */
export interface EventOccurrence {
  readonly seq: number;
  readonly alertId: string;
  readonly dedupKey: string;
  readonly source: string;
  readonly node: string;
  readonly resource: string;
  readonly type: string;
  readonly severity: EventSeverity;
  readonly action: EventAction;
  readonly message: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ciId: string | null;
  readonly occurredAt: Date | null;
  readonly receivedAt: Date;
  readonly raw: unknown;
}

/** What happened to one ingested event, in input order. */
export interface IngestResult {
  readonly dedupKey: string;
  /** The alert it landed on; null when ignored (e.g. a clear for no open alert). */
  readonly alertId: string | null;
  readonly outcome: IngestOutcome;
  /** The event rule that dropped it (outcome `ignored`); null otherwise. */
  readonly ignoredBy: string | null;
}

export interface IngestOptions extends WriteOptions {}

/** Acknowledge and close name the version read (optional: without it, no conflict check). */
export interface AlertChangeOptions extends WriteOptions {
  readonly version?: number;
}

export const alertFilterInput = z.strictObject({
  status: z.array(z.enum(alertStatuses)).min(1).optional(),
  severity: z
    .array(z.enum(eventSeverities).exclude(['clear']))
    .min(1)
    .optional(),
  ciId: z.uuid().nullish(),
  dedupKey: z.string().min(1).optional(),
  source: z.string().min(1).optional(),
  node: z.string().min(1).optional(),
  /** Members of this root's topology group (the root itself not included). */
  rootAlertId: z.uuid().optional(),
  /** true: roots and alerts in no group; false: alerts grouped under a root. */
  isRoot: z.boolean().optional(),
  /** Members of this label group. */
  groupKey: z.string().min(1).optional(),
  flapping: z.boolean().optional(),
  suppressed: z.boolean().optional(),
});
/** Alerts by status, severity, CI, dedup key, source, node, group, flapping or suppression (all given must hold). */
export type AlertFilter = z.input<typeof alertFilterInput>;

/**
 * What an alert list can be ordered by: `lastSeen`, `firstSeen`, or `severity` (by level, so `desc`
 * lists critical first; ties by lastSeen). The last tie is broken by id; every key in one direction.
 */
export const alertOrderFields = ['lastSeen', 'firstSeen', 'severity'] as const;
export type AlertOrderField = (typeof alertOrderFields)[number];

export const alertOrderInput = z.strictObject({
  field: z.enum(alertOrderFields),
  /** Default `desc`: the most recent, or most severe, first. */
  direction: z.enum(orderDirections).default('desc'),
});
export interface AlertOrder {
  readonly field: AlertOrderField;
  /** Default `desc`: the most recent, or most severe, first. */
  readonly direction?: OrderDirection;
}

/** A page of alerts, by `orderBy` (default: most recently seen first); a cursor continues only its order. */
export interface AlertPageRequest extends PageRequest {
  readonly orderBy?: AlertOrder;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'alert.opened': { alert: Alert };
    /** Repeats folded in (`repeats` of them in this call): at most one per alert per ingest call. */
    'alert.updated': { alert: Alert; repeats: number };
    'alert.acknowledged': { alert: Alert };
    'alert.closed': { alert: Alert };
    /** Its topology group changed: joined a root's group, or left one (its root closed). */
    'alert.grouped': { alert: Alert; previousRootAlertId: string | null };
    /** A maintenance window began covering its CI (or the one covering it ended and a later one does). */
    'alert.suppressed': { alert: Alert };
    /** The window covering its CI ended or was cancelled, and no other covers it. */
    'alert.unsuppressed': { alert: Alert };
  }
}
