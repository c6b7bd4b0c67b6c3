import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { Priority } from '../incidents/model.js';
import type { WriteOptions } from '../kernel/actor.js';

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
});
export type DefineSlaInput = z.input<typeof defineSlaInput>;

export const updateSlaInput = z.strictObject({
  name: defineSlaInput.shape.name.optional(),
  responseMinutes: minutes.optional(),
  resolutionMinutes: minutes.optional(),
  active: z.boolean().optional(),
});
export type UpdateSlaInput = z.input<typeof updateSlaInput>;

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
  readonly state: SlaTimerState;
  /** Reached 75% of its target (`sla.warning` was emitted, or it breached at once). */
  readonly warned: boolean;
  /** Counted time as of the read (holds excluded). */
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
    'sla.updated': { definition: SlaDefinition; fields: readonly string[] };
    'sla.warning': { timer: SlaTimer; incident: SlaIncidentRef };
    'sla.breached': { timer: SlaTimer; incident: SlaIncidentRef };
  }
}
