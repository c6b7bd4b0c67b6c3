// Set-based SQL for reconciliation. Each statement takes its rows as ONE json parameter, unpacked with
// json_to_recordset: whatever the batch size, no statement comes near PostgreSQL's limit of 65,535 bind
// parameters, both drivers (pg, PGlite) pass it the same way, and PostgreSQL parses one value instead of
// thousands. `json`, not `jsonb`: the text is read once as it comes, without first building a jsonb
// value of the whole batch (measured: 2,000 relationships 22.6 ms against 37.5 ms on PGlite). Callers
// still chunk (ROWS_PER_STATEMENT) to bound statement size and to report progress.
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { IdentityKey } from './attributes.js';
import { fieldChanges } from './history.js';
import type { Ci, Relationship } from './model.js';
import type { HistoryRow } from './store.js';

type Db = Kysely<Database>;

export const ROWS_PER_STATEMENT = 2000;

/** Splits `rows` into statement-sized chunks. */
export function chunks<T>(rows: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

const json = (rows: unknown) => sql`${JSON.stringify(rows)}::json`;

/**
 * Serialises reconciliations until commit: the second one matches against what the first created, so
 * two feeds racing with the same new CIs create each once. (The ci_identities primary key backs this
 * against single writes, which do not take the lock.)
 */
export async function lockReconciliation(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('opsgraph.cmdb.reconcile'))`.execute(db);
}

/** Which CIs hold these identity keys, in one query per chunk. */
export async function findIdentityHolders(
  db: Db,
  keys: readonly IdentityKey[],
): Promise<(IdentityKey & { ciId: string })[]> {
  const found: (IdentityKey & { ciId: string })[] = [];
  for (const chunk of chunks(keys, ROWS_PER_STATEMENT * 5)) {
    const { rows } = await sql<IdentityKey & { ciId: string }>`
      select i.scope, i.rule, i.value, i.ci_id
      from ci_identities i
      join json_to_recordset(${json(chunk)}) as k(scope text, rule text, value text)
        using (scope, rule, value)`.execute(db);
    found.push(...rows);
  }
  return found;
}

/** The identity claims the given CIs hold now. */
export async function identitiesOf(
  db: Db,
  ciIds: readonly string[],
): Promise<(IdentityKey & { ciId: string })[]> {
  if (ciIds.length === 0) return [];
  const { rows } = await sql<IdentityKey & { ciId: string }>`
    select scope, rule, value, ci_id from ci_identities
    where ci_id in (select json_array_elements_text(${json(ciIds)})::uuid)`.execute(db);
  return rows;
}

/**
 * Reads CIs by id and locks them until commit, so a concurrent `update()` waits for this write (and
 * then reports a stale version) instead of changing a CI between our read and our write.
 */
export async function findCisForUpdate(db: Db, ids: readonly string[]): Promise<Ci[]> {
  const found: Ci[] = [];
  for (const chunk of chunks(ids, ROWS_PER_STATEMENT * 5)) {
    const { rows } = await sql<Ci>`
      select * from cis
      where id in (select json_array_elements_text(${json(chunk)})::uuid)
      order by id
      for update`.execute(db);
    found.push(...rows);
  }
  return found;
}

/** Status of CIs named by id in a relationship: only those found are returned. */
export async function findCiStatuses(
  db: Db,
  ids: readonly string[],
): Promise<{ id: string; name: string; status: string; version: number }[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: string; name: string; status: string; version: number }>`
    select id, name, status, version from cis
    where id in (select json_array_elements_text(${json(ids)})::uuid)`.execute(db);
  return rows;
}

export type NewCi = Omit<Ci, 'version'>;

/** New CIs as `insertCisWithHistory` takes them: their rows, each with its `created` changes. */
export function newCiRows(cis: readonly NewCi[]): string {
  return JSON.stringify(cis.map((ci, i) => ({ i, ...ciRow(ci), changes: fieldChanges(null, ci) })));
}

/**
 * Inserts new CIs (`newCiRows`) and, in the same statement, their `created` history entries (a
 * data-modifying CTE): one round trip, each entry's changes (`fieldChanges(null, ci)`) stored as written.
 */
export async function insertCisWithHistory(db: Db, rows: string, writer: HistoryWriter): Promise<void> {
  await sql`
    with v as (
      select * from json_to_recordset(${rows}::json) as v(
        i integer, id uuid, class text, name text, status text, environment text, owner_group text,
        attributes jsonb, attribute_sources jsonb, tags text[], created_at timestamptz, updated_at timestamptz,
        changes json)
    ),
    ins as (
      insert into cis (id, class, name, status, environment, owner_group, attributes, attribute_sources,
                       tags, version, created_at, updated_at, retired_at)
      select id, class, name, status, environment, owner_group, attributes, attribute_sources,
             tags, 1, created_at, updated_at, null
      from v
      returning id
    )
    insert into ci_history (ci_id, related_ci_id, relationship_id, kind, version, actor_kind, actor_id,
                            actor_name, source, at, changes)
    select v.id, null, null, 'created', 1, ${writer.actorKind}::text, ${writer.actorId}::text,
           ${writer.actorName}::text, ${writer.source}::text, ${writer.at}::timestamptz, v.changes
    from v join ins using (id)
    order by v.i`.execute(db);
}

const ciRow = (ci: NewCi) => ({
  id: ci.id,
  class: ci.class,
  name: ci.name,
  status: ci.status,
  environment: ci.environment,
  owner_group: ci.ownerGroup,
  attributes: ci.attributes,
  attribute_sources: ci.attributeSources,
  tags: ci.tags,
  created_at: ci.createdAt,
  updated_at: ci.updatedAt,
});

/**
 * Writes the new state of CIs read (and locked) at `version`. `bump` false records provenance only
 * (which source holds a value), without a new version. Returns the rows written.
 */
export async function updateCis(db: Db, rows: readonly { ci: Ci; bump: boolean }[]): Promise<Ci[]> {
  if (rows.length === 0) return [];
  const values = rows.map(({ ci, bump }) => ({ ...ciRow(ci), version: ci.version, bump }));
  const { rows: updated } = await sql<Ci>`
    update cis set
      class = v.class, name = v.name, status = v.status, environment = v.environment,
      owner_group = v.owner_group, attributes = v.attributes, attribute_sources = v.attribute_sources,
      tags = v.tags,
      version = cis.version + case when v.bump then 1 else 0 end,
      updated_at = case when v.bump then v.updated_at else cis.updated_at end
    from json_to_recordset(${json(values)}) as v(
      id uuid, class text, name text, status text, environment text, owner_group text,
      attributes jsonb, attribute_sources jsonb, tags text[], updated_at timestamptz,
      version integer, bump boolean)
    where cis.id = v.id and cis.version = v.version
    returning cis.*`.execute(db);
  return updated;
}

/** Drops the given claims (each only if still held by its CI). */
export async function releaseClaims(
  db: Db,
  claims: readonly (IdentityKey & { ciId: string })[],
): Promise<void> {
  for (const chunk of chunks(claims, ROWS_PER_STATEMENT * 5)) {
    await sql`
      delete from ci_identities i
      using json_to_recordset(${json(chunk.map(claimRow))}) as k(scope text, rule text, value text, ci_id uuid)
      where i.scope = k.scope and i.rule = k.rule and i.value = k.value and i.ci_id = k.ci_id`.execute(db);
  }
}

/** Claims keys; returns those another CI holds (nothing is claimed for them). */
export async function insertClaims(
  db: Db,
  claims: readonly (IdentityKey & { ciId: string })[],
): Promise<(IdentityKey & { ciId: string })[]> {
  const refused: (IdentityKey & { ciId: string })[] = [];
  for (const chunk of chunks(claims, ROWS_PER_STATEMENT * 5)) {
    // Only the refused claims come back (usually none), not every claim made.
    const { rows } = await sql<{ i: number }>`
      with k as (
        select * from json_to_recordset(${json(chunk.map((c, i) => ({ i, ...claimRow(c) })))})
          as k(i integer, scope text, rule text, value text, ci_id uuid)
      ),
      ins as (
        insert into ci_identities (scope, rule, value, ci_id)
        select scope, rule, value, ci_id from k
        on conflict (scope, rule, value) do update set ci_id = excluded.ci_id
          where ci_identities.ci_id = excluded.ci_id
        returning scope, rule, value
      )
      select k.i from k where not exists (
        select 1 from ins where ins.scope = k.scope and ins.rule = k.rule and ins.value = k.value)`.execute(
      db,
    );
    for (const { i } of rows) refused.push(chunk[Number(i)]!);
  }
  return refused;
}

const claimRow = (c: IdentityKey & { ciId: string }) => ({
  scope: c.scope,
  rule: c.rule,
  value: c.value,
  ci_id: c.ciId,
});

export type EdgeKey = Pick<Relationship, 'type' | 'sourceId' | 'targetId'>;

/** Which of these relationships exist already. */
export async function findRelationships(db: Db, edges: readonly EdgeKey[]): Promise<Relationship[]> {
  const found: Relationship[] = [];
  for (const chunk of chunks(edges, ROWS_PER_STATEMENT * 5)) {
    const { rows } = await sql<Relationship>`
      select r.* from relationships r
      join json_to_recordset(${json(chunk.map(edgeRow))}) as k(type text, source_id uuid, target_id uuid)
        on r.type = k.type and r.source_id = k.source_id and r.target_id = k.target_id`.execute(db);
    found.push(...rows);
  }
  return found;
}

const edgeRow = (e: EdgeKey) => ({ type: e.type, source_id: e.sourceId, target_id: e.targetId });

/** Who writes, for the history rows a statement writes itself. */
export interface HistoryWriter {
  readonly actorKind: string;
  readonly actorId: string;
  readonly actorName: string;
  readonly source: string | null;
  readonly at: Date;
}

export interface NewRelationships {
  readonly rows: readonly (Relationship & { version: number })[];
  /** The rows as the statement takes them (`newRelationships`). */
  readonly json: string;
}

/** New relationships as `insertRelationshipsWithHistory` takes them. */
export function newRelationships(rows: readonly (Relationship & { version: number })[]): NewRelationships {
  const values = rows.map((r, i) => ({
    i,
    id: r.id,
    type: r.type,
    source_id: r.sourceId,
    target_id: r.targetId,
    version: r.version,
  }));
  return { rows, json: JSON.stringify(values) };
}

/**
 * Inserts relationships and, in the same statement, a `related` history entry for each one written (a
 * data-modifying CTE: the history rows come from the insert's RETURNING, their `changes` built in SQL in
 * exactly the shape `historyRow` gives, so the rows are never shipped twice). One that exists already (a
 * concurrent `relate`) is skipped, without history. `version` is the source CI's version the entry
 * records. Returns the relationships written.
 */
export async function insertRelationshipsWithHistory(
  db: Db,
  { rows, json: values }: NewRelationships,
  writer: HistoryWriter,
): Promise<Relationship[]> {
  if (rows.length === 0) return [];
  // Only the ids of rows skipped come back (usually none): the rows are ours already. History rows
  // take their seq in input order.
  const { rows: skippedRows } = await sql<{ id: string }>`
    with v as (
      select * from json_to_recordset(${values}::json)
        as v(i integer, id uuid, type text, source_id uuid, target_id uuid, version integer)
    ),
    ins as (
      insert into relationships (id, type, source_id, target_id, created_at)
      select id, type, source_id, target_id, ${writer.at}::timestamptz from v
      on conflict (type, source_id, target_id) do nothing
      returning id
    ),
    history as (
      insert into ci_history (ci_id, related_ci_id, relationship_id, kind, version, actor_kind, actor_id,
                              actor_name, source, at, changes)
      select v.source_id, v.target_id, v.id, 'related', v.version, ${writer.actorKind}::text, ${writer.actorId}::text,
             ${writer.actorName}::text, ${writer.source}::text, ${writer.at}::timestamptz,
             json_build_array(json_build_object('field', 'relationship', 'before', null, 'after',
               json_build_object('id', v.id, 'type', v.type, 'sourceId', v.source_id, 'targetId', v.target_id)))
      from v join ins using (id)
      order by v.i
    )
    select v.id from v where not exists (select 1 from ins where ins.id = v.id)`.execute(db);
  const skipped = new Set(skippedRows.map((r) => r.id));
  return rows
    .filter((r) => !skipped.has(r.id))
    .map((r) => ({
      id: r.id,
      type: r.type,
      sourceId: r.sourceId,
      targetId: r.targetId,
      createdAt: r.createdAt,
    }));
}

/**
 * Indexes (in `edges`) of new relationships of an acyclic type that would close a cycle together with
 * the existing relationships of that type and the other new ones: the walk starts at each new edge's
 * target and follows both; reaching the edge's own source means a cycle. Recursive SQL, so the graph
 * stays in the database.
 */
export async function closingCycles(
  db: Db,
  type: string,
  edges: readonly { index: number; sourceId: string; targetId: string }[],
): Promise<number[]> {
  if (edges.length === 0) return [];
  const values = edges.map((e) => ({ i: e.index, s: e.sourceId, t: e.targetId }));
  const { rows } = await sql<{ i: number }>`
    with recursive
      ne(i, s, t) as (select i, s, t from json_to_recordset(${json(values)}) as v(i integer, s uuid, t uuid)),
      walk(i, id) as (
        select i, t from ne
        union
        select w.i, e.t
        from walk w
        join (select source_id as s, target_id as t from relationships where type = ${type}
              union all
              select s, t from ne) e on e.s = w.id
      )
    select distinct ne.i from walk join ne on ne.i = walk.i and walk.id = ne.s
    order by ne.i`.execute(db);
  return rows.map((r) => Number(r.i));
}

/** Serialises writers of one relationship type until commit, so two can't close a cycle together. */
export async function lockRelationshipTypes(db: Db, types: readonly string[]): Promise<void> {
  // In a fixed order, so two writers locking several types can't deadlock.
  for (const type of [...types].sort()) {
    await sql`select pg_advisory_xact_lock(hashtext(${`opsgraph.relationships.${type}`}))`.execute(db);
  }
}

export async function insertHistoryRows(db: Db, rows: readonly HistoryRow[]): Promise<void> {
  for (const chunk of chunks(rows)) {
    const values = chunk.map((r) => ({
      ci_id: r.ciId,
      related_ci_id: r.relatedCiId,
      relationship_id: r.relationshipId,
      kind: r.kind,
      version: r.version,
      actor_kind: r.actorKind,
      actor_id: r.actorId,
      actor_name: r.actorName,
      source: r.source,
      at: r.at,
      changes: r.changes,
    }));
    await sql`
      insert into ci_history (ci_id, related_ci_id, relationship_id, kind, version, actor_kind, actor_id,
                              actor_name, source, at, changes)
      select ci_id, related_ci_id, relationship_id, kind, version, actor_kind, actor_id, actor_name,
             source, at, changes
      from json_to_recordset(${json(values)}) as v(
        ci_id uuid, related_ci_id uuid, relationship_id uuid, kind text, version integer, actor_kind text,
        actor_id text, actor_name text, source text, at timestamptz, changes json)`.execute(db);
  }
}
