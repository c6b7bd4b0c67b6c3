import { type AttributeDefinition, attributeTypes, type CmdbSource, permissions } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';

type Refs = ReturnType<typeof addCmdb>;

/** What a class holds (typed attributes, identifiers), sources, and defining both at runtime. */
export function addCmdbClasses(builder: OpsGraphBuilder, { CiClass }: { CiClass: Refs['CIClass'] }): void {
  const AttributeType = builder.enumType('AttributeType', { values: attributeTypes });

  const Attribute = builder.objectRef<AttributeDefinition>('AttributeDefinition').implement({
    description: 'A typed attribute of a CI class.',
    authScopes: { permissionSomewhere: permissions.cmdbRead },
    fields: (t) => ({
      name: t.exposeString('name'),
      type: t.field({ type: AttributeType, resolve: (a) => a.type }),
      label: t.string({ nullable: true, resolve: (a) => a.label ?? null }),
      description: t.string({ nullable: true, resolve: (a) => a.description ?? null }),
      required: t.boolean({ resolve: (a) => a.required ?? false }),
      default: t.field({ type: 'JSON', nullable: true, resolve: (a) => a.default ?? null }),
      values: t.stringList({
        nullable: true,
        description: 'The values of an enum.',
        resolve: (a) => a.values ?? null,
      }),
    }),
  });

  const IdentifierRule = builder.objectRef<{ fields: string[] }>('IdentifierRule').implement({
    description: 'Attributes (or `name`) whose values together identify a CI, e.g. hostname + domain.',
    authScopes: { permissionSomewhere: permissions.cmdbRead },
    fields: (t) => ({ fields: t.exposeStringList('fields') }),
  });

  builder.objectFields(CiClass, (t) => ({
    description: t.string({ nullable: true, resolve: (c) => c.description }),
    attributes: t.field({
      type: [Attribute],
      description: "The class's own attributes; `allAttributes` adds its ancestors'.",
      resolve: (c) => c.attributes,
    }),
    allAttributes: t.field({
      type: [Attribute],
      description: 'Every attribute a CI of this class has: its ancestors’ first.',
      resolve: async (c, _args, { og, actor }) => [
        ...((await og.cmdb.classSchema(c.name, { actor }))?.attributes.values() ?? []),
      ],
    }),
    identifiers: t.field({
      type: [IdentifierRule],
      description: 'Its own identifier rules; `allAttributes` and the ancestors have the rest.',
      resolve: (c) => c.identifiers.map((fields) => ({ fields })),
    }),
  }));

  const Source = builder.objectRef<CmdbSource>('CISource').implement({
    description:
      'A discovery source. Reconciliation lets it overwrite an attribute last set by a source of the same or lower priority only.',
    authScopes: { permissionSomewhere: permissions.cmdbRead },
    fields: (t) => ({
      name: t.exposeString('name'),
      label: t.exposeString('label'),
      priority: t.exposeInt('priority'),
      attributePriorities: t.field({
        type: 'JSON',
        description: 'Per-attribute priorities overriding `priority`.',
        resolve: (s) => s.attributePriorities,
      }),
    }),
  });

  builder.queryField('ciSources', (t) =>
    t.field({
      type: [Source],
      description: 'Sources by priority, highest first.',
      authScopes: { permissionSomewhere: permissions.cmdbRead },
      resolve: (_root, _args, { og, actor }) => og.cmdb.sources({ actor }),
    }),
  );

  const AttributeInput = builder.inputType('AttributeDefinitionInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      type: t.field({ type: AttributeType, required: true }),
      label: t.string(),
      description: t.string(),
      required: t.boolean(),
      default: t.field({ type: 'JSON' }),
      values: t.stringList(),
    }),
  });
  const IdentifierRuleInput = builder.inputType('IdentifierRuleInput', {
    fields: (t) => ({ fields: t.stringList({ required: true }) }),
  });
  const ClassInput = builder.inputType('DefineCIClassInput', {
    fields: (t) => ({
      name: t.string({ required: true, description: 'snake_case, e.g. load_balancer' }),
      label: t.string({ required: true }),
      parent: t.string(),
      description: t.string(),
      attributes: t.field({ type: [AttributeInput] }),
      identifiers: t.field({
        type: [IdentifierRuleInput],
        description: 'e.g. [{fields: ["serial_number"]}, {fields: ["hostname", "domain"]}]',
      }),
    }),
  });
  const SourceInput = builder.inputType('DefineCISourceInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      label: t.string(),
      priority: t.int({ required: true, description: '0 to 1000; `manual` is 100.' }),
      attributePriorities: t.field({ type: 'JSON', description: 'e.g. {"serial_number": 500}' }),
    }),
  });

  builder.mutationFields((t) => ({
    defineCIClass: t.field({
      type: CiClass,
      description:
        'Defines a CI class, or changes one defined this way; a class with CIs can only grow (new optional attributes, wider enums).',
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbAdmin },
      args: { input: t.arg({ type: ClassInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.cmdb.defineClass(
          {
            name: input.name,
            label: input.label,
            ...(input.parent != null ? { parent: input.parent } : {}),
            ...(input.description != null ? { description: input.description } : {}),
            attributes: (input.attributes ?? []).map(({ default: byDefault, ...a }) => ({
              ...defined(a),
              // JSON from the client; the SDK checks it against the attribute's type.
              ...(byDefault != null ? { default: byDefault as never } : {}),
            })),
            identifiers: (input.identifiers ?? []).map((rule) => rule.fields),
          },
          { actor },
        ),
    }),
    defineCISource: t.field({
      type: Source,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.cmdbAdmin },
      args: { input: t.arg({ type: SourceInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.cmdb.defineSource(
          {
            ...defined(input),
            attributePriorities: (input.attributePriorities ?? {}) as Record<string, number>,
          },
          { actor },
        ),
    }),
  }));
}
