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
import {
  type AnyDomainEvent,
  type DomainEventType,
  type PendingEvent,
  type RowPayloadSource,
  toJson,
} from './events.js';

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
 * Each payload was serialised once at emit and goes in as that text; an `emitRow` payload is built
 * here in SQL from its row. What comes back for the bus parses a payload only when a handler reads it.
 */
export async function appendEvents(
  trx: Transaction<Database>,
  events: readonly PendingEvent[],
): Promise<AnyDomainEvent[]> {
  if (events.length === 0) return [];
  await sql`select pg_advisory_xact_lock(${ACTIVITY_LOCK})`.execute(trx);
  const appended: AnyDomainEvent[] = [];
  for (let start = 0; start < events.length; start += EVENTS_PER_STATEMENT) {
    const chunk = events.slice(start, start + EVENTS_PER_STATEMENT);
    const ids = chunk.map(() => crypto.randomUUID());
    const sources: RowPayloadSource[] = [];
    // One jsonb parameter a chunk rather than 9 a row: no statement nears PostgreSQL's 65,535 bind
    // parameters, and `order by i` hands out seqs in emit order. Only seq comes back: the rest we have.
    const rows = chunk.map((e, i) => {
      let src: number | null = null;
      if (e.row) {
        src = sources.indexOf(e.row.source);
        if (src < 0) src = sources.push(e.row.source) - 1;
      }
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
        src,
        ref: e.row?.key ?? null,
        field: e.row?.field ?? null,
      });
      return `${head.slice(0, -1)},"payload":${e.row ? 'null' : (e.json ?? '{}')},"rest":${e.row?.rest ?? 'null'}}`;
    });
    const joins = sources.map(
      (s, k) => `left join ${s.table} r${k} on v.src = ${k} and r${k}.${s.key} = v.ref::${s.keyType}`,
    );
    const payload =
      sources.length === 0
        ? 'v.payload'
        : `case v.src ${sources
            .map((s, k) => `when ${k} then jsonb_build_object(v.field, ${s.json(`r${k}`)}) || v.rest`)
            .join(' ')} else v.payload end`;
    const { rows: inserted } = await sql<{ id: string; seq: number }>`
      insert into activity (id, type, subject_type, subject_id, actor_kind, actor_id, actor_name, payload, occurred_at)
      select v.id, v.type, v.subject_type, v.subject_id, v.actor_kind, v.actor_id, v.actor_name, ${sql.raw(payload)}, v.occurred_at
      from jsonb_to_recordset(${`[${rows.join(',')}]`}::jsonb) as v(
        i integer, id uuid, type text, subject_type text, subject_id text, actor_kind text, actor_id text,
        actor_name text, occurred_at timestamptz, src integer, ref text, field text, payload jsonb, rest jsonb)
      ${sql.raw(joins.join('\n'))}
      order by v.i
      returning id, seq`.execute(trx);
    const seqOf = new Map(inserted.map((r) => [r.id, Number(r.seq)]));
    chunk.forEach((e, i) => {
      const id = ids[i]!;
      appended.push(
        committedEvent(
          seqOf.get(id)!,
          id,
          e,
          // Already JSON-shaped (dates as strings), as a reader of the table gets it.
          e.row ? () => toJson(e.row!.payload) : () => (e.json === null ? {} : JSON.parse(e.json)),
        ),
      );
    });
  }
  const last = appended[appended.length - 1]!.seq;
  await sql`select pg_notify(${ACTIVITY_CHANNEL}, ${String(last)})`.execute(trx);
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
