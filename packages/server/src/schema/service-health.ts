import {
  type Alert,
  canOnEach,
  permissions,
  type ServiceHealth,
  type ServiceHealthCause,
  type ServiceHealthChange,
  serviceHealthEventTypes,
  serviceHealthStates,
} from '@opsgraph/core';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import type { addAlerts } from './alerts.js';
import { upper } from './alerts.js';
import type { addCmdb } from './cmdb.js';
import { liveStream, unwrap } from './streams.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> & Pick<ReturnType<typeof addAlerts>, 'Alert'>;

/** `authScopes` of a service's health: event:read on the service CI (health is derived from alerts). */
const readHealth = onCis<Pick<ServiceHealth, 'serviceId'>>(permissions.eventRead, (h) => h.serviceId);
const readSomewhere = { permissionSomewhere: permissions.eventRead };

// Per request (and per subscription event): every alert the causes name, in one query.
const alerts = createContextCache(
  ({ og, actor }: GraphQLContext) =>
    new DataLoader((ids: readonly string[]) => og.serviceHealth.alertsById(ids, { actor })),
);
const loadAlert = (context: GraphQLContext, id: string | null): Promise<Alert | null> | null =>
  id ? alerts(context).load(id) : null;

/** `query serviceHealth`, `query serviceHealthHead` and `subscription serviceHealthChanged`. */
export function addServiceHealth(builder: OpsGraphBuilder, { CI, Alert }: Refs): void {
  const State = builder.enumType('ServiceHealthState', {
    description:
      'UP; DEGRADED: working with less redundancy or a dependency with a major alert; DOWN: impact analysis of the CIs with critical alerts says so; MAINTENANCE: an active window covers it.',
    values: upper(serviceHealthStates),
  });

  const Cause = builder.objectRef<ServiceHealthCause>('ServiceHealthCause').implement({
    description: 'Why: a failing CI the service depends on and the alert that says so, or its window.',
    // Reached only through a ServiceHealth (checked on its service); CIs you may not read are left out.
    authScopes: readSomewhere,
    fields: (t) => ({
      ci: t.field({ type: CI, resolve: (c) => c.ciId }),
      alert: t.field({
        type: Alert,
        nullable: true,
        description: 'The live alert on that CI (null for a maintenance cause, or when you may not read it).',
        resolve: (c, _args, context) => loadAlert(context, c.alertId),
      }),
      state: t.field({ type: State, resolve: (c) => c.state }),
    }),
  });

  const Health = builder.objectRef<ServiceHealth>('ServiceHealth').implement({
    description: 'A business service’s health, derived from live alerts and impact analysis.',
    authScopes: readHealth,
    fields: (t) => ({
      service: t.field({ type: CI, description: 'The business service.', resolve: (h) => h.serviceId }),
      state: t.field({ type: State, resolve: (h) => h.state }),
      since: t.field({
        type: 'DateTime',
        description: 'When it entered this state (the service’s creation when it never changed).',
        resolve: (h) => h.since,
      }),
      causes: t.field({
        type: [Cause],
        description:
          'Empty when UP: the failing CIs (DOWN first, then DEGRADED, by name) you may read, with their alerts.',
        resolve: (h, _args, { actor }) =>
          h.causes.filter((c) => canOnEach(actor, permissions.cmdbRead, [c.ciId])),
      }),
    }),
  });

  const Change = builder.objectRef<ServiceHealthChange>('ServiceHealthChange').implement({
    description:
      'A business service changed state. `seq` increases in commit order: resume with `serviceHealthChanged(after: seq)`.',
    authScopes: (c) => readHealth(c.health),
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      previousState: t.field({ type: State, resolve: (c) => c.previousState }),
      health: t.field({ type: Health, description: 'As the change left it.', resolve: (c) => c.health }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
    }),
  });

  const Filter = builder.inputType('ServiceHealthFilter', {
    fields: (t) => ({ serviceIds: t.idList({ description: 'Only these business services.' }) }),
  });
  const filterOf = (filter: { serviceIds?: readonly (string | number)[] | null } | null | undefined) =>
    filter?.serviceIds ? { serviceIds: filter.serviceIds.map(String) } : {};

  builder.queryFields((t) => ({
    serviceHealth: t.field({
      type: [Health],
      description:
        'Every business service you may read (event:read on it), by name, with its health; `filter.serviceIds` narrows.',
      authScopes: readSomewhere,
      args: { filter: t.arg({ type: Filter }) },
      resolve: (_root, { filter }, { og, actor }) => og.serviceHealth.list(filterOf(filter), { actor }),
    }),
    serviceHealthHead: t.field({
      type: 'Seq',
      description:
        'The seq of the newest service-health change (0 when none): read serviceHealth, then subscribe `after` it.',
      authScopes: readSomewhere,
      resolve: (_root, _args, { og, actor }) => og.serviceHealth.head({ actor }),
    }),
  }));

  builder.subscriptionField('serviceHealthChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Health changes of business services after `after` (default: from now on): the backlog, then live ones, in order, none twice. event:read on the service is checked on every change with your permissions as they are then.',
      authScopes: readSomewhere,
      args: { filter: t.arg({ type: Filter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        // The starting point is fixed before the subscription answers, so nothing after it is missed.
        const from = after ?? (await og.activity.latestSeq({ types: serviceHealthEventTypes }));
        return liveStream(context, og.serviceHealth.follow({ after: from, actor, filter: filterOf(filter) }));
      },
      resolve: unwrap,
    }),
  );
}
