import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { WriteOptions } from '../kernel/actor.js';

/** What a capacity metric measures on its CI. */
export const capacityKinds = ['storage', 'cpu', 'memory', 'rack_units', 'power'] as const;
export type CapacityKind = (typeof capacityKinds)[number];

/** Where the latest sample stands against the thresholds. */
export const capacityLevels = ['ok', 'warning', 'critical'] as const;
export type CapacityLevel = (typeof capacityLevels)[number];

/**
 * What a forecast found: `exhausting` (a rising trend; `exhaustionAt` is when the fitted line reaches
 * capacity), `stable` (flat or falling), `exhausted` (the latest sample is at or over capacity),
 * `insufficient_data` (fewer than 2 samples at distinct times in the window).
 */
export const capacityForecastStatuses = ['exhausting', 'stable', 'exhausted', 'insufficient_data'] as const;
export type CapacityForecastStatus = (typeof capacityForecastStatuses)[number];

/** At most this many samples per `recordSamples` call. */
export const MAX_SAMPLES_PER_RECORD = 10_000;
/** `samples()` returns at most this many. */
export const MAX_SAMPLES_PER_READ = 10_000;
export const DEFAULT_SAMPLES_PER_READ = 1000;
/** The default forecast window, and the default span of `samples()`. */
export const DEFAULT_CAPACITY_WINDOW = 'P30D';

const name = z.string().trim().min(1, 'must not be empty').max(100);
const unit = z.string().trim().min(1, 'must not be empty').max(20);
const capacity = z.number('must be a number').gt(0, 'must be more than 0');
/** Thresholds are percentages of capacity: 80 means "at 80% of the capacity". */
const percent = z.number('must be a number').gt(0, 'must be more than 0').max(100, 'must be at most 100');

export const defineCapacityMetricInput = z
  .strictObject({
    ciId: z.uuid('must be a CI id'),
    kind: z.enum(capacityKinds),
    /** Unique per CI and kind among live metrics, e.g. `/var` or `pdu-a`. */
    name,
    /** e.g. `bytes`, `percent`, `U`, `W`. */
    unit,
    /** The maximum, in `unit`. */
    capacity,
    warningPercent: percent.default(80),
    criticalPercent: percent.default(90),
  })
  .refine((m) => m.warningPercent < m.criticalPercent, {
    message: 'must be above warningPercent',
    path: ['criticalPercent'],
  });
export type DefineCapacityMetricInput = z.input<typeof defineCapacityMetricInput>;

export const updateCapacityMetricInput = z.strictObject({
  name: name.optional(),
  unit: unit.optional(),
  capacity: capacity.optional(),
  warningPercent: percent.optional(),
  criticalPercent: percent.optional(),
});
export type UpdateCapacityMetricInput = z.input<typeof updateCapacityMetricInput>;

export const capacitySamplesInput = z
  .array(
    z.strictObject({
      at: z.coerce.date('must be a date'),
      value: z.number('must be a number').min(0, 'must not be negative'),
    }),
  )
  .min(1, 'must hold at least one sample')
  .max(MAX_SAMPLES_PER_RECORD, `must hold at most ${MAX_SAMPLES_PER_RECORD} samples`);
export type CapacitySampleInput = z.input<typeof capacitySamplesInput>[number];

export const capacityMetricFilterInput = z.strictObject({
  ciId: z.uuid('must be a CI id').optional(),
  kind: z.enum(capacityKinds).optional(),
  /** Retired metrics are left out unless asked for. */
  includeRetired: z.boolean().optional(),
});
export type CapacityMetricFilter = z.input<typeof capacityMetricFilterInput>;

export const capacitySamplesQueryInput = z.strictObject({
  /** Inclusive; default `to` minus 30 days. */
  from: z.coerce.date('must be a date').optional(),
  /** Inclusive; default now. */
  to: z.coerce.date('must be a date').optional(),
  first: z
    .int('must be a whole number')
    .min(0)
    .max(MAX_SAMPLES_PER_READ, `must be at most ${MAX_SAMPLES_PER_READ}`)
    .optional(),
});
export type CapacitySamplesQuery = z.input<typeof capacitySamplesQueryInput>;

export const capacityForecastInput = z.strictObject({
  /** An ISO 8601 duration (`P30D`, `PT12H`, `P3M`): the samples in (now − window, now] are fitted. */
  window: z.string().trim().min(1).max(40).optional(),
  /** Default: the kernel clock. */
  now: z.coerce.date('must be a date').optional(),
});
export type CapacityForecastOptions = z.input<typeof capacityForecastInput>;

export const capacityPruneInput = z.strictObject({
  /** Samples taken before this are deleted. */
  olderThan: z.coerce.date('must be a date'),
});
export type CapacityPruneInput = z.input<typeof capacityPruneInput>;

export interface CapacityMetricTable {
  id: string;
  ciId: string;
  kind: CapacityKind;
  name: string;
  unit: string;
  capacity: number;
  warningPercent: number;
  criticalPercent: number;
  /** Derived from the latest sample on each record; recording does not bump `version`. */
  level: Generated<CapacityLevel>;
  latestAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  latestValue: ColumnType<number | null, number | null | undefined, number | null>;
  retiredAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

/** One row per (metric, at): a time series kept narrow. */
export interface CapacitySampleTable {
  metricId: string;
  at: Date;
  value: number;
}

export interface CapacitySample {
  readonly at: Date;
  readonly value: number;
}

export interface CapacityMetric {
  readonly id: string;
  readonly ciId: string;
  readonly kind: CapacityKind;
  readonly name: string;
  readonly unit: string;
  readonly capacity: number;
  /** The level is `warning` from this share of capacity (percent) … */
  readonly warningPercent: number;
  /** … and `critical` from this one. */
  readonly criticalPercent: number;
  /** Of the latest sample; `ok` before any. */
  readonly level: CapacityLevel;
  /** The sample with the latest `at`; null before any. */
  readonly latest: CapacitySample | null;
  readonly retiredAt: Date | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface CapacityForecast {
  readonly metricId: string;
  readonly status: CapacityForecastStatus;
  /** The window fitted: samples with `from < at <= to`. */
  readonly from: Date;
  readonly to: Date;
  readonly sampleCount: number;
  /** Of the least-squares line of value over time, in the metric's unit per day; null without a fit. */
  readonly slopePerDay: number | null;
  /** The fitted value at `to` (time is counted in days from `to`); null without a fit. */
  readonly intercept: number | null;
  /** Share of the variance the line explains, 0…1; null without a fit. */
  readonly rSquared: number | null;
  readonly capacity: number;
  /** When the fitted line reaches capacity; set only when `status` is `exhausting`. */
  readonly exhaustionAt: Date | null;
}

export interface RecordSamplesResult {
  readonly metric: CapacityMetric;
  /** Samples written (an `at` already there is overwritten, and counted). */
  readonly recorded: number;
  /** The level before this record, when it changed; null when it did not. */
  readonly levelChangedFrom: CapacityLevel | null;
}

export interface CapacityChangeOptions extends WriteOptions {
  readonly version?: number;
}

export type CapacityMetricPageRequest = PageRequest;

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'capacity_metric.defined': { metric: CapacityMetric };
    'capacity_metric.updated': { metric: CapacityMetric; fields: readonly string[] };
    'capacity_metric.retired': { metric: CapacityMetric };
    /** Once per change of level, not per sample. */
    'capacity_metric.threshold': {
      metric: CapacityMetric;
      from: CapacityLevel;
      to: CapacityLevel;
    };
    'capacity_metric.pruned': { olderThan: Date; deleted: number };
  }
}
