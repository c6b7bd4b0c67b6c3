import {
  type CapacityForecast,
  type CapacityMetric,
  type CapacitySample,
  capacityForecastStatuses,
  capacityKinds,
  capacityLevels,
  permissions,
} from '@opsgraph/core';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { OpsGraphBuilder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

// Per request (and per subscription event): the samples and forecasts of every metric in an answer
// that asks with the same arguments are read in one query, not one per metric.
const sampleLoaders = createContextCache(
  (_context: GraphQLContext) => new Map<string, DataLoader<string, CapacitySample[]>>(),
);
const forecastLoaders = createContextCache(
  (_context: GraphQLContext) => new Map<string, DataLoader<string, CapacityForecast | null>>(),
);

function samplesLoader(context: GraphQLContext, query: { from?: Date; to?: Date; first?: number }) {
  const loaders = sampleLoaders(context);
  const key = JSON.stringify(query);
  let loader = loaders.get(key);
  if (!loader) {
    loader = new DataLoader(async (ids: readonly string[]) => {
      const byMetric = await context.og.capacity.samplesOfMetrics(ids, query, { actor: context.actor });
      return ids.map((id) => byMetric.get(id) ?? []);
    });
    loaders.set(key, loader);
  }
  return loader;
}

function forecastLoader(context: GraphQLContext, options: { window?: string; now?: Date }) {
  const loaders = forecastLoaders(context);
  const key = JSON.stringify(options);
  let loader = loaders.get(key);
  if (!loader) {
    loader = new DataLoader(async (ids: readonly string[]) => {
      const byMetric = await context.og.capacity.forecasts(ids, options, { actor: context.actor });
      return ids.map((id) => byMetric.get(id) ?? null);
    });
    loaders.set(key, loader);
  }
  return loader;
}

/**
 * Capacity management: metrics on CIs (`capacityMetrics`, `CI.capacityMetrics`), their samples, level
 * and exhaustion forecast, and the mutations that define them and record samples.
 */
export function addCapacity(builder: OpsGraphBuilder, { CI }: Pick<ReturnType<typeof addCmdb>, 'CI'>) {
  const read = { permission: permissions.operationsRead };
  const write = { permission: permissions.operationsWrite };
  const Kind = builder.enumType('CapacityKind', { values: upper(capacityKinds) });
  const Level = builder.enumType('CapacityLevel', {
    description: 'Where the latest sample stands against the thresholds.',
    values: upper(capacityLevels),
  });
  const Status = builder.enumType('CapacityForecastStatus', {
    description:
      'EXHAUSTING: a rising trend, exhaustionAt set; STABLE: flat or falling; EXHAUSTED: the latest sample is at or over capacity; INSUFFICIENT_DATA: fewer than 2 samples at distinct times in the window.',
    values: upper(capacityForecastStatuses),
  });

  const Sample = builder.objectRef<CapacitySample>('CapacitySample').implement({
    description: 'One reading of a capacity metric, in its unit.',
    authScopes: read,
    fields: (t) => ({
      at: t.field({ type: 'DateTime', resolve: (s) => s.at }),
      value: t.exposeFloat('value'),
    }),
  });

  const Forecast = builder.objectRef<CapacityForecast>('CapacityForecast').implement({
    description:
      'The least-squares line of value over time through the samples of a window, and when it reaches capacity.',
    authScopes: read,
    fields: (t) => ({
      status: t.field({ type: Status, resolve: (f) => f.status }),
      from: t.field({
        type: 'DateTime',
        description: 'The window fitted: from < at <= to.',
        resolve: (f) => f.from,
      }),
      to: t.field({ type: 'DateTime', resolve: (f) => f.to }),
      sampleCount: t.exposeInt('sampleCount'),
      slopePerDay: t.exposeFloat('slopePerDay', {
        nullable: true,
        description: 'In the metric’s unit per day; null without a fit.',
      }),
      intercept: t.exposeFloat('intercept', {
        nullable: true,
        description: 'The fitted value at `to` (time counted in days from `to`); null without a fit.',
      }),
      rSquared: t.exposeFloat('rSquared', {
        nullable: true,
        description: 'Share of variance explained, 0 to 1.',
      }),
      capacity: t.exposeFloat('capacity'),
      exhaustionAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the fitted line reaches capacity; set only when EXHAUSTING.',
        resolve: (f) => f.exhaustionAt,
      }),
    }),
  });

  const Metric = builder.objectRef<CapacityMetric>('CapacityMetric').implement({
    description:
      'A capacity measure of a CI (storage, CPU, memory, rack units, power): its maximum, warning and critical thresholds, samples over time and an exhaustion forecast.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      ciId: t.exposeID('ciId'),
      ci: t.field({
        type: CI,
        nullable: true,
        description: 'The CI measured (cmdb:read on it); the CIs of a page are read in one query.',
        resolve: (m) => m.ciId,
      }),
      kind: t.field({ type: Kind, resolve: (m) => m.kind }),
      name: t.exposeString('name', { description: 'Unique per CI and kind among live metrics.' }),
      unit: t.exposeString('unit', { description: 'e.g. bytes, percent, U, W.' }),
      capacity: t.exposeFloat('capacity', { description: 'The maximum, in the unit.' }),
      warningPercent: t.exposeFloat('warningPercent', {
        description: 'WARNING from this share of capacity.',
      }),
      criticalPercent: t.exposeFloat('criticalPercent', {
        description: 'CRITICAL from this share of capacity.',
      }),
      level: t.field({
        type: Level,
        description: 'Of the latest sample; OK before any.',
        resolve: (m) => m.level,
      }),
      latest: t.field({ type: Sample, nullable: true, resolve: (m) => m.latest }),
      samples: t.field({
        type: [Sample],
        description:
          'Samples with from <= at <= to (default: the 30 days up to now), oldest first, at most `first` (default 1000, at most 10000).',
        args: {
          from: t.arg({ type: 'DateTime' }),
          to: t.arg({ type: 'DateTime' }),
          first: t.arg.int(),
        },
        resolve: (m, args, context) => samplesLoader(context, defined(args)).load(m.id),
      }),
      forecast: t.field({
        type: Forecast,
        description:
          'When it reaches capacity, by linear regression over `window` (an ISO 8601 duration, default P30D) up to now.',
        args: { window: t.arg.string() },
        resolve: async (m, args, context) => (await forecastLoader(context, defined(args)).load(m.id))!,
      }),
      retiredAt: t.field({ type: 'DateTime', nullable: true, resolve: (m) => m.retiredAt }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (m) => m.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (m) => m.updatedAt }),
    }),
  });

  builder.objectField(CI, 'capacityMetrics', (t) =>
    t.loadableList({
      type: Metric,
      description:
        'Its live capacity metrics, oldest first (operations:read); a page of CIs loads them in one query.',
      authScopes: read,
      load: async (ids: string[], { og, actor }) => {
        const byCi = await og.capacity.metricsOfCis(ids, { actor });
        return ids.map((id) => byCi.get(id.toLowerCase()) ?? []);
      },
      resolve: (ci: { id: string }) => ci.id,
    }),
  );

  const Filter = builder.inputType('CapacityMetricFilter', {
    fields: (t) => ({
      ciId: t.id(),
      kind: t.field({ type: Kind }),
      includeRetired: t.boolean({ description: 'Default false.' }),
    }),
  });

  builder.queryFields((t) => ({
    capacityMetrics: t.connection({
      type: Metric,
      description: 'Capacity metrics, oldest first, by CI and kind (operations:read).',
      authScopes: read,
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter, ...args }, { og, actor }) =>
        connectionOf(
          await og.capacity.metrics(
            filter ? defined({ ...filter, ciId: filter.ciId == null ? null : String(filter.ciId) }) : {},
            forwardPage(args),
            { actor },
          ),
          args.after,
        ),
    }),
    capacityMetric: t.field({
      type: Metric,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.capacity.metric(String(id), { actor }),
    }),
  }));

  const DefineInput = builder.inputType('DefineCapacityMetricInput', {
    fields: (t) => ({
      ciId: t.id({ required: true }),
      kind: t.field({ type: Kind, required: true }),
      name: t.string({ required: true, description: 'Unique per CI and kind among live metrics.' }),
      unit: t.string({ required: true, description: 'e.g. bytes, percent, U, W.' }),
      capacity: t.float({ required: true, description: 'The maximum, in the unit; more than 0.' }),
      warningPercent: t.float({ description: 'Default 80.' }),
      criticalPercent: t.float({ description: 'Default 90; above warningPercent, at most 100.' }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateCapacityMetricInput', {
    fields: (t) => ({
      name: t.string(),
      unit: t.string(),
      capacity: t.float(),
      warningPercent: t.float(),
      criticalPercent: t.float(),
    }),
  });
  const SampleInput = builder.inputType('CapacitySampleInput', {
    fields: (t) => ({
      at: t.field({ type: 'DateTime', required: true }),
      value: t.float({ required: true, description: 'In the metric’s unit; not negative.' }),
    }),
  });
  const Recorded = builder
    .objectRef<{ metric: CapacityMetric; recorded: number }>('CapacitySamplesRecorded')
    .implement({
      authScopes: read,
      fields: (t) => ({
        metric: t.field({ type: Metric, resolve: (r) => r.metric }),
        recorded: t.exposeInt('recorded', {
          description: 'Samples written (an instant already there is overwritten).',
        }),
      }),
    });
  const versionOf = (version: number | null | undefined) => (version != null ? { version } : {});

  builder.mutationFields((t) => ({
    defineCapacityMetric: t.field({
      type: Metric,
      description: 'Defines a capacity metric on a CI (operations:write).',
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: DefineInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.capacity.defineMetric({ ...defined(input), ciId: String(input.ciId) }, { actor }),
    }),
    updateCapacityMetric: t.field({
      type: Metric,
      description:
        'Changes a metric (operations:write); a stale version is refused. A new capacity or threshold judges the latest sample again.',
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.capacity.updateMetric(String(id), defined(input), { actor, ...versionOf(version) }),
    }),
    retireCapacityMetric: t.field({
      type: Metric,
      description: 'Retires a metric (operations:write): no more samples; its open alert is cleared.',
      errors: { types: mutationErrors },
      authScopes: write,
      args: { id: t.arg.id({ required: true }), version: t.arg.int() },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.capacity.retireMetric(String(id), { actor, ...versionOf(version) }),
    }),
    recordCapacitySamples: t.field({
      type: Recorded,
      description:
        'Records samples of a metric in one transaction (operations:write); the same instant again overwrites. A change of level raises or clears the metric’s alert.',
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        metricId: t.arg.id({ required: true }),
        samples: t.arg({ type: [SampleInput], required: true }),
      },
      resolve: (_root, { metricId, samples }, { og, actor }) =>
        og.capacity.recordSamples(String(metricId), samples, { actor }),
    }),
  }));

  return { CapacityMetric: Metric };
}
