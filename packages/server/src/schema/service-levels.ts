import {
  type AlertSeverity,
  type Availability,
  type AvailabilityTarget,
  type AvailabilityWindow,
  type Ci,
  type ErrorBudget,
  isOpsGraphError,
  type Outage,
  permissions,
  type Slo,
  sloPeriods,
  ValidationError,
} from '@opsgraph/core';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { OpsGraphBuilder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import type { addAlerts } from './alerts.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';

interface Refs {
  readonly CI: ReturnType<typeof addCmdb>['CI'];
  readonly AlertSeverity: ReturnType<typeof addAlerts>['Severity'];
}

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

// Per request (and per subscription event): one DataLoader per window, so the availability of a page of
// SLOs (or business-service CIs) over the same window is one batch, a constant number of statements
// however many; `availability` and `errorBudget` of the same SLO and window are computed once.
const loaders = createContextCache(
  (_context: GraphQLContext) => new Map<string, DataLoader<AvailabilityTarget, Availability, string>>(),
);
const availabilityOf = (
  context: GraphQLContext,
  target: AvailabilityTarget,
  window: AvailabilityWindow,
): Promise<Availability> => {
  const byWindow = loaders(context);
  const key = JSON.stringify(window);
  let loader = byWindow.get(key);
  if (!loader) {
    // Each target's own error (not a business service, unknown SLO) rejects that target's load only.
    loader = new DataLoader<AvailabilityTarget, Availability, string>(
      (targets: readonly AvailabilityTarget[]) =>
        context.og.serviceLevels.availabilityMany(targets, window, { actor: context.actor }),
      { cacheKeyFn: (target) => JSON.stringify(target) },
    );
    byWindow.set(key, loader);
  }
  return loader.load(target);
};

/** The window of the arguments: a period (default `current`) or `from`/`to`, not both. */
function windowOf(args: {
  period?: string | null;
  from?: Date | null;
  to?: Date | null;
}): AvailabilityWindow {
  if (args.from != null || args.to != null) {
    if (args.period != null) throw ValidationError.field('period', 'give a period or from and to, not both');
    if (args.from == null) throw ValidationError.field('from', 'is needed with to');
    if (args.to == null) throw ValidationError.field('to', 'is needed with from');
    return { from: args.from, to: args.to };
  }
  return { period: args.period ?? 'current' };
}

const operationsRead = { permission: permissions.operationsRead };
const operationsWrite = { permission: permissions.operationsWrite };

/** SLOs on business services, their availability and error budget; `CI.availability` on business services. */
export function addServiceLevels(builder: OpsGraphBuilder, { CI, AlertSeverity }: Refs) {
  const Period = builder.enumType('SloPeriod', {
    description: 'A calendar period in the SLO’s time zone; weeks start on Monday.',
    values: upper(sloPeriods),
  });

  const OutageRef = builder.objectRef<Outage>('Outage').implement({
    description:
      'A stretch during which the service was down, planned maintenance cut out; overlapping causes merged.',
    authScopes: operationsRead,
    fields: (t) => ({
      start: t.field({ type: 'DateTime', resolve: (o) => o.start }),
      end: t.field({ type: 'DateTime', description: 'Exclusive.', resolve: (o) => o.end }),
      durationMs: t.float({ resolve: (o) => o.durationMs }),
      ongoing: t.exposeBoolean('ongoing', { description: 'Still going on where counting stopped.' }),
      incidentIds: t.idList({ resolve: (o) => [...o.incidentIds] }),
      alertIds: t.idList({ resolve: (o) => [...o.alertIds] }),
    }),
  });

  const Budget = builder.objectRef<ErrorBudget>('ErrorBudget').implement({
    description: 'The downtime an SLO allows in a period, and how fast it is being spent.',
    authScopes: operationsRead,
    fields: (t) => ({
      allowedMs: t.float({
        description: '(1 - objective/100) × the period’s length, whole ms rounded down.',
        resolve: (b) => b.allowedMs,
      }),
      consumedMs: t.float({ resolve: (b) => b.consumedMs }),
      remainingMs: t.float({ description: 'Negative once overspent.', resolve: (b) => b.remainingMs }),
      remainingPercent: t.exposeFloat('remainingPercent'),
      burnRate: t.exposeFloat('burnRate', {
        description: '(downtime / elapsed) / (1 - objective/100): 1 spends the budget exactly by the end.',
      }),
    }),
  });

  const AvailabilityRef = builder.objectRef<Availability>('Availability').implement({
    description:
      'Uptime over a period or interval; only its elapsed part counts (up to now for a period not over).',
    authScopes: operationsRead,
    fields: (t) => ({
      from: t.field({ type: 'DateTime', resolve: (a) => a.from }),
      to: t.field({ type: 'DateTime', resolve: (a) => a.to }),
      until: t.field({
        type: 'DateTime',
        description: 'Where counting stopped: `to`, or now.',
        resolve: (a) => a.until,
      }),
      elapsedMs: t.float({ resolve: (a) => a.elapsedMs }),
      downtimeMs: t.float({ resolve: (a) => a.downtimeMs }),
      uptimePercent: t.exposeFloat('uptimePercent'),
      outages: t.field({ type: [OutageRef], resolve: (a) => [...a.outages] }),
      errorBudget: t.field({
        type: Budget,
        nullable: true,
        description: 'With an SLO only.',
        resolve: (a) => a.errorBudget,
      }),
    }),
  });

  const SloRef = builder.objectRef<Slo>('Slo').implement({
    description:
      'A service level objective: the uptime a business service should reach per calendar period, and what counts as down.',
    authScopes: operationsRead,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      objective: t.exposeFloat('objective', { description: 'Percent, e.g. 99.9.' }),
      period: t.field({ type: Period, resolve: (s) => s.period }),
      timeZone: t.exposeString('timeZone', { description: 'IANA zone of the calendar periods.' }),
      incidentPriorities: t.intList({
        description: 'Incidents of these priorities on the service count as outages.',
        resolve: (s) => [...s.incidentPriorities],
      }),
      alertSeverities: t.field({
        type: [AlertSeverity],
        description: 'Alerts of these severities on the service or a CI it depends on count as outages.',
        resolve: (s) => [...s.alertSeverities] as AlertSeverity[],
      }),
      serviceId: t.exposeID('serviceId'),
      // Through the CI loader: a page of SLOs reads their services in one query.
      service: t.field({ type: CI, resolve: (s) => s.serviceId }),
      retiredAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.retiredAt }),
      version: t.exposeInt('version', {
        description: 'Send it back with an update: a stale one is refused.',
      }),
      createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (s) => s.updatedAt }),
      availability: t.field({
        type: AvailabilityRef,
        description: 'Over a period of the SLO (default the current one) or over `from`/`to`.',
        args: {
          period: t.arg.string({
            description: '`current` (default), `previous`, or a local date YYYY-MM-DD in the period.',
          }),
          from: t.arg({ type: 'DateTime' }),
          to: t.arg({ type: 'DateTime', description: 'Exclusive.' }),
        },
        resolve: (s, args, context) => availabilityOf(context, { sloId: s.id }, windowOf(args)),
      }),
      errorBudget: t.field({
        type: Budget,
        description: 'Of a period of the SLO (default the current one).',
        args: {
          period: t.arg.string({
            description: '`current` (default), `previous`, or a local date YYYY-MM-DD in the period.',
          }),
        },
        resolve: async (s, { period }, context) =>
          (await availabilityOf(context, { sloId: s.id }, windowOf({ period }))).errorBudget as ErrorBudget,
      }),
    }),
  });

  builder.objectField(CI, 'availability', (t) =>
    t.field({
      type: AvailabilityRef,
      nullable: true,
      description:
        'Of a business service over `[from, to)` (operations:read): P1/P2 incidents and critical alerts on it or what it depends on count; null for other CIs.',
      authScopes: operationsRead,
      args: {
        from: t.arg({ type: 'DateTime', required: true }),
        to: t.arg({ type: 'DateTime', required: true, description: 'Exclusive.' }),
      },
      resolve: async (ci: Ci, { from, to }, context) => {
        try {
          return await availabilityOf(context, { serviceId: ci.id }, { from, to });
        } catch (error) {
          // Not a business service: nothing to say, rather than an error on every other CI.
          if (isOpsGraphError(error) && error.code === 'VALIDATION' && error.field === 'serviceId')
            return null;
          throw error;
        }
      },
    }),
  );

  const Filter = builder.inputType('SloFilter', {
    fields: (t) => ({
      serviceId: t.id({ description: 'SLOs of this business service.' }),
      period: t.field({ type: Period }),
      includeRetired: t.boolean({ description: 'Default false.' }),
    }),
  });

  builder.queryFields((t) => ({
    slos: t.connection({
      type: SloRef,
      description: 'SLOs by name (operations:read); live ones unless `filter.includeRetired`.',
      authScopes: operationsRead,
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter, ...args }, { og, actor }) =>
        connectionOf(
          await og.serviceLevels.slos(
            filter
              ? defined({ ...filter, serviceId: filter.serviceId == null ? null : String(filter.serviceId) })
              : {},
            forwardPage(args),
            { actor },
          ),
          args.after,
        ),
    }),
    slo: t.field({
      type: SloRef,
      nullable: true,
      authScopes: operationsRead,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.serviceLevels.slo(String(id), { actor }),
    }),
  }));

  const DefineInput = builder.inputType('DefineSloInput', {
    fields: (t) => ({
      serviceId: t.id({ required: true, description: 'A CI of class business_service or below.' }),
      name: t.string({ required: true }),
      objective: t.float({
        required: true,
        description: 'Percent: more than 0, less than 100, 4 decimals at most.',
      }),
      period: t.field({ type: Period, description: 'Default MONTH.' }),
      timeZone: t.string({ description: 'IANA zone of the calendar periods; default UTC.' }),
      incidentPriorities: t.intList({ description: 'Default [1, 2].' }),
      alertSeverities: t.field({ type: [AlertSeverity], description: 'Default [CRITICAL].' }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateSloInput', {
    fields: (t) => ({
      name: t.string(),
      objective: t.float(),
      period: t.field({ type: Period }),
      timeZone: t.string(),
      incidentPriorities: t.intList(),
      alertSeverities: t.field({ type: [AlertSeverity] }),
    }),
  });

  builder.mutationFields((t) => ({
    defineSlo: t.field({
      type: SloRef,
      description: 'Defines an SLO on a business service (operations:write).',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: { input: t.arg({ type: DefineInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.serviceLevels.defineSlo({ ...defined(input), serviceId: String(input.serviceId) }, { actor }),
    }),
    updateSlo: t.field({
      type: SloRef,
      description: 'Changes an SLO (operations:write); a stale version is refused.',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.serviceLevels.updateSlo(String(id), defined(input), { actor, version }),
    }),
    retireSlo: t.field({
      type: SloRef,
      description:
        'Retires an SLO (operations:write): kept, no longer listed by default, never changed again.',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.serviceLevels.retireSlo(String(id), { actor, version }),
    }),
  }));
  return { Slo: SloRef, Availability: AvailabilityRef };
}
