import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import { encodeCursor } from '../kernel/pagination.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { Ci, CiFilter } from './model.js';

const actor = systemActor('test');
const reader: Actor = { kind: 'user', id: 'r', name: 'Reader', permissions: ['cmdb:read'] };
const nobody: Actor = { kind: 'user', id: 'n', name: 'Nobody', permissions: [] };

describe.each(testBackends())('cmdb on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-02-01T08:00:00.000Z');
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
  });
  afterAll(() => og?.close());

  /** Every CI the filter yields, page by page of `first`. */
  const listAll = async (filter: CiFilter = {}, first = 2) => {
    const all: Ci[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const page = await og.cmdb.list(filter, { first, after });
      all.push(...page.edges.map((e) => e.node));
      expect(page.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
      if (!page.hasNextPage) return all;
      after = page.endCursor;
    }
    throw new Error('pagination did not end');
  };
  const names = (cis: Ci[]) => cis.map((ci) => ci.name);

  describe('create and get', () => {
    it('creates a CI with defaults, and reads it back the same', async () => {
      const ci = await og.cmdb.create({ class: 'server', name: '  app-01  ' }, { actor });
      expect(ci).toMatchObject({
        class: 'server',
        name: 'app-01',
        status: 'operational',
        environment: null,
        attributes: {},
        tags: [],
        version: 1,
        createdAt: clock.now(),
        updatedAt: clock.now(),
        retiredAt: null,
      });
      expect(ci.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await og.cmdb.get(ci.id)).toEqual(ci);
      expect(await og.cmdb.get(ci.id, { actor: reader })).toEqual(ci);
    });

    it('round-trips tags, attributes and environment', async () => {
      const ci = await og.cmdb.create(
        {
          class: 'linux_server',
          name: 'db-01',
          status: 'installed',
          environment: 'production',
          ownerGroup: 'dba',
          attributes: { cpu_count: 8, os: 'debian 12', memory_gb: 31.5, hostname: 'db-01' },
          tags: ['team:dba', 'tier-1', 'eu/west'],
        },
        { actor },
      );
      const read = await og.cmdb.get(ci.id);
      expect(read).toEqual(ci);
      expect(read).toMatchObject({
        status: 'installed',
        environment: 'production',
        ownerGroup: 'dba',
        attributes: { cpu_count: 8, os: 'debian 12', memory_gb: 31.5, hostname: 'db-01' },
        attributeSources: { cpu_count: 'manual', os: 'manual', memory_gb: 'manual', hostname: 'manual' },
        tags: ['team:dba', 'tier-1', 'eu/west'],
      });
    });

    it('refuses an unknown class with a ValidationError on the field class, writing nothing', async () => {
      const before = await og.activity.latestSeq();
      const attempt = og.cmdb.create({ class: 'toaster', name: 'x' }, { actor });
      await expect(attempt).rejects.toBeInstanceOf(ValidationError);
      await expect(attempt).rejects.toMatchObject({ code: 'VALIDATION', field: 'class' });
      await expect(attempt).rejects.toThrow(/toaster/);
      expect(await og.activity.latestSeq()).toBe(before);
      expect((await og.cmdb.list({ search: 'x' })).edges.some((e) => e.node.name === 'x')).toBe(false);
    });

    it('names the field of other invalid input', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ class: 'server', name: '' }, 'name'],
        [{ class: 'server', name: 'n'.repeat(201) }, 'name'],
        [{ class: '', name: 'ok' }, 'class'],
        [{ class: 'server', name: 'ok', status: 'retired' }, 'status'],
        [{ class: 'server', name: 'ok', tags: ['fine', 'not fine'] }, 'tags.1'],
        [{ class: 'server', name: 'ok', attributes: 'nope' }, 'attributes'],
        [{ class: 'server', name: 'ok', colour: 'red' }, 'colour'],
      ];
      for (const [input, field] of cases) {
        await expect(og.cmdb.create(input as never, { actor }), JSON.stringify(input)).rejects.toMatchObject({
          code: 'VALIDATION',
          field,
        });
      }
    });

    it('answers null for a missing or malformed id, and keeps getMany in order', async () => {
      const ci = await og.cmdb.create({ class: 'database', name: 'pg-main' }, { actor });
      const missing = crypto.randomUUID();
      expect(await og.cmdb.get(missing)).toBeNull();
      expect(await og.cmdb.get('not-a-uuid')).toBeNull();
      expect(await og.cmdb.get("1' or '1'='1")).toBeNull();
      expect((await og.cmdb.getMany([missing, ci.id, 'bad', ci.id])).map((c) => c?.id ?? null)).toEqual([
        null,
        ci.id,
        null,
        ci.id,
      ]);
      expect(await og.cmdb.getMany([])).toEqual([]);
    });

    it('checks permissions', async () => {
      await expect(og.cmdb.create({ class: 'server', name: 'x' }, { actor: reader })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        permission: 'cmdb:write',
      });
      await expect(og.cmdb.get(crypto.randomUUID(), { actor: nobody })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      await expect(og.cmdb.list({}, {}, { actor: nobody })).rejects.toBeInstanceOf(ForbiddenError);
      expect((await og.cmdb.classes({ actor: reader })).map((c) => c.name)).toEqual(
        expect.arrayContaining(['server', 'linux_server', 'application', 'business_service']),
      );
    });
  });

  describe('list', () => {
    const seeded: Ci[] = [];
    beforeAll(async () => {
      const specs = [
        { class: 'application', name: 'lst-node', tags: ['pager'] },
        { class: 'server', name: 'lst-node', tags: ['pager', 'eu'] },
        { class: 'server', name: 'lst-node', status: 'maintenance' as const },
        { class: 'server', name: 'LST-Admin', tags: ['eu'] },
        { class: 'linux_server', name: 'lst-100%' },
        { class: 'server', name: 'lst-1000' },
        { class: 'server', name: 'lst_x' },
        { class: 'server', name: 'lstAx' },
        { class: 'database', name: 'lst-zeta', tags: ['eu'] },
      ];
      for (const spec of specs) seeded.push(await og.cmdb.create(spec, { actor }));
    });
    const expected = (keep: (ci: Ci) => boolean) =>
      seeded
        .filter(keep)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((ci) => ci.id);
    const search = { search: 'lst' };

    it('pages by (name, id) with first/after: every CI once, in a stable order', async () => {
      for (const first of [1, 2, 4, 9, 50]) {
        const all = await listAll(search, first);
        expect(
          all.map((c) => c.id),
          `first=${first}`,
        ).toEqual(expected(() => true));
      }
      // Same name, different ids: the id breaks the tie.
      const nodes = (await listAll(search, 1)).filter((c) => c.name === 'lst-node');
      expect(nodes.map((c) => c.id)).toEqual([...nodes.map((c) => c.id)].sort());
      expect(nodes).toHaveLength(3);
    });

    it('reports hasNextPage exactly', async () => {
      const total = expected(() => true).length;
      expect((await og.cmdb.list(search, { first: total })).hasNextPage).toBe(false);
      expect((await og.cmdb.list(search, { first: total - 1 })).hasNextPage).toBe(true);
      const empty = await og.cmdb.list({ search: 'no-such-name' }, { first: 5 });
      expect(empty).toEqual({ edges: [], hasNextPage: false, endCursor: null });
    });

    it('continues after a cursor: rows added before it are not repeated, rows after it appear', async () => {
      const first = await og.cmdb.list(search, { first: 3 });
      expect(first.edges.map((e) => e.node.id)).toEqual(expected(() => true).slice(0, 3));
      // 'LST-0…' sorts before every seeded name, 'lstzz…' after them all (the test databases use C collation).
      const early = await og.cmdb.create({ class: 'server', name: 'LST-0-early' }, { actor });
      const late = await og.cmdb.create({ class: 'server', name: 'lstzz-late' }, { actor });
      const rest = await og.cmdb.list(search, { first: 50, after: first.endCursor });
      const ids = [...first.edges, ...rest.edges].map((e) => e.node.id);
      expect(ids).toEqual([...expected(() => true), late.id]);
      expect(ids).not.toContain(early.id);
      await og.cmdb.retire(early.id, 1, { actor });
      await og.cmdb.retire(late.id, 1, { actor });
    });

    it('filters by class, status, tag and name search, alone and together', async () => {
      const ids = async (filter: CiFilter) => (await listAll({ ...search, ...filter }, 3)).map((c) => c.id);
      // A class filter takes in the classes below it (linux_server is a server).
      expect(await ids({ class: 'server' })).toEqual(
        expected((c) => c.class === 'server' || c.class === 'linux_server'),
      );
      expect(await ids({ status: 'maintenance' })).toEqual(expected((c) => c.status === 'maintenance'));
      expect(await ids({ tag: 'eu' })).toEqual(expected((c) => c.tags.includes('eu')));
      expect(await ids({ class: 'server', tag: 'pager' })).toEqual(
        expected((c) => c.class === 'server' && c.tags.includes('pager')),
      );
      expect(await ids({ tag: 'nope' })).toEqual([]);
      // Search is a case-insensitive substring; % and _ are literal characters.
      expect(names(await listAll({ search: 'lst-a' }))).toEqual(['LST-Admin']);
      expect(names(await listAll({ search: 'ADMIN' }))).toEqual(['LST-Admin']);
      expect(names(await listAll({ search: '100%' }))).toEqual(['lst-100%']);
      expect(names(await listAll({ search: 'lst_' }))).toEqual(['lst_x']);
    });

    it('validates the page request', async () => {
      for (const first of [-1, 1.5, 501]) {
        await expect(og.cmdb.list({}, { first })).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'first',
        });
      }
      expect((await og.cmdb.list(search, { first: 0 })).edges).toEqual([]);
      const bad = [
        'garbage!',
        Buffer.from('{"a":1}').toString('base64url'),
        encodeCursor([1, 2]),
        encodeCursor(['lst-node', 'not-a-uuid']),
        encodeCursor(['lst-node']),
      ];
      for (const after of bad) {
        const attempt = og.cmdb.list({}, { after });
        await expect(attempt, after).rejects.toBeInstanceOf(ValidationError);
        await expect(attempt, after).rejects.toMatchObject({ field: 'after' });
      }
    });
  });

  describe('update and retire', () => {
    it('updates named fields, bumps the version and updatedAt, and records what changed', async () => {
      const ci = await og.cmdb.create({ class: 'server', name: 'upd-1', tags: ['a'] }, { actor });
      clock.advance(60_000);
      const updated = await og.cmdb.update(
        ci.id,
        {
          version: 1,
          name: 'upd-1b',
          tags: ['a', 'b'],
          environment: 'staging',
          attributes: { memory_gb: 64 },
        },
        { actor },
      );
      expect(updated).toMatchObject({
        id: ci.id,
        name: 'upd-1b',
        tags: ['a', 'b'],
        environment: 'staging',
        attributes: { memory_gb: 64 },
        version: 2,
        createdAt: ci.createdAt,
        updatedAt: clock.now(),
      });
      expect(await og.cmdb.get(ci.id)).toEqual(updated);
      const events = await og.activity.list({ subject: { type: 'ci', id: ci.id } });
      expect(events.map((e) => e.type)).toEqual(['ci.created', 'ci.updated']);
      const payload = events[1]!.payload as { changes: { field: string; before: unknown; after: unknown }[] };
      expect(payload.changes).toEqual(
        expect.arrayContaining([
          { field: 'name', before: 'upd-1', after: 'upd-1b' },
          { field: 'tags', before: ['a'], after: ['a', 'b'] },
          { field: 'environment', before: null, after: 'staging' },
          { field: 'attributes.memory_gb', before: null, after: 64 },
        ]),
      );
      expect(payload.changes).toHaveLength(4);
    });

    it('leaves a CI alone when nothing changes', async () => {
      const ci = await og.cmdb.create({ class: 'server', name: 'same' }, { actor });
      const before = await og.activity.latestSeq();
      const again = await og.cmdb.update(ci.id, { version: 1, name: 'same' }, { actor });
      expect(again.version).toBe(1);
      expect(await og.activity.latestSeq()).toBe(before);
    });

    it('refuses a stale version, an unknown id, and bad input', async () => {
      const ci = await og.cmdb.create({ class: 'server', name: 'upd-2' }, { actor });
      await og.cmdb.update(ci.id, { version: 1, name: 'upd-2b' }, { actor });
      await expect(og.cmdb.update(ci.id, { version: 1, name: 'upd-2c' }, { actor })).rejects.toBeInstanceOf(
        ConflictError,
      );
      for (const id of [crypto.randomUUID(), 'not-a-uuid']) {
        const attempt = og.cmdb.update(id, { version: 1, name: 'x' }, { actor });
        await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
        await expect(attempt).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'id', entity: 'CI', id });
      }
      await expect(og.cmdb.update(ci.id, { version: 2, status: 'retired' }, { actor })).rejects.toMatchObject(
        {
          field: 'status',
        },
      );
      await expect(og.cmdb.update(ci.id, { name: 'x' } as never, { actor })).rejects.toMatchObject({
        field: 'version',
      });
      await expect(
        og.cmdb.update(ci.id, { version: 2, class: 'database' } as never, { actor }),
      ).rejects.toMatchObject({ field: 'class' });
      expect((await og.cmdb.get(ci.id))!.name).toBe('upd-2b');
    });

    it('retires a CI: it keeps its record, leaves default listings and cannot change', async () => {
      const ci = await og.cmdb.create({ class: 'server', name: 'old-box' }, { actor });
      clock.advance(1000);
      const retired = await og.cmdb.retire(ci.id, 1, { actor });
      expect(retired).toMatchObject({ status: 'retired', retiredAt: clock.now(), version: 2 });
      expect(await og.cmdb.get(ci.id)).toEqual(retired);
      expect(names(await listAll({ search: 'old-box' }))).toEqual([]);
      expect(names(await listAll({ search: 'old-box', includeRetired: true }))).toEqual(['old-box']);
      expect(names(await listAll({ search: 'old-box', status: 'retired' }))).toEqual(['old-box']);
      // Retiring twice is harmless and records one event.
      expect(await og.cmdb.retire(ci.id, 2, { actor })).toEqual(retired);
      const events = await og.activity.list({ subject: { type: 'ci', id: ci.id } });
      expect(events.map((e) => e.type)).toEqual(['ci.created', 'ci.retired']);
      await expect(og.cmdb.update(ci.id, { version: 2, name: 'revived' }, { actor })).rejects.toMatchObject({
        code: 'VALIDATION',
      });
    });

    it('refuses to retire a stale version or a missing CI', async () => {
      const ci = await og.cmdb.create({ class: 'server', name: 'retire-race' }, { actor });
      await og.cmdb.update(ci.id, { version: 1, tags: ['x'] }, { actor });
      await expect(og.cmdb.retire(ci.id, 1, { actor })).rejects.toMatchObject({
        code: 'CONFLICT',
        currentVersion: 2,
      });
      await expect(og.cmdb.retire(crypto.randomUUID(), 1, { actor })).rejects.toBeInstanceOf(NotFoundError);
      await expect(og.cmdb.retire('nope', 1, { actor })).rejects.toBeInstanceOf(NotFoundError);
      await expect(og.cmdb.retire(ci.id, 2, { actor: reader })).rejects.toBeInstanceOf(ForbiddenError);
    });
  });
});
