import {
  type ColumnType,
  type GeneratedAlways,
  type Kysely,
  type Selectable,
  sql,
  type Transaction,
} from 'kysely';
import type { Database } from '../db/database.js';
import { pipelined } from '../db/pipelined.js';
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
/** Events a statement, at most: bounds its size (a bulk write emits tens of thousands). */
export const EVENTS_PER_STATEMENT = 5000;
/** Payload text a statement, at most (a chunk ends after the event that reaches it). */
const PAYLOAD_CHARS_PER_STATEMENT = 4_000_000;

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
  const chunks: PendingEvent[][] = [];
  let chars = 0;
  for (const event of events) {
    const current = chunks.at(-1);
    if (!current || current.length === EVENTS_PER_STATEMENT || chars >= PAYLOAD_CHARS_PER_STATEMENT) {
      chunks.push([event]);
      chars = event.json.length;
    } else {
      current.push(event);
      chars += event.json.length;
    }
  }
  const appended = await pipelined(chunks, prepareChunk, (prepared, k) =>
    insertChunk(trx, prepared, k === 0, k === chunks.length - 1),
  );
  return appended.flat();
}

interface PreparedChunk {
  readonly chunk: readonly PendingEvent[];
  readonly ids: readonly string[];
  /** The rows as one JSON array, each naming its writer by index in `writers`. */
  readonly rows: string;
  readonly writers: string;
}

function prepareChunk(chunk: readonly PendingEvent[]): PreparedChunk {
  const ids = chunk.map(() => crypto.randomUUID());
  // Who wrote and when is the same for most events of a transaction: sent once per distinct
  // writer, each row naming its writer by index.
  const writers = new Map<string, number>();
  const writerRows: unknown[] = [];
  const rows = chunk.map((e, i) => {
    const key = `${e.actor.kind}\u0000${e.actor.id}\u0000${e.actor.name}\u0000${e.occurredAt.getTime()}`;
    let w = writers.get(key);
    if (w === undefined) {
      w = writerRows.length;
      writers.set(key, w);
      writerRows.push({ w, kind: e.actor.kind, id: e.actor.id, name: e.actor.name, at: e.occurredAt });
    }
    const subject = e.subject
      ? `${JSON.stringify(e.subject.type)},"subject_id":${JSON.stringify(e.subject.id)}`
      : 'null,"subject_id":null';
    // The payload is spliced in as the text `emit` made, not serialised again.
    return `{"i":${i},"id":"${ids[i]}","w":${w},"type":${JSON.stringify(e.type)},"subject_type":${subject},"payload":${e.json}}`;
  });
  return { chunk, ids, rows: `[${rows.join(',')}]`, writers: JSON.stringify(writerRows) };
}

async function insertChunk(
  trx: Transaction<Database>,
  { chunk, ids, rows, writers }: PreparedChunk,
  first: boolean,
  last: boolean,
): Promise<AnyDomainEvent[]> {
  // One round trip, one json parameter for the rows (no statement nears PostgreSQL's 65,535 bind
  // parameters). The first chunk takes the lock before any row gets its seq (the sort reads all its
  // input, the lock's one row included, before the insert sees a row), so `order by v.i` hands out
  // seqs in emit order; the last chunk notifies with the newest seq. Under the lock nobody else
  // takes a seq, so ours are consecutive: only the first comes back, with a check that row i got
  // first + i (else the seqs are read back, below).
  const { rows: out } = await sql<{ first: string; n: number; consecutive: boolean }>`
    with ${first ? sql`lock as materialized (select pg_advisory_xact_lock(${ACTIVITY_LOCK}) as held),` : sql``}
    w as (
      select * from json_to_recordset(${writers}::json)
        as w(w integer, kind text, id text, name text, at timestamptz)
    ),
    v as (
      select * from json_to_recordset(${rows}::json) as v(
        i integer, id uuid, w integer, type text, subject_type text, subject_id text, payload json)
    ),
    ins as (
      insert into activity (id, type, subject_type, subject_id, actor_kind, actor_id, actor_name, payload, occurred_at)
      select v.id, v.type, v.subject_type, v.subject_id, w.kind, w.id, w.name, v.payload, w.at
      from v join w using (w)
      ${first ? sql`cross join lock` : sql``}
      order by v.i
      returning id, seq),
    s as (select min(seq) as first, count(*)::int as n from ins)
    select s.first::text as first, s.n,
           coalesce(bool_and(ins.seq = s.first + v.i), false) as consecutive
      from s cross join ins join v using (id)
      ${last ? sql`cross join (select pg_notify(${ACTIVITY_CHANNEL}, (select max(seq) from ins)::text)) n` : sql``}
     group by s.first, s.n`.execute(trx);
  const head = out[0];
  if (!head || head.n !== chunk.length)
    throw new Error(
      `activity: the append wrote ${head?.n ?? 0} of ${chunk.length} events; the write is rolled back (a bug: please report it)`,
    );
  const firstSeq = Number(head.first);
  let seqOf = (i: number) => firstSeq + i;
  if (!head.consecutive) {
    // Not expected under the lock; read our rows back (all at or after the first seq, the primary key).
    const { rows: back } = await sql<{ id: string; seq: string }>`
      select id, seq::text as seq from activity
       where seq >= ${firstSeq} and id = any(${ids}::uuid[])`.execute(trx);
    const byId = new Map(back.map((r) => [r.id, Number(r.seq)]));
    seqOf = (i) => byId.get(ids[i]!)!;
  }
  // Payloads JSON-shaped (dates as strings), as a reader of the table gets them.
  return chunk.map((e, i) => committedEvent(seqOf(i), ids[i]!, e));
}

/**
 * A committed event whose payload is parsed on first read (then kept): most are never read here. A
 * literal with a getter: spread, JSON and equality see `payload` like any other field.
 */
function committedEvent(seq: number, id: string, e: PendingEvent): AnyDomainEvent {
  let json: string | undefined = e.json;
  let payload: unknown;
  return {
    seq,
    id,
    type: e.type as DomainEventType,
    subject: e.subject,
    actor: { kind: e.actor.kind, id: e.actor.id, name: e.actor.name },
    get payload() {
      if (json !== undefined) {
        payload = JSON.parse(json);
        json = undefined;
      }
      return payload;
    },
    occurredAt: e.occurredAt,
  } as unknown as AnyDomainEvent;
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
