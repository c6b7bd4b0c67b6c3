import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
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
