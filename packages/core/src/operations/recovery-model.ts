import type { ColumnType, Generated } from 'kysely';
import { Duration } from 'luxon';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';
import { MAX_DEPTH } from '../topology/model.js';

export const drPlanStates = ['live', 'retired'] as const;
/** `live`: the plan of its service (one per service); `retired`: kept for its history of tests. */
export type DrPlanState = (typeof drPlanStates)[number];

export const drTestOutcomes = ['passed', 'failed'] as const;
export type DrTestOutcome = (typeof drTestOutcomes)[number];

/** A year: a longer RTO, RPO or test interval is a typo, not a plan. */
const MAX_SECONDS = 366 * 86_400;

/**
 * An ISO 8601 duration (`PT4H`, `P1DT12H`, `PT90M`) in whole seconds. Years and months are refused:
 * their length varies, and an RTO must mean one span of time (a day counts 24 hours, a week 7 days).
 */
const duration = (min: number) =>
  z.string().transform((text, ctx) => {
    const d = Duration.fromISO(text.trim());
    if (!d.isValid) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 duration such as PT4H or P1DT12H' });
      return z.NEVER;
    }
    if (d.years || d.quarters || d.months) {
      ctx.addIssue({
        code: 'custom',
        message: 'must use weeks, days, hours, minutes or seconds, not months or years',
      });
      return z.NEVER;
    }
    const seconds = d.as('seconds');
    if (!Number.isInteger(seconds) || seconds < min || seconds > MAX_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a whole number of seconds from ${isoDuration(min)} to ${isoDuration(MAX_SECONDS)}`,
      });
      return z.NEVER;
    }
    return seconds;
  });

/** `seconds` as an ISO 8601 duration in days, hours, minutes and seconds: 14400 -> PT4H. */
export function isoDuration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);
const instant = z
  .union([z.date(), z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' })])
  .transform((v) => new Date(v))
  .refine((d) => !Number.isNaN(d.getTime()), 'must be a valid date-time');

export const runbookStepInput = z.strictObject({
  title: text(200),
  details: z.string().max(20_000).default(''),
  /** The CI this step recovers: checked against the computed recovery order. */
  ciId: z.uuid('must be a CI id').nullish(),
  expectedDuration: duration(1).nullish(),
  ownerGroupId: z.uuid('must be a group id').nullish(),
});
export type RunbookStepInput = z.input<typeof runbookStepInput>;

const steps = z.array(runbookStepInput).max(200, 'may hold at most 200 steps');

export const defineDrPlanInput = z.strictObject({
  /** A CI of class `business_service` or a subclass; it may have one live plan. */
  serviceId: z.uuid('must be a business service id'),
  /** Recovery time objective: how long the service may be down. */
  rto: duration(1),
  /** Recovery point objective: how much data (as time before the failure) may be lost; PT0S for none. */
  rpo: duration(0),
  /** How often the plan must be proven by a passing DR test; absent: no schedule. */
  testEvery: duration(3600).nullish(),
  ownerGroupId: z.uuid('must be a group id').nullish(),
  /** The runbook, in the order it is followed. */
  steps: steps.default([]),
});
export type DefineDrPlanInput = z.input<typeof defineDrPlanInput>;

export const updateDrPlanInput = z.strictObject({
  rto: duration(1).optional(),
  rpo: duration(0).optional(),
  /** null: no test schedule from now on. */
  testEvery: duration(3600).nullable().optional(),
  ownerGroupId: z.uuid('must be a group id').nullable().optional(),
  /** Replaces the whole runbook. */
  steps: steps.optional(),
});
export type UpdateDrPlanInput = z.input<typeof updateDrPlanInput>;

export const retireDrPlanInput = z.strictObject({ reason: text(4000) });
export type RetireDrPlanInput = z.input<typeof retireDrPlanInput>;

export const recordDrTestInput = z
  .strictObject({
    startedAt: instant,
    endedAt: instant,
    /** How long recovery took. */
    achievedRto: duration(0),
    /** How much data was lost, as time before the (simulated) failure. */
    achievedRpo: duration(0),
    notes: z.string().max(20_000).default(''),
    /**
     * `failed` fails the test whatever the times (the service did not come back right); `passed` is
     * refused when a target was missed. Absent: decided by the targets.
     */
    outcome: z.enum(drTestOutcomes).optional(),
  })
  .refine((t) => t.endedAt.getTime() >= t.startedAt.getTime(), {
    message: 'must not be before startedAt',
    path: ['endedAt'],
  });
export type RecordDrTestInput = z.input<typeof recordDrTestInput>;

export const drPlanFilterInput = z.strictObject({
  serviceId: z.uuid().optional(),
  ownerGroupId: z.uuid().optional(),
  /** Default `['live']`. */
  state: z.array(z.enum(drPlanStates)).min(1).default(['live']),
  /** Plans whose test schedule has lapsed (true) or not (false). */
  overdue: z.boolean().optional(),
});
export type DrPlanFilter = z.input<typeof drPlanFilterInput>;

export const recoveryOrderQuery = z.strictObject({
  /** At most this many relationships from the service (default and maximum 50, as topology walks). */
  maxDepth: z
    .int('must be an integer')
    .min(0)
    .max(MAX_DEPTH, `must be at most ${MAX_DEPTH}`)
    .default(MAX_DEPTH),
});
export type RecoveryOrderQuery = z.input<typeof recoveryOrderQuery>;

/** Most CIs a recovery order may hold: beyond that, ask for less depth. */
export const MAX_RECOVERY_CIS = 5000;

// Tables --------------------------------------------------------------------------------------------

export interface StoredRunbookStep {
  title: string;
  details: string;
  ciId: string | null;
  expectedDurationSeconds: number | null;
  ownerGroupId: string | null;
}

export interface DrPlanTable {
  id: string;
  serviceId: string;
  rtoSeconds: number;
  rpoSeconds: number;
  testEverySeconds: number | null;
  ownerGroupId: string | null;
  steps: ColumnType<StoredRunbookStep[], string, string>;
  state: DrPlanState;
  version: Generated<number>;
  createdBy: ColumnType<ActorRef, string, string>;
  createdAt: Date;
  updatedAt: Date;
  retiredAt: Date | null;
  retiredReason: string | null;
}

export interface DrTestTable {
  id: string;
  planId: string;
  planVersion: number;
  startedAt: Date;
  endedAt: Date;
  achievedRtoSeconds: number;
  achievedRpoSeconds: number;
  /** The plan's targets when the test was recorded. */
  targetRtoSeconds: number;
  targetRpoSeconds: number;
  outcome: DrTestOutcome;
  notes: string;
  recordedBy: ColumnType<ActorRef, string, string>;
  recordedAt: Date;
}

// Domain --------------------------------------------------------------------------------------------

export interface RunbookStep {
  /** 1-based, in the order the runbook is followed. */
  readonly position: number;
  readonly title: string;
  readonly details: string;
  readonly ciId: string | null;
  readonly expectedDuration: string | null;
  readonly expectedDurationSeconds: number | null;
  readonly ownerGroupId: string | null;
}

export interface DrTest {
  readonly id: string;
  readonly planId: string;
  /** The plan version the test exercised. */
  readonly planVersion: number;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly achievedRto: string;
  readonly achievedRtoSeconds: number;
  readonly achievedRpo: string;
  readonly achievedRpoSeconds: number;
  readonly targetRtoSeconds: number;
  readonly targetRpoSeconds: number;
  readonly rtoMet: boolean;
  readonly rpoMet: boolean;
  /** `passed` iff both targets were met and no failure was declared. */
  readonly outcome: DrTestOutcome;
  readonly passed: boolean;
  readonly notes: string;
  readonly recordedBy: ActorRef;
  readonly recordedAt: Date;
}

export interface DrPlan {
  readonly id: string;
  readonly serviceId: string;
  readonly rto: string;
  readonly rtoSeconds: number;
  readonly rpo: string;
  readonly rpoSeconds: number;
  readonly testEvery: string | null;
  readonly testEverySeconds: number | null;
  readonly ownerGroupId: string | null;
  readonly steps: readonly RunbookStep[];
  readonly state: DrPlanState;
  readonly version: number;
  readonly createdBy: ActorRef;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly retiredAt: Date | null;
  readonly retiredReason: string | null;
  /** The newest test (by start), passed or not. */
  readonly lastTest: DrTest | null;
  /** When the newest passing test ended. */
  readonly lastPassedAt: Date | null;
  /** `(lastPassedAt ?? createdAt) + testEvery` for a live plan with a schedule; else null. */
  readonly nextTestDue: Date | null;
  /** Whether `nextTestDue` has passed, as of the read. */
  readonly testOverdue: boolean;
}

/** A CI of a recovery order. */
export interface RecoveryCi {
  readonly id: string;
  readonly name: string;
  readonly class: string;
  readonly status: string;
  /** Relationships from the service on a shortest path (the service is 0). */
  readonly depth: number;
  /** The ids of the CIs of this order it needs recovered first (or with it, in a cycle). */
  readonly needs: readonly string[];
}

export interface RecoveryStage {
  /** 1-based: stage 1 first. Every CI of a stage needs only CIs of earlier stages (cycles aside). */
  readonly position: number;
  /** Recoverable in parallel; by name. A cycle's stage lists the cycle's CIs in cycle order first. */
  readonly cis: readonly RecoveryCi[];
  /** Whether the stage is a dependency cycle (its CIs need each other: no order among them exists). */
  readonly cycle: boolean;
}

export interface RecoveryCycle {
  /** In cycle order: each needs the next, the last needs the first; starting nearest the service. */
  readonly cis: readonly RecoveryCi[];
  /** The position of the stage that holds it. */
  readonly stage: number;
}

export const recoveryWarningCodes = ['step_order', 'step_outside'] as const;
/** `step_order`: a step recovers a CI before one it needs; `step_outside`: its CI is not in the order. */
export type RecoveryWarningCode = (typeof recoveryWarningCodes)[number];

export interface RecoveryWarning {
  readonly code: RecoveryWarningCode;
  /** The step at fault (1-based). */
  readonly step: number;
  /** For `step_order`: the later step recovering what `step` needs. */
  readonly otherStep: number | null;
  readonly ciId: string;
  readonly message: string;
}

export interface RecoveryOrder {
  readonly serviceId: string;
  readonly stages: readonly RecoveryStage[];
  readonly cycles: readonly RecoveryCycle[];
  /** Some CI at the depth limit needs more: ask with a larger `maxDepth`. */
  readonly truncated: boolean;
  /** Runbook steps that contradict the order (empty for a service without a plan). */
  readonly warnings: readonly RecoveryWarning[];
}

export interface DrPlanChangeOptions extends WriteOptions {
  /** The version read: a stale one gets ConflictError. */
  readonly version: number;
}

export interface DrPlanPageRequest extends PageRequest {}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'dr_plan.defined': { plan: DrPlan };
    'dr_plan.updated': { plan: DrPlan; fields: readonly string[] };
    'dr_plan.retired': { plan: DrPlan };
    'dr_test.recorded': { test: DrTest; plan: DrPlan };
  }
}
