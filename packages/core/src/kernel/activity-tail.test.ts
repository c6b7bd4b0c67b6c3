import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOpsGraph, createTestReplicas, type TestOpsGraph, testBackends } from '../testing/index.js';
import { ActivityTail } from './activity-tail.js';
import { systemActor } from './actor.js';
import { EventBus } from './bus.js';
import { createLogger } from './logger.js';
import type { OpsGraph } from './opsgraph.js';

const actor = systemActor('test');

/** Reads of the activity table (follows, the tail, heads), as the query log saw them. */
const isActivityRead = (sql: string) => /^select\b/i.test(sql) && /from "activity"/.test(sql);

describe.each(testBackends())('activity tail on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  it('serves many live followers with one read per commit, not one per follower', async () => {
    const followers = 200;
    const writes = 20;
    const start = await og.activity.latestSeq();
    let reads = 0;
    const off = og.queries.on((q) => {
      if (isActivityRead(q.sql)) reads++;
    });
    const controller = new AbortController();
    const received = Array.from({ length: followers }, () => [] as number[]);
    const readers = received.map(async (seqs) => {
      for await (const event of og.activity.follow({ after: start, signal: controller.signal })) {
        seqs.push(event.seq);
        if (seqs.length === writes) return;
      }
    });
    for (let i = 0; i < writes; i++) await og.cmdb.create({ class: 'server', name: `tail-${i}` }, { actor });
    await Promise.all(readers);
    controller.abort();
    off();
    const expected = (await og.activity.list({ after: start })).map((e) => e.seq);
    expect(expected).toHaveLength(writes);
    for (const seqs of received) expect(seqs).toEqual(expected);
    // One follower per query would be at least `followers` reads; the shared tail reads about once
    // (or twice, when a read was already under way) per commit.
    expect(reads).toBeLessThanOrEqual(2 * writes + 5);
  });

  it('gives a follower behind the tail its backlog from the table, then joins the tail, in order', async () => {
    const before = await og.activity.latestSeq();
    for (let i = 0; i < 30; i++) await og.cmdb.create({ class: 'server', name: `behind-${i}` }, { actor });
    const controller = new AbortController();
    const seqs: number[] = [];
    const types: string[] = [];
    const reader = (async () => {
      // Only ci.updated: the backlog holds none, so the follower must skip ahead without looping.
      for await (const event of og.activity.follow({
        after: before,
        types: ['ci.created', 'ci.updated'],
        signal: controller.signal,
      })) {
        seqs.push(event.seq);
        types.push(event.type);
        if (seqs.length === 40) return;
      }
    })();
    // Live writes while it reads its backlog.
    for (let i = 0; i < 10; i++) await og.cmdb.create({ class: 'server', name: `live-${i}` }, { actor });
    await reader;
    controller.abort();
    const expected = (await og.activity.list({ after: before, types: ['ci.created', 'ci.updated'] })).map(
      (e) => e.seq,
    );
    expect(seqs).toEqual(expected.slice(0, 40));
    expect(new Set(types)).toEqual(new Set(['ci.created']));
  });

  it('keeps a bounded window: a position before it reads the table, one inside it is served in order', async () => {
    const bus = new EventBus(createLogger({ level: 'silent' }));
    const tail = new ActivityTail(og.db, bus, { kept: 10, readLimit: 4 });
    const base = await og.activity.latestSeq();
    await tail.catchUp(bus.generation);
    expect(tail.started).toBe(true);
    expect(tail.eventsAfter(base)).toEqual([]);
    expect(tail.eventsAfter(base - 1)).toBeUndefined();
    for (let i = 0; i < 25; i++) await og.cmdb.create({ class: 'server', name: `window-${i}` }, { actor });
    bus.wake();
    // Reads of 4 at a time: each catch-up stops after a read that brought events, until it covers the wake.
    let rounds = 0;
    while (!tail.covers(bus.generation)) {
      await tail.catchUp(bus.generation);
      rounds++;
    }
    expect(rounds).toBe(7); // 25 events: six full reads of 4, then one of 1
    const all = (await og.activity.list({ after: base })).map((e) => e.seq);
    expect(all).toHaveLength(25);
    // Only the newest 10 are kept: before them, the table.
    expect(tail.eventsAfter(all[14]!)?.map((e) => e.seq)).toEqual(all.slice(15));
    expect(tail.eventsAfter(all[13]!)).toBeUndefined();
    expect(tail.eventsAfter(all[20]!, 2)?.map((e) => e.seq)).toEqual(all.slice(21, 23));
    // A fresh catch-up reads even when nothing woke it (a lost NOTIFY): here it finds one more event.
    await og.cmdb.create({ class: 'server', name: 'unannounced' }, { actor });
    expect(tail.covers(bus.generation)).toBe(true);
    await tail.catchUp(bus.generation, true);
    expect(tail.eventsAfter(all[24]!)?.map((e) => e.type)).toEqual(['ci.created']);
  });
});

describe('activity tail across replicas (postgres)', () => {
  const enabled = testBackends().includes('postgres');
  let a: OpsGraph;
  let b: OpsGraph;
  beforeAll(async () => {
    if (!enabled) return;
    [a, b] = await createTestReplicas();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it.runIf(enabled)("delivers another replica's commits to this replica's followers", async () => {
    const start = await a.activity.latestSeq();
    const controller = new AbortController();
    const received = Array.from({ length: 20 }, () => [] as number[]);
    const readers = received.map(async (seqs) => {
      for await (const event of a.activity.follow({ after: start, signal: controller.signal })) {
        seqs.push(event.seq);
        if (seqs.length === 10) return;
      }
    });
    for (let i = 0; i < 10; i++) await b.cmdb.create({ class: 'server', name: `remote-${i}` }, { actor });
    await Promise.all(readers);
    controller.abort();
    const expected = (await b.activity.list({ after: start })).map((e) => e.seq);
    for (const seqs of received) expect(seqs).toEqual(expected);
  });
});
