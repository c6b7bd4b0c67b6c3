import { type Ci, type CiClass, ciStatuses, permissions } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { mutationErrors } from './errors.js';

export function addCmdb(builder: OpsGraphBuilder) {
  const CiStatus = builder.enumType('CIStatus', { values: ciStatuses });

  const CiClassRef = builder.objectRef<CiClass>('CIClass').implement({
    authScopes: { permission: permissions.cmdbRead },
    fields: (t) => ({
      name: t.exposeString('name'),
      label: t.exposeString('label'),
      parent: t.exposeString('parent', { nullable: true }),
      owner: t.exposeString('owner', { description: '`core`, or the plugin that brought the class.' }),
    }),
  });

  // Loadable: any field returning CIs by id batches them into one query per request.
  const CI = builder.loadableObject('CI', {
    description: 'A configuration item.',
    authScopes: { permission: permissions.cmdbRead },
    load: async (ids: string[], context) => {
      const rows = await context.og.cmdb.getMany(ids);
      return rows.map((row, i) => row ?? new Error(`CI ${ids[i]} was not found`));
    },
    sort: (ci: Ci) => ci.id,
    fields: (t) => ({
      id: t.exposeID('id'),
      class: t.exposeString('class'),
      name: t.exposeString('name'),
      status: t.field({ type: CiStatus, resolve: (ci) => ci.status }),
      environment: t.exposeString('environment', { nullable: true }),
      ownerGroup: t.exposeString('ownerGroup', {
        nullable: true,
        description: 'The group answerable for it.',
      }),
      attributes: t.field({ type: 'JSON', resolve: (ci) => ci.attributes }),
      attributeSources: t.field({
        type: 'JSON',
        description: 'Which source last set each attribute (`manual` for API edits).',
        resolve: (ci) => ci.attributeSources,
      }),
      tags: t.exposeStringList('tags'),
      version: t.exposeInt('version', {
        description: 'Send it back with an update: a stale one is refused.',
      }),
      createdAt: t.field({ type: 'DateTime', resolve: (ci) => ci.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (ci) => ci.updatedAt }),
      retiredAt: t.field({ type: 'DateTime', nullable: true, resolve: (ci) => ci.retiredAt }),
    }),
  });

  builder.queryFields((t) => ({
    ci: t.field({
      type: CI,
      nullable: true,
      authScopes: { permission: permissions.cmdbRead },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og }) => og.cmdb.get(String(id)),
    }),
    ciClasses: t.field({
      type: [CiClassRef],
      authScopes: { permission: permissions.cmdbRead },
      resolve: (_root, _args, { og }) => og.cmdb.classes(),
    }),
  }));

  const CreateCiInput = builder.inputType('CreateCIInput', {
    fields: (t) => ({
      class: t.string({ required: true }),
      name: t.string({ required: true }),
      status: t.field({ type: CiStatus }),
      environment: t.string(),
      ownerGroup: t.string(),
      attributes: t.field({ type: 'JSON', description: "Checked against the class's typed attributes." }),
      tags: t.stringList(),
    }),
  });
  const UpdateCiInput = builder.inputType('UpdateCIInput', {
    fields: (t) => ({
      version: t.int({ required: true, description: 'The version you read; a stale one is refused.' }),
      name: t.string(),
      status: t.field({ type: CiStatus }),
      environment: t.string(),
      ownerGroup: t.string(),
      attributes: t.field({ type: 'JSON', description: 'Merged into the CI’s; `null` removes one.' }),
      tags: t.stringList(),
    }),
  });

  builder.mutationFields((t) => ({
    createCI: t.field({
      type: CI,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbWrite },
      args: { input: t.arg({ type: CreateCiInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.cmdb.create(
          {
            class: input.class,
            name: input.name,
            ...(input.status ? { status: input.status } : {}),
            ...(input.environment != null ? { environment: input.environment } : {}),
            ...(input.ownerGroup != null ? { ownerGroup: input.ownerGroup } : {}),
            ...(input.attributes != null ? { attributes: input.attributes as Record<string, unknown> } : {}),
            ...(input.tags ? { tags: input.tags } : {}),
          },
          { actor },
        ),
    }),
    updateCI: t.field({
      type: CI,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbWrite },
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateCiInput, required: true }) },
      resolve: (_root, { id, input }, { og, actor }) =>
        og.cmdb.update(
          String(id),
          {
            version: input.version,
            ...(input.name != null ? { name: input.name } : {}),
            ...(input.status ? { status: input.status } : {}),
            ...(input.environment !== undefined ? { environment: input.environment } : {}),
            ...(input.ownerGroup !== undefined ? { ownerGroup: input.ownerGroup } : {}),
            ...(input.attributes != null ? { attributes: input.attributes as Record<string, unknown> } : {}),
            ...(input.tags ? { tags: input.tags } : {}),
          },
          { actor },
        ),
    }),
    retireCI: t.field({
      type: CI,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbWrite },
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_root, { id, version }, { og, actor }) => og.cmdb.retire(String(id), version, { actor }),
    }),
  }));
  return { CI, CIClass: CiClassRef, CIStatus: CiStatus };
}
