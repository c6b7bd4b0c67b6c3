import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ActorRef } from '../kernel/actor.js';
import type { EventRule, RuleActions, RuleMatch } from './rules.js';

type Db = Kysely<Database>;

function toRule(row: Record<string, unknown>): EventRule {
  return {
    id: row.id as string,
    name: row.name as string,
    description: row.description as string,
    position: Number(row.position),
    enabled: Boolean(row.enabled),
    match: row.match as RuleMatch,
    actions: row.actions as RuleActions,
    createdBy: row.createdBy as ActorRef,
    updatedBy: row.updatedBy as ActorRef,
    version: Number(row.version),
    createdAt: new Date(row.createdAt as string),
    updatedAt: new Date(row.updatedAt as string),
  };
}

/** Every rule in the order they apply: position, then name. */
export async function listRules(db: Db, onlyEnabled = false): Promise<EventRule[]> {
  let q = db.selectFrom('eventRules').selectAll();
  if (onlyEnabled) q = q.where('enabled', '=', true);
  const rows = await q.orderBy('position').orderBy('name').execute();
  return rows.map((r) => toRule(r as unknown as Record<string, unknown>));
}

export async function findRule(db: Db, id: string, forUpdate = false): Promise<EventRule | undefined> {
  let q = db.selectFrom('eventRules').selectAll().where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toRule(row as unknown as Record<string, unknown>) : undefined;
}

export async function findRuleByName(db: Db, name: string): Promise<EventRule | undefined> {
  const row = await db.selectFrom('eventRules').selectAll().where('name', '=', name).executeTakeFirst();
  return row ? toRule(row as unknown as Record<string, unknown>) : undefined;
}

export async function countRules(db: Db): Promise<{ count: number; lastPosition: number | null }> {
  const row = await db
    .selectFrom('eventRules')
    .select([sql<number>`count(*)::int`.as('count'), sql<number | null>`max(position)`.as('last')])
    .executeTakeFirstOrThrow();
  return { count: Number(row.count), lastPosition: row.last === null ? null : Number(row.last) };
}

export interface RuleRow {
  readonly name: string;
  readonly description: string;
  readonly position: number;
  readonly enabled: boolean;
  readonly match: RuleMatch;
  readonly actions: RuleActions;
}

export async function insertRule(
  db: Db,
  id: string,
  row: RuleRow,
  by: ActorRef,
  now: Date,
): Promise<EventRule> {
  const inserted = await db
    .insertInto('eventRules')
    .values({
      id,
      ...row,
      match: JSON.stringify(row.match),
      actions: JSON.stringify(row.actions),
      createdBy: JSON.stringify(by),
      updatedBy: JSON.stringify(by),
      createdAt: now,
      updatedAt: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRule(inserted as unknown as Record<string, unknown>);
}

export async function updateRule(
  db: Db,
  id: string,
  row: RuleRow,
  by: ActorRef,
  now: Date,
): Promise<EventRule> {
  const updated = await db
    .updateTable('eventRules')
    .set({
      ...row,
      match: JSON.stringify(row.match),
      actions: JSON.stringify(row.actions),
      updatedBy: JSON.stringify(by),
      updatedAt: now,
      version: sql`version + 1`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRule(updated as unknown as Record<string, unknown>);
}

export async function deleteRule(db: Db, id: string): Promise<void> {
  await db.deleteFrom('eventRules').where('id', '=', id).execute();
}
