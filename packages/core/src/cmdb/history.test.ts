import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ValidationError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const admin = systemActor('test');
const alice: Actor = { kind: 'user', id: 'u-alice', name: 'Alice', permissions: ['cmdb:read', 'cmdb:write'] };

describe.each(testBackends())('CI history on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');
  const t = (minutes: number) => new Date(Date.parse('2026-05-01T00:00:00.000Z') + minutes * 60_000);
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    await og.cmdb.defineSource({ name: 'scanner', priority: 10 }, { actor: admin });
  });
  afterAll(() => og?.close());

  it('keeps history as an audit log: no foreign keys into cis (0033), its per-CI indexes stay', async () => {
    const { rows: constraints } = await sql<{ conname: string; contype: string }>`
      select conname, contype from pg_constraint
      where conrelid = 'ci_history'::regclass and contype <> 'n' order by conname`.execute(og.db);
    expect(constraints.map((c) => `${c.conname} ${c.contype}`)).toEqual([
      'ci_history_kind_check c',
      'ci_history_pkey p',
    ]);
    const { rows: indexes } = await sql<{ indexname: string }>`
      select indexname from pg_indexes where tablename = 'ci_history' order by indexname`.execute(og.db);
    expect(indexes.map((i) => i.indexname)).toEqual([
      'ci_history_ci_idx',
      'ci_history_pkey',
      'ci_history_related_idx',
    ]);
  });

  it('records every change with actor, source, time and before/after per field', async () => {
    clock.set(t(0));
    const ci = await og.cmdb.create(
      { class: 'linux_server', name: 'hist-1', attributes: { hostname: 'hist-1', cpu_count: 2 } },
      { actor: admin, source: 'scanner' },
    );
    clock.set(t(10));
    await og.cmdb.update(
      ci.id,
      { version: 1, status: 'maintenance', attributes: { cpu_count: 4, os: 'debian' } },
      { actor: alice },
    );
    clock.set(t(20));
    const db = await og.cmdb.create({ class: 'database', name: 'hist-db' }, { actor: alice });
    const rel = await og.cmdb.relate(
      { type: 'depends_on', sourceId: db.id, targetId: ci.id },
      { actor: alice },
    );
    clock.set(t(30));
    await og.cmdb.unrelate(rel.id, { actor: alice });
    clock.set(t(40));
    await og.cmdb.retire(ci.id, 2, { actor: admin });

    const history = await og.cmdb.history(ci.id);
    expect(history.map((h) => h.kind)).toEqual(['retired', 'unrelated', 'related', 'updated', 'created']);
    const [retired, unrelated, related, updated, created] = history;
    expect(created).toMatchObject({
      version: 1,
      actor: { kind: 'system', id: 'test' },
      source: 'scanner',
      at: t(0),
      relationship: null,
    });
    expect(created!.changes).toEqual(
      expect.arrayContaining([
        { field: 'name', before: null, after: 'hist-1' },
        { field: 'class', before: null, after: 'linux_server' },
        { field: 'attributes.hostname', before: null, after: 'hist-1' },
        { field: 'attributes.cpu_count', before: null, after: 2 },
      ]),
    );
    expect(updated).toMatchObject({
      version: 2,
      actor: { kind: 'user', id: 'u-alice', name: 'Alice' },
      source: 'manual',
      at: t(10),
    });
    expect(updated!.changes).toEqual([
      { field: 'status', before: 'operational', after: 'maintenance' },
      { field: 'attributes.cpu_count', before: 2, after: 4 },
      { field: 'attributes.os', before: null, after: 'debian' },
    ]);
    const relationship = { id: rel.id, type: 'depends_on', sourceId: db.id, targetId: ci.id };
    expect(related).toMatchObject({ at: t(20), relationship });
    expect(unrelated).toMatchObject({ at: t(30), relationship });
    expect(unrelated!.changes).toEqual([{ field: 'relationship', before: relationship, after: null }]);
    expect(retired).toMatchObject({ version: 3, at: t(40) });
    expect(retired!.changes.map((c) => c.field)).toEqual(['status', 'retiredAt']);
    // The relationship shows in the other end's history too.
    expect((await og.cmdb.history(db.id)).map((h) => h.kind)).toEqual(['unrelated', 'related', 'created']);
    // Paging: newest first, continue before a seq.
    const firstTwo = await og.cmdb.history(ci.id, { first: 2 });
    const rest = await og.cmdb.history(ci.id, { first: 10, before: firstTwo.at(-1)!.seq });
    expect([...firstTwo, ...rest]).toEqual(history);
  });

  it('answers the state of a CI at a moment, relationships included', async () => {
    const [ci] = (await og.cmdb.list({ search: 'hist-1', includeRetired: true })).edges.map((e) => e.node);
    expect(await og.cmdb.stateAt(ci!.id, new Date(t(0).getTime() - 1))).toBeNull();
    expect(await og.cmdb.stateAt(ci!.id, t(5))).toMatchObject({
      version: 1,
      class: 'linux_server',
      name: 'hist-1',
      status: 'operational',
      attributes: { hostname: 'hist-1', cpu_count: 2 },
      relationships: [],
    });
    const at25 = await og.cmdb.stateAt(ci!.id, t(25));
    expect(at25).toMatchObject({
      version: 2,
      status: 'maintenance',
      attributes: { hostname: 'hist-1', cpu_count: 4, os: 'debian' },
    });
    expect(at25!.relationships).toHaveLength(1);
    expect((await og.cmdb.stateAt(ci!.id, t(35)))!.relationships).toEqual([]);
    expect(await og.cmdb.stateAt(ci!.id, t(45))).toMatchObject({ version: 3, status: 'retired' });
    await expect(og.cmdb.stateAt(ci!.id, new Date('nonsense'))).rejects.toBeInstanceOf(ValidationError);
  });

  it('records nothing for a refused change', async () => {
    const ci = await og.cmdb.create({ class: 'server', name: 'hist-2' }, { actor: alice });
    await expect(
      og.cmdb.update(ci.id, { version: 1, attributes: { cpu_count: 'many' } }, { actor: alice }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(og.cmdb.update(ci.id, { version: 1, name: 'hist-2' }, { actor: alice })).resolves.toEqual(
      ci,
    );
    expect((await og.cmdb.history(ci.id)).map((h) => h.kind)).toEqual(['created']);
  });
});
