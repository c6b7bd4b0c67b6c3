import { type AnyDomainEvent, eventCiIds, permissions, readPermissionOf } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { actorRefType } from './actor.js';
import { liveStream, unwrap } from './streams.js';

/**
 * An event needs activity:read and its own read permission (`cmdb:read` for `ci.*`), each on every CI
 * it is about, or everywhere when it is about none: as `og.activity` filters, checked again per event.
 */
function eventScopes(event: AnyDomainEvent) {
  const ciIds = eventCiIds(event);
  const on = (permission: string) =>
    ciIds.length > 0 ? { ciPermission: { permission, ciId: ciIds } } : { permission };
  return { $all: { ...on(readPermissionOf(event.type)), $all: on(permissions.activityRead) } };
}

export function addActivity(builder: OpsGraphBuilder) {
  const ActorRef = actorRefType(builder);

  const ActivityEvent = builder.objectRef<AnyDomainEvent>('ActivityEvent').implement({
    description:
      'A committed domain event. `seq` increases in commit order: resume a stream with `after: seq`.',
    authScopes: eventScopes,
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (e) => e.seq }),
      id: t.exposeID('id'),
      type: t.exposeString('type'),
      subjectType: t.string({ nullable: true, resolve: (e) => e.subject?.type ?? null }),
      subjectId: t.string({ nullable: true, resolve: (e) => e.subject?.id ?? null }),
      actor: t.field({ type: ActorRef, resolve: (e) => e.actor }),
      payload: t.field({ type: 'JSON', resolve: (e) => e.payload }),
      occurredAt: t.field({ type: 'DateTime', resolve: (e) => e.occurredAt }),
    }),
  });

  builder.queryField('activity', (t) =>
    t.field({
      type: [ActivityEvent],
      description:
        'Events after `after` that you may see, oldest first (of at most `limit` read, default 100, up to 1000).',
      authScopes: { permissionSomewhere: permissions.activityRead },
      args: { after: t.arg({ type: 'Seq' }), limit: t.arg.int(), types: t.arg.stringList() },
      resolve: (_root, args, { og, actor }) =>
        og.activity.list(
          { after: args.after ?? 0, limit: args.limit ?? 100, ...(args.types ? { types: args.types } : {}) },
          { actor },
        ),
    }),
  );

  builder.queryField('activityHead', (t) =>
    t.field({
      type: 'Seq',
      description:
        'The seq of the latest committed event (0 when none): subscribe with `after` it to miss nothing.',
      authScopes: { permissionSomewhere: permissions.activityRead },
      resolve: (_root, _args, { og, actor }) => og.activity.latestSeq({ actor }),
    }),
  );

  builder.queryField('streamHead', (t) =>
    t.field({
      type: 'Seq',
      description:
        'The seq of the newest committed event of any kind (0 when none), for any signed-in caller: subscribe to any stream with `after` it to miss nothing from here on, even across a reconnect before its first event.',
      // Only a position, never an event: every authenticated caller may know it.
      authScopes: { authenticated: true },
      resolve: (_root, _args, { og }) => og.activity.latestSeq(),
    }),
  );

  builder.subscriptionField('activity', (t) =>
    t.field({
      type: ActivityEvent,
      description:
        'Every committed event after `after` (default: from now on) that you may see: first those you missed, then live ones, in order, none twice.',
      authScopes: { permissionSomewhere: permissions.activityRead },
      args: { after: t.arg({ type: 'Seq' }), types: t.arg.stringList() },
      subscribe: async (_root, args, context) =>
        liveStream(
          context,
          context.og.activity.follow({
            after: args.after ?? (await context.og.activity.latestSeq()),
            ...(args.types ? { types: args.types } : {}),
            actor: context.actor,
          }),
        ),
      resolve: unwrap,
    }),
  );
  return { ActorRef, ActivityEvent };
}
