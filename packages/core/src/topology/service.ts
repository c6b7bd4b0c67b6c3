import type { Relationship } from '../cmdb/model.js';
import { permissions, type ReadOptions } from '../kernel/actor.js';
import { NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { CiReach } from '../kernel/reach.js';
import { parseInput } from '../kernel/validation.js';
import {
  type AffectedCi,
  type CiSummary,
  ciId,
  ciIdList,
  type DependencyPath,
  type ImpactAnalysis,
  type ImpactQuery,
  impactQuery,
  MAX_MAP_NODES,
  type PathQuery,
  pathQuery,
  type ReachedCi,
  type RootCauseCandidate,
  type ServiceMap,
  type ServiceMapNode,
  type ServiceMapQuery,
  serviceMapQuery,
  type TraversalQuery,
  traversalQuery,
} from './model.js';
import { renderServiceMap } from './render.js';
import * as store from './store.js';

/**
 * Topology: what breaks if this breaks, and why. Every walk runs in the database as one recursive
 * query over `relationships`, following each relationship type's `propagation`:
 *
 * - **upstream(X)**: the CIs a failure of X would reach, its dependents (toward business services);
 * - **downstream(X)**: the CIs whose failure would reach X, its dependencies (toward infrastructure).
 *
 * For `app depends_on db` (`to_source`), the app is upstream of the database and the database
 * downstream of the app. `none` types are never followed. Retired CIs are outside the topology: they
 * are never reached, and a walk from one reaches nothing.
 *
 * With an actor holding cmdb:read only through scopes, every CI named in the call must be readable
 * (else ForbiddenError naming the argument), and answers hold only readable CIs: walks run over the
 * whole graph, then a reached CI is reported only when it and every CI on its path are readable (a path
 * through a CI the actor may not read is not revealed, and neither is what lies only beyond it).
 */
export class TopologyService {
  constructor(private readonly kernel: Kernel) {}

  /** The CIs a failure of `ciId` would reach (its dependents), nearest first; the CI itself is left out. */
  async upstream(ciId: string, query: TraversalQuery = {}, options: ReadOptions = {}): Promise<ReachedCi[]> {
    const reach = this.#reach(options);
    const id = await this.#existing(ciId, 'ciId', reach);
    return (await this.#walkEach('upstream', [id], query, reach))[0]!;
  }

  /** The CIs whose failure would reach `ciId` (its dependencies), nearest first; the CI itself is left out. */
  async downstream(
    ciId: string,
    query: TraversalQuery = {},
    options: ReadOptions = {},
  ): Promise<ReachedCi[]> {
    const reach = this.#reach(options);
    const id = await this.#existing(ciId, 'ciId', reach);
    return (await this.#walkEach('downstream', [id], query, reach))[0]!;
  }

  /**
   * `upstream` of each of `ciIds` in one query, in their order (empty for an unknown id): a DataLoader
   * batch. With an actor, each must be readable (ForbiddenError naming `ciIds.<index>`).
   */
  async upstreamOf(
    ciIds: readonly string[],
    query: TraversalQuery = {},
    options: ReadOptions = {},
  ): Promise<ReachedCi[][]> {
    const reach = this.#reach(options);
    reach.assertEach(ciIds);
    return this.#walkEach('upstream', ciIds, query, reach);
  }

  /** `downstream` of each of `ciIds` in one query, in their order: a DataLoader batch. */
  async downstreamOf(
    ciIds: readonly string[],
    query: TraversalQuery = {},
    options: ReadOptions = {},
  ): Promise<ReachedCi[][]> {
    const reach = this.#reach(options);
    reach.assertEach(ciIds);
    return this.#walkEach('downstream', ciIds, query, reach);
  }

  /**
   * The shortest dependency path from `fromId` to `toId`: `fromId` depends, directly or through others,
   * on `toId` (so `toId` is downstream of `fromId` and its failure reaches `fromId`). Null when there is
   * none within `maxDepth`. With an actor: both ends must be readable, and a path through a CI it may
   * not read is not revealed: the answer is null, as if there were none.
   */
  async path(
    fromId: string,
    toId: string,
    query: PathQuery = {},
    options: ReadOptions = {},
  ): Promise<DependencyPath | null> {
    const reach = this.#reach(options);
    const { maxDepth, types } = parseInput(pathQuery, query);
    const from = this.#id(fromId, 'fromId');
    const to = this.#id(toId, 'toId');
    reach.assert(from, 'fromId');
    reach.assert(to, 'toId');
    const db = this.kernel.db;
    const found = await store.findSummaries(db, [from, to]);
    for (const [id, field] of [
      [from, 'fromId'],
      [to, 'toId'],
    ] as const) {
      if (!found.some((c) => c.id === id)) throw new NotFoundError('CI', id, field);
    }
    const { carrying } = await this.#catalog({ types });
    const rows = await store.reachFrom(db, [from], {
      direction: 'downstream',
      maxDepth,
      carrying,
      stopAt: to,
    });
    const byId = new Map(rows.map((row) => [row.id, row]));
    if (!byId.has(to)) return null;
    const chain: store.ReachedRow[] = [];
    for (let row = byId.get(to); row; row = row.predId ? byId.get(row.predId) : undefined) chain.unshift(row);
    if (!reach.hasAll(chain.map((row) => row.id))) return null;
    const relIds = chain.flatMap((row) => (row.relId ? [row.relId] : []));
    const relById = new Map((await store.findRelationships(db, relIds)).map((r) => [r.id, r]));
    return {
      cis: chain.map(summary),
      relationships: relIds.map((id) => relById.get(id)).filter((r): r is Relationship => r !== undefined),
    };
  }

  /**
   * What a failure of `ciIds` breaks: the failing CIs (depth 0) and every CI their failure reaches within
   * `maxDepth`, each with its shortest depth, one shortest path and a state, plus the affected business
   * services (class `business_service` or a subclass).
   *
   * Redundancy-aware: a CI of class `cluster` (or a subclass) with members (`member member_of cluster`)
   * and `attributes.quorum` (default 1) stays `degraded` while at least quorum members are up, and goes
   * `down` when fewer are. A degraded CI passes on only `degraded`; `down` wins where both arrive. States
   * are judged within the `maxDepth` horizon. Retired CIs in `ciIds` are ignored. With an actor, each of
   * `ciIds` must be readable; states are judged on the whole graph, and only readable CIs reached along
   * readable paths are reported.
   */
  async impactOf(
    ciIds: string | readonly string[],
    query: ImpactQuery = {},
    options: ReadOptions = {},
  ): Promise<ImpactAnalysis> {
    const reach = this.#reach(options);
    const { maxDepth } = parseInput(impactQuery, query);
    const ids = this.#ids(typeof ciIds === 'string' ? [ciIds] : ciIds);
    reach.assertEach(ids);
    const walk = await store.impactWalk(this.kernel.db, ids, { maxDepth });
    const { rows, clusterClasses, serviceClasses } = walk;
    // The walk starts from the live ones; only when some are missing is it worth asking which.
    let starts = 0;
    for (const row of rows) if (row.depth === 0) starts++;
    if (starts < new Set(ids).size) await this.#existingMany(ids);
    // Rows come by depth: the first row of a CI holds its depth and the step of its path.
    const first = new Map<string, store.ImpactRow>();
    const down = new Set<string>();
    for (const row of rows) {
      if (!first.has(row.id)) first.set(row.id, row);
      if (row.down) down.add(row.id);
    }
    const fallen = walk.belowQuorum.filter((id) => !down.has(id));
    if (fallen.length > 0) {
      const { carrying } = await this.#catalog({});
      const clusters = [...first.values()].filter((r) => clusterClasses.has(r.class)).map((r) => r.id);
      await this.#settleClusters([...first.keys()], clusters, fallen, down, carrying);
    }

    const paths = pathsOf(first.values());
    const affected: AffectedCi[] = [];
    for (const row of first.values()) {
      const path = paths.get(row.id)!;
      if (!reach.hasAll(path)) continue;
      affected.push({
        ...summary(row),
        depth: row.depth,
        path,
        state: down.has(row.id) ? 'down' : 'degraded',
      });
    }
    sortReached(affected);
    return { affected, services: affected.filter((ci) => serviceClasses.has(ci.class)) };
  }

  /**
   * Among failing CIs, those whose failure explains the others: each candidate lists the failing CIs its
   * failure reaches (through any CIs). A failing CI that another failing CI explains is not a candidate,
   * unless it explains that one too (a cycle: both are). A failing CI that nothing explains and that
   * explains nothing is its own root cause. Sorted by how many they explain, then by name. With an
   * actor, each of `ciIds` must be readable (the answer names only them; chains between them may pass
   * through any CIs, which are not named).
   */
  async rootCauseCandidates(
    ciIds: readonly string[],
    options: ReadOptions = {},
  ): Promise<RootCauseCandidate[]> {
    this.#reach(options).assertEach(this.#ids(ciIds));
    const failing = (await this.#existingMany(ciIds)).filter((c) => c.status !== 'retired');
    const { carrying } = await this.#catalog({});
    const pairs = await store.reachAmong(
      this.kernel.db,
      failing.map((c) => c.id),
      carrying,
    );
    const explains = new Map(failing.map((c) => [c.id, new Set<string>()]));
    for (const { origin, id } of pairs) explains.get(origin)?.add(id);
    const byName = (a: CiSummary, b: CiSummary) => compare(a.name, b.name) || compare(a.id, b.id);
    const ciById = new Map(failing.map((c) => [c.id, c]));
    return failing
      .filter((c) => failing.every((o) => !explains.get(o.id)!.has(c.id) || explains.get(c.id)!.has(o.id)))
      .map((c) => ({
        ci: c,
        explains: [...explains.get(c.id)!]
          .map((id) => ciById.get(id)!)
          .sort(byName)
          .map((e) => e.id),
      }))
      .sort((a, b) => b.explains.length - a.explains.length || byName(a.ci, b.ci));
  }

  /**
   * The downstream subgraph of `rootId` (everything it needs, within `maxDepth`) as nodes, edges and
   * `content` rendered as JSON, a Mermaid flowchart or a Graphviz DOT digraph. Edges are the propagating
   * relationships between two of the nodes. A map beyond 5,000 CIs is refused: ask for less depth.
   * With an actor: the root must be readable, and the map holds the readable CIs it reaches through
   * readable CIs only.
   */
  async serviceMap(
    rootId: string,
    query: ServiceMapQuery = {},
    options: ReadOptions = {},
  ): Promise<ServiceMap> {
    const reach = this.#reach(options);
    const { maxDepth, types, format } = parseInput(serviceMapQuery, query);
    const id = this.#id(rootId, 'rootId');
    reach.assert(id, 'rootId');
    const db = this.kernel.db;
    const [root] = await store.findSummaries(db, [id]);
    if (!root) throw new NotFoundError('CI', id, 'rootId');
    const { carrying } = await this.#catalog({ types });
    const rows = await store.reachFrom(db, [id], {
      direction: 'downstream',
      maxDepth,
      carrying,
      limit: MAX_MAP_NODES + 1,
    });
    if (rows.length > MAX_MAP_NODES) {
      throw ValidationError.field(
        'maxDepth',
        `the map would hold more than ${MAX_MAP_NODES} CIs: ask for less depth`,
      );
    }
    // A retired root reaches nothing; the map still shows it.
    // Paths are worked out only to leave out what a scoped caller may not see.
    const paths = reach.all ? null : pathsOf(rows);
    const nodes: ServiceMapNode[] =
      rows.length === 0
        ? [{ ...root, depth: 0 }]
        : sortReached(
            rows
              .filter((row) => !paths || reach.hasAll(paths.get(row.id)!))
              .map((row) => ({ ...summary(row), depth: row.depth })),
          );
    const edges = (
      await store.edgesAmong(
        db,
        nodes.map((n) => n.id),
        carrying,
      )
    ).map(({ id, type, sourceId, targetId }) => ({ id, type, sourceId, targetId }));
    return { format, content: renderServiceMap(format, id, nodes, edges), nodes, edges };
  }

  /**
   * The walk judged down only what down CIs reach outside cluster memberships, and which clusters it
   * reached fell below quorum (`fallen`). Those go down with what they reach, which may take another
   * cluster below quorum (nested clusters), judged again. Each round adds at least one down cluster, so
   * the rounds are bounded by the clusters reached; usually there are none.
   */
  async #settleClusters(
    reached: readonly string[],
    clusters: readonly string[],
    fallen: string[],
    down: Set<string>,
    carrying: store.Carrying,
  ): Promise<void> {
    const db = this.kernel.db;
    while (fallen.length > 0) {
      for (const id of fallen) down.add(id);
      const more = await store.downFrom(db, {
        seeds: fallen,
        area: reached.filter((id) => !down.has(id)),
        clusters: clusters.filter((id) => !down.has(id)),
        carrying,
      });
      for (const id of more) down.add(id);
      const open = clusters.filter((id) => !down.has(id));
      fallen = open.length === 0 ? [] : await store.belowQuorum(db, open, [...down]);
    }
  }

  async #walkEach(
    direction: store.Direction,
    ciIds: readonly string[],
    query: TraversalQuery,
    reach: CiReach,
  ): Promise<ReachedCi[][]> {
    const { maxDepth, classes, types } = parseInput(traversalQuery, query);
    const { carrying, under } = await this.#catalog({ classes, types });
    const wanted = classes?.length ? new Set(classes.flatMap((name) => [...under(name)])) : null;
    const ids = ciIds.map((id) => id.toLowerCase());
    const valid = [...new Set(ids.filter((id) => ciId.safeParse(id).success))];
    const rows =
      valid.length === 0
        ? []
        : await store.reachFromEach(this.kernel.db, valid, { direction, maxDepth, carrying });
    const byOrigin = new Map<string, store.ReachedRow[]>();
    for (const row of rows) {
      const list = byOrigin.get(row.origin) ?? [];
      list.push(row);
      byOrigin.set(row.origin, list);
    }
    return ids.map((id) => {
      const reached = byOrigin.get(id) ?? [];
      const paths = pathsOf(reached);
      return sortReached(
        reached
          .filter(
            (row) => row.depth > 0 && (!wanted || wanted.has(row.class)) && reach.hasAll(paths.get(row.id)!),
          )
          .map((row) => ({ ...summary(row), depth: row.depth, path: paths.get(row.id)! })),
      );
    });
  }

  /**
   * The class tree and the relationship types as they are now (plugins and operators add both), in one
   * small query: which types carry a failure which way (only `types` when given), and each class with its
   * subclasses. Unknown names in `classes` or `types` are refused naming the entry.
   */
  async #catalog(filter: { classes?: readonly string[] | undefined; types?: readonly string[] | undefined }) {
    const { classes, types } = await store.catalog(this.kernel.db);
    const issues = [
      ...(filter.classes ?? []).flatMap((name, i) =>
        classes.some((c) => c.name === name)
          ? []
          : [{ path: `classes.${i}`, message: `unknown CI class "${name}"` }],
      ),
      ...(filter.types ?? []).flatMap((name, i) =>
        types.some((t) => t.name === name)
          ? []
          : [{ path: `types.${i}`, message: `unknown relationship type "${name}"` }],
      ),
    ];
    if (issues.length > 0) throw new ValidationError(issues);
    const only = filter.types?.length ? new Set(filter.types) : null;
    const carry = (propagation: 'to_source' | 'to_target') =>
      types
        .filter(
          (t) => (t.propagation === propagation || t.propagation === 'both') && (!only || only.has(t.name)),
        )
        .map((t) => t.name);
    const children = new Map<string, string[]>();
    for (const c of classes)
      if (c.parent) children.set(c.parent, [...(children.get(c.parent) ?? []), c.name]);
    const under = (root: string): Set<string> => {
      const found = new Set<string>();
      for (const queue = [root]; queue.length > 0; ) {
        const name = queue.pop()!;
        if (found.has(name)) continue;
        found.add(name);
        queue.push(...(children.get(name) ?? []));
      }
      return found;
    };
    const carrying: store.Carrying = { toSource: carry('to_source'), toTarget: carry('to_target') };
    return { carrying, under };
  }

  /** A CI id, checked and lower-cased (ids come back from the database in lower case). */
  #id(value: string, field: string): string {
    return parseInput(ciId, value, field).toLowerCase();
  }

  /** A CI id, checked, readable by the caller (asked before existence), and existing. */
  async #existing(value: string, field: string, reach: CiReach): Promise<string> {
    const id = this.#id(value, field);
    reach.assert(id, field);
    const [found] = await store.findSummaries(this.kernel.db, [id]);
    if (!found) throw new NotFoundError('CI', id, field);
    return id;
  }

  /** `ciIds` checked and lower-cased. */
  #ids(ciIds: readonly string[]): string[] {
    return parseInput(ciIdList, ciIds, 'ciIds').map((id) => id.toLowerCase());
  }

  /** The CIs of `ciIds` (checked, without duplicates), in the order given; NotFoundError names the first missing. */
  async #existingMany(ciIds: readonly string[]): Promise<CiSummary[]> {
    const ids = this.#ids(ciIds);
    const unique = [...new Set(ids)];
    const found = new Map((await store.findSummaries(this.kernel.db, unique)).map((c) => [c.id, c]));
    const missing = ids.findIndex((id) => !found.has(id));
    if (missing >= 0) throw new NotFoundError('CI', ids[missing]!, `ciIds.${missing}`);
    return unique.map((id) => found.get(id)!);
  }

  /** Where the caller may read CIs; refused when it holds cmdb:read nowhere. No actor: everywhere. */
  #reach(options: ReadOptions): CiReach {
    return CiReach.of(options.actor, permissions.cmdbRead);
  }
}

const summary = (row: CiSummary): CiSummary => ({
  id: row.id,
  name: row.name,
  class: row.class,
  status: row.status,
});

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortReached<T extends { depth: number; name: string; id: string }>(list: T[]): T[] {
  return list.sort((a, b) => a.depth - b.depth || compare(a.name, b.name) || compare(a.id, b.id));
}

/** Each reached CI's path from its start, by following the step that reached it first. */
function pathsOf(
  rows: Iterable<{ id: string; depth: number; predId: string | null }>,
): Map<string, string[]> {
  const paths = new Map<string, string[]>();
  // By depth, so a predecessor's path is always known first.
  const ordered = [...rows].sort((a, b) => a.depth - b.depth);
  for (const row of ordered) {
    const before = row.predId ? paths.get(row.predId) : undefined;
    paths.set(row.id, before ? [...before, row.id] : [row.id]);
  }
  return paths;
}
