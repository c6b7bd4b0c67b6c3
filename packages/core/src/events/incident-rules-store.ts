import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import type { IncidentRule, IncidentRuleMatch, IncidentTemplate } from './incident-rules.js';

type Db = Kysely<Database>;

function toRule(row: Record<string, unknown>): IncidentRule {
  return {
    id: row.id as string,
    name: row.name as string,
    position: Number(row.position),
    enabled: Boolean(row.enabled),
    match: row.match as IncidentRuleMatch,
    incident: row.incident as IncidentTemplate,
    createdBy: row.createdBy as ActorRef,
    updatedBy: row.updatedBy as ActorRef,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

export async function listIncidentRules(db: Db, onlyEnabled = false): Promise<IncidentRule[]> {
  let q = db.selectFrom('incidentRules').selectAll();
  if (onlyEnabled) q = q.where('enabled', '=', true);
  const rows = await q.orderBy('position').orderBy('name').execute();
  return rows.map((r) => toRule(r as unknown as Record<string, unknown>));
}

export async function findIncidentRule(
  db: Db,
  id: string,
  forUpdate = false,
): Promise<IncidentRule | undefined> {
  let q = db.selectFrom('incidentRules').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toRule(row as unknown as Record<string, unknown>) : undefined;
}

export async function findIncidentRuleByName(db: Db, name: string): Promise<IncidentRule | undefined> {
  const row = await db.selectFrom('incidentRules').selectAll().where('name', '=', name).executeTakeFirst();
  return row ? toRule(row as unknown as Record<string, unknown>) : undefined;
}

export async function lastPosition(db: Db): Promise<number | null> {
  const row = await db
    .selectFrom('incidentRules')
    .select(sql<number | null>`max(position)`.as('last'))
    .executeTakeFirstOrThrow();
  return row.last === null ? null : Number(row.last);
}

export interface IncidentRuleRow {
  readonly name: string;
  readonly position: number;
  readonly enabled: boolean;
  readonly match: IncidentRuleMatch;
  readonly incident: IncidentTemplate;
}

export async function insertIncidentRule(
  db: Db,
  id: string,
  row: IncidentRuleRow,
  by: ActorRef,
  now: Date,
): Promise<IncidentRule> {
  const inserted = await db
    .insertInto('incidentRules')
    .values({
      id,
      ...row,
      match: JSON.stringify(row.match),
      incident: JSON.stringify(row.incident),
      createdBy: JSON.stringify(by),
      updatedBy: JSON.stringify(by),
      createdAt: now,
      updatedAt: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRule(inserted as unknown as Record<string, unknown>);
}

export async function updateIncidentRule(
  db: Db,
  id: string,
  row: IncidentRuleRow,
  by: ActorRef,
  now: Date,
): Promise<IncidentRule> {
  const updated = await db
    .updateTable('incidentRules')
    .set({
      ...row,
      match: JSON.stringify(row.match),
      incident: JSON.stringify(row.incident),
      updatedBy: JSON.stringify(by),
      updatedAt: now,
      version: sql`version + 1`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRule(updated as unknown as Record<string, unknown>);
}

export async function deleteIncidentRule(db: Db, id: string): Promise<void> {
  await db.deleteFrom('incidentRules').where('id', '=', id).execute();
}

/** The classes of these CIs with every ancestor class, per CI. */
export async function classLines(db: Db, ciIds: readonly string[]): Promise<Map<string, Set<string>>> {
  if (ciIds.length === 0) return new Map();
  const { rows } = await sql<{ id: string; class: string }>`
    with recursive line(id, class) as (
      select c.id, c.class from cis c where c.id = any(${[...ciIds]}::uuid[])
      union
      select l.id, k.parent from line l join ci_classes k on k.name = l.class where k.parent is not null
    )
    select id, class from line`.execute(db);
  const out = new Map<string, Set<string>>();
  for (const r of rows) out.set(r.id, (out.get(r.id) ?? new Set()).add(r.class));
  return out;
}
