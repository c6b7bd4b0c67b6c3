import { type SqlBool, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { camelRows, jsonRows } from './json-rows.js';

describe.each(testBackends())('jsonRows on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  it('maps the top-level keys of rows a statement aggregated itself, not the keys inside their values', async () => {
    const { rows } = await sql<{ rows: Record<string, unknown>[] }>`
      with x as (select 1 as some_count, '{"snake_key": {"inner_key": 1}}'::jsonb as the_labels)
      select coalesce(json_agg(x), '[]'::json) as rows from x`.execute(og.db);
    expect(camelRows(rows[0]!.rows)).toEqual([{ someCount: 1, theLabels: { snake_key: { inner_key: 1 } } }]);
  });

  it('gives the rows a plain select gives: camelCase keys, dates, nulls, jsonb, arrays, numbers', async () => {
    // Straight into the table: what is read back is the point, not the CMDB's validation.
    const at = new Date('2026-12-05T06:00:00.123Z');
    const row = (name: string, retiredAt: Date | null) => ({
      id: crypto.randomUUID(),
      class: 'server',
      name,
      status: 'operational' as const,
      environment: retiredAt ? null : 'production',
      attributes: JSON.stringify({ hostname: name, cpu_count: 8, nested: { snake_key: [1, 'two'] } }),
      attributeSources: JSON.stringify({}),
      tags: ['web', 'eu'],
      version: 3,
      createdAt: at,
      updatedAt: at,
      retiredAt,
    });
    const server = row('jr-1', null);
    const retired = row('jr-2', new Date('2026-12-05T07:00:00Z'));
    await og.db.insertInto('cis').values([server, retired]).execute();
    const query = og.db.selectFrom('cis').selectAll().where('id', 'in', [server.id, retired.id]);

    const plain = await query.orderBy('name').execute();
    const viaJson = (await jsonRows(og.db, query, ['createdAt', 'updatedAt', 'retiredAt'])).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    expect(viaJson).toEqual(plain);
    expect(viaJson[0]!.attributes).toEqual({
      hostname: 'jr-1',
      cpu_count: 8,
      nested: { snake_key: [1, 'two'] },
    });
    expect(viaJson[1]!.retiredAt).toBeInstanceOf(Date);
    expect(viaJson[0]!.retiredAt).toBeNull();
  });

  it('maps aliased and joined columns, and answers an empty list for no rows', async () => {
    const query = og.db
      .selectFrom('cis as c')
      .select(['c.id', 'c.createdAt as firstSeenAt', 'c.ownerGroup'])
      .where('c.name', '=', 'jr-1');
    const [row] = await jsonRows(og.db, query, ['firstSeenAt']);
    expect(Object.keys(row!).sort()).toEqual(['firstSeenAt', 'id', 'ownerGroup']);
    expect(row!.firstSeenAt).toEqual((await query.executeTakeFirstOrThrow()).firstSeenAt);
    expect(await jsonRows(og.db, query.where('c.name', '=', 'none'), [])).toEqual([]);
  });

  it('sends reads asked for in the same turn as one statement, each answered with its own rows', async () => {
    const seen: string[] = [];
    const off = og.queries.on((q) => seen.push(q.sql));
    const [one, two, none] = await Promise.all([
      jsonRows(og.db, og.db.selectFrom('cis').select(['name']).where('name', '=', 'jr-1'), []),
      jsonRows(og.db, og.db.selectFrom('cis').select(['name', 'retiredAt']).where('name', '=', 'jr-2'), [
        'retiredAt',
      ]),
      jsonRows(og.db, og.db.selectFrom('cis').select(['id']).where('name', '=', 'none'), []),
    ]);
    off();
    expect(seen).toHaveLength(1);
    expect(one).toEqual([{ name: 'jr-1' }]);
    expect(two).toEqual([{ name: 'jr-2', retiredAt: new Date('2026-12-05T07:00:00Z') }]);
    expect(none).toEqual([]);
  });

  it('fails only the read at fault when reads travel together', async () => {
    const good = jsonRows(og.db, og.db.selectFrom('cis').select(['name']).where('name', '=', 'jr-1'), []);
    const bad = jsonRows(
      og.db,
      og.db.selectFrom('cis').select(['name']).where(sql<SqlBool>`id = ${'not-a-uuid'}::uuid`),
      [],
    );
    await expect(bad).rejects.toThrow(/uuid/);
    expect(await good).toEqual([{ name: 'jr-1' }]);
  });

  it('reads inside a transaction see its own uncommitted rows, and never travel with reads outside it', async () => {
    const seen: string[] = [];
    const off = og.queries.on((q) => seen.push(q.sql));
    const inside = await og.db.transaction().execute(async (trx) => {
      await trx.updateTable('cis').set({ name: 'jr-1-renamed' }).where('name', '=', 'jr-1').execute();
      const [mine, outside] = await Promise.all([
        jsonRows(trx, trx.selectFrom('cis').select(['name']).where('name', 'like', 'jr-1%'), []),
        // Outside the transaction (PostgreSQL: another connection) it is not renamed yet.
        backend === 'postgres'
          ? jsonRows(og.db, og.db.selectFrom('cis').select(['name']).where('name', 'like', 'jr-1%'), [])
          : Promise.resolve([{ name: 'jr-1' }]),
      ]);
      await trx.updateTable('cis').set({ name: 'jr-1' }).where('name', '=', 'jr-1-renamed').execute();
      return { mine, outside };
    });
    off();
    expect(inside).toEqual({ mine: [{ name: 'jr-1-renamed' }], outside: [{ name: 'jr-1' }] });
    expect(seen.filter((s) => s.includes('json_agg')).length).toBe(backend === 'postgres' ? 2 : 1);
  });

  it('keeps concurrent measurements apart: each counts the statement of its own reads', async () => {
    const read = (name: string) =>
      og.queries.measure(() =>
        jsonRows(og.db, og.db.selectFrom('cis').select(['name']).where('name', '=', name), []),
      );
    const [a, b] = await Promise.all([read('jr-1'), read('jr-2')]);
    expect(a.result).toEqual([{ name: 'jr-1' }]);
    expect(b.result).toEqual([{ name: 'jr-2' }]);
    expect([a.queries.length, b.queries.length]).toEqual([1, 1]);
    expect(b.queries[0]!.parameters).toEqual(['jr-2']);
  });
});
