import {
  type ColumnType,
  type GeneratedAlways,
  type Kysely,
  type Selectable,
  sql,
  type Transaction,
} from 'kysely';
import type { Database } from '../db/database.js';
import type { Actor } from './actor.js';
import type { AnyDomainEvent, DomainEventType, PendingEvent } from './events.js';

export interface ActivityTable {
  seq: GeneratedAlways<number>;
  id: string;
  type: string;
  subjectType: string | null;
  subjectId: string | null;
  actorKind: string;
  actorId: string;
  actorName: string;
  payload: ColumnType<unknown, string, string>;
  occurredAt: Date;
}

/** NOTIFY channel that tells every replica the stream grew; the payload is the newest seq. */
export const ACTIVITY_CHANNEL = 'opsgraph_activity';
/** Advisory lock (transaction scope) that makes seq order equal commit order. */
const ACTIVITY_LOCK = 0x0a_c7_1e_75;
/** 9 bind parameters an event: 1,000 stay far below PostgreSQL's 65,535 per statement. */
export const EVENTS_PER_STATEMENT = 1000;

/**
 * Appends a transaction's events as its last step. The advisory lock is held from here to COMMIT, so
 * the next writer takes its seq only after this one is visible: a reader at seq N has seen every
 * event below N. (A bare sequence lets seq 11 commit before seq 10, and a reader at 11 misses 10.)
 */
export async function appendEvents(
  trx: Transaction<Database>,
  events: readonly PendingEvent[],
): Promise<AnyDomainEvent[]> {
  if (events.length === 0) return [];
  await sql`select pg_advisory_xact_lock(${ACTIVITY_LOCK})`.execute(trx);
  const rows: Selectable<ActivityTable>[] = [];
  // A bulk write (reconciliation) emits tens of thousands of events: one statement for all of them
  // would pass PostgreSQL's limit of 65,535 bind parameters (9 per event).
  for (let start = 0; start < events.length; start += EVENTS_PER_STATEMENT) {
    const chunk = events.slice(start, start + EVENTS_PER_STATEMENT);
    const inserted = await trx
      .insertInto('activity')
      .values(
        chunk.map((e) => ({
          id: crypto.randomUUID(),
          type: e.type,
          subjectType: e.subject?.type ?? null,
          subjectId: e.subject?.id ?? null,
          actorKind: e.actor.kind,
          actorId: e.actor.id,
          actorName: e.actor.name,
          payload: JSON.stringify(e.payload ?? {}),
          occurredAt: e.occurredAt,
        })),
      )
      .returningAll()
      .execute();
    for (const row of inserted) rows.push(row);
  }
  // Statements run in order, so seqs rise across chunks; within one, RETURNING order is not promised.
  rows.sort((a, b) => Number(a.seq) - Number(b.seq));
  const last = rows[rows.length - 1]!.seq;
  await sql`select pg_notify(${ACTIVITY_CHANNEL}, ${String(last)})`.execute(trx);
  return rows.map(toDomainEvent);
}

export interface ActivityQuery {
  readonly after?: number;
  readonly limit?: number;
  readonly types?: readonly string[];
  readonly subject?: { readonly type: string; readonly id: string };
}

export async function listActivity(db: Kysely<Database>, query: ActivityQuery): Promise<AnyDomainEvent[]> {
  let q = db
    .selectFrom('activity')
    .selectAll()
    .where('seq', '>', query.after ?? 0)
    .orderBy('seq')
    .limit(query.limit ?? 100);
  if (query.types?.length) q = q.where('type', 'in', query.types);
  if (query.subject)
    q = q.where('subjectType', '=', query.subject.type).where('subjectId', '=', query.subject.id);
  return (await q.execute()).map(toDomainEvent);
}

export async function latestSeq(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('activity')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

function toDomainEvent(row: Selectable<ActivityTable>): AnyDomainEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    type: row.type as DomainEventType,
    subject: row.subjectType && row.subjectId ? { type: row.subjectType, id: row.subjectId } : null,
    actor: { kind: row.actorKind as Actor['kind'], id: row.actorId, name: row.actorName },
    payload: row.payload,
    occurredAt: row.occurredAt,
  } as AnyDomainEvent;
}
