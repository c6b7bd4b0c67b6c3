import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { Ci, CiClass, CiClassDefinition, CiFilter, CiTable } from './model.js';

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

/** Keyset page ordered by (name, id). */
export async function listCis(
  db: Db,
  filter: CiFilter,
  limit: number,
  after: { name: string; id: string } | null,
): Promise<Ci[]> {
  let q = db.selectFrom('cis').selectAll().orderBy('name').orderBy('id').limit(limit);
  if (filter.class) q = q.where('class', '=', filter.class);
  if (filter.status) q = q.where('status', '=', filter.status);
  else if (!filter.includeRetired) q = q.where('status', '!=', 'retired');
  if (filter.tag) q = q.where((eb) => eb(eb.val(filter.tag), '=', eb.fn.any('tags')));
  if (filter.search) q = q.where('name', 'ilike', `%${filter.search.replace(/[\\%_]/g, '\\$&')}%`);
  if (after) {
    q = q.where((eb) =>
      eb.or([eb('name', '>', after.name), eb.and([eb('name', '=', after.name), eb('id', '>', after.id)])]),
    );
  }
  return q.execute();
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
