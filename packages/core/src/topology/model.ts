import { z } from 'zod';
import type { CiStatus, Relationship } from '../cmdb/model.js';

/*
 * Direction. A relationship type's `propagation` says which end a failure reaches: for `a depends_on b`
 * (`to_source`) a failure of b reaches a; `to_target` the other way; `both` either way; `none` never.
 *
 * - upstream(X): the CIs a failure of X would reach: its dependents, toward business services.
 * - downstream(X): the CIs whose failure would reach X: its dependencies, toward infrastructure.
 *
 * As in ServiceNow: a server's upstream holds the applications and services running on it; a business
 * service's downstream holds everything it needs.
 */

/** Deepest traversal allowed, in relationships from the start. */
export const MAX_DEPTH = 50;
/** Most CIs one call may start from (impact analysis, root-cause candidates). */
export const MAX_IDS = 1000;
/** Most CIs a service map may hold: beyond that no one reads it, so the caller is asked to go shallower. */
export const MAX_MAP_NODES = 5000;
/** Class names and relationship types a filter may list. */
const MAX_FILTER = 100;

// These two names, and the class `cluster` (whose CIs and subclasses' evaluate member quorum), are
// written into the database function topology_impact_walk (migration 0034_topology_impact_walk), the
// only reader of `cluster`: renaming one means replacing that function in a new migration.

/** The relationship type that makes a CI a member of a cluster: `member member_of cluster`. */
export const MEMBERSHIP_TYPE = 'member_of';
/** The class whose CIs (and subclasses') impact analysis reports as affected business services. */
export const BUSINESS_SERVICE_CLASS = 'business_service';

/** The CI fields traversals return with every reached CI. */
export interface CiSummary {
  readonly id: string;
  readonly name: string;
  readonly class: string;
  readonly status: CiStatus;
}

/** A CI reached by a traversal. */
export interface ReachedCi extends CiSummary {
  /** Relationships from the start on a shortest path (the start itself is 0). */
  readonly depth: number;
  /** CI ids of one shortest path, from the start to this CI (both included). */
  readonly path: readonly string[];
}

/**
 * `down`: out of service. `degraded`: working with less redundancy (a cluster that still has quorum)
 * or depending only on degraded CIs.
 */
export type ImpactState = 'down' | 'degraded';

export interface AffectedCi extends ReachedCi {
  readonly state: ImpactState;
}

export interface ImpactAnalysis {
  /** The failing CIs (depth 0, `down`) and every CI their failure reaches, by depth then name. */
  readonly affected: readonly AffectedCi[];
  /** The affected CIs of class `business_service` or a subclass. */
  readonly services: readonly AffectedCi[];
}

export interface DependencyPath {
  /** From the dependent to its dependency, both ends included. */
  readonly cis: readonly CiSummary[];
  /** `relationships[i]` links `cis[i]` and `cis[i + 1]`, in whatever direction it was recorded. */
  readonly relationships: readonly Relationship[];
}

export interface RootCauseCandidate {
  readonly ci: CiSummary;
  /** The other failing CIs a failure of this one reaches, by name. */
  readonly explains: readonly string[];
}

export const serviceMapFormats = ['json', 'mermaid', 'dot'] as const;
export type ServiceMapFormat = (typeof serviceMapFormats)[number];

export interface ServiceMapNode extends CiSummary {
  readonly depth: number;
}

export interface ServiceMapEdge {
  readonly id: string;
  readonly type: string;
  readonly sourceId: string;
  readonly targetId: string;
}

export interface ServiceMap {
  readonly format: ServiceMapFormat;
  /** The map rendered in `format`: JSON text, a Mermaid `flowchart`, or a Graphviz DOT `digraph`. */
  readonly content: string;
  /** The root first, then by depth and name. */
  readonly nodes: readonly ServiceMapNode[];
  /** Every propagating relationship between two of the nodes. */
  readonly edges: readonly ServiceMapEdge[];
}

const depth = z
  .number()
  .int('must be an integer')
  .min(0, 'must be 0 or more')
  .max(MAX_DEPTH, `must be at most ${MAX_DEPTH}`);
const names = (what: string) =>
  z
    .array(z.string().min(1, `must name a ${what}`))
    .max(MAX_FILTER, `may list at most ${MAX_FILTER} names`)
    .optional();

export const traversalQuery = z.strictObject({
  /** At most this many relationships from the start (default and maximum 50). */
  maxDepth: depth.default(MAX_DEPTH),
  /** Only return CIs of these classes or their subclasses; traversal still passes through the others. */
  classes: names('CI class'),
  /** Only follow relationships of these types. */
  types: names('relationship type'),
});
export type TraversalQuery = z.input<typeof traversalQuery>;

export const pathQuery = traversalQuery.omit({ classes: true });
export type PathQuery = z.input<typeof pathQuery>;

export const impactQuery = z.strictObject({ maxDepth: depth.default(MAX_DEPTH) });
export type ImpactQuery = z.input<typeof impactQuery>;

export const serviceMapQuery = z.strictObject({
  maxDepth: depth.default(MAX_DEPTH),
  types: names('relationship type'),
  format: z.enum(serviceMapFormats).default('json'),
});
export type ServiceMapQuery = z.input<typeof serviceMapQuery>;

export const ciId = z.uuid('must be a CI id');
export const ciIdList = z
  .array(ciId)
  .min(1, 'must list at least one CI')
  .max(MAX_IDS, `may list at most ${MAX_IDS} CIs`);
