import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { NotFoundError, ValidationError } from '../kernel/errors.js';
import { definePlugin } from '../kernel/plugins.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const actor = systemActor('test');
const reader = { kind: 'token' as const, id: 'r', name: 'reader', permissions: ['cmdb:read'] };

const wan = definePlugin({
  name: 'wan',
  relationshipTypes: [{ name: 'wan_peers_with', label: 'peers with', propagation: 'both' }],
});

describe.each(testBackends())('CI relationships on %s', (backend) => {
  let og: TestOpsGraph;
  const ci = (name: string, cls = 'server') => og.cmdb.create({ class: cls, name }, { actor });
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [wan] });
  });
  afterAll(() => og?.close());

  /** Runs `fn` and checks it fails with `kind` on `field`, writing no relationship and no event. */
  async function refused(
    fn: () => Promise<unknown>,
    kind: typeof ValidationError | typeof NotFoundError,
    field: string,
  ) {
    const seq = await og.activity.latestSeq();
    const before = (await og.db.selectFrom('relationships').select('id').execute()).length;
    const error = await fn().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(kind);
    expect(error).toMatchObject({ field });
    expect((await og.db.selectFrom('relationships').select('id').execute()).length).toBe(before);
    expect(await og.activity.latestSeq()).toBe(seq);
    return error as Error;
  }

  it('has core types with their propagation, and a plugin type owned by the plugin', async () => {
    const types = await og.cmdb.relationshipTypes();
    expect(types.find((t) => t.name === 'depends_on')).toMatchObject({
      propagation: 'to_source',
      owner: 'core',
    });
    expect(types.find((t) => t.name === 'contains')).toMatchObject({
      propagation: 'to_target',
      acyclic: true,
    });
    expect(types.find((t) => t.name === 'wan_peers_with')).toMatchObject({
      propagation: 'both',
      owner: 'wan',
    });
  });

  it('relates two CIs with an event, lists them per CI in one batch, and unrelates', async () => {
    const app = await ci('shop-app', 'application');
    const db = await ci('shop-db', 'database');
    const other = await ci('lonely');
    const rel = await og.cmdb.relate({ type: 'depends_on', sourceId: app.id, targetId: db.id }, { actor });
    expect(rel).toMatchObject({ type: 'depends_on', sourceId: app.id, targetId: db.id });
    const [event] = await og.activity.list({ types: ['ci.related'], subject: { type: 'ci', id: app.id } });
    expect(event?.payload).toMatchObject({ relationship: { id: rel.id } });

    const [ofApp, ofDb, ofOther] = await og.cmdb.relationshipsOf([app.id, db.id, other.id], {
      actor: reader,
    });
    expect(ofApp?.map((r) => r.id)).toEqual([rel.id]);
    expect(ofDb?.map((r) => r.id)).toEqual([rel.id]);
    expect(ofOther).toEqual([]);

    await og.cmdb.unrelate(rel.id, { actor });
    expect((await og.cmdb.relationshipsOf([app.id]))[0]).toEqual([]);
    expect(await og.activity.list({ types: ['ci.unrelated'] })).toHaveLength(1);
    await refused(() => og.cmdb.unrelate(rel.id, { actor }), NotFoundError, 'id');
  });

  it('refuses bad relationships naming the field, writing nothing', async () => {
    const a = await ci('a');
    const b = await ci('b');
    const old = await ci('old');
    await og.cmdb.retire(old.id, old.version, { actor });
    await og.cmdb.relate({ type: 'runs_on', sourceId: a.id, targetId: b.id }, { actor });

    await refused(
      () => og.cmdb.relate({ type: 'likes', sourceId: a.id, targetId: b.id }, { actor }),
      ValidationError,
      'type',
    );
    await refused(
      () => og.cmdb.relate({ type: 'runs_on', sourceId: a.id, targetId: a.id }, { actor }),
      ValidationError,
      'targetId',
    );
    await refused(
      () => og.cmdb.relate({ type: 'runs_on', sourceId: a.id, targetId: a.id.toUpperCase() }, { actor }),
      ValidationError,
      'targetId',
    );
    await refused(
      () => og.cmdb.relate({ type: 'runs_on', sourceId: a.id, targetId: b.id }, { actor }),
      ValidationError,
      'targetId',
    );
    await refused(
      () => og.cmdb.relate({ type: 'runs_on', sourceId: a.id, targetId: old.id }, { actor }),
      ValidationError,
      'targetId',
    );
    await refused(
      () => og.cmdb.relate({ type: 'runs_on', sourceId: crypto.randomUUID(), targetId: b.id }, { actor }),
      NotFoundError,
      'sourceId',
    );
    await refused(
      () => og.cmdb.relate({ type: 'runs_on', sourceId: 'nope', targetId: b.id }, { actor }),
      ValidationError,
      'sourceId',
    );
    // The reverse direction is a different relationship, not a duplicate.
    await og.cmdb.relate({ type: 'runs_on', sourceId: b.id, targetId: a.id }, { actor });
  });

  it('refuses a cycle in contains, however long', async () => {
    const [rack, chassis, blade] = [await ci('rack'), await ci('chassis'), await ci('blade')];
    await og.cmdb.relate({ type: 'contains', sourceId: rack.id, targetId: chassis.id }, { actor });
    await og.cmdb.relate({ type: 'contains', sourceId: chassis.id, targetId: blade.id }, { actor });
    const error = await refused(
      () => og.cmdb.relate({ type: 'contains', sourceId: blade.id, targetId: rack.id }, { actor }),
      ValidationError,
      'targetId',
    );
    expect(error.message).toMatch(/cycle/);
    // depends_on may loop (mutual dependencies exist); contains may not.
    await og.cmdb.relate({ type: 'depends_on', sourceId: blade.id, targetId: rack.id }, { actor });
  });

  it('keeps one of two concurrent identical relates, refusing the other cleanly', async () => {
    const [x, y] = [await ci('x'), await ci('y')];
    const results = await Promise.allSettled([
      og.cmdb.relate({ type: 'hosted_on', sourceId: x.id, targetId: y.id }, { actor }),
      og.cmdb.relate({ type: 'hosted_on', sourceId: x.id, targetId: y.id }, { actor }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason).toBeInstanceOf(ValidationError);
  });

  it('needs cmdb:write to relate', async () => {
    const [p, q] = [await ci('p'), await ci('q')];
    await expect(
      og.cmdb.relate({ type: 'depends_on', sourceId: p.id, targetId: q.id }, { actor: reader }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});
