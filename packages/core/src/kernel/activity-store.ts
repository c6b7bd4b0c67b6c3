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
/** Events a statement: bounds its size (a bulk write emits tens of thousands). */
export const EVENTS_PER_STATEMENT = 1000;

/**
 * Appends a transaction's events as its last step. The advisory lock is held from here to COMMIT, so
 * the next writer takes its seq only after this one is visible: a reader at seq N has seen every
 * event below N. (A bare sequence lets seq 11 commit before seq 10, and a reader at 11 misses 10.)
 * Each payload was serialised once at emit and goes in as that text (the column is `json`: stored as
 * written); the events handed to the bus parse theirs only when a handler reads it.
 */
export async function appendEvents(
  trx: Transaction<Database>,
  events: readonly PendingEvent[],
): Promise<AnyDomainEvent[]> {
  if (events.length === 0) return [];
  const appended: AnyDomainEvent[] = [];
  for (let start = 0; start < events.length; start += EVENTS_PER_STATEMENT) {
    const chunk = events.slice(start, start + EVENTS_PER_STATEMENT);
    const ids = chunk.map(() => crypto.randomUUID());
    // One json parameter a chunk rather than 9 a row: no statement nears PostgreSQL's 65,535 bind
    // parameters, and `order by i` hands out seqs in emit order. Each payload goes in as the text
    // `emit` made (spliced in, not serialised again); only seq comes back: the rest we have.
    const rows = chunk.map((e, i) => {
      const head = JSON.stringify({
        i,
        id: ids[i],
        type: e.type,
        subject_type: e.subject?.type ?? null,
        subject_id: e.subject?.id ?? null,
        actor_kind: e.actor.kind,
        actor_id: e.actor.id,
        actor_name: e.actor.name,
        occurred_at: e.occurredAt,
      });
      return `${head.slice(0, -1)},"payload":${e.json}}`;
    });
    const first = start === 0;
    const last = start + EVENTS_PER_STATEMENT >= events.length;
    // One round trip: the first chunk takes the lock before any row gets its seq (the sort reads all
    // its input, the lock's one row included, before the insert sees a row), and the last chunk
    // notifies with the newest seq.
    const { rows: inserted } = await sql<{ id: string; seq: number }>`
      with ${first ? sql`lock as materialized (select pg_advisory_xact_lock(${ACTIVITY_LOCK}) as held),` : sql``}
      ins as (
        insert into activity (id, type, subject_type, subject_id, actor_kind, actor_id, actor_name, payload, occurred_at)
        select v.id, v.type, v.subject_type, v.subject_id, v.actor_kind, v.actor_id, v.actor_name, v.payload, v.occurred_at
        from json_to_recordset(${`[${rows.join(',')}]`}::json) as v(
          i integer, id uuid, type text, subject_type text, subject_id text, actor_kind text, actor_id text,
          actor_name text, occurred_at timestamptz, payload json)
        ${first ? sql`cross join lock` : sql``}
        order by v.i
        returning id, seq)
      select id, seq from ins
      ${last ? sql`cross join (select pg_notify(${ACTIVITY_CHANNEL}, (select max(seq) from ins)::text)) n` : sql``}`.execute(
      trx,
    );
    const seqOf = new Map(inserted.map((r) => [r.id, Number(r.seq)]));
    chunk.forEach((e, i) => {
      const id = ids[i]!;
      appended.push(
        committedEvent(
          seqOf.get(id)!,
          id,
          e,
          // JSON-shaped (dates as strings), as a reader of the table gets it.
          () => JSON.parse(e.json),
        ),
      );
    });
  }
  return appended;
}

/** A committed event whose payload is computed on first read (then kept): most are never read here. */
function committedEvent(seq: number, id: string, e: PendingEvent, payload: () => unknown): AnyDomainEvent {
  let value: unknown;
  let read = false;
  const event = {
    seq,
    id,
    type: e.type as DomainEventType,
    subject: e.subject,
    actor: { kind: e.actor.kind, id: e.actor.id, name: e.actor.name },
  };
  Object.defineProperty(event, 'payload', {
    enumerable: true,
    get() {
      if (!read) {
        value = payload();
        read = true;
      }
      return value;
    },
  });
  return Object.assign(event, { occurredAt: e.occurredAt }) as unknown as AnyDomainEvent;
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

/** The seq of the newest event (of `types`, when given); 0 when there is none. */
export async function latestSeq(db: Kysely<Database>, types?: readonly string[]): Promise<number> {
  let q = db.selectFrom('activity').select((eb) => eb.fn.max('seq').as('seq'));
  if (types?.length) q = q.where('type', 'in', types);
  const row = await q.executeTakeFirst();
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
