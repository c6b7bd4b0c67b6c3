import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ValidationError } from '../kernel/errors.js';
import { encodeCursor } from '../kernel/pagination.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import {
  type Ci,
  type CiFilter,
  type CiOrder,
  type CiStatus,
  ciOrderFields,
  ciStatuses,
  type OrderDirection,
} from './model.js';

const actor = systemActor('test');
const directions: OrderDirection[] = ['asc', 'desc'];

/** A small deterministic generator (mulberry32), so a failure repeats. */
function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

// Byte order, as the test databases' C collation sorts text.
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The order the database must return, computed here from what each CI holds. */
function compareBy(order: Required<CiOrder>) {
  const key = (ci: Ci): string | number => {
    switch (order.field) {
      case 'name':
        return ci.name;
      case 'class':
        return ci.class;
      case 'status':
        return ciStatuses.indexOf(ci.status);
      case 'createdAt':
        return ci.createdAt.getTime();
      case 'updatedAt':
        return ci.updatedAt.getTime();
    }
  };
  const sign = order.direction === 'asc' ? 1 : -1;
  return (a: Ci, b: Ci) => {
    const [x, y] = [key(a), key(b)];
    const byKey = typeof x === 'number' ? x - (y as number) : compareText(x, y as string);
    return sign * (byKey || compareText(a.id, b.id));
  };
}

describe.each(testBackends())('listing CIs on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-01T08:00:00.000Z');
  const all: Ci[] = [];
  const live = () => all.filter((ci) => ci.status !== 'retired');

  /** Every CI a filter and order yield, page by page, checking each page's cursors on the way. */
  async function listAll(filter: CiFilter, orderBy: CiOrder | undefined, first: number): Promise<Ci[]> {
    const seen: Ci[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 500; pages++) {
      const page = await og.cmdb.list(filter, { first, after, ...(orderBy ? { orderBy } : {}) });
      expect(page.edges.length).toBeLessThanOrEqual(first);
      expect(page.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
      seen.push(...page.edges.map((e) => e.node));
      if (!page.hasNextPage) return seen;
      expect(page.edges).toHaveLength(first);
      after = page.endCursor;
    }
    throw new Error('pagination did not end');
  }
  const ids = (cis: Ci[]) => cis.map((ci) => ci.id);
  const expectedIds = (
    keep: (ci: Ci) => boolean,
    order: Required<CiOrder> = { field: 'name', direction: 'asc' },
  ) => ids(live().filter(keep).sort(compareBy(order)));

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    // A class three levels below `hardware`, so the class filter has to recurse past one level.
    await sql`insert into ci_classes (name, label, parent, owner) values ('rhel_server', 'RHEL server', 'linux_server', 'test')`.execute(
      og.db,
    );
    // The attributes below are typed: give the root classes of these CIs a schema holding them.
    const testAttributes = JSON.stringify([
      { name: 'cpu', type: 'integer' },
      { name: 'os', type: 'string' },
      { name: 'disks', type: 'json' },
      { name: 'location', type: 'json' },
    ]);
    await sql`update ci_classes set attributes = attributes || ${testAttributes}::jsonb where name in ('hardware', 'application', 'database')`.execute(
      og.db,
    );
    // Repeated names make ties in the name order: let no class identify its CIs by name here.
    await sql`update ci_classes set identifiers = '[]'::jsonb where identifiers @> '[["name"]]'::jsonb`.execute(
      og.db,
    );
    const next = random(7);
    const classes = [
      'hardware',
      'server',
      'linux_server',
      'windows_server',
      'rhel_server',
      'application',
      'database',
    ];
    const names = ['web', 'Web', 'db', 'cache', 'lb', 'api', 'web'];
    const statuses: CiStatus[] = ['planned', 'installed', 'operational', 'maintenance'];
    for (let i = 0; i < 40; i++) {
      // Every third CI shares its creation time with the one before: ties that only the id breaks.
      if (i % 3 !== 0) clock.advance(1 + next(5_000));
      const ci = await og.cmdb.create(
        {
          class: classes[next(classes.length)]!,
          // Repeated names as well: ties in the name order too.
          name: `${names[next(names.length)]}-${next(4)}`,
          status: statuses[next(statuses.length)]!,
          tags: [['prod'], ['prod', 'eu'], ['test'], []][next(4)]!,
          attributes: {
            cpu: [2, 4, 8][next(3)],
            os: ['debian', 'rhel', null][next(3)],
            ...(i % 4 === 0 ? { disks: ['sda', 'sdb'] } : {}),
            ...(i % 5 === 0 ? { location: { site: 'par', rack: i % 2 } } : {}),
          },
        },
        { actor },
      );
      all.push(ci);
    }
    // Updates move updatedAt apart from createdAt; some CIs are retired.
    for (let i = 0; i < all.length; i += 4) {
      clock.advance(next(3) * 1000);
      const ci = all[i]!;
      all[i] = await og.cmdb.update(ci.id, { version: ci.version, environment: 'prod' }, { actor });
    }
    for (const i of [5, 17, 29]) {
      const ci = all[i]!;
      all[i] = await og.cmdb.retire(ci.id, ci.version, { actor });
    }
  });
  afterAll(() => og?.close());

  describe('orders and pages', () => {
    for (const field of ciOrderFields) {
      for (const direction of directions) {
        it(`orders by ${field} ${direction}, ties by id, and pages through every CI once`, async () => {
          const order = { field, direction };
          const expected = expectedIds(() => true, order);
          for (const first of [1, 3, 7, 500]) {
            const listed = ids(await listAll({}, order, first));
            expect(listed, `first=${first}`).toEqual(expected);
          }
        });
      }
    }

    it('orders by name ascending by default, and by lifecycle for status', async () => {
      expect(ids(await listAll({}, undefined, 6))).toEqual(expectedIds(() => true));
      const statuses = (await listAll({ includeRetired: true }, { field: 'status' }, 9)).map((c) => c.status);
      expect(statuses).toEqual([...statuses].sort((a, b) => ciStatuses.indexOf(a) - ciStatuses.indexOf(b)));
      expect(new Set(statuses)).toEqual(new Set(ciStatuses));
    });

    it('keeps microsecond timestamps exact in its cursors: no row repeated or skipped', async () => {
      // Timestamps written by SQL carry microseconds, which a JS Date (milliseconds) would round away.
      const target = all.filter((ci) => ci.status !== 'retired').slice(0, 6);
      for (const [i, ci] of target.entries()) {
        await sql`update cis set created_at = '2026-03-01T07:00:00.000100Z'::timestamptz + ${i} * interval '1 microsecond', updated_at = created_at where id = ${ci.id}`.execute(
          og.db,
        );
      }
      try {
        for (const direction of directions) {
          const everything = ids(await listAll({}, { field: 'createdAt', direction }, 500));
          for (const first of [1, 2, 4]) {
            expect(
              ids(await listAll({}, { field: 'createdAt', direction }, first)),
              `first=${first}`,
            ).toEqual(everything);
          }
          // The six share a millisecond and differ by microseconds: the database orders them by time.
          const six = everything.filter((id) => target.some((ci) => ci.id === id));
          const byTime = target.map((ci) => ci.id);
          expect(six).toEqual(direction === 'asc' ? byTime : byTime.reverse());
        }
      } finally {
        for (const ci of target) {
          await sql`update cis set created_at = ${ci.createdAt}, updated_at = ${ci.updatedAt} where id = ${ci.id}`.execute(
            og.db,
          );
        }
      }
    });

    it('refuses a cursor made under another order, naming after', async () => {
      const byName = await og.cmdb.list({}, { first: 2 });
      const byNameDesc = await og.cmdb.list({}, { first: 2, orderBy: { field: 'name', direction: 'desc' } });
      const cases: [string, CiOrder | undefined][] = [
        [byName.endCursor!, { field: 'createdAt' }],
        [byName.endCursor!, { field: 'name', direction: 'desc' }],
        [byNameDesc.endCursor!, undefined],
        [byNameDesc.endCursor!, { field: 'status', direction: 'desc' }],
      ];
      for (const [after, orderBy] of cases) {
        const attempt = og.cmdb.list({}, { after, ...(orderBy ? { orderBy } : {}) });
        await expect(attempt).rejects.toBeInstanceOf(ValidationError);
        await expect(attempt).rejects.toMatchObject({ field: 'after' });
        await expect(attempt).rejects.toThrow(/cursor of the order name:(asc|desc)/);
      }
      // The same order continues.
      await expect(
        og.cmdb.list({}, { after: byNameDesc.endCursor, orderBy: { field: 'name', direction: 'desc' } }),
      ).resolves.toBeTruthy();
    });

    it('refuses forged cursors and unknown orders with a ValidationError naming the field', async () => {
      const id = all[0]!.id;
      const forged = [
        encodeCursor(['createdAt:asc', 'yesterday', id]),
        encodeCursor(['createdAt:asc', '2026-13-45 99:00:00+00', id]),
        encodeCursor(['status:asc', 'broken', id]),
        encodeCursor(['status:asc', 'planned', 'not-a-uuid']),
        encodeCursor(['status:asc', 'planned', id, 'extra']),
        encodeCursor(['status:asc', 3, id]),
      ];
      const orders: CiOrder[] = [
        { field: 'createdAt' },
        { field: 'createdAt' },
        { field: 'status' },
        { field: 'status' },
        { field: 'status' },
        { field: 'status' },
      ];
      for (const [i, after] of forged.entries()) {
        await expect(og.cmdb.list({}, { after, orderBy: orders[i]! }), String(i)).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'after',
        });
      }
      await expect(og.cmdb.list({}, { orderBy: { field: 'colour' } as never })).rejects.toMatchObject({
        field: 'orderBy.field',
      });
      await expect(
        og.cmdb.list({}, { orderBy: { field: 'name', direction: 'up' } as never }),
      ).rejects.toMatchObject({ field: 'orderBy.direction' });
    });
  });

  describe('filters', () => {
    const check = async (filter: CiFilter, keep: (ci: Ci) => boolean) => {
      const expected = expectedIds(keep);
      expect(ids(await listAll(filter, undefined, 4)), JSON.stringify(filter)).toEqual(expected);
      return expected;
    };

    it('filters by class, taking in every class below it (resolved in SQL, recursively)', async () => {
      const below: Record<string, string[]> = {
        hardware: ['hardware', 'server', 'linux_server', 'windows_server', 'rhel_server'],
        server: ['server', 'linux_server', 'windows_server', 'rhel_server'],
        linux_server: ['linux_server', 'rhel_server'],
        rhel_server: ['rhel_server'],
        application: ['application'],
        cluster: ['cluster'],
      };
      for (const [cls, classes] of Object.entries(below)) {
        await check({ class: cls }, (ci) => classes.includes(ci.class));
      }
      expect(
        (await check({ class: 'server' }, (ci) => below.server!.includes(ci.class))).length,
      ).toBeGreaterThan(3);
    });

    it('refuses an unknown class with a ValidationError naming filter.class', async () => {
      const attempt = og.cmdb.list({ class: 'toaster' });
      await expect(attempt).rejects.toBeInstanceOf(ValidationError);
      await expect(attempt).rejects.toMatchObject({ code: 'VALIDATION', field: 'filter.class' });
      await expect(attempt).rejects.toThrow(/toaster/);
      // A known class with nothing in it is just empty.
      expect((await og.cmdb.list({ class: 'business_service' })).edges).toEqual([]);
    });

    it('filters by status, tag and retirement', async () => {
      for (const status of ['planned', 'maintenance'] as const) {
        await check({ status }, (ci) => ci.status === status);
      }
      const retired = all
        .filter((ci) => ci.status === 'retired')
        .map((ci) => ci.id)
        .sort();
      expect(ids(await listAll({ status: 'retired' }, undefined, 2)).sort()).toEqual(retired);
      expect(ids(await listAll({ includeRetired: true }, undefined, 500))).toHaveLength(all.length);
      await check({ tag: 'eu' }, (ci) => ci.tags.includes('eu'));
      await check({ tag: 'prod' }, (ci) => ci.tags.includes('prod'));
      await check({ tag: 'pro' }, () => false);
    });

    it('filters by attribute equality, every one ANDed, with JSON types respected', async () => {
      const attr = (ci: Ci, name: string) => (ci.attributes as Record<string, unknown>)[name];
      await check({ attributes: [{ name: 'cpu', value: 8 }] }, (ci) => attr(ci, 'cpu') === 8);
      await check({ attributes: [{ name: 'cpu', value: '8' }] }, () => false);
      await check({ attributes: [{ name: 'os', value: 'rhel' }] }, (ci) => attr(ci, 'os') === 'rhel');
      // A null attribute is not stored (null removes it), so null matches nothing.
      await check({ attributes: [{ name: 'os', value: null }] }, (ci) => attr(ci, 'os') === null);
      await check({ attributes: [{ name: 'nothing', value: null }] }, () => false);
      await check(
        {
          attributes: [
            { name: 'cpu', value: 4 },
            { name: 'os', value: 'debian' },
          ],
        },
        (ci) => attr(ci, 'cpu') === 4 && attr(ci, 'os') === 'debian',
      );
      await check(
        {
          attributes: [
            { name: 'cpu', value: 4 },
            { name: 'cpu', value: 8 },
          ],
        },
        () => false,
      );
      // Arrays and objects are equal or not: containment alone would let ['sda'] match ['sda', 'sdb'].
      await check(
        { attributes: [{ name: 'disks', value: ['sda', 'sdb'] }] },
        (ci) => attr(ci, 'disks') !== undefined,
      );
      await check({ attributes: [{ name: 'disks', value: ['sda'] }] }, () => false);
      await check({ attributes: [{ name: 'location', value: { site: 'par' } }] }, () => false);
      await check(
        { attributes: [{ name: 'location', value: { rack: 0, site: 'par' } }] },
        // Key order does not matter to JSON equality.
        (ci) => {
          const location = attr(ci, 'location') as { site: string; rack: number } | undefined;
          return location?.site === 'par' && location.rack === 0;
        },
      );
    });

    it('searches names case-insensitively, wildcards taken literally', async () => {
      await check({ search: 'WEB' }, (ci) => ci.name.toLowerCase().includes('web'));
      await check({ search: 'b-1' }, (ci) => ci.name.includes('b-1'));
      await check({ search: '%' }, () => false);
      await check({ search: 'we_' }, () => false);
    });

    it('combines every filter with every order', async () => {
      const filter: CiFilter = {
        class: 'hardware',
        tag: 'prod',
        attributes: [{ name: 'cpu', value: 8 }],
        search: 'e',
      };
      const keep = (ci: Ci) =>
        ['hardware', 'server', 'linux_server', 'windows_server', 'rhel_server'].includes(ci.class) &&
        ci.tags.includes('prod') &&
        (ci.attributes as { cpu?: number }).cpu === 8 &&
        ci.name.toLowerCase().includes('e');
      for (const field of ciOrderFields) {
        for (const direction of directions) {
          expect(ids(await listAll(filter, { field, direction }, 2))).toEqual(
            expectedIds(keep, { field, direction }),
          );
        }
      }
    });

    it('names the field of a bad filter', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ status: 'broken' }, 'filter.status'],
        [{ class: '' }, 'filter.class'],
        [{ attributes: [{ name: 'cpu' }] }, 'filter.attributes.0.value'],
        [{ attributes: [{ name: '', value: 1 }] }, 'filter.attributes.0.name'],
        [{ attributes: 'cpu=8' }, 'filter.attributes'],
        [{ colour: 'red' }, 'filter.colour'],
      ];
      for (const [filter, field] of cases) {
        await expect(og.cmdb.list(filter as CiFilter), JSON.stringify(filter)).rejects.toMatchObject({
          code: 'VALIDATION',
          field,
        });
      }
    });
  });

  describe('cost', () => {
    it('lists a page in one query when it has rows, two when an empty page must check its class', async () => {
      const page = await og.queries.measure(() =>
        og.cmdb.list({ class: 'server', tag: 'prod' }, { first: 3 }),
      );
      expect(page.result.edges.length).toBeGreaterThan(0);
      expect(page.queries).toHaveLength(1);
      const empty = await og.queries.measure(() => og.cmdb.list({ class: 'cluster' }));
      expect(empty.queries).toHaveLength(2);
    });

    it('asks for tags and attributes by containment, which their GIN indexes serve', async () => {
      const plan = async (filter: CiFilter) => {
        const { queries } = await og.queries.measure(() => og.cmdb.list(filter));
        const [query] = queries;
        return og.db.transaction().execute(async (trx) => {
          // With plain scans off, the plan shows whether an index can serve the filter at all.
          await sql`set local enable_seqscan = off`.execute(trx);
          await sql`set local enable_indexscan = off`.execute(trx);
          const result = await trx.executeQuery(
            CompiledQuery.raw(`explain ${query!.sql}`, [...query!.parameters]),
          );
          return JSON.stringify(result.rows);
        });
      };
      expect(await plan({ tag: 'eu' })).toContain('cis_tags_idx');
      expect(await plan({ attributes: [{ name: 'cpu', value: 8 }] })).toContain('cis_attributes_idx');
      expect(await plan({ attributes: [{ name: 'disks', value: ['sda', 'sdb'] }] })).toContain(
        'cis_attributes_idx',
      );
    });
  });
});
