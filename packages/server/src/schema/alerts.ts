import {
  type Alert,
  type AlertFilter,
  type AlertOrderField,
  type AlertSeverity,
  alertStatuses,
  canOnEach,
  type EventOccurrence,
  eventActions,
  eventSeverities,
  type IngestResult,
  ingestOutcomes,
  permissions,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { actorRefType } from './actor.js';
import type { addCiListing } from './ci-listing.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors, underArgument } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> & ReturnType<typeof addCiListing>;

/** `authScopes` of an alert: event:read on its CI, or everywhere for an alert on no CI (as core reads). */
export const readAlert = (alert: Pick<Alert, 'ciId'>) =>
  alert.ciId
    ? { ciPermission: { permission: permissions.eventRead, ciId: alert.ciId } }
    : { permission: permissions.eventRead };
const readSomewhere = { permissionSomewhere: permissions.eventRead };

/** GraphQL enum values in upper case for core's lower-case ones (`critical` is `CRITICAL`). */
export const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value.toUpperCase(), { value }])) as {
    [K in T as Uppercase<K>]: { value: K };
  };

/** Alert, its occurrences, the alert list, ingestion and the lifecycle mutations. */
export function addAlerts(builder: OpsGraphBuilder, { CI, OrderDirection }: Refs) {
  const ActorRef = actorRefType(builder);
  const Status = builder.enumType('AlertStatus', { values: upper(alertStatuses) });
  const Severity = builder.enumType('AlertSeverity', {
    description: 'How bad an alert is: its latest non-clear event’s severity.',
    values: upper(eventSeverities.filter((s): s is AlertSeverity => s !== 'clear')),
  });
  const EventSeverity = builder.enumType('EventSeverity', {
    description: 'An event’s severity; CLEAR says the condition is over (it closes the alert).',
    values: upper(eventSeverities),
  });
  const EventAction = builder.enumType('EventAction', {
    description:
      'What an event asks of its alert: TRIGGER opens or repeats it, ACKNOWLEDGE acknowledges it, RESOLVE closes it. Default: RESOLVE for CLEAR, else TRIGGER.',
    values: upper(eventActions),
  });
  const Outcome = builder.enumType('IngestOutcome', { values: upper(ingestOutcomes) });
  const CloseReason = builder.enumType('AlertCloseReason', {
    description: 'CLEARED: a clear or resolve event closed it; MANUAL: someone closed it.',
    values: upper(['cleared', 'manual'] as const),
  });

  const AlertEvent = builder.objectRef<EventOccurrence>('AlertEvent').implement({
    description: 'One event folded into an alert, as received (the latest ones are kept).',
    // Reached only through an alert, which is checked on its CI.
    authScopes: readSomewhere,
    fields: (t) => ({
      id: t.id({ description: 'Its number: increases in the order events arrive.', resolve: (o) => o.seq }),
      source: t.exposeString('source'),
      node: t.exposeString('node'),
      resource: t.exposeString('resource'),
      type: t.exposeString('type'),
      severity: t.field({ type: EventSeverity, resolve: (o) => o.severity }),
      action: t.field({ type: EventAction, resolve: (o) => o.action }),
      message: t.exposeString('message'),
      labels: t.field({ type: 'JSON', resolve: (o) => o.labels }),
      ciId: t.exposeID('ciId', { nullable: true, description: 'The CI this event was bound to.' }),
      occurredAt: t.field({ type: 'DateTime', nullable: true, resolve: (o) => o.occurredAt }),
      receivedAt: t.field({ type: 'DateTime', resolve: (o) => o.receivedAt }),
      raw: t.field({
        type: 'JSON',
        nullable: true,
        description: 'The body as received (secrets redacted).',
        resolve: (o) => o.raw ?? null,
      }),
    }),
  });

  const AlertRef = builder.objectRef<Alert>('Alert');
  AlertRef.implement({
    description:
      'Events of one dedup key folded into one record while it is open or acknowledged; an event after it closes opens a new one.',
    authScopes: readAlert,
    fields: (t) => ({
      id: t.exposeID('id'),
      dedupKey: t.exposeString('dedupKey'),
      status: t.field({ type: Status, resolve: (a) => a.status }),
      severity: t.field({ type: Severity, resolve: (a) => a.severity }),
      source: t.exposeString('source'),
      node: t.exposeString('node', { description: 'The host or device it is about.' }),
      resource: t.exposeString('resource'),
      type: t.exposeString('type'),
      message: t.exposeString('message'),
      labels: t.field({ type: 'JSON', resolve: (a) => a.labels }),
      ciId: t.exposeID('ciId', { nullable: true }),
      ci: t.field({
        type: CI,
        nullable: true,
        description:
          'The CI it is bound to, through the CI DataLoader; null when unbound or when you may not read that CI (`ciId` still says which).',
        resolve: (a, _args, { actor }) =>
          a.ciId && canOnEach(actor, permissions.cmdbRead, [a.ciId]) ? a.ciId : null,
      }),
      count: t.exposeInt('count', { description: 'Trigger events folded in.' }),
      firstSeen: t.field({ type: 'DateTime', resolve: (a) => a.firstSeen }),
      lastSeen: t.field({ type: 'DateTime', resolve: (a) => a.lastSeen }),
      acknowledgedAt: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.acknowledgedAt }),
      acknowledgedBy: t.field({ type: ActorRef, nullable: true, resolve: (a) => a.acknowledgedBy }),
      closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.closedAt }),
      closedBy: t.field({ type: ActorRef, nullable: true, resolve: (a) => a.closedBy }),
      closeReason: t.field({ type: CloseReason, nullable: true, resolve: (a) => a.closeReason }),
      version: t.exposeInt('version', {
        description: 'Counts acknowledge and close (not repeats): send it back with them.',
      }),
      createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (a) => a.updatedAt }),
      flapping: t.exposeBoolean('flapping', {
        description: 'Its dedup key opened and closed too often lately: kept, but it opens no incident.',
      }),
      suppressed: t.exposeBoolean('suppressed', {
        description: 'Opened or repeated while its CI was under maintenance: kept, but it opens no incident.',
      }),
      maintenanceWindowId: t.exposeID('maintenanceWindowId', { nullable: true }),
      rootAlertId: t.exposeID('rootAlertId', {
        nullable: true,
        description:
          'The live alert whose failure explains this one (topology correlation); null for a root or a lone alert.',
      }),
      root: t.field({
        type: AlertRef,
        nullable: true,
        description: 'The root alert of its group, when you may read it.',
        resolve: (a, _args, { og, actor }) =>
          a.rootAlertId ? og.events.alert(a.rootAlertId, { actor }) : null,
      }),
      grouped: t.field({
        type: [AlertRef],
        description: 'For a root: the live alerts grouped under it that you may read.',
        resolve: async (a, _args, { og, actor }) =>
          (await og.events.alerts({ rootAlertId: a.id }, { first: 500 }, { actor })).edges.map((e) => e.node),
      }),
      groupKey: t.exposeString('groupKey', {
        nullable: true,
        description: 'Its label group (an event rule’s groupBy), as a JSON object of the label values.',
      }),
      incidentId: t.id({
        nullable: true,
        description: 'The incident it belongs to, if any you may read.',
        resolve: async (a, _args, { og, actor }) =>
          (await og.incidents.incidentOfAlert(a.id, { actor }).catch(() => null))?.id ?? null,
      }),
      events: t.loadableList({
        type: AlertEvent,
        description:
          'Its latest events, newest first (`first` default and at most 100); a page of alerts loads them in one query.',
        // One loader per place in the query, so every alert there shares the same `first`.
        byPath: true,
        args: { first: t.arg.int() },
        load: (ids: string[], { og, actor }, args) =>
          og.events.eventsOfAlerts(ids, { actor, ...defined({ first: args.first }) }),
        resolve: (a) => a.id,
      }),
    }),
  });

  const Filter = builder.inputType('AlertFilter', {
    description: 'Which alerts; every given part must hold.',
    fields: (t) => ({
      status: t.field({ type: [Status], description: 'Any of these.' }),
      severity: t.field({ type: [Severity], description: 'Any of these.' }),
      ciId: t.id(),
      dedupKey: t.string(),
      source: t.string(),
      node: t.string({ description: 'In any case.' }),
      rootAlertId: t.id({ description: 'The members of this root’s group.' }),
      isRoot: t.boolean({ description: 'true: roots and lone alerts; false: alerts grouped under a root.' }),
      groupKey: t.string({ description: 'The members of this label group.' }),
      flapping: t.boolean(),
      suppressed: t.boolean(),
    }),
  });

  const OrderField = builder.enumType('AlertOrderField', {
    values: {
      LAST_SEEN: { value: 'lastSeen' },
      FIRST_SEEN: { value: 'firstSeen' },
      SEVERITY: { value: 'severity', description: 'By level (DESC: critical first), then lastSeen.' },
    } as const satisfies Record<string, { value: AlertOrderField; description?: string }>,
  });
  const Order = builder.inputType('AlertOrder', {
    description:
      'Ties are broken by id, in the same direction. A cursor continues only the order it came from.',
    fields: (t) => ({
      field: t.field({ type: OrderField, required: true }),
      direction: t.field({
        type: OrderDirection,
        description: 'Default DESC: the most recent, or severe, first.',
      }),
    }),
  });

  builder.queryFields((t) => ({
    alerts: t.connection({
      type: AlertRef,
      description:
        'Alerts matching `filter` that you may read, a page at a time (forward only), by `orderBy` (default LAST_SEEN DESC).',
      authScopes: readSomewhere,
      args: { filter: t.arg({ type: Filter }), orderBy: t.arg({ type: Order }) },
      resolve: async (_root, { filter, orderBy, ...args }, { og, actor }) => {
        const page = forwardPage(args);
        const found = await og.events.alerts(
          filterOf(filter),
          { ...page, ...(orderBy ? { orderBy: defined(orderBy) } : {}) },
          { actor },
        );
        return connectionOf(found, args.after);
      },
    }),
    alert: t.field({
      type: AlertRef,
      nullable: true,
      description: 'The alert; null when unknown or when you may not read it.',
      authScopes: readSomewhere,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.events.alert(String(id), { actor }),
    }),
  }));

  const EventInput = builder.inputType('EventInput', {
    description: 'One event from monitoring. Events without `ciId` are bound to a CI by node.',
    fields: (t) => ({
      source: t.string({ required: true, description: 'Where it comes from, e.g. a monitoring tool.' }),
      node: t.string({ required: true, description: 'The host or device it is about.' }),
      resource: t.string({ description: 'The part of the node: a disk, a service.' }),
      type: t.string({ required: true, description: 'What happened, e.g. `HighCpu`.' }),
      severity: t.field({ type: EventSeverity, required: true }),
      action: t.field({ type: EventAction }),
      message: t.string(),
      dedupKey: t.string({ description: 'Default: derived from source, node, type and resource.' }),
      labels: t.field({ type: 'JSON', description: 'Names to string values.' }),
      occurredAt: t.field({ type: 'DateTime', description: 'At the source; default: when received.' }),
      ciId: t.id({ description: 'The CI it is about (a live one), when the sender knows.' }),
      raw: t.field({ type: 'JSON', description: 'The body as received, kept with the event.' }),
    }),
  });

  const Result = builder.objectRef<IngestResult>('IngestResult').implement({
    description: 'What ingesting one event did, in input order.',
    authScopes: { permission: permissions.eventWrite },
    fields: (t) => ({
      dedupKey: t.exposeString('dedupKey'),
      alertId: t.exposeID('alertId', { nullable: true, description: 'Null when IGNORED.' }),
      outcome: t.field({ type: Outcome, resolve: (r) => r.outcome }),
      ignoredBy: t.exposeString('ignoredBy', {
        nullable: true,
        description: 'The event rule that dropped it.',
      }),
    }),
  });

  const lifecycle = (description: string) =>
    ({
      type: AlertRef,
      description,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.eventWrite },
    }) as const;

  builder.mutationFields((t) => ({
    ingestEvents: t.field({
      type: [Result],
      description:
        'Ingests events in one transaction (event:write everywhere): each opens, repeats, acknowledges or closes an alert. A bad event is refused naming it (`events.1.ciId`) and nothing is written.',
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.eventWrite },
      args: { events: t.arg({ type: [EventInput], required: true }) },
      resolve: (_root, { events }, { og, actor, metrics }) =>
        underArgument('events', async () => {
          const results = await og.events.ingest(
            events.map(({ ciId, labels, ...e }) => ({
              ...defined(e),
              ...(ciId != null ? { ciId: String(ciId) } : {}),
              // Checked by core: names to strings, else `events.<i>.labels.<name>` is refused.
              ...(labels != null ? { labels: labels as Record<string, string> } : {}),
            })),
            { actor },
          );
          metrics?.ingested('graphql', results.length);
          return results;
        }),
    }),
    acknowledgeAlert: t.field({
      ...lifecycle('Acknowledges an open alert (event:write on its CI); a stale `version` is a CONFLICT.'),
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.events.acknowledge(String(id), { actor, version }),
    }),
    closeAlert: t.field({
      ...lifecycle(
        'Closes an open or acknowledged alert (event:write on its CI); a stale `version` is a CONFLICT. A later event opens a new alert.',
      ),
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_root, { id, version }, { og, actor }) => og.events.close(String(id), { actor, version }),
    }),
  }));

  return { Alert: AlertRef, AlertFilter: Filter, ActorRef, Severity, EventSeverity };
}

/** The SDK's filter from the GraphQL input (omitted parts left out). */
export function filterOf(
  filter: { [K in keyof AlertFilter]?: AlertFilter[K] | string | number | null } | null | undefined,
): AlertFilter {
  if (!filter) return {};
  return defined({
    ...filter,
    ciId: filter.ciId == null ? undefined : String(filter.ciId),
    rootAlertId: filter.rootAlertId == null ? undefined : String(filter.rootAlertId),
  }) as AlertFilter;
}
