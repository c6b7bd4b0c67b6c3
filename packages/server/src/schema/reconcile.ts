import {
  conflictKinds,
  itemOutcomes,
  permissions,
  type ReconcileConflict,
  type ReconcileEnd,
  type ReconcileReport,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addCmdb } from './cmdb.js';
import { mutationErrors } from './errors.js';

type Cmdb = Pick<ReturnType<typeof addCmdb>, 'CI' | 'CIStatus'>;
type ReportItem = ReconcileReport['items'][number];

/** `reconcileCIs`: a discovery feed's CIs and relationships in one mutation (see `og.cmdb.reconcile`). */
export function addReconcile(builder: OpsGraphBuilder, { CI, CIStatus }: Cmdb): void {
  const Outcome = builder.enumType('ReconcileOutcome', { values: itemOutcomes });
  const ConflictKind = builder.enumType('ReconcileConflictKind', { values: conflictKinds });
  const ConflictList = builder.enumType('ReconcileList', { values: ['cis', 'relationships'] as const });

  const Item = builder.objectRef<ReportItem>('ReconcileItem').implement({
    description: 'What became of one CI of the payload.',
    fields: (t) => ({
      index: t.exposeInt('index', { description: 'Position in `cis`.' }),
      ref: t.exposeString('ref', { nullable: true }),
      outcome: t.field({ type: Outcome, resolve: (i) => i.outcome }),
      // Through the CI DataLoader: the whole report's CIs cost one query.
      ci: t.field({ type: CI, nullable: true, resolve: (i) => i.ciId }),
    }),
  });

  const Conflict = builder.objectRef<ReconcileConflict>('ReconcileConflict').implement({
    description:
      'Something of the payload not applied: an item skipped (unidentified, ambiguous, duplicate, class or identity clash), a field a higher-priority source holds, or a relationship whose end was skipped.',
    fields: (t) => ({
      list: t.field({ type: ConflictList, resolve: (c) => c.list }),
      index: t.exposeInt('index', { description: 'Position in the list named by `list`.' }),
      ref: t.exposeString('ref', { nullable: true }),
      kind: t.field({ type: ConflictKind, resolve: (c) => c.kind }),
      field: t.exposeString('field', {
        nullable: true,
        description: 'The field at fault (e.g. `attributes.os`), or null for the whole item.',
      }),
      reason: t.exposeString('reason'),
      ci: t.field({ type: CI, nullable: true, resolve: (c) => c.ciId }),
      kept: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.kept ?? null }),
      offered: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.offered ?? null }),
      heldBy: t.string({
        nullable: true,
        description: 'The source holding the field.',
        resolve: (c) => c.heldBy ?? null,
      }),
      candidates: t.idList({ nullable: true, resolve: (c) => (c.candidates ? [...c.candidates] : null) }),
    }),
  });

  const RelationshipCounts = builder
    .objectRef<ReconcileReport['relationships']>('ReconcileRelationshipCounts')
    .implement({
      fields: (t) => ({
        created: t.exposeInt('created'),
        unchanged: t.exposeInt('unchanged'),
        skipped: t.exposeInt('skipped'),
      }),
    });

  const Report = builder.objectRef<ReconcileReport>('ReconcileReport').implement({
    fields: (t) => ({
      source: t.exposeString('source'),
      created: t.exposeInt('created'),
      updated: t.exposeInt('updated'),
      unchanged: t.exposeInt('unchanged'),
      skipped: t.exposeInt('skipped'),
      conflicts: t.field({ type: [Conflict], resolve: (r) => [...r.conflicts] }),
      items: t.field({ type: [Item], resolve: (r) => [...r.items] }),
      relationships: t.field({ type: RelationshipCounts, resolve: (r) => r.relationships }),
    }),
  });

  const CiInput = builder.inputType('ReconcileCIInput', {
    fields: (t) => ({
      ref: t.string({ description: 'Names the item inside the payload, for relationships and the report.' }),
      class: t.string({ required: true }),
      name: t.string({ required: true }),
      status: t.field({
        type: CIStatus,
        description: 'Not `retired` (retire CIs one by one); absent: unchanged.',
      }),
      environment: t.string(),
      ownerGroup: t.string(),
      tags: t.stringList(),
      attributes: t.field({ type: 'JSON', description: 'By attribute name; null removes one.' }),
    }),
  });
  const EndInput = builder.inputType('ReconcileEndInput', {
    description: 'One of: `ref` (a CI of this payload) or `ciId` (an existing CI).',
    fields: (t) => ({ ref: t.string(), ciId: t.id() }),
  });
  const RelationshipInput = builder.inputType('ReconcileRelationshipInput', {
    fields: (t) => ({
      type: t.string({ required: true }),
      source: t.field({ type: EndInput, required: true }),
      target: t.field({ type: EndInput, required: true }),
    }),
  });
  const Input = builder.inputType('ReconcileCIsInput', {
    fields: (t) => ({
      source: t.string({ required: true, description: 'A declared source: precedence and history use it.' }),
      cis: t.field({ type: [CiInput], required: true }),
      relationships: t.field({ type: [RelationshipInput] }),
    }),
  });

  const end = (e: { ref?: string | null; ciId?: string | number | null }): ReconcileEnd =>
    // Both or neither: passed on as given, so core's validation names the end at fault.
    ({
      ...(e.ref != null ? { ref: e.ref } : {}),
      ...(e.ciId != null ? { ciId: String(e.ciId) } : {}),
    }) as ReconcileEnd;

  builder.mutationField('reconcileCIs', (t) =>
    t.field({
      type: Report,
      description:
        'Reconciles a discovery feed: matches CIs by identifiers, merges by source precedence, creates missing relationships. Bad input writes nothing.',
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbWrite },
      args: { input: t.arg({ type: Input, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.cmdb.reconcile(
          {
            cis: input.cis.map((c) => ({
              ...(c.ref != null ? { ref: c.ref } : {}),
              class: c.class,
              name: c.name,
              ...(c.status != null ? { status: c.status } : {}),
              ...(c.environment !== undefined ? { environment: c.environment } : {}),
              ...(c.ownerGroup !== undefined ? { ownerGroup: c.ownerGroup } : {}),
              ...(c.tags != null ? { tags: c.tags } : {}),
              ...(c.attributes != null ? { attributes: c.attributes as Record<string, unknown> } : {}),
            })),
            relationships: (input.relationships ?? []).map((r) => ({
              type: r.type,
              source: end(r.source),
              target: end(r.target),
            })),
          },
          { actor, source: input.source },
        ),
    }),
  );
}
