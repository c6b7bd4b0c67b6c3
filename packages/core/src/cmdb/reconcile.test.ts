import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ForbiddenError, ValidationError } from '../kernel/errors.js';
import type { AnyDomainEvent } from '../kernel/events.js';

/** What a record becomes as a stored payload: its JSON (dates as ISO strings). */
const toJson = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import { fieldChanges } from './history.js';
import type { ReconcilePayload, ReconcileProgress, ReconcileRelationshipInput } from './reconcile.js';

const admin = systemActor('test');
const feed: Actor = { kind: 'token', id: 't-feed', name: 'feed', permissions: ['cmdb:read', 'cmdb:write'] };

describe.each(testBackends())('reconciliation on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-06-01T00:00:00.000Z');
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    for (const s of [
      { name: 'scanner', priority: 10 },
      { name: 'scanner_b', priority: 10 },
      // The asset register is the authority on serial numbers only; it knows little about the OS.
      { name: 'assets', priority: 50, attributePriorities: { serial_number: 200, os: 5 } },
    ]) {
      await og.cmdb.defineSource(s, { actor: admin });
    }
  });
  afterAll(() => og?.close());

  const run = (payload: ReconcilePayload, source = 'scanner', onProgress?: (p: ReconcileProgress) => void) =>
    og.cmdb.reconcile(payload, { actor: feed, source, ...(onProgress ? { onProgress } : {}) });
  const count = async (table: 'cis' | 'relationships' | 'ciHistory' | 'ciIdentities') =>
    Number((await og.db.selectFrom(table).select(og.db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const snapshot = async () => ({
    cis: await count('cis'),
    relationships: await count('relationships'),
    history: await count('ciHistory'),
    identities: await count('ciIdentities'),
    seq: await og.activity.latestSeq(),
  });
  const server = (host: string, extra: Record<string, unknown> = {}, cls = 'linux_server') => ({
    ref: host,
    class: cls,
    name: host,
    attributes: { hostname: host, domain: 'shop.example', ...extra },
  });

  it('needs cmdb:write and a declared source', async () => {
    const reader: Actor = { ...feed, permissions: ['cmdb:read'] };
    await expect(og.cmdb.reconcile({ cis: [] }, { actor: reader, source: 'scanner' })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    const error = await run({ cis: [server('ghost-1')] }, 'ghost').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'source', message: 'unknown source "ghost": declare it with defineSource first' },
    ]);
  });

  it('creates CIs and relationships with history and events, in one go', async () => {
    const existing = await og.cmdb.create({ class: 'business_service', name: 'Shop' }, { actor: admin });
    const before = await snapshot();
    const progress: ReconcileProgress[] = [];
    const live: AnyDomainEvent[] = [];
    const off = og.on('*', (e) => {
      live.push(e);
    });
    const report = await run(
      {
        cis: [
          server('web-01', { cpu_count: 4, os: 'debian' }),
          server('web-02', { mac_address: '00-1A-2B-3C-4D-5E' }),
          { ref: 'app', class: 'application', name: 'shop-app', tags: ['prod', 'prod'], environment: 'prod' },
          {
            ref: 'db',
            class: 'database',
            name: 'shop-db',
            ownerGroup: 'dba',
            attributes: { engine: 'postgresql', port: 5432 },
          },
        ],
        relationships: [
          { type: 'runs_on', source: 'app', target: 'web-01' },
          { type: 'runs_on', source: { ref: 'app' }, target: { ref: 'web-02' } },
          { type: 'depends_on', source: 'app', target: 'db' },
          { type: 'depends_on', source: { ciId: existing.id }, target: 'app' },
          // Stated twice by the feed: one relationship.
          { type: 'depends_on', source: 'app', target: 'db' },
        ],
      },
      'scanner',
      (p) => progress.push(p),
    );
    expect(report).toMatchObject({
      source: 'scanner',
      created: 4,
      updated: 0,
      unchanged: 0,
      skipped: 0,
      conflicts: [],
      relationships: { created: 4, unchanged: 1, skipped: 0 },
    });
    expect(report.items.map((i) => [i.index, i.ref, i.outcome])).toEqual([
      [0, 'web-01', 'created'],
      [1, 'web-02', 'created'],
      [2, 'app', 'created'],
      [3, 'db', 'created'],
    ]);
    expect(progress.at(-1)).toMatchObject({ phase: 'writing', total: 9 });
    expect(progress.map((p) => p.phase)).toContain('validating');

    const [web1, web2, app, db] = await og.cmdb.getMany(report.items.map((i) => i.ciId!));
    expect(web1).toMatchObject({
      class: 'linux_server',
      name: 'web-01',
      status: 'operational',
      version: 1,
      attributes: { hostname: 'web-01', domain: 'shop.example', cpu_count: 4, os: 'debian' },
      attributeSources: {
        hostname: 'scanner',
        domain: 'scanner',
        cpu_count: 'scanner',
        os: 'scanner',
        $name: 'scanner',
      },
    });
    expect(web2!.attributes.mac_address).toBe('00:1a:2b:3c:4d:5e');
    expect(app).toMatchObject({ tags: ['prod'], environment: 'prod' });
    expect(db!.attributes).toEqual({ engine: 'postgresql', port: 5432 });
    const relationships = (await og.cmdb.relationshipsOf([app!.id]))[0]!;
    expect(relationships.map((r) => `${r.sourceId} ${r.type} ${r.targetId}`).sort()).toEqual(
      [
        `${app!.id} runs_on ${web1!.id}`,
        `${app!.id} runs_on ${web2!.id}`,
        `${app!.id} depends_on ${db!.id}`,
        `${existing.id} depends_on ${app!.id}`,
      ].sort(),
    );

    const history = await og.cmdb.history(app!.id);
    expect(history.filter((h) => h.kind === 'related')).toHaveLength(4);
    const created = history.find((h) => h.kind === 'created')!;
    expect(created).toMatchObject({ source: 'scanner', version: 1, actor: { id: 't-feed' } });
    expect(created.changes).toContainEqual({ field: 'name', before: null, after: 'shop-app' });
    // Each `created` entry (built in SQL with the insert) is exactly what `fieldChanges` gives, in order.
    for (const ci of [web1!, web2!, app!, db!]) {
      const entries = await og.cmdb.history(ci.id);
      expect(entries.filter((h) => h.kind === 'created').map((h) => h.changes)).toEqual([
        fieldChanges(null, ci),
      ]);
    }
    expect(
      (await og.cmdb.history(db!.id)).find((h) => h.kind === 'created')!.changes.map((c) => c.field),
    ).toEqual(['class', 'name', 'status', 'ownerGroup', 'tags', 'attributes.engine', 'attributes.port']);
    const events = await og.activity.list({ after: before.seq, limit: 100 });
    expect(events.map((e) => e.type)).toEqual([
      ...Array(4).fill('ci.created'),
      ...Array(4).fill('ci.related'),
    ]);
    expect(events.every((e) => e.actor.id === 't-feed')).toBe(true);
    // Stored payloads are exactly the JSON of the records, and this process's handlers got the same.
    off();
    expect(events.slice(0, 4).map((e) => e.payload)).toEqual(
      [web1, web2, app, db].map((ci) => toJson({ ci })),
    );
    const relationshipsById = new Map(relationships.map((r) => [r.id, r]));
    expect(events.slice(4).map((e) => e.payload)).toEqual(
      events.slice(4).map((e) => {
        const id = (e.payload as { relationship: { id: string } }).relationship.id;
        return toJson({ relationship: relationshipsById.get(id)! });
      }),
    );
    expect(
      new Set(events.slice(4).map((e) => (e.payload as { relationship: { id: string } }).relationship.id))
        .size,
    ).toBe(4);
    expect(live.map((e) => [e.seq, e.type, e.subject, e.payload])).toEqual(
      events.map((e) => [e.seq, e.type, e.subject, e.payload]),
    );
    const after = await snapshot();
    expect(after.cis - before.cis).toBe(4);
    // 4 created + 4 related entries.
    expect(after.history - before.history).toBe(8);

    // The related entries (written by the relationships' own statement): exactly what `relate` records,
    // after every CI's `created` entry, in the feed's order.
    const rows = await og.db
      .selectFrom('ciHistory')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('ciId', 'in', [web1!.id, web2!.id, app!.id, db!.id]),
          eb(
            'relationshipId',
            'in',
            relationships.map((r) => r.id),
          ),
        ]),
      )
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => r.kind)).toEqual([...Array(4).fill('created'), ...Array(4).fill('related')]);
    const byPair = new Map(relationships.map((r) => [`${r.sourceId} ${r.type} ${r.targetId}`, r]));
    const expected = [
      [app!.id, 'runs_on', web1!.id, 1],
      [app!.id, 'runs_on', web2!.id, 1],
      [app!.id, 'depends_on', db!.id, 1],
      [existing.id, 'depends_on', app!.id, existing.version],
    ].map(([sourceId, type, targetId, version]) => {
      const r = byPair.get(`${sourceId} ${type} ${targetId}`)!;
      return {
        ciId: sourceId,
        relatedCiId: targetId,
        relationshipId: r.id,
        kind: 'related',
        version,
        actorKind: 'token',
        actorId: 't-feed',
        actorName: 'feed',
        source: 'scanner',
        at: clock.now(),
        changes: [{ field: 'relationship', before: null, after: { id: r.id, type, sourceId, targetId } }],
      };
    });
    expect(rows.slice(4).map(({ seq: _, ...r }) => r)).toEqual(expected);
    expect(history.filter((h) => h.kind === 'related').map((h) => h.relationship)).toEqual(
      expect.arrayContaining(expected.map((e) => e.changes[0]!.after)),
    );
  });

  it('is idempotent: the same payload again changes nothing', async () => {
    const payload: ReconcilePayload = {
      cis: [
        server('idem-01', { cpu_count: 2, memory_gb: 7.5, os: 'debian' }),
        { ref: 'idem-app', class: 'application', name: 'idem-app', tags: ['b', 'a'], status: 'installed' },
      ],
      relationships: [{ type: 'runs_on', source: 'idem-app', target: 'idem-01' }],
    };
    const first = await run(payload);
    expect(first).toMatchObject({ created: 2, relationships: { created: 1 } });
    const before = await snapshot();
    const cis = await og.cmdb.getMany(first.items.map((i) => i.ciId!));
    const second = await run(payload);
    expect(second).toMatchObject({
      created: 0,
      updated: 0,
      unchanged: 2,
      skipped: 0,
      conflicts: [],
      relationships: { created: 0, unchanged: 1 },
    });
    expect(second.items.map((i) => i.ciId)).toEqual(first.items.map((i) => i.ciId));
    expect(await snapshot()).toEqual(before);
    expect(await og.cmdb.getMany(first.items.map((i) => i.ciId!))).toEqual(cis);
  });

  it('matches across sources and classes by the identifier rules', async () => {
    // An operator recorded the machine as a plain server; the scanner knows it is a Linux server.
    const manual = await og.cmdb.create(
      { class: 'server', name: 'db-host', attributes: { hostname: 'DB-HOST', domain: 'shop.example' } },
      { actor: admin },
    );
    const seq = await og.activity.latestSeq();
    const scanned = await run({ cis: [server('db-host', { distribution: 'debian', kernel: '6.1' })] });
    expect(scanned.items[0]).toMatchObject({ ciId: manual.id, outcome: 'updated' });
    const [event] = await og.activity.list({ after: seq });
    expect(event).toMatchObject({
      type: 'ci.updated',
      subject: { type: 'ci', id: manual.id },
      payload: { ci: { id: manual.id, class: 'linux_server', version: 2, ownerGroup: null } },
    });
    const refined = await og.cmdb.get(manual.id);
    expect(refined).toMatchObject({
      class: 'linux_server',
      version: 2,
      attributes: { hostname: 'DB-HOST', domain: 'shop.example', distribution: 'debian', kernel: '6.1' },
    });
    expect((await og.cmdb.history(manual.id))[0]!.changes).toEqual([
      { field: 'class', before: 'server', after: 'linux_server' },
      { field: 'attributes.distribution', before: null, after: 'debian' },
      { field: 'attributes.kernel', before: null, after: '6.1' },
    ]);

    // The asset register knows it by host name and adds the serial number...
    const assets = await run(
      {
        cis: [
          {
            class: 'server',
            name: 'db-host',
            attributes: { hostname: 'db-host', domain: 'SHOP.example', serial_number: 'SN-77' },
          },
        ],
      },
      'assets',
    );
    expect(assets.items[0]).toMatchObject({ ciId: manual.id, outcome: 'updated' });
    // Identifiers differing in case only are the same value: no change, no conflict with manual's.
    expect(assets.conflicts).toEqual([]);
    // ...and later by serial number alone, as plain hardware: still the same CI, still a Linux server.
    const bySerial = await run(
      {
        cis: [{ class: 'hardware', name: 'db-host', attributes: { serial_number: 'sn-77', model: 'R650' } }],
      },
      'assets',
    );
    expect(bySerial.items[0]).toMatchObject({ ciId: manual.id, outcome: 'updated' });
    expect(await og.cmdb.get(manual.id)).toMatchObject({
      class: 'linux_server',
      attributes: { serial_number: 'SN-77', model: 'R650', hostname: 'DB-HOST' },
    });
    // Another serial number is another CI.
    const other = await run(
      { cis: [{ class: 'hardware', name: 'spare', attributes: { serial_number: 'SN-78' } }] },
      'assets',
    );
    expect(other.items[0]!.outcome).toBe('created');
  });

  it('merges by source precedence: lower cannot overwrite higher, equal can, per-attribute overrides', async () => {
    const first = await run({ cis: [server('prec-01', { cpu_count: 4, os: 'debian', kernel: '6.1' })] });
    const id = first.items[0]!.ciId!;
    // An operator (manual, priority 100) changes the OS and the name.
    const ci = (await og.cmdb.get(id))!;
    await og.cmdb.update(
      id,
      { version: ci.version, name: 'Checkout VM', attributes: { os: 'rhel' } },
      { actor: admin },
    );

    // The scanner (10) can't undo them, but its other changes apply.
    const again = await run({ cis: [server('prec-01', { cpu_count: 8, os: 'debian', kernel: '6.1' })] });
    expect(again.items[0]).toMatchObject({ ciId: id, outcome: 'updated' });
    expect(again.conflicts).toEqual([
      expect.objectContaining({
        list: 'cis',
        index: 0,
        ref: 'prec-01',
        kind: 'precedence',
        field: 'attributes.os',
        ciId: id,
        kept: 'rhel',
        offered: 'debian',
        heldBy: 'manual',
      }),
      expect.objectContaining({
        kind: 'precedence',
        field: 'name',
        kept: 'Checkout VM',
        offered: 'prec-01',
        heldBy: 'manual',
      }),
    ]);
    expect(await og.cmdb.get(id)).toMatchObject({
      name: 'Checkout VM',
      attributes: { os: 'rhel', cpu_count: 8 },
      attributeSources: { os: 'manual', cpu_count: 'scanner', $name: 'manual' },
    });

    // A source of the same priority may overwrite.
    await run({ cis: [server('prec-01', { cpu_count: 16 })] }, 'scanner_b');
    expect(await og.cmdb.get(id)).toMatchObject({
      attributes: { cpu_count: 16 },
      attributeSources: { cpu_count: 'scanner_b' },
    });

    // Per attribute: the asset register (50) outranks the scanner except on `os` (5), and is the
    // authority (200) on serial numbers, even over manual (100).
    await og.cmdb.update(
      id,
      { version: (await og.cmdb.get(id))!.version, attributes: { serial_number: 'TYPO' } },
      { actor: admin },
    );
    const fromAssets = await run(
      { cis: [server('prec-01', { kernel: '6.9', serial_number: 'SN-PREC', os: 'windows' })] },
      'assets',
    );
    expect(fromAssets.conflicts.map((c) => [c.field, c.heldBy])).toEqual([
      ['attributes.os', 'manual'],
      ['name', 'manual'],
    ]);
    expect(await og.cmdb.get(id)).toMatchObject({
      attributes: { kernel: '6.9', serial_number: 'SN-PREC', os: 'rhel' },
      attributeSources: { kernel: 'assets', serial_number: 'assets' },
    });
    // Now the scanner can't change the kernel the asset register set.
    const refused = await run({ cis: [server('prec-01', { kernel: '6.1' })] });
    expect(refused.conflicts.map((c) => [c.field, c.heldBy])).toContainEqual(['attributes.kernel', 'assets']);
    expect(refused.items[0]!.outcome).toBe('unchanged');

    // Confirming a value takes it over without a new version: the scanner can't change it afterwards.
    await run({ cis: [server('prov-01', { cpu_count: 2 })] });
    const before = (await og.cmdb.list({ search: 'prov-01' })).edges[0]!.node;
    const confirmed = await run({ cis: [server('prov-01', { cpu_count: 2 })] }, 'assets');
    expect(confirmed.items[0]!.outcome).toBe('unchanged');
    const after = (await og.cmdb.get(before.id))!;
    expect(after.version).toBe(before.version);
    expect(after.attributeSources.cpu_count).toBe('assets');
    expect((await run({ cis: [server('prov-01', { cpu_count: 4 })] })).conflicts[0]).toMatchObject({
      field: 'attributes.cpu_count',
      heldBy: 'assets',
    });

    // `null` removes an attribute, under the same precedence.
    await run({ cis: [server('prov-01', { memory_gb: 8 })] });
    await run({ cis: [server('prov-01', { memory_gb: null })] }, 'scanner_b');
    expect((await og.cmdb.get(before.id))!.attributes).not.toHaveProperty('memory_gb');
  });

  it('reports conflicts, skips those items and applies the rest', async () => {
    const a = await og.cmdb.create(
      { class: 'server', name: 'amb-a', attributes: { hostname: 'amb', domain: 'x.example' } },
      { actor: admin },
    );
    const b = await og.cmdb.create(
      { class: 'server', name: 'amb-b', attributes: { mac_address: 'aa:bb:cc:00:00:01' } },
      { actor: admin },
    );
    const win = await og.cmdb.create(
      { class: 'windows_server', name: 'win-1', attributes: { hostname: 'win-1', domain: 'x.example' } },
      { actor: admin },
    );
    const before = await snapshot();
    const report = await run({
      cis: [
        { ref: 'anon', class: 'server', name: 'no-identifiers', attributes: { os: 'linux' } },
        {
          ref: 'amb',
          class: 'server',
          name: 'amb',
          attributes: { hostname: 'amb', domain: 'x.example', mac_address: 'AA:BB:CC:00:00:01' },
        },
        server('dup-1'),
        { ...server('dup-1', { os: 'other' }), ref: 'dup-1-again' },
        {
          ref: 'win',
          class: 'linux_server',
          name: 'win-1',
          attributes: { hostname: 'win-1', domain: 'x.example' },
        },
        server('fine-1'),
      ],
      relationships: [
        { type: 'depends_on', source: 'fine-1', target: 'anon' },
        { type: 'depends_on', source: 'fine-1', target: 'dup-1' },
      ],
    });
    expect(report.conflicts.map((c) => [c.list, c.index, c.kind, c.field])).toEqual([
      ['cis', 0, 'unidentified', null],
      ['cis', 1, 'ambiguous', null],
      ['cis', 3, 'duplicate', null],
      ['cis', 4, 'class_mismatch', 'class'],
      ['relationships', 0, 'unresolved_end', null],
    ]);
    expect(report.conflicts[0]!.reason).toContain('serial_number; asset_tag; hostname + domain; mac_address');
    expect(report.conflicts[1]!.candidates?.slice().sort()).toEqual([a.id, b.id].sort());
    expect(report.conflicts[2]!.reason).toContain('cis.2 (ref dup-1)');
    expect(report.conflicts[3]!.ciId).toBe(win.id);
    expect(report.items.map((i) => i.outcome)).toEqual([
      'skipped',
      'skipped',
      'created',
      'skipped',
      'skipped',
      'created',
    ]);
    expect(report).toMatchObject({ created: 2, skipped: 4, relationships: { created: 1, skipped: 1 } });
    const after = await snapshot();
    expect(after.cis - before.cis).toBe(2);
    expect(after.relationships - before.relationships).toBe(1);
  });

  it('refuses bad input with one ValidationError naming every path, writing nothing', async () => {
    const live = await og.cmdb.create({ class: 'application', name: 'bad-live' }, { actor: admin });
    const retired = await og.cmdb.create({ class: 'application', name: 'bad-retired' }, { actor: admin });
    await og.cmdb.retire(retired.id, retired.version, { actor: admin });
    const box = await og.cmdb.create({ class: 'cluster', name: 'box-outer' }, { actor: admin });
    const inner = await og.cmdb.create({ class: 'cluster', name: 'box-inner' }, { actor: admin });
    await og.cmdb.relate({ type: 'contains', sourceId: box.id, targetId: inner.id }, { actor: admin });
    const before = await snapshot();
    const error = await run({
      cis: [
        { ref: 'a', class: 'toaster', name: 'x' },
        server('bad-1', { cpu_count: 'many' }),
        server('bad-2', { bogus: 1 }),
        { ...server('bad-3'), status: 'retired' },
        { ...server('bad-4'), ref: 'bad-3' },
        { ref: 'fine', class: 'application', name: 'bad-fine' },
        { ref: 'clu', class: 'cluster', name: 'box-outer' },
      ],
      relationships: [
        { type: 'likes', source: 'fine', target: 'bad-2' },
        { type: 'depends_on', source: 'fine', target: 'nowhere' },
        { type: 'depends_on', source: 'fine', target: 'fine' },
        { type: 'depends_on', source: 'fine', target: { ciId: retired.id } },
        { type: 'depends_on', source: { ciId: '00000000-0000-4000-8000-000000000000' }, target: 'fine' },
        { type: 'contains', source: { ciId: inner.id }, target: 'clu' },
        { type: 'depends_on', source: { ciId: live.id }, target: { ciId: live.id.toUpperCase() } },
        { type: 'depends_on', source: 'fine' } as unknown as ReconcileRelationshipInput,
      ],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).issues.map((i) => i.path);
    expect(paths.sort()).toEqual(
      [
        'cis.0.class',
        'cis.1.attributes.cpu_count',
        'cis.2.attributes.bogus',
        'cis.3.status',
        'cis.4.ref',
        'relationships.0.type',
        'relationships.1.target',
        'relationships.2.target',
        'relationships.3.target',
        'relationships.4.source',
        'relationships.5.target',
        'relationships.6.target',
        'relationships.7.target',
      ].sort(),
    );
    const message = (path: string) => (error as ValidationError).issues.find((i) => i.path === path)?.message;
    expect(message('cis.1.attributes.cpu_count')).toBe('must be an integer');
    expect(message('relationships.5.target')).toBe('contains would close a cycle');
    expect(message('relationships.3.target')).toContain('is retired');
    expect(await snapshot()).toEqual(before);
  });

  it('requires required attributes of new CIs only', async () => {
    await og.cmdb.defineClass(
      {
        name: 'pdu',
        label: 'PDU',
        parent: 'hardware',
        attributes: [{ name: 'outlets', type: 'integer', required: true }],
      },
      { actor: admin },
    );
    const error = await run({
      cis: [{ class: 'pdu', name: 'pdu-1', attributes: { serial_number: 'PDU-1' } }],
    }).catch((e: unknown) => e);
    expect((error as ValidationError).issues).toEqual([
      { path: 'cis.0.attributes.outlets', message: 'is required' },
    ]);
    await run({ cis: [{ class: 'pdu', name: 'pdu-1', attributes: { serial_number: 'PDU-1', outlets: 8 } }] });
    // Matched: the stored value stands in.
    const again = await run({
      cis: [{ class: 'pdu', name: 'pdu-1', attributes: { serial_number: 'PDU-1' } }],
    });
    expect(again.items[0]!.outcome).toBe('unchanged');
  });

  it('creates each CI once when two reconciliations of the same new items race', async () => {
    const payload: ReconcilePayload = {
      cis: Array.from({ length: 40 }, (_, i) => server(`race-${i}`, { cpu_count: i })),
      relationships: Array.from({ length: 39 }, (_, i) => ({
        type: 'connected_to',
        source: `race-${i}`,
        target: `race-${i + 1}`,
      })),
    };
    const [r1, r2] = await Promise.all([run(payload), run(payload, 'scanner_b')]);
    expect(r1.created + r2.created).toBe(40);
    expect([r1.created, r2.created].sort()).toEqual([0, 40]);
    expect(r1.relationships.created + r2.relationships.created).toBe(39);
    const names = await og.db.selectFrom('cis').select('name').where('name', 'like', 'race-%').execute();
    expect(names).toHaveLength(40);
    expect(r1.items.map((i) => i.ciId)).toEqual(r2.items.map((i) => i.ciId));
  });

  it('handles feeds bigger than one statement: events, history and rows in chunks', async () => {
    // 2,600 CIs + 5,200 relationships = 7,800 events in one transaction: more than 65,535 bind
    // parameters at 9 an event if they went in one statement.
    const n = 2600;
    const before = await snapshot();
    const report = await run({
      cis: Array.from({ length: n }, (_, i) => ({
        ref: `bulk-${i}`,
        class: 'application',
        name: `bulk-app-${i}`,
        attributes: { version: '1.0' },
      })),
      relationships: Array.from({ length: n * 2 }, (_, i) => ({
        type: 'depends_on',
        source: `bulk-${i % n}`,
        target: `bulk-${((i % n) + 1 + Math.floor(i / n)) % n}`,
      })),
    });
    expect(report).toMatchObject({ created: n, relationships: { created: n * 2 } });
    const after = await snapshot();
    expect(after.seq - before.seq).toBe(n * 3);
    expect(after.history - before.history).toBe(n * 3);
    const events = await og.activity.list({ after: before.seq, limit: 10 });
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => before.seq + 1 + i));
  }, 120_000);
});
