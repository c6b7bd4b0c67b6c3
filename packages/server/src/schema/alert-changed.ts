import { type AlertChange, alertChangeKinds, alertEventTypes, permissions } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { type addAlerts, filterOf, readAlert, upper } from './alerts.js';
import { liveStream, unwrap } from './streams.js';

type Refs = ReturnType<typeof addAlerts>;

/** `subscription alertChanged(filter, after)` and `query alertChangedHead`. */
export function addAlertChanged(builder: OpsGraphBuilder, { Alert, AlertFilter, ActorRef }: Refs): void {
  const Kind = builder.enumType('AlertChangeKind', {
    values: upper(alertChangeKinds),
  });

  const Change = builder.objectRef<AlertChange>('AlertChange').implement({
    description:
      'An alert opened, updated (repeats folded in), acknowledged or closed. `seq` increases in commit order: resume with `alertChanged(after: seq)`.',
    // The stream delivers only what the subscriber may read; checked again per event on the alert's CI.
    authScopes: (c) => readAlert(c.alert),
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      kind: t.field({ type: Kind, resolve: (c) => c.kind }),
      alert: t.field({
        type: Alert,
        description: 'The alert as the change left it.',
        resolve: (c) => c.alert,
      }),
      repeats: t.int({
        nullable: true,
        description: 'For UPDATED: the repeats it folded in; null for other kinds.',
        resolve: (c) => c.repeats,
      }),
      previousRootAlertId: t.id({
        nullable: true,
        description: 'For GROUPED: the root it had before (null: it was in no group).',
        resolve: (c) => c.previousRootAlertId,
      }),
      actor: t.field({ type: ActorRef, resolve: (c) => c.actor }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
    }),
  });

  builder.queryField('alertChangedHead', (t) =>
    t.field({
      type: 'Seq',
      description:
        'The seq of the newest alert change (0 when none): read the alerts, then subscribe `after` it to miss nothing.',
      authScopes: { permissionSomewhere: permissions.eventRead },
      resolve: (_root, _args, { og }) => og.activity.latestSeq({ types: alertEventTypes }),
    }),
  );

  builder.subscriptionField('alertChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Changes of the alerts matching `filter` after `after` (default: from now on): the backlog, then live ones, in order, none twice. `status` matches the status a change left or came from, so followers of OPEN alerts hear them acknowledged or closed. event:read is checked on every change with your permissions as they are then: you receive those of alerts on CIs you may read (on no CI: event:read everywhere).',
      authScopes: { permissionSomewhere: permissions.eventRead },
      args: { filter: t.arg({ type: AlertFilter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        // The starting point is fixed before the subscription answers, so nothing after it is missed.
        const from = after ?? (await og.activity.latestSeq({ types: alertEventTypes }));
        return liveStream(context, og.events.followAlerts({ after: from, actor, filter: filterOf(filter) }));
      },
      resolve: unwrap,
    }),
  );
}
