import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { Priority } from '../incidents/model.js';
import type { WriteOptions } from '../kernel/actor.js';
import { type BusinessHours, isTimeZone, type WorkingHours } from './calendar.js';

export const slaTimerKinds = ['response', 'resolution'] as const;
/**
 * `response`: met when the incident first leaves `new` (in progress, on hold or resolved);
 * `resolution`: met when it is resolved.
 */
export type SlaTimerKind = (typeof slaTimerKinds)[number];

export const slaTimerStates = ['running', 'paused', 'met', 'breached', 'cancelled'] as const;
/** `breached` is final: a late incident stays late even once resolved. */
export type SlaTimerState = (typeof slaTimerStates)[number];

/** Share of the target at which a timer is flagged and `sla.warning` emitted. */
export const SLA_WARNING_RATIO = 0.75;

/** A year: longer targets are a typo, not an SLA. */
const MAX_MINUTES = 525_600;
const minutes = z
  .int('must be a whole number of minutes')
  .min(1, 'must be at least 1 minute')
  .max(MAX_MINUTES);

export const defineSlaInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  /** The incident priority it applies to, 1 (P1) … 5. */
  priority: z.int('must be a priority from 1 to 5').min(1).max(5),
  responseMinutes: minutes,
  resolutionMinutes: minutes,
  /** At most one active definition per priority. */
  active: z.boolean().default(true),
  /** The business calendar whose working hours count; null or absent: round the clock. */
  calendarId: z.uuid('must be a business calendar id').nullish(),
});
export type DefineSlaInput = z.input<typeof defineSlaInput>;

export const updateSlaInput = z.strictObject({
  name: defineSlaInput.shape.name.optional(),
  responseMinutes: minutes.optional(),
  resolutionMinutes: minutes.optional(),
  active: z.boolean().optional(),
  /** null: round the clock from now on. */
  calendarId: z.uuid('must be a business calendar id').nullable().optional(),
});
export type UpdateSlaInput = z.input<typeof updateSlaInput>;

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be a time HH:MM (00:00 to 24:00)');
const workingHours = z
  .strictObject({
    /** ISO weekday: 1 Monday … 7 Sunday. */
    day: z.int('must be a weekday from 1 (Monday) to 7 (Sunday)').min(1).max(7),
    start: hhmm,
    end: hhmm,
  })
  .refine((h) => h.start < h.end, { message: 'must end after it starts', path: ['end'] });
const calendarHours = z
  .array(workingHours)
  .min(1, 'must have some working hours')
  .max(70)
  .superRefine((hours, ctx) => {
    hours.forEach((h, i) => {
      const clash = hours.findIndex(
        (o, j) => j !== i && o.day === h.day && o.start < h.end && h.start < o.end,
      );
      if (clash >= 0 && clash < i)
        ctx.addIssue({ code: 'custom', path: [i], message: `overlaps hours ${clash} on the same day` });
    });
  });
const calendarHolidays = z
  .array(z.iso.date('must be a date YYYY-MM-DD'))
  .max(1000)
  .transform((days) => [...new Set(days)].sort());
const timeZone = z
  .string()
  .refine((zone) => isTimeZone(zone), 'must be an IANA time zone such as Europe/Paris or America/New_York');

export const defineCalendarInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  timeZone,
  hours: calendarHours,
  holidays: calendarHolidays.default([]),
});
export type DefineCalendarInput = z.input<typeof defineCalendarInput>;

export const updateCalendarInput = z.strictObject({
  name: defineCalendarInput.shape.name.optional(),
  timeZone: timeZone.optional(),
  hours: calendarHours.optional(),
  holidays: calendarHolidays.optional(),
});
export type UpdateCalendarInput = z.input<typeof updateCalendarInput>;

export interface BusinessCalendarTable {
  id: string;
  name: string;
  timeZone: string;
  hours: ColumnType<WorkingHours[], string, string>;
  holidays: ColumnType<string[], string, string>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

/** Working hours in a time zone minus holidays: what SLA definitions on it count. */
export interface BusinessCalendar extends BusinessHours {
  readonly id: string;
  readonly name: string;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export const slaFilterInput = z.strictObject({
  priority: z.int().min(1).max(5).optional(),
  active: z.boolean().optional(),
});
export type SlaFilter = z.input<typeof slaFilterInput>;

export interface SlaDefinitionTable {
  id: string;
  name: string;
  priority: Priority;
  responseMinutes: number;
  resolutionMinutes: number;
  active: boolean;
  calendarId: ColumnType<string | null, string | null | undefined, string | null>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface SlaTimerTable {
  id: string;
  incidentId: string;
  definitionId: string;
  kind: SlaTimerKind;
  /** The incident priority it was attached for: a priority change replaces it. */
  priority: Priority;
  /** Copied from the definition: editing a definition does not move running timers' goalposts. */
  targetMinutes: number;
  /** The definition's calendar when attached (null: round the clock). */
  calendarId: ColumnType<string | null, string | null | undefined, string | null>;
  /** While running: when it reaches 75% and 100% of its target, by its calendar; what the sweep compares. */
  warnAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  dueAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  state: SlaTimerState;
  /** Time counted before `runningSince` (holds excluded). */
  elapsedMs: ColumnType<string, number, number>;
  /** Set while running: elapsed now is `elapsedMs + (now - runningSince)`. */
  runningSince: Date | null;
  warnedAt: Date | null;
  breachedAt: Date | null;
  /** When it was met or cancelled. */
  stoppedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface SlaDefinition {
  readonly id: string;
  readonly name: string;
  readonly priority: Priority;
  readonly responseMinutes: number;
  readonly resolutionMinutes: number;
  readonly active: boolean;
  /** Null: the targets count round the clock. */
  readonly calendarId: string | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface SlaTimer {
  readonly id: string;
  readonly incidentId: string;
  readonly definitionId: string;
  readonly kind: SlaTimerKind;
  readonly priority: Priority;
  readonly targetMinutes: number;
  /** Null: counts round the clock; else only that calendar's working hours count. */
  readonly calendarId: string | null;
  readonly state: SlaTimerState;
  /** Reached 75% of its target (`sla.warning` was emitted, or it breached at once). */
  readonly warned: boolean;
  /** Counted time as of the read (holds and, with a calendar, time outside working hours excluded). */
  readonly elapsedMs: number;
  readonly runningSince: Date | null;
  /** When it breaches if nothing changes; null unless running. */
  readonly dueAt: Date | null;
  readonly warnedAt: Date | null;
  readonly breachedAt: Date | null;
  readonly stoppedAt: Date | null;
  readonly createdAt: Date;
}

/** What SLA events carry of the incident: `incident.ciId` makes them visible per CI. */
export interface SlaIncidentRef {
  readonly id: string;
  readonly number: string;
  readonly ciId: string | null;
  readonly priority: Priority;
}

export interface SlaChangeOptions extends WriteOptions {
  readonly version?: number;
}

export interface SweepOptions {
  /** Default: the kernel clock. */
  readonly now?: Date;
}

export interface SweepResult {
  readonly warned: readonly SlaTimer[];
  readonly breached: readonly SlaTimer[];
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'sla.defined': { definition: SlaDefinition };
    'business_calendar.defined': { calendar: BusinessCalendar };
    'business_calendar.updated': { calendar: BusinessCalendar; fields: readonly string[] };
    'sla.updated': { definition: SlaDefinition; fields: readonly string[] };
    'sla.warning': { timer: SlaTimer; incident: SlaIncidentRef };
    'sla.breached': { timer: SlaTimer; incident: SlaIncidentRef };
  }
}
