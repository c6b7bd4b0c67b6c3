import { type Actor, can, canOnEach, canSomewhere, ForbiddenError } from '@opsgraph/core';
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
    /** The actor holds this permission everywhere (e.g. `cmdb:write` to create CIs). */
    permission: string;
    /**
     * The actor holds this permission everywhere or on some CIs (through scopes): for root fields whose
     * SDK call then filters to, or checks, the CIs it may use.
     */
    permissionSomewhere: string;
    /**
     * The actor holds `permission` on this CI, or on each of these (everywhere, or through a scope
     * covering them): for a CI, or a record hanging on CIs, however the query reached it.
     */
    ciPermission: CiPermission;
    /** The actor acts for this user (the user itself, or a token of theirs). */
    self: string | null;
    /** The actor is this one, as records store who made them (`<kind>:<id>`). */
    actorIs: string;
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

export interface CiPermission {
  readonly permission: string;
  readonly ciId: string | readonly string[];
}

/** `authScopes` of a type or field that hangs on CIs: `permission` on each of the CIs `ciIds` names. */
export const onCis =
  <T>(permission: string, ciIds: (value: T) => string | readonly string[]) =>
  (value: T) => ({ ciPermission: { permission, ciId: ciIds(value) } });

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
      authScopes: (context) => ({
        authenticated: context.actor.kind !== 'anonymous',
        permission: (permission: string) => can(context.actor, permission),
        permissionSomewhere: (permission: string) => canSomewhere(context.actor, permission),
        ciPermission: ({ permission, ciId }: CiPermission) =>
          canOnEach(context.actor, permission, typeof ciId === 'string' ? [ciId] : ciId),
        self: (userId: string | null) => userId !== null && context.actor.userId === userId,
        actorIs: (key: string) => key === `${context.actor.kind}:${context.actor.id}`,
      }),
      // Scope results are cached per request by parameter: compare CI checks by value.
      cacheKey: (value) => (typeof value === 'object' && value !== null ? JSON.stringify(value) : value),
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

interface Missing {
  readonly permission: string;
  /** The CIs it was needed on, when not everywhere. */
  readonly on?: string;
}

function missingPermission(failure: AuthFailure, actor: Actor): Missing | undefined {
  if (failure.kind === 'AuthScope') {
    if (failure.scope === 'permission' || failure.scope === 'permissionSomewhere')
      return { permission: String(failure.parameter) };
    if (failure.scope === 'authenticated') return { permission: 'authenticated' };
    if (failure.scope === 'ciPermission') {
      const { permission, ciId } = failure.parameter as CiPermission;
      const ids = typeof ciId === 'string' ? [ciId] : ciId;
      const refused = ids.filter((id) => !canOnEach(actor, permission, [id]));
      return { permission, on: `CI ${(refused.length > 0 ? refused : ids).join(', ')}` };
    }
  }
  if (failure.kind === 'AnyAuthScopes' || failure.kind === 'AllAuthScopes') {
    for (const inner of failure.failures) {
      const found = missingPermission(inner, actor);
      if (found) return found;
    }
  }
  return undefined;
}

function refusal(actor: Actor, coordinate: string, failure: AuthFailure): Error {
  const { permission, on } = missingPermission(failure, actor) ?? { permission: 'unknown' };
  const error = new ForbiddenError(permission, actor.name, undefined, { on });
  const where = on ? ` on ${on}` : '';
  error.message =
    actor.kind === 'anonymous'
      ? `${coordinate} needs ${permission === 'authenticated' ? 'an authenticated caller' : `the permission ${permission}${where}`}: send an API token (Authorization: Bearer <token>)`
      : on
        ? `${coordinate}: ${actor.name} lacks the permission ${permission}${where}`
        : `${coordinate}: ${actor.name} lacks the permission ${permission}; use a token that has it`;
  return error;
}
