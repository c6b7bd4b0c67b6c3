import { type Actor, can, ForbiddenError } from '@opsgraph/core';
import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import type { GraphQLContext } from './context.js';

export interface OpsGraphSchemaTypes {
  Context: GraphQLContext;
  AuthScopes: {
    /** Any actor but anonymous. */
    authenticated: boolean;
    /** The actor holds this permission (e.g. `cmdb:write`). */
    permission: string;
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
    Seq: { Input: number; Output: number };
  };
  // Fields are non-null unless they say otherwise, so clients get precise types.
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}

export type OpsGraphBuilder = PothosSchemaTypes.SchemaBuilder<
  PothosSchemaTypes.ExtendDefaultTypes<OpsGraphSchemaTypes>
>;

/** One builder per server: core's types, then each plugin's `graphql(builder)`. */
export function createBuilder(): OpsGraphBuilder {
  return new SchemaBuilder<OpsGraphSchemaTypes>({
    // Scope auth must come first: it wraps the resolvers the other plugins add.
    plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin, DataloaderPlugin],
    defaultFieldNullability: false,
    scopeAuth: {
      authScopes: async (context) => ({
        authenticated: context.actor.kind !== 'anonymous',
        permission: (permission: string) => can(context.actor, permission),
      }),
      // Checked when a subscription starts; each event is filtered again by its resolver.
      authorizeOnSubscribe: true,
      // Say which permission was missing and what to do, not just "not authorized".
      unauthorizedError: (_parent, context, info, result) =>
        refusal(
          (context as GraphQLContext).actor,
          `${info.parentType.name}.${info.fieldName}`,
          result.failure,
        ),
    },
    relay: {
      clientMutationId: 'omit',
      cursorType: 'String',
      nodeQueryOptions: false,
      nodesQueryOptions: false,
      edgesFieldOptions: { nullable: false },
      nodeFieldOptions: { nullable: false },
    },
    errors: { defaultTypes: [] },
  });
}

function missingPermission(failure: AuthFailure): string | undefined {
  if (failure.kind === 'AuthScope' && failure.scope === 'permission') return String(failure.parameter);
  if (failure.kind === 'AuthScope' && failure.scope === 'authenticated') return 'authenticated';
  if (failure.kind === 'AnyAuthScopes' || failure.kind === 'AllAuthScopes') {
    for (const inner of failure.failures) {
      const found = missingPermission(inner);
      if (found) return found;
    }
  }
  return undefined;
}

function refusal(actor: Actor, coordinate: string, failure: AuthFailure): Error {
  const permission = missingPermission(failure) ?? 'unknown';
  const error = new ForbiddenError(permission, actor.name);
  error.message =
    actor.kind === 'anonymous'
      ? `${coordinate} needs ${permission === 'authenticated' ? 'an authenticated caller' : `the permission ${permission}`}: send an API token (Authorization: Bearer <token>)`
      : `${coordinate}: ${actor.name} lacks the permission ${permission}; use a token that has it`;
  return error;
}
