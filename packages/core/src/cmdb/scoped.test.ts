import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import type { AnyDomainEvent } from '../kernel/events.js';
import { eventCiIds } from '../kernel/reach.js';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { CiChange } from './changes.js';
import type { Ci } from './model.js';

const admin = systemActor('test');
const forbidden = (permission: string, field: string) =>
  expect.objectContaining({ code: 'FORBIDDEN', permission, field });

/**
 * Two services on their own stacks, a shared server and a rack:
 *
 *   svc-a depends_on app-a runs_on srv-a        svc-b depends_on app-b runs_on srv-b
 *                                               app-b depends_on srv-a  (B also uses A's server)
 *   rack contains srv-a, srv-b
 *
 * Scopes resolved as the access process does: A's dependencies are svc-a, app-a, srv-a and the rack
 * (a rack failure reaches srv-a); B's add srv-a to its own; the rack's contents are rack, srv-a, srv-b.
 */
describe.each(testBackends())('scoped authorization of the CMDB and topology on %s', (backend) => {
  let og: TestOpsGraph;
  const ci: Record<string, Ci> = {};
  let readerA: Actor;
  let writerA: Actor;
  let rackTech: Actor;
  /** Reads svc-a and srv-a only: what lies between them (app-a) is hidden from it. */
  let patchy: Actor;
  let start: number;

  const names = (list: readonly { id: string }[]) => {
    const byId = new Map(Object.entries(ci).map(([name, c]) => [c.id, name]));
    return list.map((c) => byId.get(c.id) ?? c.id);
  };
  const nameOf = (id: string) => names([{ id }])[0]!;
  const A = ['app-a', 'rack', 'srv-a', 'svc-a'];

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
    await og.cmdb.defineClass({ name: 'rack', label: 'Rack', parent: 'hardware' }, { actor: admin });
    start = await og.activity.latestSeq();
    for (const [name, cls] of [
      ['svc-a', 'business_service'],
      ['app-a', 'application'],
      ['srv-a', 'server'],
      ['svc-b', 'business_service'],
      ['app-b', 'application'],
      ['srv-b', 'server'],
      ['rack', 'rack'],
    ] as const) {
      ci[name] = await og.cmdb.create({ class: cls, name }, { actor: admin });
    }
    for (const [source, type, target] of [
      ['svc-a', 'depends_on', 'app-a'],
      ['app-a', 'runs_on', 'srv-a'],
      ['svc-b', 'depends_on', 'app-b'],
      ['app-b', 'runs_on', 'srv-b'],
      ['app-b', 'depends_on', 'srv-a'],
      ['rack', 'contains', 'srv-a'],
      ['rack', 'contains', 'srv-b'],
    ] as const) {
      await og.cmdb.relate({ type, sourceId: ci[source]!.id, targetId: ci[target]!.id }, { actor: admin });
    }
    const grant = (name: string, mode: 'contains' | 'dependencies', permissions: string[]) => ({
      ciId: ci[name]!.id,
      mode,
      permissions,
    });
    readerA = await scopedTestActor(og, 'reader-a', [
      grant('svc-a', 'dependencies', ['cmdb:read', 'activity:read']),
    ]);
    writerA = await scopedTestActor(og, 'writer-a', [grant('svc-a', 'dependencies', ['cmdb:*'])]);
    rackTech = await scopedTestActor(og, 'rack-tech', [grant('rack', 'contains', ['cmdb:read'])]);
    patchy = {
      kind: 'user',
      id: 'patchy',
      name: 'patchy',
      permissions: [],
      scopes: [
        {
          ciId: ci['svc-a']!.id,
          mode: 'dependencies',
          permissions: ['cmdb:read'],
          ciIds: new Set([ci['svc-a']!.id, ci['srv-a']!.id]),
        },
      ],
    };
  });
  afterAll(() => og?.close());

  it('resolves the scopes as the access process will', () => {
    expect(names([...readerA.scopes![0]!.ciIds].map((id) => ({ id }))).sort()).toEqual(A);
    expect(names([...rackTech.scopes![0]!.ciIds].map((id) => ({ id }))).sort()).toEqual([
      'rack',
      'srv-a',
      'srv-b',
    ]);
  });

  it('gets a CI in reach, and refuses one outside it naming the permission and the field, existing or not', async () => {
    for (const name of A) expect((await og.cmdb.get(ci[name]!.id, { actor: readerA }))?.name).toBe(name);
    await expect(og.cmdb.get(ci['srv-b']!.id, { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'id'),
    );
    await expect(og.cmdb.get(ci['srv-b']!.id, { actor: readerA })).rejects.toThrow(
      `reader-a lacks the permission cmdb:read on CI ${ci['srv-b']!.id}`,
    );
    // A CI that does not exist looks the same as one outside reach: nothing to learn by probing.
    await expect(og.cmdb.get(crypto.randomUUID(), { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'id'),
    );
    // Ids as a client may send them, in upper case, are in reach as well.
    expect((await og.cmdb.get(ci['srv-a']!.id.toUpperCase(), { actor: readerA }))?.name).toBe('srv-a');
    await expect(og.cmdb.getMany([ci['svc-a']!.id, ci['svc-b']!.id], { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'ids.1'),
    );
    // The same actor reads classes and relationship types: they describe the CMDB, not a CI.
    expect((await og.cmdb.classes({ actor: readerA })).length).toBeGreaterThan(0);
    expect((await og.cmdb.relationshipTypes({ actor: readerA })).length).toBeGreaterThan(0);
  });

  it('lists only the CIs in reach, with pages, order and cursors of those alone', async () => {
    const all = await og.cmdb.list({}, { first: 100 }, { actor: readerA });
    expect(names(all.edges.map((e) => e.node))).toEqual(A);
    expect(all.hasNextPage).toBe(false);

    for (const direction of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const page = await og.cmdb.list(
          {},
          { first: 3, after, orderBy: { field: 'name', direction } },
          { actor: readerA },
        );
        seen.push(...names(page.edges.map((e) => e.node)));
        after = page.hasNextPage ? page.endCursor : null;
      } while (after);
      expect(seen).toEqual(direction === 'asc' ? A : [...A].reverse());
    }
    const servers = await og.cmdb.list({ class: 'hardware' }, {}, { actor: readerA });
    expect(names(servers.edges.map((e) => e.node))).toEqual(['rack', 'srv-a']);
    const tech = await og.cmdb.list({}, {}, { actor: rackTech });
    expect(names(tech.edges.map((e) => e.node))).toEqual(['rack', 'srv-a', 'srv-b']);
    // Trusted code (no actor) sees everything, as before.
    expect((await og.cmdb.list({}, { first: 100 })).edges).toHaveLength(7);
  });

  it('reads history, state and relationships of a CI in reach only, each relationship only with both ends readable', async () => {
    const history = await og.cmdb.history(ci['srv-a']!.id, {}, { actor: readerA });
    const related = history
      .filter((h) => h.relationship)
      .map((h) => `${nameOf(h.relationship!.sourceId)} ${h.relationship!.type}`);
    expect(related.sort()).toEqual(['app-a runs_on', 'rack contains']);
    expect(history.map((h) => h.kind)).toContain('created');
    // Unscoped, app-b's relationship is there too.
    expect((await og.cmdb.history(ci['srv-a']!.id)).filter((h) => h.relationship)).toHaveLength(3);
    // A page counts only what the actor may see, so `first` and `before` page as usual.
    const firstTwo = await og.cmdb.history(ci['srv-a']!.id, { first: 2 }, { actor: readerA });
    const rest = await og.cmdb.history(ci['srv-a']!.id, { before: firstTwo[1]!.seq }, { actor: readerA });
    expect([...firstTwo, ...rest].map((h) => h.seq)).toEqual(history.map((h) => h.seq));

    await expect(og.cmdb.history(ci['srv-b']!.id, {}, { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'id'),
    );
    const state = await og.cmdb.stateAt(ci['srv-a']!.id, og.clock.now(), { actor: readerA });
    expect(state?.relationships.map((r) => `${nameOf(r.sourceId)} ${r.type}`).sort()).toEqual([
      'app-a runs_on',
      'rack contains',
    ]);
    await expect(og.cmdb.stateAt(ci['app-b']!.id, og.clock.now(), { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'id'),
    );

    const [ofServer, ofRack] = await og.cmdb.relationshipsOf([ci['srv-a']!.id, ci.rack!.id], {
      actor: readerA,
    });
    expect(ofServer!.map((r) => `${nameOf(r.sourceId)} ${r.type} ${nameOf(r.targetId)}`).sort()).toEqual([
      'app-a runs_on srv-a',
      'rack contains srv-a',
    ]);
    expect(ofRack!.map((r) => nameOf(r.targetId))).toEqual(['srv-a']);
    await expect(og.cmdb.relationshipsOf([ci['srv-b']!.id], { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'ciIds.0'),
    );
  });

  it('walks the topology from a readable CI and reports readable CIs only', async () => {
    expect(names(await og.topology.upstream(ci['srv-a']!.id, {}, { actor: readerA }))).toEqual([
      'app-a',
      'svc-a',
    ]);
    // Unscoped, srv-a's failure reaches B as well.
    expect(names(await og.topology.upstream(ci['srv-a']!.id)).sort()).toEqual([
      'app-a',
      'app-b',
      'svc-a',
      'svc-b',
    ]);
    expect(names(await og.topology.downstream(ci['svc-a']!.id, {}, { actor: readerA }))).toEqual([
      'app-a',
      'srv-a',
      'rack',
    ]);
    const [fromRack] = await og.topology.upstreamOf([ci.rack!.id], {}, { actor: readerA });
    expect(names(fromRack!)).toEqual(['srv-a', 'app-a', 'svc-a']);
    await expect(og.topology.upstream(ci['srv-b']!.id, {}, { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'ciId'),
    );
    await expect(
      og.topology.downstreamOf([ci['svc-a']!.id, ci['svc-b']!.id], {}, { actor: readerA }),
    ).rejects.toEqual(forbidden('cmdb:read', 'ciIds.1'));

    // Impact of the rack: B's server, application and service go down too, and are not revealed.
    const impact = await og.topology.impactOf(ci.rack!.id, {}, { actor: readerA });
    expect(names(impact.affected)).toEqual(['rack', 'srv-a', 'app-a', 'svc-a']);
    expect(names(impact.services)).toEqual(['svc-a']);
    for (const affected of impact.affected)
      expect(affected.path.every((id) => readerA.scopes![0]!.ciIds.has(id))).toBe(true);
    expect((await og.topology.impactOf(ci.rack!.id)).affected).toHaveLength(7);
    const ofServer = await og.topology.impactOf([ci['srv-a']!.id], {}, { actor: readerA });
    expect(names(ofServer.affected)).toEqual(['srv-a', 'app-a', 'svc-a']);
    await expect(
      og.topology.impactOf([ci['srv-a']!.id, ci['srv-b']!.id], {}, { actor: readerA }),
    ).rejects.toEqual(forbidden('cmdb:read', 'ciIds.1'));

    const path = await og.topology.path(ci['svc-a']!.id, ci.rack!.id, {}, { actor: readerA });
    expect(names(path!.cis)).toEqual(['svc-a', 'app-a', 'srv-a', 'rack']);
    await expect(og.topology.path(ci['svc-b']!.id, ci.rack!.id, {}, { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'fromId'),
    );

    const map = await og.topology.serviceMap(ci['svc-a']!.id, {}, { actor: readerA });
    expect(names(map.nodes)).toEqual(['svc-a', 'app-a', 'srv-a', 'rack']);
    await expect(og.topology.serviceMap(ci['svc-b']!.id, {}, { actor: readerA })).rejects.toEqual(
      forbidden('cmdb:read', 'rootId'),
    );
    // The rack technician's map of the rack's dependencies holds what it may read.
    const rootCauses = await og.topology.rootCauseCandidates([ci['srv-a']!.id, ci['app-a']!.id], {
      actor: readerA,
    });
    expect(rootCauses.map((c) => [nameOf(c.ci.id), c.explains.map(nameOf)])).toEqual([['srv-a', ['app-a']]]);
    await expect(
      og.topology.rootCauseCandidates([ci['srv-a']!.id, ci['app-b']!.id], { actor: readerA }),
    ).rejects.toEqual(forbidden('cmdb:read', 'ciIds.1'));
  });

  it('does not reveal a path through a CI the actor may not read: null, and nothing beyond it', async () => {
    // patchy reads svc-a and srv-a, not app-a between them.
    expect(await og.topology.path(ci['svc-a']!.id, ci['srv-a']!.id, {}, { actor: patchy })).toBeNull();
    expect(await og.topology.upstream(ci['srv-a']!.id, {}, { actor: patchy })).toEqual([]);
    expect(await og.topology.downstream(ci['svc-a']!.id, {}, { actor: patchy })).toEqual([]);
    expect(names((await og.topology.impactOf(ci['srv-a']!.id, {}, { actor: patchy })).affected)).toEqual([
      'srv-a',
    ]);
    expect(names((await og.topology.serviceMap(ci['svc-a']!.id, {}, { actor: patchy })).nodes)).toEqual([
      'svc-a',
    ]);
  });

  it('lets a scoped writer change the CIs of its scope only; create, reconcile and classes stay global', async () => {
    const srvA = (await og.cmdb.get(ci['srv-a']!.id))!;
    const updated = await og.cmdb.update(
      srvA.id,
      { version: srvA.version, attributes: { os: 'debian 13' } },
      { actor: writerA },
    );
    expect(updated.attributes.os).toBe('debian 13');
    expect((await og.cmdb.history(srvA.id))[0]?.actor.name).toBe('writer-a');

    const srvB = (await og.cmdb.get(ci['srv-b']!.id))!;
    await expect(
      og.cmdb.update(srvB.id, { version: srvB.version, attributes: { os: 'x' } }, { actor: writerA }),
    ).rejects.toEqual(forbidden('cmdb:write', 'id'));
    await expect(og.cmdb.retire(srvB.id, srvB.version, { actor: writerA })).rejects.toEqual(
      forbidden('cmdb:write', 'id'),
    );
    // A reader in scope is not a writer.
    await expect(
      og.cmdb.update(srvA.id, { version: updated.version, name: 'x' }, { actor: readerA }),
    ).rejects.toEqual(expect.objectContaining({ code: 'FORBIDDEN', permission: 'cmdb:write' }));
    expect((await og.cmdb.get(srvB.id))!.version).toBe(srvB.version);

    // Relating: write on the source, read on the target.
    const rel = await og.cmdb.relate(
      { type: 'connected_to', sourceId: ci['app-a']!.id, targetId: ci.rack!.id },
      { actor: writerA },
    );
    await expect(
      og.cmdb.relate(
        { type: 'depends_on', sourceId: ci['app-b']!.id, targetId: ci['app-a']!.id },
        { actor: writerA },
      ),
    ).rejects.toEqual(forbidden('cmdb:write', 'sourceId'));
    await expect(
      og.cmdb.relate(
        { type: 'depends_on', sourceId: ci['app-a']!.id, targetId: ci['srv-b']!.id },
        { actor: writerA },
      ),
    ).rejects.toEqual(forbidden('cmdb:read', 'targetId'));
    await og.cmdb.unrelate(rel.id, { actor: writerA });
    // B's use of srv-a is B's relationship: its source is outside A's reach.
    const [ofServer] = await og.cmdb.relationshipsOf([ci['srv-a']!.id]);
    const bUsesA = ofServer!.find((r) => r.sourceId === ci['app-b']!.id)!;
    await expect(og.cmdb.unrelate(bUsesA.id, { actor: writerA })).rejects.toEqual(
      forbidden('cmdb:write', 'id'),
    );
    expect((await og.cmdb.relationshipsOf([ci['srv-a']!.id]))[0]).toHaveLength(3);

    // Only an actor holding cmdb:write everywhere creates: a new CI is in nobody's scope yet.
    await expect(og.cmdb.create({ class: 'server', name: 'new' }, { actor: writerA })).rejects.toEqual(
      expect.objectContaining({ code: 'FORBIDDEN', permission: 'cmdb:write' }),
    );
    await expect(
      og.cmdb.reconcile(
        { cis: [{ class: 'server', name: 'new', attributes: {} }] },
        { actor: writerA, source: 'manual' },
      ),
    ).rejects.toEqual(expect.objectContaining({ code: 'FORBIDDEN', permission: 'cmdb:write' }));
    await expect(og.cmdb.defineClass({ name: 'shelf', label: 'Shelf' }, { actor: writerA })).rejects.toEqual(
      expect.objectContaining({ code: 'FORBIDDEN', permission: 'cmdb:admin' }),
    );
  });

  it("delivers a scoped reader's activity and CI changes of its CIs only", async () => {
    const head = await og.activity.latestSeq();
    const srvB = (await og.cmdb.get(ci['srv-b']!.id))!;
    const appA = (await og.cmdb.get(ci['app-a']!.id))!;
    await og.cmdb.update(srvB.id, { version: srvB.version, tags: ['b'] }, { actor: admin });
    await og.cmdb.update(appA.id, { version: appA.version, tags: ['a'] }, { actor: admin });
    const cross = await og.cmdb.relate(
      { type: 'connected_to', sourceId: appA.id, targetId: srvB.id },
      { actor: admin },
    );
    await og.cmdb.unrelate(cross.id, { actor: admin });
    const last = await og.cmdb.update(ci['svc-a']!.id, { version: 1, tags: ['a'] }, { actor: admin });

    const inA = new Set(readerA.scopes![0]!.ciIds);
    const about = (event: AnyDomainEvent) => eventCiIds(event).map(nameOf).join(' ');
    const listed = await og.activity.list({ after: start, limit: 1000 }, { actor: readerA });
    expect(listed.length).toBeGreaterThan(0);
    for (const event of listed)
      expect(
        eventCiIds(event).every((id) => inA.has(id)),
        about(event),
      ).toBe(true);
    // Everything about A is there: its creation, relationships and the updates above.
    expect(listed.filter((e) => e.type === 'ci.created').map(about)).toEqual([
      'svc-a',
      'app-a',
      'srv-a',
      'rack',
    ]);
    const all = await og.activity.list({ after: start, limit: 1000 });
    expect(all.length).toBeGreaterThan(listed.length);

    // Following: the activity stream and the CI change stream, from before the changes above.
    const events: string[] = [];
    for await (const event of og.activity.follow({ after: head, actor: readerA })) {
      events.push(`${event.type} ${about(event)}`);
      if (event.seq >= (await og.activity.latestSeq())) break;
    }
    expect(events).toEqual(['ci.updated app-a', 'ci.updated svc-a']);

    const changes: CiChange[] = [];
    for await (const change of og.cmdb.follow({}, { after: head, actor: readerA })) {
      changes.push(change);
      if (change.ci.id === last.id) break;
    }
    expect(changes.map((c) => `${c.kind} ${nameOf(c.ci.id)}`)).toEqual(['updated app-a', 'updated svc-a']);
    // The rack technician sees srv-b's change, and no relationship it cannot see both ends of.
    const tech: CiChange[] = [];
    for await (const change of og.cmdb.follow({}, { after: head, actor: rackTech })) {
      tech.push(change);
      break;
    }
    expect(tech.map((c) => `${c.kind} ${nameOf(c.ci.id)}`)).toEqual(['updated srv-b']);
  });
});
