import {
  type AffectedCi,
  type DependencyPath,
  ForbiddenError,
  isOpsGraphError,
  NotFoundError,
  permissions,
  type ReachedCi,
  type RootCauseCandidate,
  type ServiceMap,
  type ServiceMapEdge,
  type ServiceMapNode,
  serviceMapFormats,
  ValidationError,
} from '@opsgraph/core';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import { type addCmdb, readCi } from './cmdb.js';
import type { addRelationships } from './relationships.js';

type CiRef = ReturnType<typeof addCmdb>['CI'];
type RelationshipRef = ReturnType<typeof addRelationships>['Relationship'];

// The SDK answers with what the actor may read; each result type is checked on its CIs again.
const read = { permissionSomewhere: permissions.cmdbRead };
const readPath = onCis<{ path: readonly string[] }>(permissions.cmdbRead, (r) => r.path);

/** Core names its inputs as its own API does (`maxDepth`, `fromId`); answer with the argument's name. */
async function asArgs<T>(names: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const rename = (path: string) => {
    const [head, ...rest] = path.split('.');
    return head && names[head] ? [names[head], ...rest].join('.') : path;
  };
  try {
    return await run();
  } catch (error) {
    // By brand and code, not instanceof: an app may hold two copies of core.
    if (isOpsGraphError(error) && error.code === 'VALIDATION') {
      const { issues } = error as ValidationError;
      throw new ValidationError(issues.map((issue) => ({ ...issue, path: rename(issue.path) })));
    }
    if (isOpsGraphError(error) && error.code === 'NOT_FOUND' && error.field) {
      const { entity, id } = error as NotFoundError;
      throw new NotFoundError(entity, id, rename(error.field));
    }
    if (isOpsGraphError(error) && error.code === 'FORBIDDEN' && error.field) {
      const { permission, on, message } = error as ForbiddenError;
      const renamed = new ForbiddenError(permission, '', rename(error.field), { on });
      renamed.message = message;
      throw renamed;
    }
    throw error;
  }
}

export function addTopology(builder: OpsGraphBuilder, CI: CiRef, Relationship: RelationshipRef): void {
  const ImpactState = builder.enumType('ImpactState', {
    description:
      '`down`: out of service. `degraded`: working with less redundancy (a cluster keeping quorum).',
    values: ['down', 'degraded'] as const,
  });
  const ServiceMapFormat = builder.enumType('ServiceMapFormat', { values: serviceMapFormats });

  // Every CI below loads through the CI DataLoader: a whole answer costs one query for its CIs.
  const ReachedCI = builder.objectRef<ReachedCi>('ReachedCI').implement({
    description: 'A CI a traversal reached: its shortest depth and one shortest path from the start.',
    authScopes: readPath,
    fields: (t) => ({
      ci: t.field({ type: CI, resolve: (r) => r.id }),
      depth: t.exposeInt('depth', { description: 'Relationships from the start on a shortest path.' }),
      path: t.idList({
        description: 'CI ids from the start to this CI, both included.',
        resolve: (r) => [...r.path],
      }),
    }),
  });

  const AffectedCI = builder.objectRef<AffectedCi>('AffectedCI').implement({
    description: 'A CI a failure reaches.',
    authScopes: readPath,
    fields: (t) => ({
      ci: t.field({ type: CI, resolve: (r) => r.id }),
      depth: t.exposeInt('depth', { description: '0 for a failing CI.' }),
      state: t.field({ type: ImpactState, resolve: (r) => r.state }),
      path: t.idList({ description: 'CI ids from a failing CI to this one.', resolve: (r) => [...r.path] }),
    }),
  });

  const ImpactAnalysis = builder
    .objectRef<{ affected: readonly AffectedCi[]; services: readonly AffectedCi[] }>('ImpactAnalysis')
    .implement({
      authScopes: read,
      fields: (t) => ({
        affected: t.field({
          type: [AffectedCI],
          description: 'The failing CIs and every CI their failure reaches, by depth, then name.',
          resolve: (r) => [...r.affected],
        }),
        services: t.field({
          type: [CI],
          description: 'The affected business services (class business_service or a subclass).',
          resolve: (r) => r.services.map((s) => s.id),
        }),
        serviceImpacts: t.field({
          type: [AffectedCI],
          description: 'The affected business services with their state, depth and path.',
          resolve: (r) => [...r.services],
        }),
        down: t.int({ resolve: (r) => r.affected.filter((a) => a.state === 'down').length }),
        degraded: t.int({ resolve: (r) => r.affected.filter((a) => a.state === 'degraded').length }),
      }),
    });

  const DependencyPathRef = builder.objectRef<DependencyPath>('DependencyPath').implement({
    authScopes: onCis<DependencyPath>(permissions.cmdbRead, (p) => p.cis.map((c) => c.id)),
    fields: (t) => ({
      cis: t.field({
        type: [CI],
        description: 'From the dependent to its dependency, both included.',
        resolve: (p) => p.cis.map((c) => c.id),
      }),
      relationships: t.field({
        type: [Relationship],
        description:
          '`relationships[i]` links `cis[i]` and `cis[i + 1]`, in whatever direction it was recorded.',
        resolve: (p) => [...p.relationships],
      }),
    }),
  });

  const RootCause = builder.objectRef<RootCauseCandidate>('RootCauseCandidate').implement({
    authScopes: onCis<RootCauseCandidate>(permissions.cmdbRead, (c) => [c.ci.id, ...c.explains]),
    fields: (t) => ({
      ci: t.field({ type: CI, resolve: (c) => c.ci.id }),
      explains: t.field({
        type: [CI],
        description: 'The other failing CIs a failure of this one reaches.',
        resolve: (c) => [...c.explains],
      }),
    }),
  });

  const MapNode = builder.objectRef<ServiceMapNode>('ServiceMapNode').implement({
    authScopes: onCis<ServiceMapNode>(permissions.cmdbRead, (n) => n.id),
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      class: t.exposeString('class'),
      status: t.exposeString('status'),
      depth: t.exposeInt('depth'),
      ci: t.field({ type: CI, resolve: (n) => n.id }),
    }),
  });
  const MapEdge = builder.objectRef<ServiceMapEdge>('ServiceMapEdge').implement({
    authScopes: onCis<ServiceMapEdge>(permissions.cmdbRead, (e) => [e.sourceId, e.targetId]),
    fields: (t) => ({
      id: t.exposeID('id', { description: 'The relationship.' }),
      type: t.exposeString('type'),
      sourceId: t.exposeID('sourceId'),
      targetId: t.exposeID('targetId'),
    }),
  });
  const ServiceMapRef = builder.objectRef<ServiceMap>('ServiceMap').implement({
    authScopes: read,
    fields: (t) => ({
      format: t.field({ type: ServiceMapFormat, resolve: (m) => m.format }),
      content: t.exposeString('content', {
        description:
          'The map as JSON text, a Mermaid flowchart or a Graphviz DOT digraph; names are escaped.',
      }),
      nodes: t.field({ type: [MapNode], description: 'The root first.', resolve: (m) => [...m.nodes] }),
      edges: t.field({ type: [MapEdge], resolve: (m) => [...m.edges] }),
    }),
  });

  builder.queryFields((t) => ({
    impactAnalysis: t.field({
      type: ImpactAnalysis,
      description:
        'What a failure of these CIs breaks, redundancy-aware: a cluster keeping quorum is degraded, not down.',
      authScopes: read,
      args: {
        ciIds: t.arg.idList({ required: true, description: 'The failing CIs (at most 1,000).' }),
        maxDepth: t.arg.int({
          description: 'At most this many relationships from a failing CI (default and maximum 50).',
        }),
      },
      resolve: (_root, { ciIds, maxDepth }, { og, actor }) =>
        og.topology.impactOf(ciIds.map(String), maxDepth == null ? {} : { maxDepth }, { actor }),
    }),
    dependencyPath: t.field({
      type: DependencyPathRef,
      nullable: true,
      description:
        'The shortest chain along which `from` depends on `to`; null when there is none, or when it passes through a CI you may not read.',
      authScopes: read,
      args: {
        from: t.arg.id({ required: true }),
        to: t.arg.id({ required: true }),
        maxDepth: t.arg.int(),
        types: t.arg.stringList({ description: 'Only follow these relationship types.' }),
      },
      resolve: (_root, { from, to, maxDepth, types }, { og, actor }) =>
        asArgs({ fromId: 'from', toId: 'to' }, () =>
          og.topology.path(
            String(from),
            String(to),
            { ...(maxDepth == null ? {} : { maxDepth }), ...(types ? { types } : {}) },
            { actor },
          ),
        ),
    }),
    serviceMap: t.field({
      type: ServiceMapRef,
      description: "The root's downstream subgraph (everything it needs), rendered as JSON, Mermaid or DOT.",
      authScopes: read,
      args: {
        rootId: t.arg.id({ required: true }),
        depth: t.arg.int({
          description: 'At most this many relationships from the root (default and maximum 50).',
        }),
        format: t.arg({ type: ServiceMapFormat, description: 'Default JSON.' }),
        types: t.arg.stringList({ description: 'Only follow these relationship types.' }),
      },
      resolve: (_root, { rootId, depth, format, types }, { og, actor }) =>
        asArgs({ maxDepth: 'depth' }, () =>
          og.topology.serviceMap(
            String(rootId),
            {
              ...(depth == null ? {} : { maxDepth: depth }),
              ...(format ? { format } : {}),
              ...(types ? { types } : {}),
            },
            { actor },
          ),
        ),
    }),
    rootCauseCandidates: t.field({
      type: [RootCause],
      description: 'Among failing CIs, those whose failure explains the others, most explaining first.',
      authScopes: read,
      args: { ciIds: t.arg.idList({ required: true, description: 'The failing CIs (at most 1,000).' }) },
      resolve: (_root, { ciIds }, { og, actor }) =>
        og.topology.rootCauseCandidates(ciIds.map(String), { actor }),
    }),
  }));

  for (const direction of ['upstream', 'downstream'] as const) {
    builder.objectField(CI, direction, (t) =>
      t.loadableList({
        type: ReachedCI,
        description:
          direction === 'upstream'
            ? 'The CIs a failure of this one would reach (its dependents, toward business services), nearest first.'
            : 'The CIs whose failure would reach this one (its dependencies, toward infrastructure), nearest first.',
        authScopes: readCi,
        args: {
          maxDepth: t.arg.int({
            description: 'At most this many relationships away (default and maximum 50).',
          }),
          classes: t.arg.stringList({ description: 'Only CIs of these classes or their subclasses.' }),
          types: t.arg.stringList({ description: 'Only follow these relationship types.' }),
        },
        // One loader per field in the query (so per set of arguments): N CIs cost one walk query.
        byPath: true,
        load: (ids: string[], { og, actor }, { maxDepth, classes, types }) =>
          og.topology[direction === 'upstream' ? 'upstreamOf' : 'downstreamOf'](
            ids,
            {
              ...(maxDepth == null ? {} : { maxDepth }),
              ...(classes ? { classes } : {}),
              ...(types ? { types } : {}),
            },
            { actor },
          ),
        resolve: (ci) => ci.id,
      }),
    );
  }
}
