// Kysely queries over the plugin's own view of the database (`withTables`), plus the few reads of core's
// tables (cis, ci_classes, relationships) that joins need.
import type { Kernel } from '@opsgraph/core';
import { sql } from 'kysely';
import type { Application, ApplicationsTables, Component, Deployment } from './model.js';

type Db = Kernel['db'];
export const view = (db: Db) => db.withTables<ApplicationsTables>();

interface RelRow {
  id: string;
  type: string;
  sourceId: string;
  targetId: string;
}

export async function findApplications(db: Db, ids: readonly string[]): Promise<Application[]> {
  if (ids.length === 0) return [];
  return view(db)
    .selectFrom('applicationsApplications as a')
    .innerJoin('cis as c', 'c.id', 'a.id')
    .select([
      'a.id',
      'c.name',
      'c.class',
      'c.status',
      'a.description',
      'a.serviceId',
      'a.version',
      'a.createdAt',
      'a.updatedAt',
    ])
    .where('a.id', 'in', ids)
    .execute();
}

export async function findApplication(db: Db, id: string): Promise<Application | undefined> {
  return (await findApplications(db, [id]))[0];
}

/** Whether the CI's class is `ancestor` or below it; undefined when there is no such CI. */
export async function ciOfClass(
  db: Db,
  ciId: string,
  ancestor: string,
): Promise<{ name: string; below: boolean; retired: boolean } | undefined> {
  const { rows } = await sql<{ name: string; below: boolean; retired: boolean }>`
    with recursive below(name) as (
      select ${ancestor}::text
      union
      select c.name from ci_classes c join below b on c.parent = b.name
    )
    select name, class in (select name from below) as below, retired_at is not null as retired
    from cis where id = ${ciId}::uuid`.execute(db);
  return rows[0];
}

/** Whether class `name` is `ancestor` or below it. */
export async function classBelow(db: Db, name: string, ancestor: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`
    with recursive below(name) as (
      select ${ancestor}::text
      union
      select c.name from ci_classes c join below b on c.parent = b.name
    )
    select exists (select 1 from below where name = ${name}) as found`.execute(db);
  return rows[0]?.found === true;
}

/** The relationship `source type target`, if recorded. */
export async function findRelationship(
  db: Db,
  type: string,
  sourceId: string,
  targetId: string,
): Promise<string | undefined> {
  const row = await view(db)
    .selectFrom('relationships')
    .select('id')
    .where('type', '=', type)
    .where('sourceId', '=', sourceId)
    .where('targetId', '=', targetId)
    .executeTakeFirst();
  return row?.id;
}

/** Relationships of propagating types between two CIs of `ids`. */
export async function edgesAmong(db: Db, ids: readonly string[]): Promise<RelRow[]> {
  if (ids.length < 2) return [];
  const { rows } = await sql<RelRow>`
    select r.id, r.type, r.source_id, r.target_id from relationships r
    join relationship_types t on t.name = r.type
    where t.propagation <> 'none' and r.source_id = any(${ids}::uuid[]) and r.target_id = any(${ids}::uuid[])
    order by r.type, r.source_id, r.target_id`.execute(db);
  return rows;
}

export async function componentsOf(db: Db, applicationId: string, id?: string): Promise<Component[]> {
  return id ? componentsWhere(db, 'm.id', [id]) : componentsWhere(db, 'm.applicationId', [applicationId]);
}

/** The components of several applications in one query, by name within each. */
export const componentsOfMany = (db: Db, applicationIds: readonly string[]) =>
  componentsWhere(db, 'm.applicationId', applicationIds);

async function componentsWhere(
  db: Db,
  column: 'm.id' | 'm.applicationId',
  values: readonly string[],
): Promise<Component[]> {
  if (values.length === 0) return [];
  return view(db)
    .selectFrom('applicationsComponents as m')
    .innerJoin('cis as c', 'c.id', 'm.ciId')
    .select([
      'm.id',
      'm.applicationId',
      'm.ciId',
      'c.name',
      'c.class',
      'm.role',
      'm.relationshipId',
      'm.createdAt',
    ])
    .where(column, 'in', values)
    .orderBy('c.name')
    .orderBy('m.id')
    .execute();
}

/** `rows` grouped by `key`, one list per id of `ids` (in its order; empty where none). */
export function groupBy<T>(
  ids: readonly (string | null)[],
  rows: readonly T[],
  key: (row: T) => string,
): T[][] {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const group = groups.get(k);
    if (group) group.push(row);
    else groups.set(k, [row]);
  }
  return ids.map((id) => (id === null ? [] : [...(groups.get(id) ?? [])]));
}

export type DeploymentRow = Omit<Deployment, 'targetCiIds'>;

/** Deployments with their targets (one query for the targets of all). */
export async function withTargets(db: Db, rows: readonly DeploymentRow[]): Promise<Deployment[]> {
  if (rows.length === 0) return [];
  const targets = await view(db)
    .selectFrom('applicationsDeploymentTargets')
    .select(['deploymentId', 'ciId'])
    .where(
      'deploymentId',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('ciId')
    .execute();
  return rows.map((row) => ({
    ...row,
    targetCiIds: targets.filter((t) => t.deploymentId === row.id).map((t) => t.ciId),
  }));
}

export async function findDeployment(db: Db, id: string, lock = false): Promise<Deployment | undefined> {
  let query = view(db).selectFrom('applicationsDeployments').selectAll().where('id', '=', id);
  if (lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row ? (await withTargets(db, [row]))[0] : undefined;
}

/** Opaque cursors: base64url of the keyset values of the last row. */
export const encodeCursor = (values: readonly unknown[]) =>
  Buffer.from(JSON.stringify(values)).toString('base64url');
export function decodeCursor(cursor: string): unknown[] | undefined {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(values) ? values : undefined;
  } catch {
    return undefined;
  }
}
