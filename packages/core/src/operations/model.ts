import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { WriteOptions } from '../kernel/actor.js';
import { isTimeZone } from '../slas/calendar.js';
import { cronError } from './schedule.js';

export const jobKinds = ['backup', 'batch', 'patching', 'dr_test'] as const;
export type JobKind = (typeof jobKinds)[number];

/** `started` is open; `missed` is written by the sweep for a slot nobody ran. */
export const jobRunStatuses = ['started', 'succeeded', 'failed', 'missed'] as const;
export type JobRunStatus = (typeof jobRunStatuses)[number];
export const reportedRunStatuses = ['started', 'succeeded', 'failed'] as const;
export type ReportedRunStatus = (typeof reportedRunStatuses)[number];

/** How late a start may be before its slot counts as missed, when a job does not say. */
export const DEFAULT_START_GRACE_MINUTES = 30;
export const DEFAULT_EXPECTED_DURATION_MINUTES = 60;
/** A started run is overrunning past its expected duration plus this share of it (at least 5 minutes). */
export const OVERRUN_TOLERANCE_RATIO = 0.2;
export const OVERRUN_TOLERANCE_MIN_MINUTES = 5;
/**
 * How far back one sweep looks for missed slots: at most this many days, and at most this many slots
 * per job (the latest). A job whose sweep did not run for a month, or an every-minute job, does not
 * flood event management; re-enabling a job starts counting from then.
 */
export const MISSED_LOOKBACK_DAYS = 7;
export const MISSED_SLOTS_PER_SWEEP = 50;

/** A year: longer is a typo. */
const MAX_MINUTES = 525_600;
const minutes = (what: string) =>
  z
    .int(`must be a whole number of minutes (${what})`)
    .min(1, 'must be at least 1 minute')
    .max(MAX_MINUTES, 'must be at most a year');

const schedule = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200)
  .superRefine((pattern, ctx) => {
    const error = cronError(pattern);
    if (error) ctx.addIssue({ code: 'custom', message: error });
  });
const timeZone = z
  .string()
  .refine((zone) => isTimeZone(zone), 'must be an IANA time zone such as Europe/Paris or America/New_York');
const targets = z
  .array(z.uuid('must be a CI id'))
  .min(1, 'must name at least one CI')
  .max(1000)
  .transform((ids) => [...new Set(ids.map((id) => id.toLowerCase()))]);

export const defineJobInput = z.strictObject({
  /** Unique, case-insensitively. */
  name: z.string().trim().min(1, 'must not be empty').max(200),
  kind: z.enum(jobKinds),
  /** Five-field cron (`30 2 * * *`; nicknames such as `@daily` too), read in `timeZone`. */
  schedule,
  /** IANA time zone the schedule is read in; default UTC. Daylight-saving gaps and repeats follow Vixie cron. */
  timeZone: timeZone.default('UTC'),
  /** The CIs it works on (live, not retired); a backup job's targets are what backup compliance covers. */
  targetCiIds: targets,
  expectedDurationMinutes: minutes('expected duration').default(DEFAULT_EXPECTED_DURATION_MINUTES),
  /** How late a start may be before the slot counts as missed. */
  startGraceMinutes: minutes('start grace').default(DEFAULT_START_GRACE_MINUTES),
  /** The group answerable for it. */
  ownerGroupId: z.uuid('must be a group id').nullish(),
  /** Recovery point objective: required for a backup job, refused on others. */
  rpoMinutes: minutes('RPO').nullish(),
  enabled: z.boolean().default(true),
});
export type DefineJobInput = z.input<typeof defineJobInput>;

export const updateJobInput = z.strictObject({
  name: defineJobInput.shape.name.optional(),
  schedule: schedule.optional(),
  timeZone: timeZone.optional(),
  targetCiIds: targets.optional(),
  expectedDurationMinutes: minutes('expected duration').optional(),
  startGraceMinutes: minutes('start grace').optional(),
  ownerGroupId: z.uuid('must be a group id').nullable().optional(),
  rpoMinutes: minutes('RPO').nullable().optional(),
  /** Re-enabling counts slots from then on: the disabled stretch is not reported as missed. */
  enabled: z.boolean().optional(),
});
export type UpdateJobInput = z.input<typeof updateJobInput>;

export const jobFilterInput = z.strictObject({
  kind: z.array(z.enum(jobKinds)).min(1).optional(),
  enabled: z.boolean().optional(),
  /** Jobs targeting this CI. */
  ciId: z.uuid().optional(),
  ownerGroupId: z.uuid().optional(),
  /** Words in the name (case-insensitive). */
  text: z.string().trim().min(1).max(200).optional(),
});
export type JobFilter = z.input<typeof jobFilterInput>;

export const reportRunInput = z.strictObject({
  jobId: z.uuid('must be a job id'),
  status: z.enum(reportedRunStatuses),
  /** The sender's id of the run: reporting it again (a retried webhook) records nothing new. */
  runKey: z.string().trim().min(1).max(200).nullish(),
  /** When it started (`started`) or ended (`succeeded`, `failed`); default now. */
  at: z.coerce.date('must be a date-time').nullish(),
  bytes: z.int('must be a whole number of bytes').min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  durationMs: z.int('must be whole milliseconds').min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  message: z.string().max(4000).nullish(),
});
export type ReportRunInput = z.input<typeof reportRunInput>;

export const backupComplianceInput = z.strictObject({
  ciIds: z
    .array(z.uuid('must be a CI id'))
    .max(1000)
    .transform((ids) => [...new Set(ids.map((id) => id.toLowerCase()))])
    .optional(),
  /** A business service: the backup targets among it and what it depends on. */
  serviceId: z.uuid('must be a CI id').optional(),
});
export type BackupComplianceQuery = z.input<typeof backupComplianceInput>;

// Tables ---------------------------------------------------------------------------------------------

export interface JobTable {
  id: string;
  name: string;
  kind: JobKind;
  schedule: string;
  timeZone: string;
  expectedDurationMinutes: number;
  startGraceMinutes: number;
  ownerGroupId: string | null;
  rpoMinutes: number | null;
  enabled: boolean;
  /** When it was defined or last re-enabled: slots before it are never missed. */
  enabledSince: Date;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface JobTargetTable {
  jobId: string;
  ciId: string;
  /** When it became a target: a never backed-up CI is late once the RPO has passed since then. */
  createdAt: Date;
}

export interface JobRunTable {
  id: string;
  jobId: string;
  status: JobRunStatus;
  /** The schedule slot it serves (latest at or before its start, within the grace); null: off schedule. */
  slotAt: Date | null;
  runKey: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  bytes: ColumnType<string | null, number | null, number | null>;
  durationMs: ColumnType<string | null, number | null, number | null>;
  message: string | null;
  /** When the sweep found it running past its expected duration (once). */
  overranAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The compliance last recorded per backup target: the sweep records each transition once. */
export interface BackupComplianceStateTable {
  ciId: string;
  compliant: boolean;
  changedAt: Date;
}

// Domain types ----------------------------------------------------------------------------------------

export interface Job {
  readonly id: string;
  readonly name: string;
  readonly kind: JobKind;
  readonly schedule: string;
  readonly timeZone: string;
  /** Sorted. */
  readonly targetCiIds: readonly string[];
  readonly expectedDurationMinutes: number;
  readonly startGraceMinutes: number;
  readonly ownerGroupId: string | null;
  readonly rpoMinutes: number | null;
  readonly enabled: boolean;
  readonly enabledSince: Date;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface JobRun {
  readonly id: string;
  readonly jobId: string;
  readonly status: JobRunStatus;
  readonly slotAt: Date | null;
  readonly runKey: string | null;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly bytes: number | null;
  readonly durationMs: number | null;
  readonly message: string | null;
  readonly overranAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One backup target's compliance at `now`. */
export interface CiBackupCompliance {
  readonly ciId: string;
  /** The strictest RPO of the enabled backup jobs targeting it. */
  readonly rpoMinutes: number;
  /** Start (else end) of the latest succeeded run of a backup job targeting it; null: never. */
  readonly lastGoodBackupAt: Date | null;
  /** Age of that backup at `now`; null: never backed up. */
  readonly ageMs: number | null;
  /** When it became a target (of the earliest such job). */
  readonly targetSince: Date;
  readonly compliant: boolean;
}

export interface ServiceBackupCompliance {
  readonly serviceId: string;
  /** Compliant iff every backup target among the service and what it depends on is (none: compliant). */
  readonly compliant: boolean;
  readonly ciIds: readonly string[];
}

export interface BackupCompliance {
  readonly at: Date;
  readonly cis: readonly CiBackupCompliance[];
  readonly service: ServiceBackupCompliance | null;
  readonly nonCompliant: readonly CiBackupCompliance[];
}

export type JobPageRequest = PageRequest;

export interface JobChangeOptions extends WriteOptions {
  readonly version?: number;
}

export interface OperationsSweepOptions {
  /** Default: the kernel clock. */
  readonly now?: Date;
}

export interface OperationsSweepResult {
  /** Missed-slot runs written. */
  readonly missed: number;
  /** Runs found overrunning. */
  readonly overran: number;
  /** Backup targets that became non-compliant. */
  readonly breached: number;
  /** Backup targets that became compliant again (or stopped being targets while late). */
  readonly cleared: number;
}

/** What run events carry of their job. */
export interface JobRef {
  readonly id: string;
  readonly name: string;
  readonly kind: JobKind;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'job.defined': { job: Job };
    'job.updated': { job: Job; fields: readonly string[] };
    'job_run.started': { run: JobRun; job: JobRef };
    'job_run.succeeded': { run: JobRun; job: JobRef };
    'job_run.failed': { run: JobRun; job: JobRef };
    'job_run.missed': { run: JobRun; job: JobRef };
    'job_run.overran': { run: JobRun; job: JobRef };
    'backup.rpo_breached': { compliance: CiBackupCompliance };
    'backup.rpo_restored': { ciId: string; compliance: CiBackupCompliance | null };
  }
}
