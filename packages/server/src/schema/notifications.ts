import {
  type Actor,
  type Incident,
  type IncidentWatcher,
  type MajorDeclaration,
  type Notification,
  notificationKinds,
  notificationStatuses,
  permissions,
  type ServiceSubscription,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import type { addIncidents } from './incidents.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadUser } from './people.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> &
  Pick<ReturnType<typeof addAccessIdentity>, 'User'> &
  ReturnType<typeof addIncidents>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

/**
 * Major incidents and outage notifications: declaring and clearing, status updates, watchers,
 * subscriptions to business services, and the record of every notification.
 */
export function addNotifications(builder: OpsGraphBuilder, { CI, User, Incident: IncidentRef }: Refs) {
  const ActorRef = actorRefType(builder);
  const Kind = builder.enumType('NotificationKind', { values: upper(notificationKinds) });
  const Status = builder.enumType('NotificationStatus', { values: upper(notificationStatuses) });
  // People need access:read to be seen as records: without it, the id and name are still there.

  const Declaration = builder.objectRef<MajorDeclaration>('MajorIncidentDeclaration').implement({
    description: 'A period an incident was major: who declared it, when and why, and who cleared it.',
    // Reached only through its Incident, which is checked on the incident's CI.
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      declaredAt: t.field({ type: 'DateTime', resolve: (d) => d.declaredAt }),
      declaredBy: t.field({ type: ActorRef, resolve: (d) => d.declaredBy }),
      reason: t.exposeString('reason'),
      clearedAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.clearedAt }),
      clearedBy: t.field({ type: ActorRef, nullable: true, resolve: (d) => d.clearedBy }),
      clearReason: t.exposeString('clearReason', { nullable: true }),
    }),
  });

  const Watcher = builder.objectRef<IncidentWatcher>('IncidentWatcher').implement({
    description: 'A user told of the incident’s major updates.',
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      userId: t.exposeID('userId'),
      userName: t.exposeString('userName'),
      user: t.field({
        type: User,
        nullable: true,
        resolve: (w, _args, context) => loadUser(context, w.userId),
      }),
      addedAt: t.field({ type: 'DateTime', resolve: (w) => w.addedAt }),
      addedBy: t.field({ type: ActorRef, resolve: (w) => w.addedBy }),
    }),
  });

  const Subscription = builder.objectRef<ServiceSubscription>('ServiceSubscription').implement({
    description: 'A user told of the major incidents that affect a business service.',
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      serviceId: t.exposeID('serviceId'),
      serviceName: t.exposeString('serviceName'),
      service: t.field({
        type: CI,
        nullable: true,
        description: 'Null without cmdb:read on it.',
        resolve: (s) => s.serviceId,
      }),
      userId: t.exposeID('userId'),
      userName: t.exposeString('userName'),
      createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
      createdBy: t.field({ type: ActorRef, resolve: (s) => s.createdBy }),
    }),
  });

  const NotificationRef = builder.objectRef<Notification>('Notification').implement({
    description:
      'One message to one user through one channel about a major incident, and how its delivery went.',
    // Listed only for incidents the caller may read (and only its own without incident:major).
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      incidentId: t.exposeID('incidentId'),
      incident: t.field({
        type: IncidentRef,
        nullable: true,
        resolve: (n, _args, { og, actor }) => og.incidents.incident(n.incidentId, { actor }),
      }),
      kind: t.field({ type: Kind, resolve: (n) => n.kind }),
      recipientId: t.exposeID('recipientId'),
      channel: t.exposeString('channel', { description: 'The notifier’s name, e.g. `email`.' }),
      status: t.field({ type: Status, resolve: (n) => n.status }),
      attempts: t.exposeInt('attempts'),
      lastError: t.exposeString('lastError', { nullable: true }),
      sentAt: t.field({ type: 'DateTime', nullable: true, resolve: (n) => n.sentAt }),
      nextAttemptAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When it is retried; null once sent or given up.',
        resolve: (n) => n.nextAttemptAt,
      }),
      subject: t.exposeString('subject'),
      createdAt: t.field({ type: 'DateTime', resolve: (n) => n.createdAt }),
    }),
  });

  builder.objectFields(IncidentRef, (t) => ({
    majorDeclaration: t.loadable({
      type: Declaration,
      nullable: true,
      description: 'The current major period, or the latest one; null if it was never major.',
      load: async (ids: string[], { og, actor }) => {
        const byIncident = await og.notifications.majorDeclarationsOfIncidents(ids, { actor });
        return ids.map((id) => byIncident.get(id.toLowerCase()) ?? null);
      },
      resolve: (i: Incident) => i.id,
    }),
    watchers: t.loadableList({
      type: Watcher,
      description: 'Who is told of its major updates besides the subscribers of its services.',
      load: async (ids: string[], { og, actor }) => {
        const byIncident = await og.notifications.watchersOfIncidents(ids, { actor });
        return ids.map((id) => byIncident.get(id.toLowerCase()) ?? []);
      },
      resolve: (i: Incident) => i.id,
    }),
    notifications: t.loadableList({
      type: NotificationRef,
      description: 'Newest first: yours, or everyone’s with incident:major.',
      load: async (ids: string[], { og, actor }) => {
        const byIncident = await og.notifications.notificationsOfIncidents(ids, { actor });
        return ids.map((id) => byIncident.get(id.toLowerCase()) ?? []);
      },
      resolve: (i: Incident) => i.id,
    }),
  }));

  const Filter = builder.inputType('NotificationFilter', {
    fields: (t) => ({
      incidentId: t.id(),
      recipientId: t.id({ description: 'Someone else’s needs incident:major.' }),
      status: t.field({ type: [Status] }),
      kind: t.field({ type: [Kind] }),
      channel: t.string(),
    }),
  });
  const id = (v: string | number | null | undefined) => (v == null ? undefined : String(v));

  builder.queryFields((t) => ({
    notifications: t.connection({
      type: NotificationRef,
      description:
        'Notifications of incidents you may read, newest first: yours, or everyone’s with incident:major.',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter: f, first, after, last, before }, { og, actor }) =>
        connectionOf(
          await og.notifications.notifications(
            defined({
              incidentId: id(f?.incidentId),
              recipientId: id(f?.recipientId),
              status: f?.status ?? undefined,
              kind: f?.kind ?? undefined,
              channel: f?.channel ?? undefined,
            }),
            forwardPage({ first, after, last, before }),
            { actor },
          ),
          after,
        ),
    }),
    serviceSubscriptions: t.field({
      type: [Subscription],
      description:
        'Subscriptions to business services, by service then user: yours, or anyone’s with incident:major.',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { userId: t.arg.id(), serviceId: t.arg.id() },
      resolve: (_root, args, { og, actor }) =>
        og.notifications.subscriptions(defined({ userId: id(args.userId), serviceId: id(args.serviceId) }), {
          actor,
        }),
    }),
  }));

  const versioned = (actor: Actor, version: number | null | undefined) => ({
    actor,
    ...(version != null ? { version } : {}),
  });
  const target = (userId: string | number | null | undefined) => defined({ userId: id(userId) });

  builder.mutationFields((t) => ({
    declareMajorIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description:
        'Declares it major (incident:major on its CI), with why: its watchers and the subscribers of its business services who may read it are told.',
      authScopes: { permissionSomewhere: permissions.incidentMajor },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        reason: t.arg.string({ required: true }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.incidents.declareMajor(String(args.id), { reason: args.reason }, versioned(actor, args.version)),
    }),
    clearMajorIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description: 'Ends its major status (incident:major on its CI), with why; who was told hears of it.',
      authScopes: { permissionSomewhere: permissions.incidentMajor },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        reason: t.arg.string({ required: true }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.incidents.clearMajor(String(args.id), { reason: args.reason }, versioned(actor, args.version)),
    }),
    postMajorIncidentUpdate: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description:
        'Posts a status update on a major incident (incident:major): kept as a comment and sent to who is told.',
      authScopes: { permissionSomewhere: permissions.incidentMajor },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        message: t.arg.string({ required: true }),
      },
      resolve: async (_root, args, { og, actor }) => {
        const note = await og.incidents.postMajorUpdate(
          String(args.id),
          { message: args.message },
          versioned(actor, args.version),
        );
        return (await og.incidents.incident(note.incidentId, { actor }))!;
      },
    }),
    watchIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description:
        'Adds a watcher: yourself (incident:read on it), or another user who may read it (incident:write).',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { id: t.arg.id({ required: true }), userId: t.arg.id() },
      resolve: async (_root, args, { og, actor }) => {
        await og.notifications.watch(String(args.id), target(args.userId), { actor });
        return (await og.incidents.incident(String(args.id), { actor }))!;
      },
    }),
    unwatchIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description: 'Removes a watcher: yourself, or another user (incident:write).',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { id: t.arg.id({ required: true }), userId: t.arg.id() },
      resolve: async (_root, args, { og, actor }) => {
        await og.notifications.unwatch(String(args.id), target(args.userId), { actor });
        return (await og.incidents.incident(String(args.id), { actor }))!;
      },
    }),
    subscribeToService: t.field({
      type: Subscription,
      errors: { types: mutationErrors },
      description:
        'Subscribes to the major incidents of a business service: yourself (incident:read), or another user (incident:major).',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { serviceId: t.arg.id({ required: true }), userId: t.arg.id() },
      resolve: (_root, args, { og, actor }) =>
        og.notifications.subscribe(String(args.serviceId), target(args.userId), { actor }),
    }),
    unsubscribeFromService: t.field({
      type: 'Boolean',
      errors: { types: mutationErrors },
      description: 'Ends a subscription; false when there was none.',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { serviceId: t.arg.id({ required: true }), userId: t.arg.id() },
      resolve: (_root, args, { og, actor }) =>
        og.notifications.unsubscribe(String(args.serviceId), target(args.userId), { actor }),
    }),
  }));
}
