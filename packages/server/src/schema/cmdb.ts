import { type Ci, type CiClass, canOnEach, ciStatuses, ForbiddenError, permissions } from '@opsgraph/core';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import { mutationErrors } from './errors.js';

/** `authScopes` of a CI and of its fields: cmdb:read on that CI, however the query reached it. */
export const readCi = onCis<Pick<Ci, 'id'>>(permissions.cmdbRead, (ci) => ci.id);
const readSomewhere = { permissionSomewhere: permissions.cmdbRead };

export function addCmdb(builder: OpsGraphBuilder) {
  const CiStatus = builder.enumType('CIStatus', { values: ciStatuses });

  const CiClassRef = builder.objectRef<CiClass>('CIClass').implement({
    // Classes describe the CMDB, not a CI: whoever reads some CIs reads them.
    authScopes: readSomewhere,
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
    // Checked on the CI itself, so a CI reached through any path (a relationship, a topology answer, a
    // change) is refused to an actor that may not read it.
    authScopes: readCi,
    // Per request (and per subscription event): a loader never hands one actor's CIs to another. A CI
    // the actor may not read is not even loaded.
    load: async (ids: string[], { og, actor }) => {
      const readable = ids.filter((id) => canOnEach(actor, permissions.cmdbRead, [id]));
      const rows = readable.length > 0 ? await og.cmdb.getMany(readable, { actor }) : [];
      const byId = new Map(readable.map((id, i) => [id, rows[i]]));
      return ids.map((id) =>
        !byId.has(id)
          ? new ForbiddenError(permissions.cmdbRead, actor.name, undefined, { on: `CI ${id}` })
          : (byId.get(id) ?? new Error(`CI ${id} was not found`)),
      );
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
      description: 'The CI; FORBIDDEN (field `id`) when you may not read it, whether it exists or not.',
      authScopes: readSomewhere,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.cmdb.get(String(id), { actor }),
    }),
    ciClasses: t.field({
      type: [CiClassRef],
      authScopes: readSomewhere,
      resolve: (_root, _args, { og, actor }) => og.cmdb.classes({ actor }),
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
      description: 'Needs cmdb:write everywhere: a new CI is in no scope yet.',
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
      description: 'Needs cmdb:write on this CI (everywhere or through a scope).',
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.cmdbWrite },
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
      description: 'Needs cmdb:write on this CI (everywhere or through a scope).',
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.cmdbWrite },
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_root, { id, version }, { og, actor }) => og.cmdb.retire(String(id), version, { actor }),
    }),
  }));
  return { CI, CIClass: CiClassRef, CIStatus: CiStatus };
}
