import { type CiClass, type CiOrderField, permissions, ValidationError } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { type addCmdb, readCi } from './cmdb.js';
import { connectionOf, forwardPage } from './pages.js';

type CmdbRefs = ReturnType<typeof addCmdb>;

/** `cis(filter, orderBy, first, after)`, and `CI.ciClass` batched by name; the shared `OrderDirection`. */
export function addCiListing(builder: OpsGraphBuilder, { CI, CIClass, CIStatus }: CmdbRefs) {
  const AttributeFilter = builder.inputType('CIAttributeFilter', {
    description:
      'The attribute `name` equals `value` (JSON equality; `null` matches an attribute set to null).',
    fields: (t) => ({
      name: t.string({ required: true }),
      value: t.field({ type: 'JSON', description: 'Required; `null` is a value.' }),
    }),
  });

  const CiFilter = builder.inputType('CIFilter', {
    fields: (t) => ({
      class: t.string({
        description:
          'The class or any class below it (`server` lists `linux_server` CIs). Unknown: VALIDATION.',
      }),
      status: t.field({ type: CIStatus }),
      tag: t.string(),
      attributes: t.field({ type: [AttributeFilter], description: 'Every one must hold.' }),
      search: t.string({ description: 'Case-insensitive part of the name.' }),
      includeRetired: t.boolean({ description: 'Retired CIs are left out unless asked for (or status is).' }),
    }),
  });

  const OrderField = builder.enumType('CIOrderField', {
    values: {
      NAME: { value: 'name' },
      CREATED_AT: { value: 'createdAt' },
      UPDATED_AT: { value: 'updatedAt' },
      CLASS: { value: 'class' },
      STATUS: { value: 'status', description: 'Lifecycle order: planned, installed, … retired.' },
    } as const satisfies Record<string, { value: CiOrderField; description?: string }>,
  });
  const Direction = builder.enumType('OrderDirection', {
    values: { ASC: { value: 'asc' }, DESC: { value: 'desc' } } as const,
  });
  const CiOrder = builder.inputType('CIOrder', {
    description:
      'Ties are broken by id, in the same direction. A cursor continues only the order it came from.',
    fields: (t) => ({
      field: t.field({ type: OrderField, required: true }),
      direction: t.field({ type: Direction, description: 'Default ASC.' }),
    }),
  });

  builder.queryField('cis', (t) =>
    t.connection({
      type: CI,
      description:
        'CIs matching `filter` that you may read, a page at a time (forward only), ordered by `orderBy` (default NAME ASC).',
      authScopes: { permissionSomewhere: permissions.cmdbRead },
      args: { filter: t.arg({ type: CiFilter }), orderBy: t.arg({ type: CiOrder }) },
      resolve: async (_root, { filter, orderBy, first, after, last, before }, context) => {
        // Keyset pages go forward; saying so beats ignoring the arguments.
        const page = forwardPage({ first, after, last, before });
        const attributes = filter?.attributes?.map((a, i) => {
          if (a.value === undefined)
            throw ValidationError.field(`filter.attributes.${i}.value`, 'must be given (null is a value)');
          return { name: a.name, value: a.value };
        });
        const found = await context.og.cmdb.list(
          {
            ...(filter?.class != null ? { class: filter.class } : {}),
            ...(filter?.status != null ? { status: filter.status } : {}),
            ...(filter?.tag != null ? { tag: filter.tag } : {}),
            ...(attributes ? { attributes } : {}),
            ...(filter?.search != null ? { search: filter.search } : {}),
            ...(filter?.includeRetired != null ? { includeRetired: filter.includeRetired } : {}),
          },
          {
            ...page,
            ...(orderBy ? { orderBy: { field: orderBy.field, direction: orderBy.direction ?? 'asc' } } : {}),
          },
          { actor: context.actor },
        );
        // The page's CIs are known now: a relationship end among them then costs no query.
        const loader = CI.getDataloader(context);
        for (const { node } of found.edges) loader.prime(node.id, node);
        return connectionOf(found, after);
      },
    }),
  );

  builder.objectField(CI, 'ciClass', (t) =>
    t.loadable({
      type: CIClass,
      description: 'The class of this CI; a page of CIs loads its classes in one query.',
      authScopes: readCi,
      load: async (names: string[], { og, actor }) =>
        (await og.cmdb.classesByName(names, { actor })).map(
          (found, i): CiClass | Error => found ?? new Error(`CI class ${names[i]} was not found`),
        ),
      resolve: (ci) => ci.class,
    }),
  );
  return { OrderDirection: Direction };
}
