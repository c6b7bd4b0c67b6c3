import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../db/database.js';
import { jsonRows } from '../db/json-rows.js';
import type { ValidationIssue } from '../kernel/errors.js';
import type { CiReach } from '../kernel/reach.js';
import type { IdentityKey } from './attributes.js';
import { type ClassIndex, checkClassDefinition, descendants } from './classes.js';
import type {
  Ci,
  CiClass,
  CiClassDefinition,
  CiHistoryTable,
  CiTable,
  CmdbSource,
  Relationship,
  RelationshipType,
  RelationshipTypeDefinition,
} from './model.js';

type Db = Kysely<Database>;

export const findCi = (db: Db, id: string): Promise<Ci | undefined> =>
  db.selectFrom('cis').selectAll().where('id', '=', id).executeTakeFirst();

export const findCis = (db: Db, ids: readonly string[]): Promise<Ci[]> =>
  ids.length === 0
    ? Promise.resolve([])
    : // The CI loader's batch (every page naming CIs): rows as one JSON value, see jsonRows.
      jsonRows(db, db.selectFrom('cis').selectAll().where('id', 'in', ids), [
        'createdAt',
        'updatedAt',
        'retiredAt',
      ]);

export const findClass = (db: Db, name: string): Promise<CiClass | undefined> =>
  db.selectFrom('ciClasses').selectAll().where('name', '=', name).executeTakeFirst();

export const listClasses = (db: Db): Promise<CiClass[]> =>
  db.selectFrom('ciClasses').selectAll().orderBy('name').execute();

/** Every class, by name: the hierarchy is small and each write needs its class's whole lineage. */
export async function loadClassIndex(db: Db): Promise<ClassIndex> {
  const rows = await db.selectFrom('ciClasses').selectAll().execute();
  return new Map(rows.map((row) => [row.name, row]));
}

/** True when a CI (retired ones too) of any of these classes exists. */
export async function anyCiOfClasses(db: Db, classes: readonly string[]): Promise<boolean> {
  const row = await db
    .selectFrom('cis')
    .select('id')
    .where('class', 'in', classes)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * What is wrong with a class definition against the hierarchy it joins and, when it replaces a class
 * that has CIs (its own or its subclasses'), against their data.
 */
export async function reviewClassDefinition(
  db: Db,
  classes: ClassIndex,
  def: CiClassDefinition,
): Promise<ValidationIssue[]> {
  const existing = classes.get(def.name);
  const hasCis = existing ? await anyCiOfClasses(db, descendants(classes, def.name)) : false;
  return checkClassDefinition(classes, def, existing, hasCis);
}

export async function insertCi(db: Db, ci: Omit<Ci, 'version'>): Promise<Ci> {
  return db
    .insertInto('cis')
    .values({
      ...ci,
      attributes: JSON.stringify(ci.attributes),
      attributeSources: JSON.stringify(ci.attributeSources),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

type CiPatch = Partial<
  Pick<CiTable, 'name' | 'status' | 'environment' | 'tags' | 'retiredAt'> & { ownerGroup: string | null }
> & {
  attributes?: Record<string, unknown>;
  attributeSources?: Record<string, string>;
  updatedAt: Date;
};

/** Applies a patch only if the row is still at `version`; undefined means someone else got there first. */
export async function updateCiIfVersion(
  db: Db,
  id: string,
  version: number,
  patch: CiPatch,
): Promise<Ci | undefined> {
  const { attributes, attributeSources, ...rest } = patch;
  return db
    .updateTable('cis')
    .set({
      ...rest,
      ...(attributes !== undefined ? { attributes: JSON.stringify(attributes) } : {}),
      ...(attributeSources !== undefined ? { attributeSources: JSON.stringify(attributeSources) } : {}),
      version: version + 1,
    })
    .where('id', '=', id)
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Registers an owner's classes (insert, or update its own); returns the names another owner already has,
 * which are left untouched.
 */
export async function upsertClasses(
  db: Db,
  owner: string,
  classes: readonly CiClassDefinition[],
): Promise<{ name: string; owner: string }[]> {
  const clashes: { name: string; owner: string }[] = [];
  for (const c of classes) {
    const values = {
      label: c.label,
      parent: c.parent ?? null,
      description: c.description ?? null,
      attributes: JSON.stringify(c.attributes ?? []),
      identifiers: JSON.stringify(c.identifiers ?? []),
    };
    const row = await db
      .insertInto('ciClasses')
      .values({ name: c.name, owner, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values).where('ciClasses.owner', '=', owner))
      .returning('name')
      .executeTakeFirst();
    if (!row) clashes.push({ name: c.name, owner: (await findClass(db, c.name))?.owner ?? 'unknown' });
  }
  return clashes;
}

/**
 * Claims identity keys for a CI. Returns the keys another CI holds (nothing is claimed for those); keys
 * the CI already holds count as claimed.
 */
export async function claimIdentities(
  db: Db,
  ciId: string,
  keys: readonly IdentityKey[],
): Promise<(IdentityKey & { ciId: string })[]> {
  if (keys.length === 0) return [];
  const claimed = await db
    .insertInto('ciIdentities')
    .values(keys.map((k) => ({ ...k, ciId })))
    .onConflict((oc) =>
      oc.columns(['scope', 'rule', 'value']).doUpdateSet({ ciId }).where('ciIdentities.ciId', '=', ciId),
    )
    .returning(['scope', 'rule', 'value'])
    .execute();
  const mine = new Set(claimed.map(keyString));
  const taken = keys.filter((k) => !mine.has(keyString(k)));
  return taken.length === 0 ? [] : findIdentities(db, taken);
}

/** Drops a CI's identity claims other than `keep` (all of them when `keep` is empty). */
export async function releaseIdentities(
  db: Db,
  ciId: string,
  keep: readonly IdentityKey[] = [],
): Promise<void> {
  let q = db.deleteFrom('ciIdentities').where('ciId', '=', ciId);
  if (keep.length > 0) {
    q = q.where((eb) =>
      eb.not(
        eb.or(
          keep.map((k) =>
            eb.and([eb('scope', '=', k.scope), eb('rule', '=', k.rule), eb('value', '=', k.value)]),
          ),
        ),
      ),
    );
  }
  await q.execute();
}

/** Which CIs hold these identity keys. */
export async function findIdentities(
  db: Db,
  keys: readonly IdentityKey[],
): Promise<(IdentityKey & { ciId: string })[]> {
  if (keys.length === 0) return [];
  return db
    .selectFrom('ciIdentities')
    .select(['scope', 'rule', 'value', 'ciId'])
    .where((eb) =>
      eb.or(
        keys.map((k) =>
          eb.and([eb('scope', '=', k.scope), eb('rule', '=', k.rule), eb('value', '=', k.value)]),
        ),
      ),
    )
    .execute();
}

export const keyString = (k: IdentityKey): string => `${k.scope}\u0000${k.rule}\u0000${k.value}`;

export type HistoryRow = Omit<CiHistoryTable, 'seq' | 'changes'> & { changes: unknown[] };

export async function insertHistory(db: Db, rows: readonly HistoryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('ciHistory')
    .values(rows.map((r) => ({ ...r, changes: JSON.stringify(r.changes) })))
    .execute();
}

/** A CI's own history and that of its relationships, newest first (or up to `until`, oldest first). */
/**
 * A CI's history rows (its own and its relationships'). With a `reach`, a relationship's rows only when
 * both its ends are in reach (the CI itself is checked by the caller).
 */
export function historyOf(
  db: Db,
  ciId: string,
  options: { before?: number; limit?: number; until?: Date; reach?: CiReach },
) {
  let q = db
    .selectFrom('ciHistory')
    .selectAll()
    .where((eb) => eb.or([eb('ciId', '=', ciId), eb('relatedCiId', '=', ciId)]));
  const source = options.reach?.where('ciHistory.ciId');
  const target = options.reach?.where('ciHistory.relatedCiId');
  if (source && target) q = q.where(source).where((eb) => eb.or([eb('relatedCiId', 'is', null), target]));
  if (options.before !== undefined) q = q.where('seq', '<', options.before);
  if (options.until !== undefined) q = q.where('at', '<=', options.until).orderBy('seq', 'asc');
  else q = q.orderBy('seq', 'desc');
  if (options.limit !== undefined) q = q.limit(options.limit);
  return q.execute();
}

export const findSource = (db: Db, name: string): Promise<CmdbSource | undefined> =>
  db.selectFrom('cmdbSources').selectAll().where('name', '=', name).executeTakeFirst();

export const listSources = (db: Db): Promise<CmdbSource[]> =>
  db.selectFrom('cmdbSources').selectAll().orderBy('priority', 'desc').orderBy('name').execute();

export async function upsertSource(
  db: Db,
  source: Omit<CmdbSource, 'createdAt'>,
  now: Date,
): Promise<CmdbSource> {
  const values = {
    label: source.label,
    priority: source.priority,
    attributePriorities: JSON.stringify(source.attributePriorities),
  };
  return db
    .insertInto('cmdbSources')
    .values({ name: source.name, ...values, createdAt: now })
    .onConflict((oc) => oc.column('name').doUpdateSet(values))
    .returningAll()
    .executeTakeFirstOrThrow();
}

export const findRelationshipType = (db: Db, name: string): Promise<RelationshipType | undefined> =>
  db.selectFrom('relationshipTypes').selectAll().where('name', '=', name).executeTakeFirst();

export const listRelationshipTypes = (db: Db): Promise<RelationshipType[]> =>
  db.selectFrom('relationshipTypes').selectAll().orderBy('name').execute();

export const findRelationship = (db: Db, id: string): Promise<Relationship | undefined> =>
  db.selectFrom('relationships').selectAll().where('id', '=', id).executeTakeFirst();

export const findRelationshipBetween = (
  db: Db,
  type: string,
  sourceId: string,
  targetId: string,
): Promise<Relationship | undefined> =>
  db
    .selectFrom('relationships')
    .selectAll()
    .where('type', '=', type)
    .where('sourceId', '=', sourceId)
    .where('targetId', '=', targetId)
    .executeTakeFirst();

/** Every relationship touching any of `ciIds` (either end), in one query: a DataLoader batch. */
/** The relationships touching `ciIds`; with a `reach`, only those with both ends in it. */
export function relationshipsOf(db: Db, ciIds: readonly string[], reach?: CiReach): Promise<Relationship[]> {
  if (ciIds.length === 0) return Promise.resolve([]);
  let q = db
    .selectFrom('relationships')
    .selectAll()
    .where((eb) => eb.or([eb('sourceId', 'in', ciIds), eb('targetId', 'in', ciIds)]));
  const source = reach?.where('relationships.sourceId');
  const target = reach?.where('relationships.targetId');
  if (source && target) q = q.where(source).where(target);
  return q.orderBy('createdAt').orderBy('id').execute();
}

export const insertRelationship = (db: Db, relationship: Relationship): Promise<Relationship> =>
  db.insertInto('relationships').values(relationship).returningAll().executeTakeFirstOrThrow();

export const deleteRelationship = (db: Db, id: string): Promise<Relationship | undefined> =>
  db.deleteFrom('relationships').where('id', '=', id).returningAll().executeTakeFirst();

/** Serialises writers of one registry (e.g. `classes`) until commit. */
export async function lockRegistry(db: Db, registry: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`opsgraph.registry.${registry}`}))`.execute(db);
}

/** Serialises writers of one relationship type until commit, so two can't close a cycle together. */
export async function lockRelationshipType(db: Db, type: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`opsgraph.relationships.${type}`}))`.execute(db);
}

/** True when `to` already reaches `from` through `type`: adding from -> to would close a cycle. */
export async function reaches(db: Db, type: string, from: string, to: string): Promise<boolean> {
  const result = await sql<{ found: boolean }>`
    with recursive walk(id) as (
      select ${to}::uuid
      union
      select r.target_id from relationships r join walk w on r.source_id = w.id where r.type = ${type}
    )
    select exists(select 1 from walk where id = ${from}::uuid) as found`.execute(db);
  return result.rows[0]?.found === true;
}

/** Registers an owner's relationship types; returns the names another owner already has. */
export async function upsertRelationshipTypes(
  db: Db,
  owner: string,
  types: readonly RelationshipTypeDefinition[],
): Promise<{ name: string; owner: string }[]> {
  const clashes: { name: string; owner: string }[] = [];
  for (const t of types) {
    const values = {
      label: t.label,
      inverseLabel: t.inverseLabel ?? t.label,
      propagation: t.propagation,
      acyclic: t.acyclic ?? false,
    };
    const row = await db
      .insertInto('relationshipTypes')
      .values({ name: t.name, owner, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values).where('relationshipTypes.owner', '=', owner))
      .returning('name')
      .executeTakeFirst();
    if (!row)
      clashes.push({ name: t.name, owner: (await findRelationshipType(db, t.name))?.owner ?? 'unknown' });
  }
  return clashes;
}
