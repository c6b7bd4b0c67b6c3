import { permissions } from '@opsgraph/core';
import { mutationErrors, type OpsGraphBuilder, onCis } from '@opsgraph/server';
import type { Runbook } from './model.js';

// GraphQL types and fields carry the plugin's prefix, so two plugins never collide.
export function runbooksGraphql(builder: OpsGraphBuilder): void {
  const RunbookRef = builder.objectRef<Runbook>('RunbooksRunbook').implement({
    description: 'A runbook attached to a CI (from the runbooks example plugin).',
    // Readable by who may read its CI, however the query reached it.
    authScopes: onCis<Runbook>(permissions.cmdbRead, (r) => r.ciId),
    fields: (t) => ({
      id: t.exposeID('id'),
      ciId: t.exposeID('ciId'),
      title: t.exposeString('title'),
      url: t.exposeString('url'),
      archived: t.exposeBoolean('archived'),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    }),
  });

  builder.queryField('runbooks', (t) =>
    t.field({
      type: [RunbookRef],
      description: "A CI's runbooks, oldest first.",
      // Held on some CIs is enough to ask; the service checks this CI.
      authScopes: { permissionSomewhere: permissions.cmdbRead },
      args: { ciId: t.arg.id({ required: true }), includeArchived: t.arg.boolean() },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.runbooks.runbooks.forCi(String(args.ciId), {
          actor,
          includeArchived: args.includeArchived ?? false,
        }),
    }),
  );

  const AttachInput = builder.inputType('RunbooksAttachInput', {
    fields: (t) => ({
      ciId: t.id({ required: true }),
      title: t.string({ required: true }),
      url: t.string({ required: true }),
    }),
  });

  builder.mutationField('runbooksAttach', (t) =>
    t.field({
      type: RunbookRef,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.cmdbWrite },
      args: { input: t.arg({ type: AttachInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.runbooks.runbooks.attach({ ...input, ciId: String(input.ciId) }, { actor }),
    }),
  );
}
