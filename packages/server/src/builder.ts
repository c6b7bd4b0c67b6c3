import { can } from '@opsgraph/core';
import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
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
    scopeAuth: {
      authScopes: async (context) => ({
        authenticated: context.actor.kind !== 'anonymous',
        permission: (permission: string) => can(context.actor, permission),
      }),
      // Checked when a subscription starts; each event is filtered again by its resolver.
      authorizeOnSubscribe: true,
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
