import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ScopeMode } from '../kernel/actor.js';
import type { AccessScope, User } from './model.js';

type Db = Kysely<Database>;

/** A grant that counts now, with its role's permissions, of a user or of one of its groups. */
export interface HeldGrant {
  readonly id: string;
  readonly role: string;
  readonly permissions: string[];
  readonly scope: AccessScope | null;
  readonly expiresAt: Date | null;
  /** The group it reaches the user through; null when given to the user itself. */
  readonly groupId: string | null;
}

interface GrantJson {
  id: string;
  role: string;
  permissions: string[];
  scopeCiId: string | null;
  scopeMode: ScopeMode | null;
  expiresAt: string | null;
  groupId: string | null;
}

/**
 * A user (by id or external id) and every grant that counts at `now` (neither revoked nor expired)
 * given to it or to any group it is in, at any depth, with the roles' permissions: one query.
 */
export async function loadUserGrants(
  db: Db,
  ref: { readonly id: string } | { readonly externalId: string },
  now: Date,
): Promise<{ user: User; grants: HeldGrant[] } | undefined> {
  const match = 'id' in ref ? sql`u.id = ${ref.id}::uuid` : sql`u.external_id = ${ref.externalId}`;
  const live = sql`g.revoked_at is null and g.expired_at is null and (g.expires_at is null or g.expires_at > ${now})`;
  const result = await sql<User & { grants: GrantJson[] }>`
    with recursive holders(id) as (
      select m.group_id from access_group_members m join access_users u on u.id = m.member_user_id
       where ${match}
      union
      select m.group_id from access_group_members m join holders h on m.member_group_id = h.id
    )
    select u.*, coalesce((
      select json_agg(json_build_object(
               'id', g.id, 'role', g.role, 'permissions', r.permissions, 'scopeCiId', g.scope_ci_id,
               'scopeMode', g.scope_mode, 'expiresAt', g.expires_at, 'groupId', g.group_id
             ) order by g.created_at, g.id)
        from (select * from access_grants g where g.user_id = u.id and ${live}
              union all
              select * from access_grants g where g.group_id in (select id from holders) and ${live}) g
        join access_roles r on r.name = g.role
    ), '[]'::json) as grants
      from access_users u
     where ${match}`.execute(db);
  const row = result.rows[0];
  if (!row) return undefined;
  const { grants, ...user } = row;
  return {
    user,
    grants: grants.map((g) => ({
      id: g.id,
      role: g.role,
      permissions: g.permissions,
      scope: g.scopeCiId && g.scopeMode ? { ciId: g.scopeCiId, mode: g.scopeMode } : null,
      expiresAt: g.expiresAt ? new Date(g.expiresAt) : null,
      groupId: g.groupId,
    })),
  };
}

export const scopeKey = (scope: AccessScope): string => `${scope.mode}:${scope.ciId}`;

/**
 * The CIs each scope covers, the named CI included, in one recursive query (unlimited depth; cycles
 * end because UNION drops a CI already reached from the same scope). Retired CIs are outside: never
 * reached, and a retired or missing start covers nothing.
 *
 * - `contains`: the CI and what it contains through `contains`, transitively.
 * - `dependencies`: the CI and its topology downstream (what it depends on): for each relationship type
 *   by its `propagation`, `to_source` types from source to target, `to_target` ones from target to
 *   source, `both` either way (as `og.topology.downstream`).
 *
 * At most `limit` CIs in all are read (`truncated` then says so): a guard against huge graphs.
 */
export async function resolveScopes(
  db: Db,
  scopes: readonly AccessScope[],
  limit: number,
): Promise<{ covered: Map<string, Set<string>>; truncated: boolean }> {
  const unique = [...new Map(scopes.map((s) => [scopeKey(s), s])).values()];
  const covered = new Map(unique.map((s) => [scopeKey(s), new Set<string>()]));
  if (unique.length === 0) return { covered, truncated: false };
  const carried = (propagations: string) =>
    sql`(select t.name from relationship_types t where t.propagation in (${sql.raw(propagations)}))`;
  const result = await sql<{ origin: string; mode: ScopeMode; id: string }>`
    with recursive reach(origin, mode, id) as (
      select s.origin, s.mode, s.origin
        from unnest(${unique.map((s) => s.ciId)}::uuid[], ${unique.map((s) => s.mode)}::text[]) as s(origin, mode)
        join cis c on c.id = s.origin and c.status <> 'retired'
      union
      select r.origin, r.mode, x.next
        from reach r
        cross join lateral (
          select rel.target_id as next from relationships rel
           where r.mode = 'contains' and rel.source_id = r.id and rel.type = 'contains'
          union all
          select rel.target_id from relationships rel
           where r.mode = 'dependencies' and rel.source_id = r.id
             and rel.type in ${carried("'to_source', 'both'")}
          union all
          select rel.source_id from relationships rel
           where r.mode = 'dependencies' and rel.target_id = r.id
             and rel.type in ${carried("'to_target', 'both'")}
        ) x
        join cis c on c.id = x.next and c.status <> 'retired'
    )
    select origin, mode, id from reach limit ${limit + 1}`.execute(db);
  const rows = result.rows.slice(0, limit);
  for (const row of rows) covered.get(`${row.mode}:${row.origin}`)?.add(row.id);
  return { covered, truncated: result.rows.length > limit };
}
