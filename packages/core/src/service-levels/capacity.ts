import { DateTime, Duration } from 'luxon';
import type { Page } from '../cmdb/model.js';
import type { EventSeverity } from '../events/model.js';
import {
  type Actor,
  assertCan,
  permissions,
  type ReadOptions,
  systemActor,
  type WriteOptions,
} from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type CapacityChangeOptions,
  type CapacityForecast,
  type CapacityForecastOptions,
  type CapacityLevel,
  type CapacityMetric,
  type CapacityMetricFilter,
  type CapacityMetricPageRequest,
  type CapacityPruneInput,
  type CapacitySample,
  type CapacitySampleInput,
  type CapacitySamplesQuery,
  capacityForecastInput,
  capacityMetricFilterInput,
  capacityPruneInput,
  capacitySamplesInput,
  capacitySamplesQueryInput,
  DEFAULT_CAPACITY_WINDOW,
  DEFAULT_SAMPLES_PER_READ,
  type DefineCapacityMetricInput,
  defineCapacityMetricInput,
  type RecordSamplesResult,
  type UpdateCapacityMetricInput,
  updateCapacityMetricInput,
} from './capacity-model.js';
import * as store from './capacity-store.js';

const DAY = 86_400_000;
/** A trend reaching capacity later than this is reported `stable`: no date worth planning for. */
const HORIZON_YEARS = 100;
/** The longest forecast window or sample span. */
const MAX_WINDOW_YEARS = 10;

/**
 * Who raises threshold alerts: the system, on behalf of whoever recorded the samples, so recording
 * needs operations:write only (not event:write as well).
 */
export const capacityAlertActor: Actor = systemActor('capacity-thresholds');

/** The dedup key of a metric's threshold alert: one alert per metric, escalated and closed in place. */
export const capacityDedupKey = (metricId: string) => `opsgraph:capacity:${metricId}`;

/** The level of `value` against the metric's thresholds (compared in products: no rounding at the edge). */
export function capacityLevelOf(
  m: Pick<CapacityMetric, 'capacity' | 'warningPercent' | 'criticalPercent'>,
  value: number | null | undefined,
): CapacityLevel {
  if (value == null) return 'ok';
  if (value * 100 >= m.criticalPercent * m.capacity) return 'critical';
  if (value * 100 >= m.warningPercent * m.capacity) return 'warning';
  return 'ok';
}

const severityOf: Record<CapacityLevel, EventSeverity> = {
  ok: 'clear',
  warning: 'warning',
  critical: 'critical',
};

const isNameClash = (error: unknown) =>
  (error as { code?: string; constraint?: string } | null)?.code === '23505' &&
  (error as { constraint?: string }).constraint === 'capacity_metrics_name_idx';

const format = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(4));

/**
 * Capacity management (ITIL): capacity metrics on CIs (storage, CPU, memory, rack units, power) with
 * their samples over time; crossing a threshold raises an alert through event management (one per
 * metric, escalated and cleared in place); a least-squares forecast of the exhaustion date; `og.capacity`.
 */
export class CapacityService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Defines a metric on a CI (operations:write): kind, unit, capacity (> 0), warning and critical
   * thresholds in percent of capacity (default 80 and 90; warning below critical). The name is unique
   * per CI and kind among live metrics.
   */
  async defineMetric(input: DefineCapacityMetricInput, { actor }: WriteOptions): Promise<CapacityMetric> {
    const i = parseInput(defineCapacityMetricInput, input);
    assertCan(actor, permissions.operationsWrite);
    const ciId = i.ciId.toLowerCase();
    try {
      return await this.kernel.write(actor, async (scope) => {
        const ci = await scope.kernel.services.cmdb.get(ciId);
        if (!ci) throw ValidationError.field('ciId', 'is not a CI');
        if (ci.status === 'retired') throw ValidationError.field('ciId', `CI ${ci.name} is retired`);
        if (await store.findLiveByName(scope.db, ciId, i.kind, i.name)) throw nameTaken(i.kind, 'name');
        const metric = await store.insertMetric(scope.db, {
          id: crypto.randomUUID(),
          ciId,
          kind: i.kind,
          name: i.name,
          unit: i.unit,
          capacity: i.capacity,
          warningPercent: i.warningPercent,
          criticalPercent: i.criticalPercent,
          createdAt: scope.now,
        });
        scope.emit('capacity_metric.defined', { type: 'capacity_metric', id: metric.id }, { metric });
        return metric;
      });
    } catch (error) {
      // Two definers of one name at once: the unique index settles it.
      if (isNameClash(error)) throw nameTaken(i.kind, 'name');
      throw error;
    }
  }

  /**
   * Changes a metric's name, unit, capacity or thresholds (operations:write); `version`, when given,
   * must be current. A new capacity or threshold re-judges the latest sample: a change of level raises
   * or clears its alert, as a sample would.
   */
  async updateMetric(
    id: string,
    patch: UpdateCapacityMetricInput,
    { actor, version }: CapacityChangeOptions,
  ): Promise<CapacityMetric> {
    const p = parseInput(updateCapacityMetricInput, patch, 'patch');
    assertCan(actor, permissions.operationsWrite);
    try {
      return await this.kernel.write(actor, async (scope) => {
        const found = await this.#lockLive(scope, id, version);
        const change = Object.fromEntries(
          Object.entries(p).filter(
            ([key, value]) => value !== undefined && value !== found[key as keyof CapacityMetric],
          ),
        ) as Partial<
          Pick<CapacityMetric, 'name' | 'unit' | 'capacity' | 'warningPercent' | 'criticalPercent'>
        >;
        const next = { ...found, ...change };
        if (next.warningPercent >= next.criticalPercent)
          throw ValidationError.field(
            p.criticalPercent !== undefined ? 'patch.criticalPercent' : 'patch.warningPercent',
            `must keep warningPercent (${next.warningPercent}) below criticalPercent (${next.criticalPercent})`,
          );
        if (
          change.name !== undefined &&
          (await store.findLiveByName(scope.db, found.ciId, found.kind, change.name, found.id))
        )
          throw nameTaken(found.kind, 'patch.name');
        const fields = Object.keys(change);
        if (fields.length === 0) return found;
        let metric = await store.updateMetric(scope.db, found.id, change, scope.now);
        scope.emit('capacity_metric.updated', { type: 'capacity_metric', id: metric.id }, { metric, fields });
        const level = capacityLevelOf(metric, metric.latest?.value);
        if (level !== metric.level) {
          metric = await store.setObserved(scope.db, metric.id, { latest: metric.latest, level });
          await this.#levelChanged(scope, metric, found.level);
        }
        return metric;
      });
    } catch (error) {
      if (isNameClash(error)) throw nameTaken('', 'patch.name');
      throw error;
    }
  }

  /**
   * Retires a metric (operations:write): it takes no more samples or changes, leaves lists unless
   * asked for, frees its name, and its open alert is cleared. Its samples stay until pruned.
   */
  async retireMetric(id: string, { actor, version }: CapacityChangeOptions): Promise<CapacityMetric> {
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#lockLive(scope, id, version);
      const metric = await store.updateMetric(scope.db, found.id, { retiredAt: scope.now }, scope.now);
      scope.emit('capacity_metric.retired', { type: 'capacity_metric', id: metric.id }, { metric });
      if (metric.level !== 'ok') await this.#raise(scope, metric, 'ok', 'the metric was retired');
      return metric;
    });
  }

  /**
   * Records samples of a metric (operations:write), all in one transaction: a bad one is a
   * ValidationError naming it (`samples.3.value`) and nothing is written. The same `at` again
   * overwrites its value (a resent batch changes nothing). The level is then judged from the latest
   * sample; on a change of level, `capacity_metric.threshold` is emitted and the metric's alert raised
   * (warning, critical) or cleared (ok) through event management, in this transaction. The metric row
   * is locked first, so concurrent recorders see each other's level: each change is raised once.
   */
  async recordSamples(
    metricId: string,
    samples: readonly CapacitySampleInput[],
    { actor }: WriteOptions,
  ): Promise<RecordSamplesResult> {
    const list = parseInput(capacitySamplesInput, samples, 'samples');
    assertCan(actor, permissions.operationsWrite);
    // One row per instant; of a batch repeating one, the last value wins (as a later batch would).
    const byAt = new Map<number, CapacitySample>();
    for (const s of list) byAt.set(s.at.getTime(), { at: s.at, value: s.value });
    const batch = [...byAt.values()];
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#lockLive(scope, metricId);
      await store.upsertSamples(scope.db, found.id, batch);
      // The latest is the batch's newest unless an older batch already went further.
      const newest = batch.reduce((a, b) => (b.at > a.at ? b : a));
      const latest = found.latest && found.latest.at > newest.at ? found.latest : newest;
      const level = capacityLevelOf(found, latest.value);
      const metric = await store.setObserved(scope.db, found.id, { latest, level });
      if (level !== found.level) await this.#levelChanged(scope, metric, found.level);
      return { metric, recorded: batch.length, levelChangedFrom: level !== found.level ? found.level : null };
    });
  }

  /** A metric (operations:read); null when unknown. */
  async metric(id: string, { actor }: ReadOptions = {}): Promise<CapacityMetric | null> {
    this.#assertRead(actor);
    if (!isUuid(id)) return null;
    return (await store.findMetric(this.kernel.db, id.toLowerCase())) ?? null;
  }

  /** Metrics by id in one query (operations:read): a DataLoader batch. */
  async metricsById(
    ids: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, CapacityMetric>> {
    this.#assertRead(actor);
    const metrics = await store.findMetrics(
      this.kernel.db,
      ids.filter(isUuid).map((id) => id.toLowerCase()),
    );
    return new Map(metrics.map((m) => [m.id, m]));
  }

  /**
   * A keyset page of metrics, oldest first (operations:read), by CI and kind; retired ones only with
   * `includeRetired`.
   */
  async metrics(
    filter: CapacityMetricFilter = {},
    page: CapacityMetricPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<CapacityMetric>> {
    this.#assertRead(actor);
    const f = parseInput(capacityMetricFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const rows = await store.listMetrics(this.kernel.db, {
      ...(f.ciId ? { ciIds: [f.ciId.toLowerCase()] } : {}),
      ...(f.kind ? { kind: f.kind } : {}),
      ...(f.includeRetired ? { includeRetired: true } : {}),
      ...(page.after ? { after: store.parseMetricCursor(page.after) } : {}),
      limit: first + 1,
    });
    const edges = rows.slice(0, first).map((node) => ({ cursor: store.metricCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /** The live metrics of each CI, oldest first, in one query (operations:read): a DataLoader batch. */
  async metricsOfCis(
    ciIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, CapacityMetric[]>> {
    this.#assertRead(actor);
    const ids = [...new Set(ciIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const byCi = new Map<string, CapacityMetric[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return byCi;
    for (const m of await store.listMetrics(this.kernel.db, { ciIds: ids, limit: 100_000 }))
      byCi.get(m.ciId)?.push(m);
    return byCi;
  }

  /**
   * The samples of a metric with `from <= at <= to` (default: the 30 days up to now), oldest first, at
   * most `first` (default 1000, at most 10,000); page on by asking from after the last one's `at`.
   */
  async samples(
    metricId: string,
    query: CapacitySamplesQuery = {},
    options: ReadOptions = {},
  ): Promise<CapacitySample[]> {
    const metric = await this.metric(metricId, options);
    if (!metric) throw new NotFoundError('capacity metric', metricId, 'metricId');
    return (await this.samplesOfMetrics([metric.id], query, options)).get(metric.id) ?? [];
  }

  /** `samples()` of many metrics in one query (operations:read): a DataLoader batch. */
  async samplesOfMetrics(
    metricIds: readonly string[],
    query: CapacitySamplesQuery = {},
    { actor }: ReadOptions = {},
  ): Promise<Map<string, CapacitySample[]>> {
    this.#assertRead(actor);
    const q = parseInput(capacitySamplesQueryInput, query);
    const to = q.to ?? this.kernel.clock.now();
    const from = q.from ?? windowStart(to, DEFAULT_CAPACITY_WINDOW, 'from');
    if (from > to) throw ValidationError.field('from', 'must not be after `to`');
    const ids = metricIds.filter(isUuid).map((id) => id.toLowerCase());
    return store.samplesOf(this.kernel.db, ids, { from, to, limit: q.first ?? DEFAULT_SAMPLES_PER_READ });
  }

  /**
   * When the metric will reach its capacity (operations:read): the least-squares line of value over
   * time through the samples of the window (default 30 days) up to `now` (default: the clock), with
   * its slope per day, intercept (the fitted value at `now`), r² and sample count. `exhausting` with
   * `exhaustionAt` when the line rises; `stable` when flat or falling; `exhausted` when the window's
   * latest sample is at or over capacity; `insufficient_data` with fewer than two distinct instants.
   */
  async forecast(
    metricId: string,
    options: CapacityForecastOptions = {},
    read: ReadOptions = {},
  ): Promise<CapacityForecast> {
    const metric = await this.metric(metricId, read);
    if (!metric) throw new NotFoundError('capacity metric', metricId, 'metricId');
    return (await this.forecasts([metric.id], options, read)).get(metric.id)!;
  }

  /** `forecast()` of many metrics in one query (operations:read): a DataLoader batch. Unknown ids are left out. */
  async forecasts(
    metricIds: readonly string[],
    options: CapacityForecastOptions = {},
    { actor }: ReadOptions = {},
  ): Promise<Map<string, CapacityForecast>> {
    this.#assertRead(actor);
    const o = parseInput(capacityForecastInput, options);
    const to = o.now ?? this.kernel.clock.now();
    const from = windowStart(to, o.window ?? DEFAULT_CAPACITY_WINDOW, 'window');
    const metrics = await store.findMetrics(
      this.kernel.db,
      metricIds.filter(isUuid).map((id) => id.toLowerCase()),
    );
    const fits = await store.fitsOf(
      this.kernel.db,
      metrics.map((m) => m.id),
      { from, to },
    );
    return new Map(metrics.map((m) => [m.id, forecastOf(m, fits.get(m.id)!, from, to)]));
  }

  /**
   * Deletes samples taken before `olderThan` (operations:write), for every metric: samples are kept
   * until pruned; call it on a schedule with the retention you want. Metrics keep their latest sample
   * and level. One `capacity_metric.pruned` event.
   */
  async prune(input: CapacityPruneInput, { actor }: WriteOptions): Promise<{ deleted: number }> {
    const { olderThan } = parseInput(capacityPruneInput, input);
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const deleted = await store.pruneSamples(scope.db, olderThan);
      scope.emit('capacity_metric.pruned', null, { olderThan, deleted });
      return { deleted };
    });
  }

  #assertRead(actor: Actor | undefined): void {
    if (actor) assertCan(actor, permissions.operationsRead);
  }

  /** Locks a live metric for a write; NotFound when unknown, Conflict when retired or `version` is stale. */
  async #lockLive(scope: WriteScope, id: string, version?: number): Promise<CapacityMetric> {
    const metric = isUuid(id) ? await store.findMetric(scope.db, id.toLowerCase(), true) : undefined;
    if (!metric) throw new NotFoundError('capacity metric', id, 'id');
    if (version !== undefined && version !== metric.version)
      throw ConflictError.staleVersion('capacity metric', metric.name, version, metric.version);
    if (metric.retiredAt)
      throw new ConflictError(`capacity metric ${metric.name} is retired`, 'id', metric.version);
    return metric;
  }

  async #levelChanged(scope: WriteScope, metric: CapacityMetric, from: CapacityLevel): Promise<void> {
    scope.emit(
      'capacity_metric.threshold',
      { type: 'capacity_metric', id: metric.id },
      { metric, from, to: metric.level },
    );
    await this.#raise(scope, metric, metric.level);
  }

  /** Raises (warning, critical) or clears (ok) the metric's alert through event management, in this write. */
  async #raise(scope: WriteScope, metric: CapacityMetric, level: CapacityLevel, why?: string): Promise<void> {
    const ci = await scope.kernel.services.cmdb.get(metric.ciId);
    const value = metric.latest?.value;
    const share = value === undefined ? null : (value / metric.capacity) * 100;
    const reading =
      value === undefined
        ? 'no samples'
        : `${format(value)} ${metric.unit} of ${format(metric.capacity)} (${format(share!)}%)`;
    const message =
      why ??
      (level === 'ok'
        ? `back under ${metric.warningPercent}%: ${reading}`
        : `${level} from ${level === 'critical' ? metric.criticalPercent : metric.warningPercent}%: ${reading}`);
    await scope.kernel.services.events.ingest(
      [
        {
          source: 'opsgraph',
          node: ci?.name ?? metric.ciId,
          resource: metric.name,
          type: `capacity_${metric.kind}`,
          severity: severityOf[level],
          message: `${metric.kind} ${metric.name} on ${ci?.name ?? metric.ciId}: ${message}`,
          dedupKey: capacityDedupKey(metric.id),
          labels: {
            metricId: metric.id,
            kind: metric.kind,
            unit: metric.unit,
            ...(share === null ? {} : { percent: format(share) }),
          },
          ciId: metric.ciId,
          occurredAt: why ? scope.now : (metric.latest?.at ?? scope.now),
        },
      ],
      { actor: capacityAlertActor },
    );
  }
}

function nameTaken(kind: string, field: string): ValidationError {
  return ValidationError.field(
    field,
    `is already the name of a live ${kind ? `${kind} ` : ''}metric on this CI`,
  );
}

/** `to` minus an ISO 8601 duration, on the calendar (P1M is a month), checked. */
function windowStart(to: Date, window: string, field: string): Date {
  const duration = Duration.fromISO(window);
  if (!duration.isValid)
    throw ValidationError.field(field, 'must be an ISO 8601 duration such as P30D, PT12H or P3M');
  const from = DateTime.fromJSDate(to, { zone: 'utc' }).minus(duration).toJSDate();
  if (!(from < to)) throw ValidationError.field(field, 'must be a positive duration');
  if (to.getTime() - from.getTime() > MAX_WINDOW_YEARS * 366 * DAY)
    throw ValidationError.field(field, `must be at most ${MAX_WINDOW_YEARS} years`);
  return from;
}

function forecastOf(metric: CapacityMetric, fit: store.Fit, from: Date, to: Date): CapacityForecast {
  const base = {
    metricId: metric.id,
    from,
    to,
    sampleCount: fit.count,
    slopePerDay: fit.slope,
    intercept: fit.intercept,
    rSquared: fit.r2,
    capacity: metric.capacity,
    exhaustionAt: null,
  };
  if (fit.last !== null && fit.last >= metric.capacity) return { ...base, status: 'exhausted' };
  // regr_slope is null below two samples, and when they all share one instant.
  if (fit.slope === null || fit.intercept === null) return { ...base, status: 'insufficient_data' };
  if (fit.slope <= 0) return { ...base, status: 'stable' };
  const at = to.getTime() + ((metric.capacity - fit.intercept) / fit.slope) * DAY;
  const horizon = DateTime.fromJSDate(to, { zone: 'utc' }).plus({ years: HORIZON_YEARS }).toMillis();
  if (!Number.isFinite(at) || at > horizon) return { ...base, status: 'stable' };
  return { ...base, status: 'exhausting', exhaustionAt: new Date(Math.round(at)) };
}
