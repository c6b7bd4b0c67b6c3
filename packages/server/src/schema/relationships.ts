import { permissions, propagations, type Relationship, type RelationshipType } from '@opsgraph/core';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import { type addCmdb, readCi } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';

type CiRef = ReturnType<typeof addCmdb>['CI'];

export function addRelationships(builder: OpsGraphBuilder, CI: CiRef) {
  const Propagation = builder.enumType('Propagation', {
    description: 'Which end a failure reaches: for `a depends_on b`, b failing hurts a (to_source).',
    values: propagations,
  });

  const RelationshipTypeRef = builder.objectRef<RelationshipType>('RelationshipType').implement({
    authScopes: { permissionSomewhere: permissions.cmdbRead },
    fields: (t) => ({
      name: t.exposeString('name'),
      label: t.exposeString('label'),
      inverseLabel: t.exposeString('inverseLabel'),
      propagation: t.field({ type: Propagation, resolve: (r) => r.propagation }),
      acyclic: t.exposeBoolean('acyclic', { description: 'A relationship closing a cycle is refused.' }),
      owner: t.exposeString('owner', { description: '`core`, or the plugin that brought the type.' }),
    }),
  });

  const RelationshipRef = builder.objectRef<Relationship>('Relationship').implement({
    description: '`source <type> target`, e.g. an application `depends_on` a database.',
    // Readable only by who may read both ends.
    authScopes: onCis<Relationship>(permissions.cmdbRead, (r) => [r.sourceId, r.targetId]),
    fields: (t) => ({
      id: t.exposeID('id'),
      type: t.exposeString('type'),
      // Both ends load through the CI DataLoader: a page of relationships costs one query for its CIs.
      source: t.field({ type: CI, resolve: (r) => r.sourceId }),
      target: t.field({ type: CI, resolve: (r) => r.targetId }),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    }),
  });

  builder.objectField(CI, 'relationships', (t) =>
    t.loadableList({
      type: RelationshipRef,
      description:
        'Relationships with this CI at either end whose other end you may read too, oldest first (same time: by id).',
      authScopes: readCi,
      load: (ids: string[], { og, actor }) => og.cmdb.relationshipsOf(ids, { actor }),
      resolve: (ci) => ci.id,
    }),
  );

  builder.queryField('relationshipTypes', (t) =>
    t.field({
      type: [RelationshipTypeRef],
      authScopes: { permissionSomewhere: permissions.cmdbRead },
      resolve: (_root, _args, { og, actor }) => og.cmdb.relationshipTypes({ actor }),
    }),
  );

  const RelateInput = builder.inputType('RelateCIsInput', {
    fields: (t) => ({
      type: t.string({ required: true, description: 'e.g. depends_on, runs_on, contains' }),
      sourceId: t.id({ required: true }),
      targetId: t.id({ required: true }),
    }),
  });

  const RelationshipTypeInput = builder.inputType('DefineRelationshipTypeInput', {
    fields: (t) => ({
      name: t.string({ required: true, description: 'snake_case, e.g. backs_up' }),
      label: t.string({ required: true }),
      inverseLabel: t.string(),
      propagation: t.field({ type: Propagation, required: true }),
      acyclic: t.boolean({ description: 'Refuse relationships closing a cycle of this type.' }),
    }),
  });

  builder.mutationFields((t) => ({
    defineRelationshipType: t.field({
      type: RelationshipTypeRef,
      description: 'Defines a relationship type, or changes one defined this way.',
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbAdmin },
      args: { input: t.arg({ type: RelationshipTypeInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) => og.cmdb.defineRelationshipType(defined(input), { actor }),
    }),
    relateCIs: t.field({
      type: RelationshipRef,
      description: 'Needs cmdb:write on the source and cmdb:read on the target.',
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.cmdbWrite },
      args: { input: t.arg({ type: RelateInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.cmdb.relate(
          { type: input.type, sourceId: String(input.sourceId), targetId: String(input.targetId) },
          { actor },
        ),
    }),
    unrelateCIs: t.field({
      type: RelationshipRef,
      description: 'Needs cmdb:write on the source and cmdb:read on the target.',
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.cmdbWrite },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.cmdb.unrelate(String(id), { actor }),
    }),
  }));
  return { Relationship: RelationshipRef };
}
