import { type Actor, type ActorScope, type ApiToken, permissions } from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { type addAccessIdentity, scopeOf } from './access-identity.js';
import { mutationErrors } from './errors.js';
import { loadUser } from './people.js';

export function addAccess(
  builder: OpsGraphBuilder,
  { User, Scope, ScopeInput }: ReturnType<typeof addAccessIdentity>,
): void {
  const MeScope = builder.objectRef<ActorScope>('ActorScope').implement({
    description:
      'Permissions held on some CIs only: a CI and what it contains, or a service and its dependencies.',
    fields: (t) => ({
      ciId: t.exposeID('ciId'),
      mode: t.exposeString('mode'),
      permissions: t.exposeStringList('permissions'),
      ciCount: t.int({ description: 'How many CIs the scope covers now.', resolve: (s) => s.ciIds.size }),
    }),
  });

  const Me = builder.objectRef<Actor>('Actor').implement({
    description: 'Who is calling, and what they may do.',
    fields: (t) => ({
      kind: t.exposeString('kind'),
      id: t.exposeString('id'),
      name: t.exposeString('name'),
      permissions: t.stringList({
        description: 'Held everywhere (`*` is everything, `area:*` an area).',
        resolve: (a) => [...a.permissions],
      }),
      scopes: t.field({
        type: [MeScope],
        description: 'Held on some CIs only.',
        resolve: (a) => [...(a.scopes ?? [])],
      }),
      userId: t.exposeID('userId', { nullable: true, description: 'The user it acts for.' }),
      user: t.field({
        type: User,
        nullable: true,
        resolve: (a, _args, context) => loadUser(context, a.userId),
      }),
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
      ownerUserId: t.exposeID('ownerUserId', {
        nullable: true,
        description: 'The user it acts for: it never holds more than they hold now.',
      }),
      scope: t.field({
        type: Scope,
        nullable: true,
        description: 'Limits all its permissions to these CIs.',
        resolve: (x) => x.scope,
      }),
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
      resolve: (_root, _args, { actor }) => actor,
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
        scope: t.arg({ type: ScopeInput, description: 'Limit every permission to a scope of CIs.' }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.createToken(
          {
            name: args.name,
            permissions: args.permissions,
            expiresAt: args.expiresAt ?? null,
            scope: scopeOf(args.scope),
          },
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
