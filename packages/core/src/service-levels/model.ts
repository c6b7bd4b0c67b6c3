import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { AlertSeverity } from '../events/model.js';
import type { Priority } from '../incidents/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';
import { isTimeZone } from '../slas/calendar.js';

export const sloPeriods = ['day', 'week', 'month', 'quarter'] as const;
/** Calendar periods in the SLO's time zone; weeks start on Monday (ISO). */
export type SloPeriod = (typeof sloPeriods)[number];

export const sloAlertSeverities = ['critical', 'major', 'minor', 'warning', 'info'] as const;

/** Objectives are kept to 4 decimals (99.9999%): the budget is then an exact ratio of parts per million. */
export const OBJECTIVE_DECIMALS = 4;
const PPM = 1_000_000;

/** `objective` as parts per million of uptime (99.9 -> 999000): what the arithmetic works on. */
export const objectivePpm = (objective: number): number => Math.round(objective * 10_000);
export { PPM };

const objective = z
  .number('must be a percentage such as 99.9')
  .gt(0, 'must be more than 0')
  .lt(100, 'must be less than 100')
  .refine(
    (x) => Math.abs(x * 10_000 - Math.round(x * 10_000)) < 1e-6,
    `must have at most ${OBJECTIVE_DECIMALS} decimals`,
  );
const timeZone = z
  .string()
  .refine((zone) => isTimeZone(zone), 'must be an IANA time zone such as Europe/Paris or America/New_York');
const priorities = z
  .array(z.int('must be a priority from 1 to 5').min(1).max(5))
  .min(1, 'must name at least one priority')
  .max(5)
  .transform((ps) => [...new Set(ps)].sort() as Priority[]);
const severities = z
  .array(z.enum(sloAlertSeverities))
  .min(1, 'must name at least one severity')
  .max(5)
  .transform((ss) => sloAlertSeverities.filter((s) => ss.includes(s)) as AlertSeverity[]);

export const defineSloInput = z.strictObject({
  /** A CI of class `business_service` or a subclass. */
  serviceId: z.uuid('must be a business service id'),
  name: z.string().trim().min(1, 'must not be empty').max(100),
  /** Uptime to reach, in percent: 0 < objective < 100, at most 4 decimals. */
  objective,
  period: z.enum(sloPeriods).default('month'),
  /** Where the calendar periods start and end (IANA); default UTC. */
  timeZone: timeZone.default('UTC'),
  /** Incidents of these priorities on the service count as outages; default P1 and P2. */
  incidentPriorities: priorities.default([1, 2]),
  /** Alerts of these severities on the service or a CI it depends on count as outages; default critical. */
  alertSeverities: severities.default(['critical']),
});
export type DefineSloInput = z.input<typeof defineSloInput>;

export const updateSloInput = z.strictObject({
  name: defineSloInput.shape.name.optional(),
  objective: objective.optional(),
  period: z.enum(sloPeriods).optional(),
  timeZone: timeZone.optional(),
  incidentPriorities: priorities.optional(),
  alertSeverities: severities.optional(),
});
export type UpdateSloInput = z.input<typeof updateSloInput>;

export const sloFilterInput = z.strictObject({
  serviceId: z.uuid('must be a business service id').optional(),
  period: z.enum(sloPeriods).optional(),
  /** Default false: live SLOs only. */
  includeRetired: z.boolean().default(false),
});
export type SloFilter = z.input<typeof sloFilterInput>;

/** `YYYY-MM-DD`: the period holding that local date. */
const periodChoice = z.union([
  z.enum(['current', 'previous']),
  z.iso.date('must be current, previous or a date YYYY-MM-DD'),
]);

/**
 * The span availability is computed over: a calendar period of the SLO (`current`, `previous` or the one
 * holding a local date), or explicit instants `[from, to)`.
 */
export const availabilityWindowInput = z.union([
  z.strictObject({ period: periodChoice }),
  z
    .strictObject({ from: z.coerce.date('must be an instant'), to: z.coerce.date('must be an instant') })
    .refine((w) => w.to.getTime() > w.from.getTime(), { message: 'must be after from', path: ['to'] }),
]);
export type AvailabilityWindow =
  | { readonly period: 'current' | 'previous' | string }
  | { readonly from: Date | string; readonly to: Date | string };

/** Whose availability: an SLO (its service, outage rules, objective and period), or a service with default rules. */
export type AvailabilityTarget = { readonly sloId: string } | { readonly serviceId: string };

export interface SloTable {
  id: string;
  serviceId: string;
  name: string;
  /** numeric(7,4): read back as text by both drivers. */
  objective: ColumnType<string, number, number>;
  period: SloPeriod;
  timeZone: string;
  incidentPriorities: ColumnType<Priority[], string, string>;
  alertSeverities: ColumnType<AlertSeverity[], string, string>;
  createdBy: ColumnType<ActorRef, string, string>;
  retiredAt: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface Slo {
  readonly id: string;
  readonly serviceId: string;
  readonly name: string;
  readonly objective: number;
  readonly period: SloPeriod;
  readonly timeZone: string;
  readonly incidentPriorities: readonly Priority[];
  readonly alertSeverities: readonly AlertSeverity[];
  readonly createdBy: ActorRef;
  readonly retiredAt: Date | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface SloChangeOptions extends WriteOptions {
  /** The version read: a stale one gets ConflictError. */
  readonly version?: number;
}

export type SloPageRequest = PageRequest;

/** A stretch during which the service was down, maintenance excluded, with what caused it. */
export interface Outage {
  readonly start: Date;
  /** Exclusive; the end of the counted interval when the outage goes on. */
  readonly end: Date;
  readonly durationMs: number;
  /** Still going on at the end of the counted interval. */
  readonly ongoing: boolean;
  readonly incidentIds: readonly string[];
  readonly alertIds: readonly string[];
}

export interface ErrorBudget {
  /** (1 - objective/100) x the whole period's length, in whole ms (rounded down). */
  readonly allowedMs: number;
  /** Downtime so far. */
  readonly consumedMs: number;
  /** allowed - consumed: negative once overspent. */
  readonly remainingMs: number;
  /** remaining / allowed x 100. */
  readonly remainingPercent: number;
  /** (downtime / elapsed) / (1 - objective/100): 1 spends the budget exactly by the period's end. */
  readonly burnRate: number;
}

export interface Availability {
  readonly sloId: string | null;
  readonly serviceId: string;
  /** The period (or interval asked for): `[from, to)`. */
  readonly from: Date;
  readonly to: Date;
  /** Where counting stops: `to`, or now when the period is not over (the elapsed part only). */
  readonly until: Date;
  /** until - from (0 for a period not yet begun). */
  readonly elapsedMs: number;
  readonly downtimeMs: number;
  /** (elapsed - downtime) / elapsed x 100; 100 when nothing has elapsed. */
  readonly uptimePercent: number;
  readonly outages: readonly Outage[];
  /** With an SLO only. */
  readonly errorBudget: ErrorBudget | null;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'slo.defined': { slo: Slo };
    'slo.updated': { slo: Slo; fields: readonly string[] };
    'slo.retired': { slo: Slo };
  }
}
