import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { QueryEvent } from './query-log.js';

describe.each(testBackends())('query log on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  it('tells listeners every statement, transaction control included, until they unsubscribe', async () => {
    const seen: QueryEvent[] = [];
    const off = og.queries.on((event) => seen.push(event));
    await og.cmdb.create({ class: 'server', name: 'ql-1' }, { actor: systemActor('test') });
    off();
    await og.cmdb.list();
    const statements = seen.map((e) => e.sql.split(/\s/)[0]!.toLowerCase());
    expect(statements[0]).toBe('begin');
    expect(statements.at(-1)).toBe('commit');
    expect(statements).toContain('insert');
    expect(seen.every((e) => e.durationMs >= 0 && Array.isArray(e.parameters))).toBe(true);
  });

  it('reports a failed statement with its error', async () => {
    const seen: QueryEvent[] = [];
    const off = og.queries.on((event) => seen.push(event));
    await expect(
      og.db
        .selectFrom('no_such_table' as never)
        .selectAll()
        .execute(),
    ).rejects.toThrow();
    off();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.error).toBeInstanceOf(Error);
  });

  it('measures what a piece of work costs, apart from concurrent work, nested measures included', async () => {
    const [a, b] = await Promise.all([
      og.queries.measure(async () => {
        await og.cmdb.list();
        await og.cmdb.list();
        return 'a';
      }),
      og.queries.measure(async () => {
        const inner = await og.queries.measure(() => og.cmdb.classes());
        await og.cmdb.relationshipTypes();
        return inner.queries.length;
      }),
    ]);
    expect(a.result).toBe('a');
    expect(a.queries).toHaveLength(2);
    expect(a.queries.every((q) => q.sql.includes('"cis"'))).toBe(true);
    expect(b.result).toBe(1);
    expect(b.queries.map((q) => (q.sql.includes('ci_classes') ? 'classes' : 'types'))).toEqual([
      'classes',
      'types',
    ]);
  });

  it('keeps a failing listener from failing the statement', async () => {
    const off = og.queries.on(() => {
      throw new Error('observer bug');
    });
    await expect(og.cmdb.list()).resolves.toBeTruthy();
    off();
  });
});
