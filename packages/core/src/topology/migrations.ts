import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

export const topologyMigrations: Record<string, Migration> = {
  /**
   * Every step of a walk reads (one end, type) and wants the other end and the relationship id. With
   * both in the index, PostgreSQL can answer a step from the index alone (an index-only scan). These
   * cover the cmdb's (end, type) indexes, which they replace: same leading columns, so every query that
   * used those can use these. (Kysely's index builder has no INCLUDE, hence raw SQL.)
   */
  '0007_topology_walk_indexes': {
    async up(db: Kysely<any>) {
      await sql`create index relationships_walk_source_idx on relationships (source_id, type) include (target_id, id)`.execute(
        db,
      );
      await sql`create index relationships_walk_target_idx on relationships (target_id, type) include (source_id, id)`.execute(
        db,
      );
      await db.schema.dropIndex('relationships_source_idx').execute();
      await db.schema.dropIndex('relationships_target_idx').execute();
    },
  },

  /**
   * Impact analysis as a function, so that its plan is made once per connection and kept (a generic
   * plan: `plan_cache_mode` is set for its own statement only), instead of planned on every call: the
   * statement is large, and planning it cost about a sixth of the time it takes to run on the 100,000-CI
   * benchmark estate. See `impactWalk` in store.ts for what it does and what it answers: one row per
   * level (ids, predecessors and states comma-joined, names and classes as JSON arrays) and one row
   * (depth -1) with the clusters below quorum and the cluster and business-service class trees.
   * A later change of the walk replaces the function in a migration of its own.
   */
  '0034_topology_impact_walk': {
    async up(db: Kysely<any>) {
      await sql`
        create function topology_impact_walk(failing uuid[], max_depth integer)
        returns table (depth integer, ids text, preds text, downs text, names text, classes text, statuses text)
        language plpgsql stable
        set plan_cache_mode = force_generic_plan
        as $walk$
        #variable_conflict use_column
        begin
          return query
          with recursive
          cluster_class(name) as (select k.name from ci_classes k where k.name = 'cluster'
            union
            select k.name from ci_classes k join cluster_class u on k.parent = u.name),
          service_class(name) as (select k.name from ci_classes k where k.name = 'business_service'
            union
            select k.name from ci_classes k join service_class u on k.parent = u.name),
          carrying as (
            select coalesce(array_agg(t.name) filter (where t.propagation in ('to_source', 'both')), '{}') as to_source,
                   coalesce(array_agg(t.name) filter (where t.propagation in ('to_target', 'both')), '{}') as to_target
              from relationship_types t
          ),
          bfs(depth, ids, preds, downs, names, classes, statuses, seen, seen_down) as (
            select 0, s.ids, s.nulls, s.downs, s.names, s.classes, s.statuses, s.ids, s.ids
              from (select array_agg(c.id order by c.id) as ids, array_agg(null::uuid) as nulls,
                           array_agg(true) as downs, array_agg(c.name order by c.id) as names,
                           array_agg(c.class order by c.id) as classes, array_agg(c.status order by c.id) as statuses
                      from cis c where c.id = any(failing) and c.status <> 'retired') s
             where s.ids is not null
            union all
            select b.depth + 1, n.ids, n.preds, n.downs, n.names, n.classes, n.statuses,
                   b.seen || n.fresh, b.seen_down || n.fresh_down
              from bfs b
              cross join lateral (
                select array_agg(x.next order by x.next) as ids, array_agg(x.pred order by x.next) as preds,
                       array_agg(x.arrives_down order by x.next) as downs,
                       array_agg(x.name order by x.next) as names, array_agg(x.class order by x.next) as classes,
                       array_agg(x.status order by x.next) as statuses,
                       array_agg(x.next) filter (where x.fresh) as fresh,
                       array_agg(x.next) filter (where x.arrives_down) as fresh_down
                  from (
                    -- A CI reached both ways on one level counts as reached down, through a down predecessor.
                    select distinct on (e.next) e.next, e.pred, c.name, c.class, c.status,
                           e.down and not (e.type = 'member_of' and c.class in (select name from cluster_class)) as arrives_down, v.id is null as fresh
                      from (
                        -- Every step out of the level, matched in the (end, type) indexes for the whole level.
                        select f.down, e.pred, e.next, e.type
                          from (select r.target_id as pred, r.source_id as next, r.type
                                  from relationships r
                                 where r.target_id = any(b.ids) and r.type = any((select to_source from carrying)::text[])
                                union all
                                select r.source_id, r.target_id, r.type
                                  from relationships r
                                 where r.source_id = any(b.ids) and r.type = any((select to_target from carrying)::text[])) e
                          join unnest(b.ids, b.downs) f(id, down) on f.id = e.pred
                        offset 0) e
                      left join unnest(b.seen) v(id) on v.id = e.next
                      left join unnest(b.seen_down) vd(id) on vd.id = e.next
                      join cis c on c.id = e.next and c.status <> 'retired'
                     -- The first test needs no CI: it drops what is settled before the CI is read.
                     where (v.id is null or (e.down and vd.id is null))
                       and (v.id is null or (e.down and not (e.type = 'member_of' and c.class in (select name from cluster_class)) and vd.id is null))
                     order by e.next, arrives_down desc, e.pred
                  ) x
              ) n
             where b.depth < max_depth and n.ids is not null
          ),
          -- The deepest level's seen_down holds every CI reached down (the failing ones included).
          down as (
            select d.id
              from (select b.seen_down from bfs b order by b.depth desc limit 1) l
              cross join lateral unnest(l.seen_down) d(id)
          ),
          -- The clusters reached with a down member and too few members up (see belowQuorum).
          fallen as (
            select k.id
              from (select distinct r.id
                      from bfs b cross join lateral unnest(b.ids, b.classes) r(id, class)
                     where r.class in (select name from cluster_class)) k
              join cis c on c.id = k.id
              join relationships m on m.target_id = k.id and m.type = 'member_of'
              join cis mc on mc.id = m.source_id and mc.status <> 'retired'
              left join down d on d.id = mc.id
             where not exists (select 1 from down d2 where d2.id = k.id)
             group by k.id
            having count(d.id) > 0 and count(*) - count(d.id) < min(case when c.attributes->>'quorum' ~ '^[0-9]{1,9}$' then (c.attributes->>'quorum')::int else 1 end)
          )
          select b.depth, array_to_string(b.ids, ',') as ids, array_to_string(b.preds, ',', '') as preds,
                 array_to_string(b.downs, ',') as downs, array_to_json(b.names)::text as names,
                 array_to_json(b.classes)::text as classes, array_to_string(b.statuses, ',') as statuses
            from bfs b
          union all
          select -1, (select string_agg(f.id::text, ',') from fallen f), null, null,
                 (select json_agg(name)::text from service_class), (select json_agg(name)::text from cluster_class),
                 null;
        end
        $walk$`.execute(db);
    },
  },
};
