import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { CiStatus, Relationship } from '../cmdb/model.js';
import type { Database } from '../db/database.js';
import { BUSINESS_SERVICE_CLASS, type CiSummary, CLUSTER_CLASS, MEMBERSHIP_TYPE } from './model.js';

type Db = Kysely<Database>;

/** `upstream`: where a failure goes (dependents). `downstream`: where it comes from (dependencies). */
export type Direction = 'upstream' | 'downstream';

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
  /** The class is one of the asked classes or a subclass (true without a class filter). */
  readonly matches: boolean;
  readonly isCluster: boolean;
  readonly isService: boolean;
}

const uuids = (ids: readonly string[]) => sql`${[...ids]}::uuid[]`;
const texts = (names: readonly string[]) => sql`${[...names]}::text[]`;

/**
 * The relationships a failure crosses in one step from the CI `from`, and the CI each reaches (`next`).
 * Direction comes from each type's `propagation`, read from the table, so plugin and runtime types
 * count without code here: `to_source` carries a failure of the target to the source, `to_target` the
 * other way, `both` either way, `none` never.
 */
function steps(direction: Direction, from: RawBuilder<unknown>, types: readonly string[] | null) {
  // `from` must not name the aliases used here (r, t).
  // Upstream from X: X as target of a to_source type reaches the source; as source of to_target, the target.
  const [toSourceEnd, toSourceNext, toTargetEnd, toTargetNext] =
    direction === 'upstream'
      ? ['target_id', 'source_id', 'source_id', 'target_id']
      : ['source_id', 'target_id', 'target_id', 'source_id'];
  const only = types ? sql`and r.type = any(${texts(types)})` : sql``;
  return sql`
    select r.${sql.raw(toSourceNext)} as next, r.id as rel_id, r.type
      from relationships r join relationship_types t on t.name = r.type
     where r.${sql.raw(toSourceEnd)} = ${from} and t.propagation in ('to_source', 'both') ${only}
    union all
    select r.${sql.raw(toTargetNext)}, r.id, r.type
      from relationships r join relationship_types t on t.name = r.type
     where r.${sql.raw(toTargetEnd)} = ${from} and t.propagation in ('to_target', 'both') ${only}`;
}

/** The names of `roots` and all their subclasses, as an array expression (evaluated once per query). */
const classesUnder = (roots: RawBuilder<unknown>) => sql`array(
  with recursive under(name) as (
    select c.name from ci_classes c where c.name = any(${roots})
    union
    select c.name from ci_classes c join under u on c.parent = u.name
  ) select name from under)`;

interface WalkOptions {
  readonly direction: Direction;
  readonly maxDepth: number;
  readonly types: readonly string[] | null;
  /** Stop expanding once this CI is reached (shortest path search). */
  readonly stopAt?: string | null;
}

/**
 * A level-by-level breadth-first walk from the live CIs of the array `start`. Each level is one row
 * holding its frontier and every CI seen so far, so a CI is expanded once however many paths reach it:
 * cycles end, diamonds cost nothing extra, and the first level to reach a CI is its shortest depth.
 * Retired CIs are neither started from nor reached.
 */
function walk(start: RawBuilder<unknown>, options: WalkOptions) {
  const stop = options.stopAt ? sql`and not (${options.stopAt}::uuid = any(b.ids))` : sql``;
  return sql`
    with recursive bfs(depth, ids, preds, rels, seen) as (
      select 0, s.ids, s.nulls, s.nulls, s.ids
        from (select array_agg(c.id order by c.id) as ids, array_agg(null::uuid) as nulls
                from cis c where c.id = any(${start}) and c.status <> 'retired') s
       where s.ids is not null
      union all
      select b.depth + 1, n.ids, n.preds, n.rels, b.seen || n.ids
        from bfs b
        cross join lateral (
          select array_agg(x.next order by x.next) as ids,
                 array_agg(x.pred order by x.next) as preds,
                 array_agg(x.rel order by x.next) as rels
            from (
              select distinct on (e.next) e.next, f.id as pred, e.rel_id as rel
                from unnest(b.ids) f(id)
                cross join lateral (${steps(options.direction, sql`f.id`, options.types)}) e
                join cis c on c.id = e.next and c.status <> 'retired'
               where not (e.next = any(b.seen))
               order by e.next, f.id, e.rel_id
            ) x
        ) n
       where b.depth < ${options.maxDepth} and n.ids is not null ${stop}
    )
    select b.depth, r.id, r.pred_id, r.rel_id
      from bfs b cross join lateral unnest(b.ids, b.preds, b.rels) as r(id, pred_id, rel_id)`;
}

const reachedColumns = (classes: readonly string[] | null) => sql`
  x.depth, x.id, x.pred_id, x.rel_id, c.name, c.class, c.status,
  ${classes ? sql`c.class = any(${classesUnder(texts(classes))})` : sql`true`} as matches,
  c.class = any(${classesUnder(texts([CLUSTER_CLASS]))}) as is_cluster,
  c.class = any(${classesUnder(texts([BUSINESS_SERVICE_CLASS]))}) as is_service`;

/** Every CI reached from any of `startIds` (a multi-source walk: depth counts from the nearest start). */
export async function reachFrom(
  db: Db,
  startIds: readonly string[],
  options: WalkOptions & { readonly classes?: readonly string[] | null; readonly limit?: number },
): Promise<ReachedRow[]> {
  // PostgreSQL computes a recursive query only as far as it is read, so a limit can end the walk early.
  const result = await sql<ReachedRow>`
    select ${reachedColumns(options.classes ?? null)}
      from (${walk(uuids(startIds), options)}) x
      join cis c on c.id = x.id
      ${options.limit ? sql`limit ${options.limit}` : sql``}`.execute(db);
  return result.rows;
}

/** As `reachFrom`, but one walk per origin, all in one query: a DataLoader batch. */
export async function reachFromEach(
  db: Db,
  originIds: readonly string[],
  options: WalkOptions & { readonly classes?: readonly string[] | null },
): Promise<(ReachedRow & { origin: string })[]> {
  const result = await sql<ReachedRow & { origin: string }>`
    select o.id as origin, ${reachedColumns(options.classes ?? null)}
      from unnest(${uuids(originIds)}) o(id)
      cross join lateral (${walk(sql`array[o.id]`, options)}) x
      join cis c on c.id = x.id`.execute(db);
  return result.rows;
}

/**
 * One round of impact states: the CIs within `area` that a failure of `seeds` takes down, without
 * crossing a membership into one of `clusters` (quorum decides those), then the clusters that fall
 * below quorum given everything known down (`knownDown` plus this round's). A cluster is judged only
 * once a member is down; a member counts as up unless down (degraded members still serve).
 */
export async function impactRound(
  db: Db,
  input: {
    readonly seeds: readonly string[];
    readonly area: readonly string[];
    readonly clusters: readonly string[];
    readonly knownDown: readonly string[];
  },
): Promise<{ id: string; byQuorum: boolean }[]> {
  const result = await sql<{ id: string; byQuorum: boolean }>`
    with recursive down(id) as (
      select unnest(${uuids(input.seeds)})
      union
      select e.next
        from down d
        cross join lateral (${steps('upstream', sql`d.id`, null)}) e
        join unnest(${uuids(input.area)}) a(id) on a.id = e.next
       where not (e.type = ${MEMBERSHIP_TYPE} and e.next = any(${uuids(input.clusters)}))
    ),
    known(id) as (select unnest(${uuids(input.knownDown)}) union select id from down),
    judged as (
      select c.id,
             case when c.attributes->>'quorum' ~ '^[0-9]{1,9}$' then (c.attributes->>'quorum')::int
                  else 1 end as quorum,
             count(*) as members,
             count(k.id) as down_members
        from cis c
        join relationships r on r.target_id = c.id and r.type = ${MEMBERSHIP_TYPE}
        join cis m on m.id = r.source_id and m.status <> 'retired'
        left join known k on k.id = m.id
       where c.id = any(${uuids(input.clusters)}) and not exists (select 1 from known k2 where k2.id = c.id)
       group by c.id
    )
    select id, false as by_quorum from down
    union all
    select id, true from judged where down_members > 0 and members - down_members < quorum`.execute(db);
  return result.rows;
}

/** Pairs (origin, reached) among `ids`: a failure of `origin` reaches `reached`, through any CIs. */
export async function reachAmong(db: Db, ids: readonly string[]): Promise<{ origin: string; id: string }[]> {
  // UNION on (origin, id) walks each origin's closure once: it ends on cycles without a depth counter.
  const result = await sql<{ origin: string; id: string }>`
    with recursive reach(origin, id) as (
      select c.id, c.id from cis c where c.id = any(${uuids(ids)}) and c.status <> 'retired'
      union
      select w.origin, e.next
        from reach w
        cross join lateral (${steps('upstream', sql`w.id`, null)}) e
        join cis c on c.id = e.next and c.status <> 'retired'
    )
    select origin, id from reach where id <> origin and id = any(${uuids(ids)})`.execute(db);
  return result.rows;
}

/** The relationships of propagating types (optionally only `types`) with both ends among `ids`. */
export async function edgesAmong(
  db: Db,
  ids: readonly string[],
  types: readonly string[] | null,
): Promise<Relationship[]> {
  let q = db
    .selectFrom('relationships as r')
    .innerJoin('relationshipTypes as t', 't.name', 'r.type')
    .selectAll('r')
    .where('t.propagation', '!=', 'none')
    .where(sql<boolean>`r.source_id = any(${uuids(ids)}) and r.target_id = any(${uuids(ids)})`)
    .orderBy('r.type')
    .orderBy('r.sourceId')
    .orderBy('r.targetId');
  if (types) q = q.where('r.type', 'in', types);
  return q.execute();
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

/** Those of `names` that are not CI classes. */
export async function unknownClasses(db: Db, names: readonly string[]): Promise<string[]> {
  const known = await db.selectFrom('ciClasses').select('name').where('name', 'in', names).execute();
  return names.filter((n) => !known.some((k) => k.name === n));
}

/** Those of `names` that are not relationship types. */
export async function unknownTypes(db: Db, names: readonly string[]): Promise<string[]> {
  const known = await db.selectFrom('relationshipTypes').select('name').where('name', 'in', names).execute();
  return names.filter((n) => !known.some((k) => k.name === n));
}
