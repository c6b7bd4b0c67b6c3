// Event ingestion (og.events.ingest) of a monitoring stream in batches, against the least a database
// could do with the same events: a raw multi-row INSERT of them as rows of a plain table with the alerts
// table's columns, in batches of the same size, a transaction each. Both run in this process, each round
// on a fresh copy of a database seeded with CIs and live alerts, on PGlite and on a PostgreSQL server.
import { deriveDedupKey, type EventInput, type OpsGraph, systemActor } from '@opsgraph/core';
import { sql } from 'kysely';
import { type Backend, backendLabel, openDatabases, timed } from '../databases.js';
import type { BatchScenario, BatchSide } from '../harness.js';

const actor = systemActor('bench');
const SOURCE = 'discovery';
/** The share of the stream that repeats a key already live; the rest opens new alerts. */
export const REPEAT_SHARE = 0.8;
/** The goal for the ratio of events/s, subject ÷ baseline. */
export const GOAL = 0.5;

export interface EventsSize {
  /** Linux servers in the CMDB, each with a host name events name as their node. */
  readonly servers: number;
  /** Alerts live before the stream starts: the keys its repeats hit. */
  readonly live: number;
  /** Events in the measured stream. */
  readonly events: number;
  readonly batch: number;
}

/** The stream; `--quick` a small one that proves the scenario works and measures nothing. */
export const sizes: Record<'full' | 'quick', EventsSize> = {
  full: { servers: 1_000, live: 2_000, events: 20_000, batch: 500 },
  quick: { servers: 100, live: 200, events: 1_000, batch: 250 },
};

/** Checks a server's monitoring runs: a live key is (server, check). */
const checks = [
  { type: 'HighCpuLoad', resource: 'cpu', message: (n: number) => `CPU load ${n}% over 5 minutes` },
  { type: 'DiskAlmostFull', resource: '/var', message: (n: number) => `/var has ${n}% space left` },
  { type: 'HighMemory', resource: 'memory', message: (n: number) => `memory ${n}% used` },
  { type: 'ServiceDown', resource: 'sshd', message: (n: number) => `sshd down for ${n} s` },
];
const severities = ['critical', 'major', 'minor', 'warning'] as const;

export const hostname = (i: number) => `srv-${String(i).padStart(5, '0')}`;

/** mulberry32: a small seeded generator, so every run (and both sides) sees the same stream. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const BASE_TIME = Date.UTC(2026, 2, 1, 8, 0, 0);

export interface GeneratedEvent {
  readonly input: EventInput & { occurredAt: string };
  readonly server: number;
  /** Opens an alert (a key not live before it). */
  readonly opens: boolean;
}

/** The event of live key `k` (server k mod servers, check k div servers), or of a new key. */
function eventOf(
  size: EventsSize,
  rand: () => number,
  at: number,
  key: { live: number } | { fresh: number },
): GeneratedEvent {
  const severity = severities[Math.floor(rand() * severities.length)]!;
  const value = 1 + Math.floor(rand() * 99);
  if ('live' in key) {
    const server = key.live % size.servers;
    const check = checks[Math.floor(key.live / size.servers) % checks.length]!;
    return {
      server,
      opens: false,
      input: {
        source: 'prometheus',
        node: hostname(server),
        type: check.type,
        resource: check.resource,
        severity,
        message: check.message(value),
        labels: { team: `team-${server % 7}`, env: 'prod', region: 'eu-1' },
        occurredAt: new Date(BASE_TIME + at * 1000).toISOString(),
      },
    };
  }
  // A new key: a volume never reported before, on a random server.
  const server = Math.floor(rand() * size.servers);
  return {
    server,
    opens: true,
    input: {
      source: 'prometheus',
      node: hostname(server),
      type: 'DiskAlmostFull',
      resource: `/mnt/vol-${key.fresh}`,
      severity,
      message: `/mnt/vol-${key.fresh} has ${value}% space left`,
      labels: { team: `team-${server % 7}`, env: 'prod', region: 'eu-1' },
      occurredAt: new Date(BASE_TIME + at * 1000).toISOString(),
    },
  };
}

/** The events that open the live alerts before the stream: one per live key. */
export function liveEvents(size: EventsSize): EventInput[] {
  const rand = random(1);
  return Array.from({ length: size.live }, (_, k) => eventOf(size, rand, k, { live: k }).input);
}

/**
 * The measured stream: `events` events, each a repeat of a live key (uniformly chosen) with probability
 * REPEAT_SHARE, else a key never seen before. Deterministic (seeded).
 */
export function makeStream(size: EventsSize, seed = 42): GeneratedEvent[] {
  const rand = random(seed);
  const stream: GeneratedEvent[] = [];
  let fresh = 0;
  for (let i = 0; i < size.events; i++) {
    const at = size.live + i;
    stream.push(
      rand() < REPEAT_SHARE
        ? eventOf(size, rand, at, { live: Math.floor(rand() * size.live) })
        : eventOf(size, rand, at, { fresh: fresh++ }),
    );
  }
  return stream;
}

export const chunk = <T>(list: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));

/** The baseline's table: the alerts table's columns, a primary key, nothing else. */
interface BenchEventRowsTable {
  id: string;
  dedupKey: string;
  status: string;
  severity: string;
  source: string;
  node: string;
  resource: string;
  type: string;
  message: string;
  labels: string;
  ciId: string | null;
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const createBaselineTable = sql`
  create table bench_event_rows (
    id uuid primary key, dedup_key text not null, status text not null, severity text not null,
    source text not null, node text not null, resource text not null, type text not null,
    message text not null, labels jsonb not null, ci_id uuid, count integer not null,
    first_seen timestamptz not null, last_seen timestamptz not null, version integer not null,
    created_at timestamptz not null, updated_at timestamptz not null)`;

/** A batch as the baseline writes it: each event as an alerts row, its CI id known beforehand. */
export function baselineRows(
  events: readonly GeneratedEvent[],
  ciOf: readonly string[],
  now = new Date(),
): BenchEventRowsTable[] {
  return events.map(({ input, server }) => {
    const seen = new Date(input.occurredAt);
    return {
      id: crypto.randomUUID(),
      dedupKey: deriveDedupKey(input),
      status: 'open',
      severity: input.severity,
      source: input.source,
      node: input.node,
      resource: input.resource ?? '',
      type: input.type,
      message: input.message ?? '',
      labels: JSON.stringify(input.labels ?? {}),
      ciId: ciOf[server] ?? null,
      count: 1,
      firstSeen: seen,
      lastSeen: seen,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
  });
}

/** The baseline's one statement for a batch: a multi-row INSERT (the caller holds the transaction). */
export function insertBaselineRows(
  db: OpsGraph['db'],
  rows: readonly BenchEventRowsTable[],
): Promise<unknown> {
  return db
    .withTables<{ benchEventRows: BenchEventRowsTable }>()
    .insertInto('benchEventRows')
    .values(rows)
    .execute();
}

/** The baseline: each batch's events as rows, one multi-row INSERT in one transaction a batch. */
async function rawInsert(og: OpsGraph, batches: readonly BenchEventRowsTable[][]): Promise<void> {
  for (const rows of batches) await og.db.transaction().execute((trx) => insertBaselineRows(trx, rows));
}

/**
 * Prepares a database for the stream: `servers` Linux servers (by reconcile), `live` alerts opened on
 * them, the baseline's empty table, statistics. Returns the servers' CI ids, in order.
 */
export async function seed(og: OpsGraph, size: EventsSize): Promise<string[]> {
  await og.cmdb.defineSource({ name: SOURCE, priority: 10 }, { actor });
  const report = await og.cmdb.reconcile(
    {
      cis: Array.from({ length: size.servers }, (_, i) => ({
        class: 'linux_server',
        name: hostname(i),
        environment: 'prod',
        attributes: {
          hostname: hostname(i),
          domain: 'dc1.example',
          ip_address: `10.1.${(i >> 8) & 255}.${i & 255}`,
          os: 'linux',
        },
      })),
    },
    { actor, source: SOURCE },
  );
  for (const events of chunk(liveEvents(size), size.batch)) {
    const results = await og.events.ingest(events, { actor });
    if (results.some((r) => r.outcome !== 'opened')) throw new Error('a live alert was not opened');
  }
  const unbound = await sql<{
    n: string;
  }>`select count(*)::text as n from alerts where ci_id is null`.execute(og.db);
  if (unbound.rows[0]?.n !== '0') throw new Error(`${unbound.rows[0]?.n} live alerts bound to no CI`);
  await createBaselineTable.execute(og.db);
  await sql`analyze`.execute(og.db);
  return report.items.map((item) => item.ciId!);
}

function eventsScenario(backend: Backend): BatchScenario {
  return {
    kind: 'batch',
    name: `events-${backend}`,
    unit: 'events',
    goal: GOAL,
    description: `ingest a monitoring stream in batches (80% repeats, 20% new keys) vs a raw multi-row INSERT of the same events as rows, ${backendLabel[backend]}`,
    async setup({ quick }) {
      const size = quick ? sizes.quick : sizes.full;
      const stream = makeStream(size);
      const batches = chunk(stream, size.batch);
      // Warm-up: the first tenth of the stream (at least one batch).
      const warmBatches = Math.max(1, Math.floor(batches.length / 10));
      const ciOf: string[] = [];

      const dbs = await openDatabases(backend, async (og) => {
        ciOf.push(...(await seed(og, size)));
      });

      // The baseline's rows: what each event would be as an alerts row, built before any timing.
      const now = new Date();
      const rowBatches = batches.map((events) => baselineRows(events, ciOf, now));
      const inputBatches = batches.map((events) => events.map((e) => e.input));
      const opening = (n: number) =>
        batches.slice(0, n).reduce((sum, b) => sum + b.filter((e) => e.opens).length, 0);
      const expected = { full: opening(batches.length), warm: opening(warmBatches) };
      const fmt = (n: number) => n.toLocaleString('en-US');

      const baseline: BatchSide = {
        label: 'raw multi-row INSERT',
        description: `the ${fmt(size.events)} events as rows of a plain table with the alerts columns (primary key only), ${fmt(size.batch)} rows a statement, a transaction per batch`,
        rows: size.events,
        run: (warmup) =>
          timed(dbs, (og) => rawInsert(og, warmup ? rowBatches.slice(0, warmBatches) : rowBatches)),
      };
      const subject: BatchSide = {
        label: 'og.events.ingest',
        description: `the same events, ${fmt(size.batch)} a call, on ${fmt(size.servers)} servers with ${fmt(size.live)} live alerts: validation, binding by host name, alert upserts, occurrences (latest 100 kept) and events`,
        rows: size.events,
        run: (warmup) =>
          timed(dbs, async (og) => {
            let opened = 0;
            for (const events of warmup ? inputBatches.slice(0, warmBatches) : inputBatches) {
              for (const r of await og.events.ingest(events, { actor })) if (r.outcome === 'opened') opened++;
            }
            const want = warmup ? expected.warm : expected.full;
            if (opened !== want) throw new Error(`ingest opened ${opened} alerts, expected ${want}`);
          }),
      };
      return { baseline, subject, teardown: () => dbs.close() };
    },
  };
}

export default [eventsScenario('pglite'), eventsScenario('postgres')];
