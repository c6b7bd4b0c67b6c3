import type { Actor, ActorScope, ScopeMode } from '../kernel/actor.js';
import type { OpsGraph } from '../kernel/opsgraph.js';

/** A grant on one CI, as a test states it. */
export interface TestGrant {
  readonly ciId: string;
  readonly mode: ScopeMode;
  readonly permissions: readonly string[];
}

/**
 * Resolves a grant's CIs against the CMDB as it is now, as the access process does: `contains` is the
 * CI and everything it contains (transitively, along `contains`), `dependencies` the CI and everything
 * it depends on (the topology downstream of it).
 */
export async function resolveTestScope(og: OpsGraph, grant: TestGrant): Promise<ActorScope> {
  const reached =
    grant.mode === 'contains'
      ? await og.topology.upstream(grant.ciId, { types: ['contains'] })
      : await og.topology.downstream(grant.ciId);
  return {
    ciId: grant.ciId,
    mode: grant.mode,
    permissions: grant.permissions,
    ciIds: new Set([grant.ciId, ...reached.map((ci) => ci.id)]),
  };
}

/**
 * A user actor holding `permissions` everywhere and each of `grants` on its resolved CIs: for tests of
 * scoped authorization, without the access process.
 */
export async function scopedTestActor(
  og: OpsGraph,
  name: string,
  grants: readonly TestGrant[],
  permissions: readonly string[] = [],
): Promise<Actor> {
  return {
    kind: 'user',
    id: name,
    name,
    permissions,
    scopes: await Promise.all(grants.map((grant) => resolveTestScope(og, grant))),
  };
}
