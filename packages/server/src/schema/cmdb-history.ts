import {
  type CiHistoryEntry,
  type CiState,
  type FieldChange,
  historyKinds,
  permissions,
} from '@opsgraph/core';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import { actorRefType } from './actor.js';
import { type addCmdb, readCi } from './cmdb.js';

type CiRef = ReturnType<typeof addCmdb>['CI'];
type RelationshipRecord = NonNullable<CiHistoryEntry['relationship']>;

/** A CI's recorded changes, and what it looked like at a moment. */
export function addCmdbHistory(builder: OpsGraphBuilder, CI: CiRef): void {
  const HistoryKind = builder.enumType('CIHistoryKind', { values: historyKinds });

  const Change = builder.objectRef<FieldChange>('FieldChange').implement({
    description: 'One field before and after; attributes are `attributes.<name>`.',
    // Reached only through an entry or a state, which are checked on their CIs.
    authScopes: { permissionSomewhere: permissions.cmdbRead },
    fields: (t) => ({
      field: t.exposeString('field'),
      before: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.before ?? null }),
      after: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.after ?? null }),
    }),
  });

  const Record = builder.objectRef<RelationshipRecord>('RelationshipRecord').implement({
    description: 'A relationship as it was (it may since have been removed).',
    authScopes: onCis<RelationshipRecord>(permissions.cmdbRead, (r) => [r.sourceId, r.targetId]),
    fields: (t) => ({
      id: t.exposeID('id'),
      type: t.exposeString('type'),
      sourceId: t.exposeID('sourceId'),
      targetId: t.exposeID('targetId'),
    }),
  });

  const Entry = builder.objectRef<CiHistoryEntry>('CIHistoryEntry').implement({
    authScopes: onCis<CiHistoryEntry>(permissions.cmdbRead, (h) =>
      h.relationship ? [h.ciId, h.relationship.sourceId, h.relationship.targetId] : h.ciId,
    ),
    fields: (t) => ({
      seq: t.exposeInt('seq', { description: 'Order of entries; page with `before: seq`.' }),
      kind: t.field({ type: HistoryKind, resolve: (h) => h.kind }),
      version: t.exposeInt('version', { description: "The CI's version after the change." }),
      actor: t.field({ type: actorRefType(builder), resolve: (h) => h.actor }),
      source: t.exposeString('source', { nullable: true }),
      at: t.field({ type: 'DateTime', resolve: (h) => h.at }),
      changes: t.field({ type: [Change], resolve: (h) => [...h.changes] }),
      relationship: t.field({ type: Record, nullable: true, resolve: (h) => h.relationship }),
    }),
  });

  const State = builder.objectRef<CiState>('CIState').implement({
    description: 'A CI as it was at `at`, rebuilt from its history.',
    authScopes: onCis<CiState>(permissions.cmdbRead, (s) => s.id),
    fields: (t) => ({
      id: t.exposeID('id'),
      at: t.field({ type: 'DateTime', resolve: (s) => s.at }),
      version: t.exposeInt('version'),
      class: t.exposeString('class'),
      name: t.exposeString('name'),
      status: t.exposeString('status'),
      environment: t.exposeString('environment', { nullable: true }),
      ownerGroup: t.exposeString('ownerGroup', { nullable: true }),
      tags: t.stringList({ resolve: (s) => [...s.tags] }),
      attributes: t.field({ type: 'JSON', resolve: (s) => s.attributes }),
      relationships: t.field({ type: [Record], resolve: (s) => [...s.relationships] }),
    }),
  });

  builder.objectFields(CI, (t) => ({
    history: t.field({
      type: [Entry],
      description:
        'Changes of this CI and of its relationships (those whose other end you may read), newest first.',
      authScopes: readCi,
      args: {
        first: t.arg.int({ description: 'At most this many (default 50, up to 500).' }),
        before: t.arg.int({ description: 'Continue before this `seq`.' }),
      },
      resolve: (ci, { first, before }, { og, actor }) =>
        og.cmdb.history(
          ci.id,
          { ...(first != null ? { first } : {}), ...(before != null ? { before } : {}) },
          { actor },
        ),
    }),
    stateAt: t.field({
      type: State,
      nullable: true,
      description: 'This CI as it was at `at`; null if it did not exist yet.',
      authScopes: readCi,
      args: { at: t.arg({ type: 'DateTime', required: true }) },
      resolve: (ci, { at }, { og, actor }) => og.cmdb.stateAt(ci.id, at, { actor }),
    }),
  }));
}
