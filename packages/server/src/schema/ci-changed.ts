import { type CiChange, type FieldChange, permissions, ValidationError } from '@opsgraph/core';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import type { addActivity } from './activity.js';
import type { addCmdb } from './cmdb.js';
import type { addRelationships } from './relationships.js';
import { liveStream, unwrap } from './streams.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> &
  ReturnType<typeof addRelationships> &
  Pick<ReturnType<typeof addActivity>, 'ActorRef'>;

/** `subscription ciChanged(filter, after)` and `query ciChangedHead`. */
export function addCiChanged(builder: OpsGraphBuilder, { CI, Relationship, ActorRef }: Refs): void {
  const Kind = builder.enumType('CIChangeKind', {
    values: {
      CREATED: { value: 'created' },
      UPDATED: { value: 'updated' },
      RETIRED: { value: 'retired' },
      RELATED: { value: 'related' },
      UNRELATED: { value: 'unrelated' },
    } as const,
  });

  const ChangedField = builder.objectRef<FieldChange>('CIChangedField').implement({
    description: 'One field an update changed.',
    // Reached only through a change, which is checked on its CIs.
    authScopes: { permissionSomewhere: permissions.cmdbRead },
    fields: (t) => ({
      field: t.exposeString('field'),
      before: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.before }),
      after: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.after }),
    }),
  });

  const Change = builder.objectRef<CiChange>('CIChange').implement({
    description: 'A change of a CI. `seq` increases in commit order: resume with `ciChanged(after: seq)`.',
    // The stream already delivers only changes of CIs the subscriber may read; checked again per event.
    authScopes: onCis<CiChange>(permissions.cmdbRead, (c) =>
      c.relationship ? [c.ci.id, c.relationship.sourceId, c.relationship.targetId] : c.ci.id,
    ),
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      kind: t.field({ type: Kind, resolve: (c) => c.kind }),
      ci: t.field({
        type: CI,
        description:
          'The CI as the change left it; for RELATED/UNRELATED, the end that matched the filter (the source when both do), as it is now.',
        resolve: (c) => c.ci,
      }),
      changes: t.field({
        type: [ChangedField],
        nullable: true,
        description: 'What an update changed; null for other kinds.',
        resolve: (c) => (c.changes ? [...c.changes] : null),
      }),
      relationship: t.field({
        type: Relationship,
        nullable: true,
        description: 'The relationship made or removed; null for other kinds.',
        resolve: (c) => c.relationship,
      }),
      actor: t.field({ type: ActorRef, resolve: (c) => c.actor }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
    }),
  });

  const Filter = builder.inputType('CIChangedFilter', {
    description: 'Which CIs to follow; every given part must hold.',
    fields: (t) => ({
      ids: t.idList(),
      class: t.string({ description: 'The class or any class below it.' }),
      tag: t.string(),
    }),
  });

  builder.queryField('ciChangedHead', (t) =>
    t.field({
      type: 'Seq',
      description: 'The seq of the newest CI change (0 when none): subscribe `after` it to miss nothing.',
      authScopes: { permissionSomewhere: permissions.cmdbRead },
      resolve: (_root, _args, { og, actor }) => og.cmdb.changesHead({ actor }),
    }),
  );

  builder.subscriptionField('ciChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Changes of the CIs matching `filter` after `after` (default: from now on): first those you missed, then live ones, in order, none twice. cmdb:read is checked on every change: you receive those of the CIs you may read (a relationship: both ends).',
      authScopes: { permissionSomewhere: permissions.cmdbRead },
      args: { filter: t.arg({ type: Filter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        const wanted = {
          ...(filter?.ids ? { ids: filter.ids.map(String) } : {}),
          ...(filter?.class != null ? { class: filter.class } : {}),
          ...(filter?.tag != null ? { tag: filter.tag } : {}),
        };
        // Refused here, before the stream starts, rather than as its first item.
        if (wanted.class && !(await og.cmdb.classesByName([wanted.class], { actor }))[0])
          throw ValidationError.field('filter.class', `unknown CI class "${wanted.class}"`);
        // The starting point is fixed before the subscription answers, so nothing after it is missed.
        const from = after ?? (await og.cmdb.changesHead({ actor }));
        return liveStream(context, og.cmdb.follow(wanted, { after: from, actor }));
      },
      resolve: unwrap,
    }),
  );
}
