import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../db/database.js';
import type {
  Ci,
  CiClass,
  CiClassDefinition,
  CiTable,
  Relationship,
  RelationshipType,
  RelationshipTypeDefinition,
} from './model.js';

type Db = Kysely<Database>;

export const findCi = (db: Db, id: string): Promise<Ci | undefined> =>
  db.selectFrom('cis').selectAll().where('id', '=', id).executeTakeFirst();

export const findCis = (db: Db, ids: readonly string[]): Promise<Ci[]> =>
  ids.length === 0 ? Promise.resolve([]) : db.selectFrom('cis').selectAll().where('id', 'in', ids).execute();

export const findClass = (db: Db, name: string): Promise<CiClass | undefined> =>
  db.selectFrom('ciClasses').selectAll().where('name', '=', name).executeTakeFirst();

export const listClasses = (db: Db): Promise<CiClass[]> =>
  db.selectFrom('ciClasses').selectAll().orderBy('name').execute();

export async function insertCi(db: Db, ci: Omit<Ci, 'version'>): Promise<Ci> {
  return db
    .insertInto('cis')
    .values({ ...ci, attributes: JSON.stringify(ci.attributes) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

type CiPatch = Partial<Pick<CiTable, 'name' | 'status' | 'environment' | 'tags' | 'retiredAt'>> & {
  attributes?: Record<string, unknown>;
  updatedAt: Date;
};

/** Applies a patch only if the row is still at `version`; undefined means someone else got there first. */
export async function updateCiIfVersion(
  db: Db,
  id: string,
  version: number,
  patch: CiPatch,
): Promise<Ci | undefined> {
  const { attributes, ...rest } = patch;
  return db
    .updateTable('cis')
    .set({
      ...rest,
      ...(attributes !== undefined ? { attributes: JSON.stringify(attributes) } : {}),
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
    const row = await db
      .insertInto('ciClasses')
      .values({ name: c.name, label: c.label, parent: c.parent ?? null, owner })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ label: c.label, parent: c.parent ?? null })
          .where('ciClasses.owner', '=', owner),
      )
      .returning('name')
      .executeTakeFirst();
    if (!row) clashes.push({ name: c.name, owner: (await findClass(db, c.name))?.owner ?? 'unknown' });
  }
  return clashes;
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
export const relationshipsOf = (db: Db, ciIds: readonly string[]): Promise<Relationship[]> =>
  ciIds.length === 0
    ? Promise.resolve([])
    : db
        .selectFrom('relationships')
        .selectAll()
        .where((eb) => eb.or([eb('sourceId', 'in', ciIds), eb('targetId', 'in', ciIds)]))
        .orderBy('createdAt')
        .orderBy('id')
        .execute();

export const insertRelationship = (db: Db, relationship: Relationship): Promise<Relationship> =>
  db.insertInto('relationships').values(relationship).returningAll().executeTakeFirstOrThrow();

export const deleteRelationship = (db: Db, id: string): Promise<Relationship | undefined> =>
  db.deleteFrom('relationships').where('id', '=', id).returningAll().executeTakeFirst();

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
