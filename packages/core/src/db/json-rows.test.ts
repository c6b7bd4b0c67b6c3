import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { jsonRows } from './json-rows.js';

describe.each(testBackends())('jsonRows on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

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
});
