// The bulk statements' answers when something else got there first: a claim another CI holds, a
// relationship that exists already (what a single write racing with a reconciliation leaves).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { insertClaims, insertRelationshipsWithHistory, newRelationships } from './reconcile-store.js';

const actor = systemActor('test');

describe.each(testBackends())('reconcile statements on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  it('claims free keys, re-claims its own, and refuses (only) keys another CI holds', async () => {
    const a = await og.cmdb.create({ class: 'server', name: 'claims-a' }, { actor });
    const b = await og.cmdb.create({ class: 'server', name: 'claims-b' }, { actor });
    const key = (value: string) => ({ scope: 'test', rule: 'serial', value });
    expect(await insertClaims(og.db, [{ ...key('S-1'), ciId: a.id }])).toEqual([]);
    expect(await insertClaims(og.db, [{ ...key('S-1'), ciId: a.id }])).toEqual([]);
    const refused = await insertClaims(og.db, [
      { ...key('S-2'), ciId: b.id },
      { ...key('S-1'), ciId: b.id },
      { ...key('S-3'), ciId: b.id },
    ]);
    expect(refused).toEqual([{ ...key('S-1'), ciId: b.id }]);
    const held = await og.db
      .selectFrom('ciIdentities')
      .select(['value', 'ciId'])
      .where('scope', '=', 'test')
      .orderBy('value')
      .execute();
    expect(held).toEqual([
      { value: 'S-1', ciId: a.id },
      { value: 'S-2', ciId: b.id },
      { value: 'S-3', ciId: b.id },
    ]);
  });

  it('skips a relationship that exists already, without history, and returns the ones written', async () => {
    const [a, b, c] = await Promise.all(
      ['rel-a', 'rel-b', 'rel-c'].map((name) => og.cmdb.create({ class: 'server', name }, { actor })),
    );
    const existing = await og.cmdb.relate(
      { type: 'depends_on', sourceId: a!.id, targetId: b!.id },
      { actor },
    );
    const at = new Date('2026-12-05T08:00:00.000Z');
    const row = (sourceId: string, targetId: string) => ({
      id: crypto.randomUUID(),
      type: 'depends_on',
      sourceId,
      targetId,
      createdAt: at,
      version: 1,
    });
    const fresh = row(a!.id, c!.id);
    const duplicate = row(a!.id, b!.id);
    const written = await insertRelationshipsWithHistory(og.db, newRelationships([duplicate, fresh]), {
      actorKind: 'system',
      actorId: 'test',
      actorName: 'test',
      source: null,
      at,
    });
    expect(written).toEqual([
      { id: fresh.id, type: 'depends_on', sourceId: a!.id, targetId: c!.id, createdAt: at },
    ]);
    const rows = await og.db
      .selectFrom('relationships')
      .select('id')
      .where('sourceId', '=', a!.id)
      .orderBy('id')
      .execute();
    expect(rows.map((r) => r.id).sort()).toEqual([existing.id, fresh.id].sort());
    const history = await og.db
      .selectFrom('ciHistory')
      .select('relationshipId')
      .where('relationshipId', 'in', [fresh.id, duplicate.id])
      .execute();
    expect(history).toEqual([{ relationshipId: fresh.id }]);
  });
});
