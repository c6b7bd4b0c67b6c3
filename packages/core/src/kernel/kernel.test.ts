import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { EVENTS_PER_STATEMENT } from './activity-store.js';
import { systemActor } from './actor.js';
import { ConflictError, ValidationError } from './errors.js';
import type { AnyDomainEvent } from './events.js';

const actor = systemActor('test');

describe.each(testBackends())('kernel on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  const countRows = async () => ({
    cis: Number((await sql<{ n: number }>`select count(*)::int as n from cis`.execute(og.db)).rows[0]!.n),
    activity: await og.activity.latestSeq(),
  });

  it('migrates once: a second run applies nothing and nothing is pending', async () => {
    const again = await og.migrate();
    expect(again.every((r) => r.applied.length === 0)).toBe(true);
    expect((await og.migrationStatus()).flatMap((s) => s.pending)).toEqual([]);
  });

  it('records a write and its event in one transaction, and publishes after commit', async () => {
    const seen: AnyDomainEvent[] = [];
    const off = og.on('ci.created', (e) => {
      seen.push(e as AnyDomainEvent);
    });
    const ci = await og.cmdb.create({ class: 'server', name: 'web-01' }, { actor });
    off();
    expect(ci.version).toBe(1);
    const [event] = await og.activity.list({ subject: { type: 'ci', id: ci.id } });
    expect(event).toMatchObject({ type: 'ci.created', actor: { kind: 'system', id: 'test' } });
    expect(seen.map((e) => e.seq)).toEqual([event!.seq]);
    // Live and replayed events are the same JSON.
    expect(seen[0]!.payload).toEqual(event!.payload);
  });

  it('stores a payload as the JSON made of it at emit: a snapshot, the same live, replayed and in the column', async () => {
    const seen: AnyDomainEvent[] = [];
    const off = og.on('*', (e) => {
      if (e.type === ('test.snapshot' as never)) seen.push(e);
    });
    const payload = {
      at: new Date('2026-03-01T08:00:00.120Z'),
      list: [1],
      text: 'é "q" \\ \u2028',
      none: null,
    };
    await og.kernel.write(actor, async ({ emit }) => {
      (emit as (type: string, subject: null, payload: unknown) => void)('test.snapshot', null, payload);
      payload.list.push(2); // after emit: not part of the event
    });
    off();
    const expected = { at: '2026-03-01T08:00:00.120Z', list: [1], text: 'é "q" \\ \u2028', none: null };
    expect(seen).toHaveLength(1);
    expect(seen[0]!.payload).toEqual(expected);
    expect(seen[0]!.payload).toBe(seen[0]!.payload); // parsed once, on first read
    // Spread and JSON see the payload too (it is read lazily, through an enumerable getter).
    expect({ ...seen[0]! }.payload).toEqual(expected);
    expect(JSON.parse(JSON.stringify(seen[0])).payload).toEqual(expected);
    const [replayed] = await og.activity.list({ after: seen[0]!.seq - 1, limit: 1 });
    expect(replayed).toMatchObject({ seq: seen[0]!.seq, type: 'test.snapshot', payload: expected });
    // The column (json) keeps the text emit wrote.
    const { rows } = await sql<{
      text: string;
    }>`select payload::text as text from activity where seq = ${seen[0]!.seq}`.execute(og.db);
    expect(rows[0]!.text).toBe(JSON.stringify(expected));
  });

  it('appends a transaction of several statements of events and writers with consecutive seqs in emit order', async () => {
    const other = systemActor('test-other');
    const seen: AnyDomainEvent[] = [];
    const off = og.on('*', (e) => {
      if (e.type === ('test.bulk' as never)) seen.push(e);
    });
    const n = EVENTS_PER_STATEMENT * 2 + 7;
    const emitAs = (emit: unknown, i: number) =>
      (emit as (type: string, subject: { type: string; id: string } | null, payload: unknown) => void)(
        'test.bulk',
        i % 3 === 0 ? null : { type: 'bulk', id: `b-${i}` },
        { i, text: `"${i}"` },
      );
    const before = await og.activity.latestSeq();
    await og.kernel.transaction(async (kernel) => {
      await kernel.write(actor, async ({ emit }) => {
        for (let i = 0; i < n; i += 2) emitAs(emit, i);
      });
      await kernel.write(other, async ({ emit }) => {
        for (let i = 1; i < n; i += 2) emitAs(emit, i);
      });
    });
    off();
    const listed: AnyDomainEvent[] = [];
    for (let page = await og.activity.list({ after: before, limit: 1000 }); page.length > 0; ) {
      listed.push(...page);
      page = await og.activity.list({ after: page.at(-1)!.seq, limit: 1000 });
    }
    expect(listed).toHaveLength(n);
    // Emit order: the first write's events, then the second's; seqs consecutive from the first.
    const order = [
      ...Array.from({ length: Math.ceil(n / 2) }, (_, k) => 2 * k),
      ...Array.from({ length: Math.floor(n / 2) }, (_, k) => 2 * k + 1),
    ];
    expect(listed.map((e) => e.seq)).toEqual(listed.map((_, k) => listed[0]!.seq + k));
    expect(listed.map((e) => (e.payload as unknown as { i: number }).i)).toEqual(order);
    expect(listed.map((e) => e.actor.id)).toEqual(order.map((i) => (i % 2 === 0 ? 'test' : 'test-other')));
    expect(listed.map((e) => e.subject)).toEqual(
      order.map((i) => (i % 3 === 0 ? null : { type: 'bulk', id: `b-${i}` })),
    );
    // Live events carry the same seqs, ids and payloads as the stored ones.
    expect(seen.map((e) => [e.seq, e.id, e.payload])).toEqual(listed.map((e) => [e.seq, e.id, e.payload]));
  });

  it('bounds a statement by payload size too: five events of 1 MB take two statements', async () => {
    const statements: string[] = [];
    const off = og.queries.on((q) => {
      if (q.sql.includes('insert into activity')) statements.push(q.sql);
    });
    const before = await og.activity.latestSeq();
    await og.kernel.write(actor, async ({ emit }) => {
      for (let i = 0; i < 5; i++)
        (emit as (type: string, subject: null, payload: unknown) => void)('test.big', null, {
          i,
          text: 'x'.repeat(1_000_000),
        });
    });
    off?.();
    expect(statements).toHaveLength(2);
    const listed = await og.activity.list({ after: before, limit: 10 });
    expect(listed.map((e) => [e.seq - listed[0]!.seq, (e.payload as unknown as { i: number }).i])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [i, i]),
    );
  });

  it('reads the seqs back when they are not consecutive', async () => {
    // Seqs step by 2 here: what the append would see if someone took seqs without its lock.
    const step = (by: number) =>
      sql`select setval(pg_get_serial_sequence('activity', 'seq'), (select max(seq) from activity))`
        .execute(og.db)
        .then(() => sql.raw(`alter table activity alter column seq set increment by ${by}`).execute(og.db));
    await step(2);
    try {
      const seen: AnyDomainEvent[] = [];
      const off = og.on('*', (e) => {
        if (e.type === ('test.gappy' as never)) seen.push(e);
      });
      await og.kernel.write(actor, async ({ emit }) => {
        for (let i = 0; i < 5; i++)
          (emit as (type: string, subject: null, payload: unknown) => void)('test.gappy', null, { i });
      });
      off();
      const listed = await og.activity.list({ after: seen[0]!.seq - 1, limit: 10 });
      expect(listed.map((e) => e.seq)).toEqual(listed.map((_, k) => listed[0]!.seq + 2 * k));
      expect(seen.map((e) => [e.seq, e.id, e.payload])).toEqual(listed.map((e) => [e.seq, e.id, e.payload]));
    } finally {
      await step(1);
    }
  });

  it('leaves no row and no activity behind when validation fails', async () => {
    const before = await countRows();
    await expect(og.cmdb.create({ class: 'no_such_class', name: 'x' }, { actor })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'class',
    });
    await expect(og.cmdb.create({ class: 'server', name: '  ' }, { actor })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      og.cmdb.create({ class: 'server', name: 'x', status: 'bogus' as never }, { actor }),
    ).rejects.toMatchObject({
      field: 'status',
    });
    expect(await countRows()).toEqual(before);
  });

  it('rolls back every write of a failed transaction, and publishes none of its events', async () => {
    const before = await countRows();
    const seen: AnyDomainEvent[] = [];
    const off = og.on('*', (e) => {
      seen.push(e);
    });
    await expect(
      og.transaction(async (tx) => {
        await tx.cmdb.create({ class: 'server', name: 'in-tx-1' }, { actor });
        await tx.cmdb.create({ class: 'server', name: 'in-tx-2' }, { actor });
        await tx.cmdb.create({ class: 'nope', name: 'fails' }, { actor });
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    off();
    expect(seen).toEqual([]);
    expect(await countRows()).toEqual(before);
  });

  it('commits all writes of a transaction together with consecutive seqs', async () => {
    const before = await og.activity.latestSeq();
    const [a, b] = await og.transaction(async (tx) => [
      await tx.cmdb.create({ class: 'server', name: 'pair-a' }, { actor }),
      await tx.cmdb.create({ class: 'server', name: 'pair-b' }, { actor }),
    ]);
    const events = await og.activity.list({ after: before });
    expect(events.map((e) => [e.seq, e.subject?.id])).toEqual([
      [events[0]!.seq, a!.id],
      [events[0]!.seq + 1, b!.id],
    ]);
  });

  it('refuses a stale version with ConflictError and changes nothing', async () => {
    const ci = await og.cmdb.create({ class: 'server', name: 'db-01' }, { actor });
    const updated = await og.cmdb.update(ci.id, { version: 1, name: 'db-01a' }, { actor });
    expect(updated.version).toBe(2);
    const stale = og.cmdb.update(ci.id, { version: 1, name: 'db-01b' }, { actor });
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toMatchObject({ field: 'version', currentVersion: 2 });
    expect((await og.cmdb.get(ci.id))!.name).toBe('db-01a');
  });

  it('lets exactly one of two concurrent writers of the same version win', async () => {
    const ci = await og.cmdb.create({ class: 'server', name: 'race' }, { actor });
    const results = await Promise.allSettled(
      ['left', 'right'].map((name) => og.cmdb.update(ci.id, { version: 1, name }, { actor })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected[0]!.reason).toBeInstanceOf(ConflictError);
    expect((await og.cmdb.get(ci.id))!.version).toBe(2);
  });

  it('streams the backlog then live events, and resumes after a seq with nothing missed or repeated', async () => {
    const start = await og.activity.latestSeq();
    const controller = new AbortController();
    const received: number[] = [];
    const reader = (async () => {
      for await (const event of og.activity.follow({ after: start, signal: controller.signal })) {
        received.push(event.seq);
        if (received.length === 20) controller.abort();
      }
    })();
    // Concurrent writers: on PostgreSQL these run in parallel transactions.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        og.cmdb.create({ class: 'server', name: `stream-${i}` }, { actor }),
      ),
    );
    await reader;
    const all = (await og.activity.list({ after: start })).map((e) => e.seq);
    expect(received).toEqual(all);
    // Resume from the middle.
    const resumed: number[] = [];
    const resume = new AbortController();
    for await (const event of og.activity.follow({ after: all[9]!, signal: resume.signal })) {
      resumed.push(event.seq);
      if (resumed.length === 10) resume.abort();
    }
    expect(resumed).toEqual(all.slice(10));
  });
});
