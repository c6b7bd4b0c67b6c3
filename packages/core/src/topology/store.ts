import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { CiStatus, Propagation, Relationship } from '../cmdb/model.js';
import type { Database } from '../db/database.js';
import { type CiSummary, MEMBERSHIP_TYPE } from './model.js';

type Db = Kysely<Database>;

/** `upstream`: where a failure goes (dependents). `downstream`: where it comes from (dependencies). */
export type Direction = 'upstream' | 'downstream';

/**
 * The relationship types that carry a failure, by the end they carry it to: `to_source` types (and
 * `both`) from target to source, `to_target` types (and `both`) from source to target. Read from the
 * table for each call, so plugin and runtime types count; `none` types are in neither list.
 */
export interface Carrying {
  readonly toSource: readonly string[];
  readonly toTarget: readonly string[];
}

/** One CI reached by a breadth-first walk, with the step that reached it first. */
export interface ReachedRow {
  readonly depth: number;
  readonly id: string;
  /** The CI one step closer to the start; null at the start. */
  readonly predId: string | null;
  /** The relationship between `predId` and `id`. */
  readonly relId: string | null;
  readonly name: string;
  readonly class: string;
  readonly status: CiStatus;
}

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;
const texts = (names: readonly string[]) => sql`${[...names]}::text[]`;

/** The class tree and the relationship types' propagation, in one small query. */
export async function catalog(db: Db): Promise<{
  classes: { name: string; parent: string | null }[];
  types: { name: string; propagation: Propagation }[];
}> {
  const rows = await sql<{ kind: 'class' | 'type'; name: string; detail: string | null }>`
    select 'class' as kind, name, parent as detail from ci_classes
    union all
    select 'type', name, propagation from relationship_types`.execute(db);
  return {
    classes: rows.rows.filter((r) => r.kind === 'class').map((r) => ({ name: r.name, parent: r.detail })),
    types: rows.rows
      .filter((r) => r.kind === 'type')
      .map((r) => ({ name: r.name, propagation: r.detail as Propagation })),
  };
}

/**
 * The relationships a failure crosses in one step from the CI `from`, and the CI each reaches (`next`).
 * The types are matched in the (end, type) indexes, so relationships that carry nothing are skipped
 * without reading them. `from` must not name the alias used here (r).
 */
function steps(direction: Direction, from: RawBuilder<unknown>, carrying: Carrying) {
  // Upstream from X: X as target of a to_source type reaches the source; as source of to_target, the target.
  const [toSourceEnd, toSourceNext, toTargetEnd, toTargetNext] =
    direction === 'upstream'
      ? ['target_id', 'source_id', 'source_id', 'target_id']
      : ['source_id', 'target_id', 'target_id', 'source_id'];
  return sql`
    select r.${sql.raw(toSourceNext)} as next, r.id as rel_id, r.type
      from relationships r
     where r.${sql.raw(toSourceEnd)} = ${from} and r.type = any(${texts(carrying.toSource)})
    union all
    select r.${sql.raw(toTargetNext)}, r.id, r.type
      from relationships r
     where r.${sql.raw(toTargetEnd)} = ${from} and r.type = any(${texts(carrying.toTarget)})`;
}

/**
 * Every step out of a level's frontier `frontier` (a FROM item naming `f`, with `f.id` and, for the
 * impact walk, `f.down`). OFFSET 0 keeps it a unit: the planner then matches the level's steps against
 * the seen set with one hash join per level, instead of scanning the seen set once per frontier CI.
 */
const levelSteps = (frontier: RawBuilder<unknown>, direction: Direction, carrying: Carrying) => sql`
  select f.*, f.id as pred, e.next, e.rel_id, e.type
    from ${frontier}
    cross join lateral (${steps(direction, sql`f.id`, carrying)}) e
  offset 0`;

interface WalkOptions {
  readonly direction: Direction;
  readonly maxDepth: number;
  readonly carrying: Carrying;
  /** Stop expanding once this CI is reached (shortest path search). */
  readonly stopAt?: string | null;
}

/**
 * A level-by-level breadth-first walk from the live CIs of the array `start`. Each level is one row
 * holding its frontier and every CI seen so far, so a CI is expanded once however many paths reach it:
 * cycles end, diamonds cost nothing extra, and the first level to reach a CI is its shortest depth.
 * The seen set is matched by a hash join, built once per level. Retired CIs are neither started from
 * nor reached. Each reached CI comes with its name, class and status, read as it is reached.
 */
function walk(start: RawBuilder<unknown>, options: WalkOptions) {
  const stop = options.stopAt ? sql`and not (${options.stopAt}::uuid = any(b.ids))` : sql``;
  return sql`
    with recursive bfs(depth, ids, preds, rels, names, classes, statuses, seen) as (
      select 0, s.ids, s.nulls, s.nulls, s.names, s.classes, s.statuses, s.ids
        from (select array_agg(c.id order by c.id) as ids, array_agg(null::uuid) as nulls,
                     array_agg(c.name order by c.id) as names, array_agg(c.class order by c.id) as classes,
                     array_agg(c.status order by c.id) as statuses
                from cis c where c.id = any(${start}) and c.status <> 'retired') s
       where s.ids is not null
      union all
      select b.depth + 1, n.ids, n.preds, n.rels, n.names, n.classes, n.statuses, b.seen || n.ids
        from bfs b
        cross join lateral (
          select array_agg(x.next order by x.next) as ids, array_agg(x.pred order by x.next) as preds,
                 array_agg(x.rel order by x.next) as rels, array_agg(x.name order by x.next) as names,
                 array_agg(x.class order by x.next) as classes, array_agg(x.status order by x.next) as statuses
            from (
              select distinct on (e.next) e.next, e.pred, e.rel_id as rel, c.name, c.class, c.status
                from (${levelSteps(sql`unnest(b.ids) f(id)`, options.direction, options.carrying)}) e
                left join unnest(b.seen) v(id) on v.id = e.next
                join cis c on c.id = e.next and c.status <> 'retired'
               where v.id is null
               order by e.next, e.pred, e.rel_id
            ) x
        ) n
       where b.depth < ${options.maxDepth} and n.ids is not null ${stop}
    )
    select b.depth, r.id, r.pred_id, r.rel_id, r.name, r.class, r.status
      from bfs b
      cross join lateral unnest(b.ids, b.preds, b.rels, b.names, b.classes, b.statuses)
           as r(id, pred_id, rel_id, name, class, status)`;
}

/** Every CI reached from any of `startIds` (a multi-source walk: depth counts from the nearest start). */
export async function reachFrom(
  db: Db,
  startIds: readonly string[],
  options: WalkOptions & { readonly limit?: number },
): Promise<ReachedRow[]> {
  // PostgreSQL computes a recursive query only as far as it is read, so a limit can end the walk early.
  const result = await sql<ReachedRow>`
    select * from (${walk(uuids(startIds), options)}) x
    ${options.limit ? sql`limit ${options.limit}` : sql``}`.execute(db);
  return result.rows;
}

/** As `reachFrom`, but one walk per origin, all in one query: a DataLoader batch. */
export async function reachFromEach(
  db: Db,
  originIds: readonly string[],
  options: WalkOptions,
): Promise<(ReachedRow & { origin: string })[]> {
  const result = await sql<ReachedRow & { origin: string }>`
    select o.id as origin, x.*
      from unnest(${uuids(originIds)}) o(id)
      cross join lateral (${walk(sql`array[o.id]`, options)}) x`.execute(db);
  return result.rows;
}

/** `attributes.quorum` when it is a whole number, else 1. */
const quorumOf = (attributes: RawBuilder<unknown>) =>
  sql`case when ${attributes}->>'quorum' ~ '^[0-9]{1,9}$' then (${attributes}->>'quorum')::int else 1 end`;

/** A CI a failure reaches, as the impact walk reports it (a CI may come twice: reached, then reached down). */
export interface ImpactRow extends CiSummary {
  readonly depth: number;
  /** The CI one step closer to a failing CI; null for a failing CI. */
  readonly predId: string | null;
  /** Reached along a chain of down CIs that crosses no cluster membership. */
  readonly down: boolean;
}

export interface ImpactWalk {
  /** By depth; a CI first reached degraded comes again where a down chain reaches it. */
  readonly rows: ImpactRow[];
  /** The clusters reached with a down member and fewer than quorum members up (as `belowQuorum`). */
  readonly belowQuorum: string[];
  /** `cluster` and its subclasses, as the walk read them. */
  readonly clusterClasses: ReadonlySet<string>;
  /** `business_service` and its subclasses, as the walk read them. */
  readonly serviceClasses: ReadonlySet<string>;
}

/** `a,b,c` as a list (`''` is none); the ids, states and statuses joined here never hold a comma. */
const split = (text: string | null): string[] => (text ? text.split(',') : []);

/**
 * Impact in one query: a level-by-level walk as `walk()`'s from the failing CIs, upstream, carrying a
 * state. A CI is reached `down` from a down CI, except across a membership into a cluster (a CI of
 * class `cluster` or a subclass: quorum decides that), and otherwise (from a degraded CI, or as a
 * cluster's member) reached degraded. The first level to reach a CI gives its depth and path; a CI
 * first reached degraded is walked again if a down chain reaches it later, so `down` wins whatever the
 * lengths (each CI is walked at most twice). The same query then judges the clusters it reached against
 * their quorum, given its down CIs.
 *
 * The statement reads what it needs of the class tree and the relationship types itself (which types
 * carry a failure which way, the cluster and business-service classes), so it sees them as they are in
 * its own snapshot, with no round trip of its own. Each level steps from all its CIs at once (one index
 * scan per end and level). The answer is one row per level holding the level's columns as text (ids,
 * predecessors and states comma-joined, names and classes as JSON arrays) and one row (depth -1) with
 * the clusters below quorum and the two class trees: a thousand CIs cost a handful of values to send
 * and parse instead of a row each.
 *
 * The statement is the function `topology_impact_walk` (migration 0034_topology_impact_walk), whose
 * plan each connection makes once and keeps: planning it on every call cost about a sixth of its time.
 */
export async function impactWalk(
  db: Db,
  failingIds: readonly string[],
  options: { readonly maxDepth: number },
): Promise<ImpactWalk> {
  const result = await sql<{
    depth: number;
    ids: string | null;
    preds: string | null;
    downs: string | null;
    names: string | null;
    classes: string | null;
    statuses: string | null;
  }>`select * from topology_impact_walk(${uuids(failingIds)}, ${options.maxDepth}::integer)`.execute(db);
  const rows: ImpactRow[] = [];
  let belowQuorum: string[] = [];
  let serviceClasses: string[] = [];
  let clusterClasses: string[] = [];
  for (const level of result.rows.sort((a, b) => a.depth - b.depth)) {
    if (level.depth < 0) {
      belowQuorum = split(level.ids);
      serviceClasses = JSON.parse(level.names ?? '[]');
      clusterClasses = JSON.parse(level.classes ?? '[]');
      continue;
    }
    const ids = split(level.ids);
    const preds = split(level.preds);
    const downs = split(level.downs);
    const names = JSON.parse(level.names ?? '[]') as string[];
    const classes = JSON.parse(level.classes ?? '[]') as string[];
    const statuses = split(level.statuses) as CiStatus[];
    for (let i = 0; i < ids.length; i++) {
      rows.push({
        depth: level.depth,
        id: ids[i]!,
        predId: preds[i] || null,
        down: downs[i] === 'true' || downs[i] === 't',
        name: names[i]!,
        class: classes[i]!,
        status: statuses[i]!,
      });
    }
  }
  return {
    rows,
    belowQuorum,
    clusterClasses: new Set(clusterClasses),
    serviceClasses: new Set(serviceClasses),
  };
}

/**
 * Those of `clusters` that have a member in `down` and fewer than quorum members up
 * (`attributes.quorum`, default 1). Members are the live CIs related `member_of` the cluster; a member
 * counts as up unless down (a degraded member still serves).
 */
export async function belowQuorum(
  db: Db,
  clusters: readonly string[],
  down: readonly string[],
): Promise<string[]> {
  const result = await sql<{ id: string }>`
    select c.id
      from cis c
      join relationships r on r.target_id = c.id and r.type = ${MEMBERSHIP_TYPE}
      join cis m on m.id = r.source_id and m.status <> 'retired'
      left join unnest(${uuids(down)}) d(id) on d.id = m.id
     where c.id = any(${uuids(clusters)})
     group by c.id
    having count(d.id) > 0
       and count(*) - count(d.id) < min(${quorumOf(sql`c.attributes`)})`.execute(db);
  return result.rows.map((r) => r.id);
}

/**
 * The CIs within `area` that a failure of `seeds` takes down, without crossing a membership into one
 * of `clusters` (quorum decides those). Used once a cluster falls below quorum.
 */
export async function downFrom(
  db: Db,
  input: {
    readonly seeds: readonly string[];
    readonly area: readonly string[];
    readonly clusters: readonly string[];
    readonly carrying: Carrying;
  },
): Promise<string[]> {
  // UNION keeps each CI once, so the walk ends on cycles; the area bounds it to what was reached.
  const result = await sql<{ id: string }>`
    with recursive down(id) as (
      select unnest(${uuids(input.seeds)})
      union
      select e.next
        from down d
        cross join lateral (${steps('upstream', sql`d.id`, input.carrying)}) e
        join unnest(${uuids(input.area)}) a(id) on a.id = e.next
       where not (e.type = ${MEMBERSHIP_TYPE} and e.next = any(${uuids(input.clusters)}))
    )
    select id from down`.execute(db);
  return result.rows.map((r) => r.id);
}

/** Pairs (origin, reached) among `ids`: a failure of `origin` reaches `reached`, through any CIs. */
export async function reachAmong(
  db: Db,
  ids: readonly string[],
  carrying: Carrying,
): Promise<{ origin: string; id: string }[]> {
  // UNION on (origin, id) walks each origin's closure once: it ends on cycles without a depth counter.
  const result = await sql<{ origin: string; id: string }>`
    with recursive reach(origin, id) as (
      select c.id, c.id from cis c where c.id = any(${uuids(ids)}) and c.status <> 'retired'
      union
      select w.origin, e.next
        from reach w
        cross join lateral (${steps('upstream', sql`w.id`, carrying)}) e
        join cis c on c.id = e.next and c.status <> 'retired'
    )
    select origin, id from reach where id <> origin and id = any(${uuids(ids)})`.execute(db);
  return result.rows;
}

/** The relationships of the `carrying` types with both ends among `ids`. */
export async function edgesAmong(
  db: Db,
  ids: readonly string[],
  carrying: Carrying,
): Promise<Relationship[]> {
  const types = [...new Set([...carrying.toSource, ...carrying.toTarget])];
  return db
    .selectFrom('relationships as r')
    .selectAll('r')
    .where(
      sql<boolean>`r.source_id = any(${uuids(ids)}) and r.target_id = any(${uuids(ids)})
                   and r.type = any(${texts(types)})`,
    )
    .orderBy('r.type')
    .orderBy('r.sourceId')
    .orderBy('r.targetId')
    .execute();
}

export const findRelationships = (db: Db, ids: readonly string[]): Promise<Relationship[]> =>
  ids.length === 0
    ? Promise.resolve([])
    : db.selectFrom('relationships').selectAll().where('id', 'in', ids).execute();

/** Those of `ids` that exist, retired or not. */
export const findSummaries = (db: Db, ids: readonly string[]): Promise<CiSummary[]> =>
  ids.length === 0
    ? Promise.resolve([])
    : db.selectFrom('cis').select(['id', 'name', 'class', 'status']).where('id', 'in', ids).execute();
