import { type ApiToken, permissions } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { mutationErrors } from './errors.js';

export function addAccess(builder: OpsGraphBuilder): void {
  const Me = builder.objectRef<GraphQLActor>('Actor').implement({
    description: 'Who is calling, and what they may do.',
    fields: (t) => ({
      kind: t.exposeString('kind'),
      id: t.exposeString('id'),
      name: t.exposeString('name'),
      permissions: t.exposeStringList('permissions'),
    }),
  });

  const ApiTokenRef = builder.objectRef<ApiToken>('ApiToken').implement({
    authScopes: { permission: permissions.tokensManage },
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      prefix: t.exposeString('prefix', {
        description: 'The first characters of the secret, to recognise it.',
      }),
      permissions: t.exposeStringList('permissions'),
      createdBy: t.exposeString('createdBy'),
      createdAt: t.field({ type: 'DateTime', resolve: (x) => x.createdAt }),
      expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (x) => x.expiresAt }),
      lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (x) => x.lastUsedAt }),
      revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (x) => x.revokedAt }),
    }),
  });

  const CreatedApiToken = builder
    .objectRef<{ secret: string; token: ApiToken }>('CreatedApiToken')
    .implement({
      fields: (t) => ({
        secret: t.exposeString('secret', { description: 'Shown this once; only its hash is stored.' }),
        token: t.field({ type: ApiTokenRef, resolve: (x) => x.token }),
      }),
    });

  builder.queryFields((t) => ({
    me: t.field({
      type: Me,
      resolve: (_root, _args, { actor }) => ({ ...actor, permissions: [...actor.permissions] }),
    }),
    apiTokens: t.field({
      type: [ApiTokenRef],
      authScopes: { permission: permissions.tokensManage },
      resolve: (_root, _args, { og, actor }) => og.access.listTokens({ actor }),
    }),
  }));

  builder.mutationFields((t) => ({
    createApiToken: t.field({
      type: CreatedApiToken,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.tokensManage },
      args: {
        name: t.arg.string({ required: true }),
        permissions: t.arg.stringList({ required: true }),
        expiresAt: t.arg({ type: 'DateTime' }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.createToken(
          { name: args.name, permissions: args.permissions, expiresAt: args.expiresAt ?? null },
          { actor },
        ),
    }),
    revokeApiToken: t.field({
      type: ApiTokenRef,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.tokensManage },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.access.revokeToken(String(id), { actor }),
    }),
  }));
}

interface GraphQLActor {
  kind: string;
  id: string;
  name: string;
  permissions: string[];
}
