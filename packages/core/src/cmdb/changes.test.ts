import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { CiChange, CiChangeFilter } from './changes.js';

const actor = systemActor('test');
const reader: Actor = { kind: 'user', id: 'r', name: 'Reader', permissions: ['cmdb:read'] };

describe.each(testBackends())('following CI changes on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
    await sql`insert into ci_classes (name, label, parent, owner) values ('rhel_server', 'RHEL server', 'linux_server', 'test')`.execute(
      og.db,
    );
  });
  afterAll(() => og?.close());

  /** The first `count` changes after `after` that match `filter`; fails if they do not come. */
  async function take(filter: CiChangeFilter, after: number, count: number, as: Actor = reader) {
    const taken: CiChange[] = [];
    const stream = og.cmdb.follow(filter, { after, actor: as });
    if (count === 0) return taken;
    const timeout = setTimeout(() => void stream.return?.(), 10_000);
    for await (const change of stream) {
      taken.push(change);
      if (taken.length === count) break;
    }
    clearTimeout(timeout);
    return taken;
  }
  const describeChange = (c: CiChange) =>
    c.relationship ? `${c.kind} ${c.ci.name} (${c.relationship.type})` : `${c.kind} ${c.ci.name}`;

  it('delivers created, updated, retired, related and unrelated with their details, in seq order', async () => {
    const start = await og.activity.latestSeq();
    const web = await og.cmdb.create({ class: 'application', name: 'chg-web', tags: ['prod'] }, { actor });
    const vm = await og.cmdb.create({ class: 'linux_server', name: 'chg-vm' }, { actor });
    const updated = await og.cmdb.update(web.id, { version: 1, name: 'chg-web-2' }, { actor });
    const rel = await og.cmdb.relate({ type: 'runs_on', sourceId: web.id, targetId: vm.id }, { actor });
    await og.cmdb.unrelate(rel.id, { actor });
    await og.cmdb.retire(vm.id, 1, { actor });

    const changes = await take({}, start, 6);
    expect(changes.map(describeChange)).toEqual([
      'created chg-web',
      'created chg-vm',
      'updated chg-web-2',
      'related chg-web-2 (runs_on)',
      'unrelated chg-web-2 (runs_on)',
      'retired chg-vm',
    ]);
    const seqs = changes.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(6);
    // The CI as the event recorded it, with real dates, like every other read of the SDK.
    expect(changes[0]!.ci).toEqual(web);
    expect(changes[2]!.ci).toEqual(updated);
    expect(changes[2]!.changes).toEqual([{ field: 'name', before: 'chg-web', after: 'chg-web-2' }]);
    expect(changes[3]!.relationship).toEqual(rel);
    expect(changes[3]!.changes).toBeNull();
    expect(changes[0]!.relationship).toBeNull();
    expect(changes[5]!.ci).toMatchObject({ id: vm.id, status: 'retired' });
    expect(changes[5]!.actor).toEqual({ kind: 'system', id: 'test', name: 'test' });
    expect(changes[5]!.occurredAt).toBeInstanceOf(Date);
  });

  it('resumes after any seq with nothing lost and nothing repeated', async () => {
    const start = await og.activity.latestSeq();
    for (let i = 0; i < 5; i++) await og.cmdb.create({ class: 'database', name: `chg-db-${i}` }, { actor });
    const everything = await take({ class: 'database' }, start, 5);
    for (const [i, change] of everything.slice(0, -1).entries()) {
      const rest = await take({ class: 'database' }, change.seq, 4 - i);
      expect(rest.map((c) => c.seq)).toEqual(everything.slice(i + 1).map((c) => c.seq));
    }
  });

  it('goes on live: a change committed while it waits arrives', async () => {
    const stream = og.cmdb.follow({ tag: 'live' }, { actor: reader });
    const first = stream.next();
    // "From now on" is fixed by the call: a change made right after it is not missed.
    const ci = await og.cmdb.create({ class: 'server', name: 'chg-live', tags: ['live'] }, { actor });
    const { value } = await first;
    expect(value).toMatchObject({ kind: 'created', ci: { id: ci.id } });
    // Leaving ends the wait at once.
    const pending = stream.next();
    await stream.return!();
    await expect(pending).resolves.toMatchObject({ done: true });
  });

  it('filters by ids, class including the classes below it, and tag', async () => {
    const start = await og.activity.latestSeq();
    const rhel = await og.cmdb.create({ class: 'rhel_server', name: 'chg-rhel', tags: ['a'] }, { actor });
    const app = await og.cmdb.create({ class: 'application', name: 'chg-app', tags: ['a', 'b'] }, { actor });
    const win = await og.cmdb.create({ class: 'windows_server', name: 'chg-win' }, { actor });
    // Relationships reach a follower of either end; the change names the end that matched.
    await og.cmdb.relate({ type: 'runs_on', sourceId: app.id, targetId: win.id }, { actor });
    // An update that takes the tag away still reaches followers of that tag.
    await og.cmdb.update(app.id, { version: 1, tags: ['b'] }, { actor });
    // A last change every filter below matches: each list ending with it shows nothing else came.
    const end = await og.cmdb.create({ class: 'rhel_server', name: 'chg-end', tags: ['a'] }, { actor });

    const seen = async (filter: CiChangeFilter, count: number) =>
      (await take(filter, start, count)).map(describeChange);
    expect(await seen({ class: 'server' }, 4)).toEqual([
      'created chg-rhel',
      'created chg-win',
      'related chg-win (runs_on)',
      'created chg-end',
    ]);
    expect(await seen({ class: 'linux_server' }, 2)).toEqual(['created chg-rhel', 'created chg-end']);
    expect(await seen({ ids: [app.id.toUpperCase(), win.id, end.id] }, 5)).toEqual([
      'created chg-app',
      'created chg-win',
      'related chg-app (runs_on)',
      'updated chg-app',
      'created chg-end',
    ]);
    // A relationship's ends are matched as they are when it is delivered: chg-app has lost the tag.
    expect(await seen({ tag: 'a' }, 4)).toEqual([
      'created chg-rhel',
      'created chg-app',
      'updated chg-app',
      'created chg-end',
    ]);
    expect(await seen({ tag: 'a', class: 'hardware', ids: [rhel.id, app.id, end.id] }, 2)).toEqual([
      'created chg-rhel',
      'created chg-end',
    ]);
  });

  it('checks cmdb:read when it starts and again on every event', async () => {
    const nobody: Actor = { kind: 'user', id: 'n', name: 'Nobody', permissions: [] };
    expect(() => og.cmdb.follow({}, { actor: nobody })).toThrow(ForbiddenError);

    // An actor whose permission is taken away while it follows (as a revoked grant would be).
    const granted = ['cmdb:read'];
    const fading: Actor = { kind: 'user', id: 'f', name: 'Fading', permissions: granted };
    const start = await og.activity.latestSeq();
    await og.cmdb.create({ class: 'server', name: 'chg-auth-1' }, { actor });
    await og.cmdb.create({ class: 'server', name: 'chg-auth-2' }, { actor });
    const stream = og.cmdb.follow({}, { after: start, actor: fading });
    expect((await stream.next()).value).toMatchObject({ ci: { name: 'chg-auth-1' } });
    granted.length = 0;
    await expect(stream.next()).rejects.toMatchObject({ code: 'FORBIDDEN', permission: 'cmdb:read' });
  });

  it('names the field of a bad filter', async () => {
    expect(() => og.cmdb.follow({ ids: ['nope'] })).toThrow(
      expect.objectContaining({ field: 'filter.ids.0' }),
    );
    expect(() => og.cmdb.follow({ colour: 'red' } as never)).toThrow(
      expect.objectContaining({ field: 'filter.colour' }),
    );
    // The class is looked up in the database: the first next() reports it.
    await expect(og.cmdb.follow({ class: 'toaster' }).next()).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'filter.class',
    });
  });
});
