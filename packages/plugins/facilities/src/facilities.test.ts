import { type Actor, ConflictError, ForbiddenError, systemActor, ValidationError } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facilitiesPlugin, type Location, type Rack } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())('facilities plugin on %s', (backend) => {
  let og: TestOpsGraph;
  let room: Location;
  /** A fresh rack of `uHeight` U in the shared room. */
  const rack = (name: string, uHeight = 42) =>
    og.plugins.facilities.racks.create({ name: `${name}`, roomId: room.ciId, uHeight }, { actor });
  const server = (name: string) => og.cmdb.create({ class: 'linux_server', name: `${name}` }, { actor });
  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => e,
    );

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [facilitiesPlugin()] });
    const { locations } = og.plugins.facilities;
    const region = await locations.create({ kind: 'region', name: 'Europe' }, { actor });
    const site = await locations.create(
      { kind: 'site', name: 'AMS1', parentId: region.ciId, address: 'Amsterdam' },
      { actor },
    );
    const building = await locations.create(
      { kind: 'building', name: 'AMS1-B', parentId: site.ciId },
      { actor },
    );
    room = await locations.create({ kind: 'room', name: 'Hall 1', parentId: building.ciId }, { actor });
  });
  afterAll(() => og?.close());

  it('runs its migrations under its own owner, after core', async () => {
    expect((await og.migrationStatus()).map((s) => s.owner)).toEqual(['core', 'facilities']);
    const ledger = await sql<{
      name: string;
    }>`select name from og_migrations_facilities order by name`.execute(og.db);
    expect(ledger.rows.map((r) => r.name)).toEqual([
      '0001_facilities_locations_and_racks',
      '0002_facilities_power',
      '0003_facilities_sensors',
    ]);
  });

  it('keeps regions, sites, buildings and rooms as a containment tree of CIs', async () => {
    const { locations } = og.plugins.facilities;
    const [region] = await locations.list({ kind: 'region' });
    expect(region).toMatchObject({ name: 'Europe', kind: 'region', parentId: null });
    const [site] = await locations.list({ parentId: region!.ciId });
    expect(site).toMatchObject({ name: 'AMS1', kind: 'site', address: 'Amsterdam' });
    const ci = await og.cmdb.get(room.ciId);
    expect(ci).toMatchObject({ class: 'room', name: 'Hall 1' });
    // The CMDB holds the tree: the building contains the room, the site the building, and so on.
    const down = await og.topology.impactOf(region!.ciId);
    expect(down.affected.map((c) => c.name)).toEqual(['Europe', 'AMS1', 'AMS1-B', 'Hall 1']);
    // A room goes in a building, not a site; refused naming the field, nothing written.
    const seq = await og.activity.latestSeq();
    const error = await errorOf(
      locations.create({ kind: 'room', name: 'Bad', parentId: site!.ciId }, { actor }),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      field: 'parentId',
      message: expect.stringContaining('a room goes in a building, and AMS1 is a site'),
    });
    await expect(locations.create({ kind: 'building', name: 'Orphan' }, { actor })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'parentId',
    });
    expect(await og.activity.latestSeq()).toBe(seq);
  });

  it('places devices at a U position and refuses collisions and out-of-range U naming the rack and U', async () => {
    const { racks } = og.plugins.facilities;
    const r1 = await rack('R1');
    const web1 = await server('web-01');
    const placed = await racks.place(
      { rackId: r1.ciId, deviceId: web1.id, position: 10, height: 2 },
      { actor },
    );
    expect(placed).toMatchObject({
      rackId: r1.ciId,
      position: 10,
      height: 2,
      face: 'front',
      fullDepth: true,
      deviceName: 'web-01',
    });

    const web2 = await server('web-02');
    const seq = await og.activity.latestSeq();
    const taken = await errorOf(
      racks.place({ rackId: r1.ciId, deviceId: web2.id, position: 9, height: 3 }, { actor }),
    );
    expect(taken).toBeInstanceOf(ValidationError);
    expect(taken).toMatchObject({
      field: 'position',
      issues: [{ path: 'position', message: 'rack R1: U10 is taken by web-01' }],
    });
    const range = await errorOf(
      racks.place({ rackId: r1.ciId, deviceId: web2.id, position: 41, height: 4 }, { actor }),
    );
    expect(range).toMatchObject({
      field: 'position',
      issues: [{ path: 'position', message: 'rack R1 has 42 U: U41-U44 is out of range' }],
    });
    expect(await og.activity.latestSeq()).toBe(seq);

    // Half-depth devices share a U on opposite faces; the same face is taken.
    const patch = await server('patch-01');
    const shelf = await server('shelf-01');
    await racks.place(
      { rackId: r1.ciId, deviceId: patch.id, position: 20, face: 'front', fullDepth: false },
      { actor },
    );
    await racks.place(
      { rackId: r1.ciId, deviceId: shelf.id, position: 20, face: 'rear', fullDepth: false },
      { actor },
    );
    await expect(
      racks.place(
        { rackId: r1.ciId, deviceId: web2.id, position: 20, face: 'rear', fullDepth: false },
        { actor },
      ),
    ).rejects.toMatchObject({ message: expect.stringContaining('rack R1: U20 is taken by shelf-01') });
    // A device is in one rack at a time.
    await expect(
      racks.place({ rackId: r1.ciId, deviceId: web1.id, position: 30 }, { actor }),
    ).rejects.toMatchObject({
      field: 'deviceId',
      message: expect.stringContaining('web-01 is already in rack R1 at U10-U11'),
    });
    // The rack contains what is mounted in it, in the CMDB.
    const [relationships] = await og.cmdb.relationshipsOf([r1.ciId]);
    expect(
      relationships!
        .filter((r) => r.type === 'contains' && r.sourceId === r1.ciId)
        .map((r) => r.targetId)
        .sort(),
    ).toEqual([web1.id, patch.id, shelf.id].sort());
  });

  it('gives one U to one of many concurrent placements', async () => {
    const r = await rack('R-race');
    const devices = await Promise.all(Array.from({ length: 8 }, (_, i) => server(`race-${i}`)));
    const results = await Promise.allSettled(
      devices.map((d) =>
        og.plugins.facilities.racks.place(
          { rackId: r.ciId, deviceId: d.id, position: 20, height: 2 },
          { actor },
        ),
      ),
    );
    const won = results.filter((x) => x.status === 'fulfilled');
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const l of lost)
      expect(l.reason).toMatchObject({
        code: 'VALIDATION',
        message: expect.stringMatching(/rack R-race: U2[01] is taken by race-\d/),
      });
    expect(await og.plugins.facilities.racks.placements(r.ciId)).toHaveLength(1);
  });

  it('draws the elevation as data and as SVG', async () => {
    const { racks } = og.plugins.facilities;
    const r = await rack('R-elev', 6);
    const a = await server('app-<1>');
    const b = await server('backup-01');
    await racks.place({ rackId: r.ciId, deviceId: a.id, position: 2, height: 2 }, { actor });
    await racks.place(
      { rackId: r.ciId, deviceId: b.id, position: 5, face: 'rear', fullDepth: false },
      { actor },
    );
    const elevation = await racks.elevation(r.ciId);
    const occupant = (id: string, name: string, position: number, height: number) => ({
      deviceId: id,
      name,
      position,
      height,
    });
    expect(elevation.units).toEqual([
      { u: 6, front: null, rear: null },
      { u: 5, front: null, rear: occupant(b.id, 'backup-01', 5, 1) },
      { u: 4, front: null, rear: null },
      { u: 3, front: occupant(a.id, 'app-<1>', 2, 2), rear: occupant(a.id, 'app-<1>', 2, 2) },
      { u: 2, front: occupant(a.id, 'app-<1>', 2, 2), rear: occupant(a.id, 'app-<1>', 2, 2) },
      { u: 1, front: null, rear: null },
    ]);
    const svg = await racks.elevationSvg(r.ciId);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('app-&lt;1&gt;');
    expect(svg).not.toContain('app-<1>');
    expect(svg).toContain('backup-01');
    expect([...svg.matchAll(/data-u="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([6, 5, 4, 3, 2, 1]);
    const devices = [
      ...svg.matchAll(/data-device-id="([^"]+)" data-face="(\w+)" data-u-from="(\d+)" data-u-to="(\d+)"/g),
    ].map((m) => m.slice(1).join(' '));
    expect(devices).toEqual([`${b.id} rear 5 5`, `${a.id} front 2 3`, `${a.id} rear 2 3`]);
  });

  it('changes a rack at the version read, and never below a mounted device', async () => {
    const { racks } = og.plugins.facilities;
    const r = await rack('R-shrink', 42);
    const d = await server('tall-01');
    await racks.place({ rackId: r.ciId, deviceId: d.id, position: 38, height: 2 }, { actor });
    await expect(racks.update(r.ciId, { version: r.version, uHeight: 38 }, { actor })).rejects.toMatchObject({
      field: 'uHeight',
      message: expect.stringContaining('rack R-shrink: tall-01 occupies U38-U39, above 38 U'),
    });
    const taller = await racks.update(r.ciId, { version: r.version, uHeight: 48 }, { actor });
    expect(taller).toMatchObject({ uHeight: 48, version: r.version + 1 });
    const stale = await errorOf(racks.update(r.ciId, { version: r.version, uHeight: 47 }, { actor }));
    expect(stale).toBeInstanceOf(ConflictError);
    expect(stale).toMatchObject({ field: 'version', currentVersion: r.version + 1 });
  });

  describe('power', () => {
    let r1: Rack;
    let r2: Rack;
    let pduA: string;
    let feedA: string;
    const servers: Record<string, string> = {};

    beforeAll(async () => {
      const { racks, power } = og.plugins.facilities;
      r1 = await rack('P1');
      r2 = await rack('P2');
      for (const [name, r, u] of [
        ['pwr-01', r1, 1],
        ['pwr-02', r1, 2],
        ['pwr-03', r1, 3],
        ['pwr-04', r2, 1],
      ] as const) {
        servers[name] = (await server(name)).id;
        await racks.place({ rackId: r.ciId, deviceId: servers[name]!, position: u }, { actor });
      }
      const panel = await power.createPanel({ name: 'MDP-1', locationId: room.ciId }, { actor });
      // 230 V × 32 A × 80 % = 5888 W usable.
      const feed = await power.createFeed(
        { name: 'feed-A', panelId: panel.ciId, voltage: 230, amperage: 32 },
        { actor },
      );
      expect(feed).toMatchObject({ capacityW: 5888, allocatedW: 0, phase: 'single', maxUtilization: 80 });
      feedA = feed.ciId;
      pduA = (
        await power.createPdu(
          { name: 'pdu-P1-A', rackId: r1.ciId, feedId: feedA, capacityW: 3680 },
          { actor },
        )
      ).ciId;
    });

    it('computes three-phase capacity', async () => {
      const [panel] = await og.plugins.facilities.power.panels({ locationId: room.ciId });
      const feed = await og.plugins.facilities.power.createFeed(
        {
          name: 'feed-3p',
          panelId: panel!.ciId,
          voltage: 400,
          amperage: 16,
          phase: 'three',
          maxUtilization: 100,
        },
        { actor },
      );
      expect(feed.capacityW).toBe(Math.floor(400 * 16 * Math.sqrt(3))); // 11085 W
    });

    it('allocates watts and refuses over-allocation naming the PDU or feed and the rack', async () => {
      const { power } = og.plugins.facilities;
      await power.allocate({ pduId: pduA, deviceId: servers['pwr-01']!, watts: 2000 }, { actor });
      await power.allocate({ pduId: pduA, deviceId: servers['pwr-02']!, watts: 1500 }, { actor });
      const seq = await og.activity.latestSeq();
      const over = await errorOf(
        power.allocate({ pduId: pduA, deviceId: servers['pwr-03']!, watts: 300 }, { actor }),
      );
      expect(over).toBeInstanceOf(ValidationError);
      expect(over).toMatchObject({
        field: 'watts',
        issues: [
          {
            path: 'watts',
            message:
              'PDU pdu-P1-A in rack P1: 3500 W of 3680 W allocated, 300 W more for pwr-03 would exceed it by 120 W',
          },
        ],
      });
      // Changing a device's draw counts only the difference.
      await power.allocate({ pduId: pduA, deviceId: servers['pwr-02']!, watts: 1680 }, { actor });
      // The feed: a second PDU on it in rack P2, and the feed's 5888 W run out first.
      const pduB = await power.createPdu(
        { name: 'pdu-P2-A', rackId: r2.ciId, feedId: feedA, capacityW: 5000 },
        { actor },
      );
      const feedOver = await errorOf(
        power.allocate({ pduId: pduB.ciId, deviceId: servers['pwr-04']!, watts: 2500 }, { actor }),
      );
      expect(feedOver).toMatchObject({
        field: 'watts',
        message:
          'Invalid input: watts: feed feed-A (via PDU pdu-P2-A in rack P2): 3680 W of 5888 W allocated, 2500 W more for pwr-04 would exceed it by 292 W',
      });
      // A device draws from a PDU in its own rack only.
      await expect(
        power.allocate({ pduId: pduB.ciId, deviceId: servers['pwr-03']!, watts: 10 }, { actor }),
      ).rejects.toMatchObject({
        field: 'deviceId',
        message: expect.stringContaining('pwr-03 is not mounted in rack P2, where PDU pdu-P2-A is'),
      });
      await power.allocate({ pduId: pduB.ciId, deviceId: servers['pwr-04']!, watts: 2000 }, { actor });

      expect(
        await og.activity.list({ types: ['facilities.power_allocated'], limit: 100 }).then((e) => e.length),
      ).toBe(4);
      expect(seq).toBeLessThan(await og.activity.latestSeq());

      const budget = await power.rackBudget(r1.ciId);
      expect(budget).toMatchObject({ rackName: 'P1', capacityW: 3680, allocatedW: 3680, headroomW: 0 });
      expect(budget.pdus.map((p) => [p.name, p.capacityW, p.allocatedW])).toEqual([['pdu-P1-A', 3680, 3680]]);
      const roomBudget = await power.roomBudget(room.ciId);
      expect(roomBudget).toMatchObject({
        roomName: 'Hall 1',
        capacityW: 8680,
        allocatedW: 5680,
        headroomW: 3000,
      });
      expect(
        roomBudget.racks
          .filter((b) => b.capacityW > 0)
          .map((b) => [b.rackName, b.capacityW, b.allocatedW, b.headroomW]),
      ).toEqual([
        ['P1', 3680, 3680, 0],
        ['P2', 5000, 2000, 3000],
      ]);
      const [feed] = (await power.feeds()).filter((f) => f.ciId === feedA);
      expect(feed).toMatchObject({ capacityW: 5888, allocatedW: 5680 });
      expect((await power.draws(pduA)).map((d) => [d.deviceName, d.watts])).toEqual([
        ['pwr-01', 2000],
        ['pwr-02', 1680],
      ]);
    });

    it('never over-allocates under concurrent allocations', async () => {
      const { racks, power } = og.plugins.facilities;
      const r = await rack('P-race');
      const [panel] = await power.panels({ locationId: room.ciId });
      const feed = await power.createFeed(
        { name: 'feed-race', panelId: panel!.ciId, voltage: 230, amperage: 100 },
        { actor },
      );
      const pdu = await power.createPdu(
        { name: 'pdu-race', rackId: r.ciId, feedId: feed.ciId, capacityW: 2000 },
        { actor },
      );
      const devices = await Promise.all(Array.from({ length: 8 }, (_, i) => server(`race-pwr-${i}`)));
      for (const [i, d] of devices.entries())
        await racks.place({ rackId: r.ciId, deviceId: d.id, position: i + 1 }, { actor });
      const results = await Promise.allSettled(
        devices.map((d) => power.allocate({ pduId: pdu.ciId, deviceId: d.id, watts: 500 }, { actor })),
      );
      expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(4);
      expect((await power.rackBudget(r.ciId)).allocatedW).toBe(2000);
    });

    it('lists the servers of the racks a failed feed powers, and their business services', async () => {
      const { racks, power } = og.plugins.facilities;
      // A separate feed and racks, so the answer is exact.
      const [panel] = await power.panels({ locationId: room.ciId });
      const feed = await power.createFeed(
        { name: 'feed-X', panelId: panel!.ciId, voltage: 230, amperage: 16 },
        { actor },
      );
      const other = await power.createFeed(
        { name: 'feed-Y', panelId: panel!.ciId, voltage: 230, amperage: 16 },
        { actor },
      );
      const rx = await rack('X1');
      const ry = await rack('Y1');
      const pduX = await power.createPdu(
        { name: 'pdu-X1', rackId: rx.ciId, feedId: feed.ciId, capacityW: 2000 },
        { actor },
      );
      await power.createPdu(
        { name: 'pdu-Y1', rackId: ry.ciId, feedId: other.ciId, capacityW: 2000 },
        { actor },
      );
      const web = await server('x-web');
      const db = await server('x-db');
      const elsewhere = await server('y-batch');
      await racks.place({ rackId: rx.ciId, deviceId: web.id, position: 1 }, { actor });
      await racks.place({ rackId: rx.ciId, deviceId: db.id, position: 2 }, { actor });
      await racks.place({ rackId: ry.ciId, deviceId: elsewhere.id, position: 1 }, { actor });
      await power.allocate({ pduId: pduX.ciId, deviceId: web.id, watts: 400 }, { actor });
      const app = await og.cmdb.create({ class: 'application', name: 'x-shop-app' }, { actor });
      const shop = await og.cmdb.create({ class: 'business_service', name: 'X Shop' }, { actor });
      const reports = await og.cmdb.create({ class: 'business_service', name: 'Y Reports' }, { actor });
      await og.cmdb.relate({ type: 'runs_on', sourceId: app.id, targetId: web.id }, { actor });
      await og.cmdb.relate({ type: 'depends_on', sourceId: app.id, targetId: db.id }, { actor });
      await og.cmdb.relate({ type: 'depends_on', sourceId: shop.id, targetId: app.id }, { actor });
      await og.cmdb.relate({ type: 'depends_on', sourceId: reports.id, targetId: elsewhere.id }, { actor });

      const impact = await og.topology.impactOf([feed.ciId]);
      expect(impact.affected.map((c) => [c.name, c.depth, c.state])).toEqual([
        ['feed-X', 0, 'down'],
        ['pdu-X1', 1, 'down'],
        ['X1', 2, 'down'],
        ['x-web', 2, 'down'],
        ['x-db', 3, 'down'],
        ['x-shop-app', 3, 'down'],
        ['X Shop', 4, 'down'],
      ]);
      expect(impact.services.map((s) => s.name)).toEqual(['X Shop']);
      // Servers reached through the rack they are mounted in, e.g. x-db: feed -> PDU -> rack -> server.
      const xdb = impact.affected.find((c) => c.name === 'x-db')!;
      expect(xdb.path).toEqual([feed.ciId, pduX.ciId, rx.ciId, db.id]);
    });

    it('releases the power of a device taken out of its rack', async () => {
      const { racks, power } = og.plugins.facilities;
      const placement = await racks.unplace(servers['pwr-01']!, { actor });
      expect(placement).toMatchObject({ deviceName: 'pwr-01', position: 1 });
      expect((await power.draws(pduA)).map((d) => d.deviceName)).toEqual(['pwr-02']);
      const [relationships] = await og.cmdb.relationshipsOf([servers['pwr-01']!]);
      expect(relationships).toEqual([]);
      expect(await racks.placementOf(servers['pwr-01']!)).toBeNull();
    });
  });

  it('frees the U of a retired device', async () => {
    const { racks } = og.plugins.facilities;
    const r = await rack('R-retire', 4);
    const old = await server('old-01');
    await racks.place({ rackId: r.ciId, deviceId: old.id, position: 1, height: 4 }, { actor });
    const unplaced = new Promise<unknown>((resolve) => {
      const off = og.on('facilities.device_unplaced', (event) => {
        off();
        resolve(event);
      });
    });
    await og.cmdb.retire(old.id, old.version, { actor });
    expect(await unplaced).toMatchObject({
      payload: { placement: { deviceId: old.id, rackId: r.ciId } },
      actor: { kind: 'plugin', id: 'facilities' },
    });
    expect(await racks.placements(r.ciId)).toEqual([]);
    const fresh = await server('new-01');
    expect(
      await racks.place({ rackId: r.ciId, deviceId: fresh.id, position: 1, height: 4 }, { actor }),
    ).toMatchObject({
      deviceName: 'new-01',
    });
  });

  it('raises sensor events through event management and clears them when back', async () => {
    const { environment } = og.plugins.facilities;
    const r = await rack('S1');
    const sensor = await environment.createSensor(
      { name: 'S1-temp', locationId: r.ciId, kind: 'temperature' },
      { actor },
    );
    expect(sensor).toMatchObject({
      warningAbove: 27,
      criticalAbove: 32,
      warningBelow: 18,
      criticalBelow: 10,
      state: 'ok',
    });
    const alerts = async () => (await og.events.alerts({ ciId: r.ciId })).edges.map((e) => e.node);

    await environment.record(sensor.ciId, { value: 24 }, { actor });
    expect(await alerts()).toEqual([]);
    expect((await environment.record(sensor.ciId, { value: 29.5 }, { actor })).state).toBe('warning');
    expect(await alerts()).toMatchObject([
      {
        status: 'open',
        severity: 'warning',
        source: 'facilities',
        node: 'S1',
        resource: 'S1-temp',
        type: 'temperature',
        dedupKey: `facilities:sensor:${sensor.ciId}`,
        message: 'temperature 29.5 °C at S1 is above the warning threshold 27 °C (sensor S1-temp)',
      },
    ]);
    expect((await environment.record(sensor.ciId, { value: 35 }, { actor })).state).toBe('critical');
    const [critical] = await alerts();
    expect(critical).toMatchObject({ status: 'open', severity: 'critical', count: 2 });
    expect((await environment.record(sensor.ciId, { value: 22 }, { actor })).state).toBe('ok');
    expect(await alerts()).toMatchObject([{ id: critical!.id, status: 'closed', closeReason: 'cleared' }]);
    const changes = await og.activity.list({ types: ['facilities.sensor_state_changed'], limit: 100 });
    expect(
      changes.map((e) => `${(e.payload as { from: string }).from}->${(e.payload as { to: string }).to}`),
    ).toEqual(['ok->warning', 'warning->critical', 'critical->ok']);

    // Humidity in a room, thresholds of one's own; they must nest.
    await expect(
      environment.createSensor(
        { name: 'bad', locationId: room.ciId, kind: 'humidity', warningAbove: 90 },
        { actor },
      ),
    ).rejects.toMatchObject({
      field: 'criticalAbove',
      message: expect.stringContaining('must not be below warningAbove (90)'),
    });
    const humidity = await environment.createSensor(
      { name: 'Hall-1-rh', locationId: room.ciId, kind: 'humidity', warningBelow: null, criticalBelow: null },
      { actor },
    );
    expect(humidity).toMatchObject({
      warningAbove: 60,
      criticalAbove: 80,
      warningBelow: null,
      criticalBelow: null,
    });
    await environment.record(humidity.ciId, { value: 65 }, { actor });
    // Raising the threshold above the last reading clears its alert.
    const updated = await environment.updateSensor(
      humidity.ciId,
      { version: humidity.version + 1, warningAbove: 70 },
      { actor },
    );
    expect(updated).toMatchObject({ state: 'ok', warningAbove: 70 });
    expect((await og.events.alerts({ ciId: room.ciId })).edges.map((e) => e.node.status)).toEqual(['closed']);
    await expect(
      environment.updateSensor(humidity.ciId, { version: humidity.version, warningAbove: 50 }, { actor }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('pages every list by name then id, with keyset cursors, keeping the filters', async () => {
    const { locations, racks, power, environment } = og.plugins.facilities;
    const building = (await locations.list({ kind: 'building' }))[0]!;
    const hall = await locations.create(
      { kind: 'room', name: 'Paging hall', parentId: building.ciId },
      { actor },
    );
    // Two racks share a name: the id breaks the tie, so no row is skipped or repeated across pages.
    const made = [];
    for (const name of ['pg-c', 'pg-a', 'pg-b', 'pg-b', 'pg-d'])
      made.push(await racks.create({ name, roomId: hall.ciId, uHeight: 4 }, { actor }));
    const tied = made
      .filter((r) => r.name === 'pg-b')
      .map((r) => r.ciId)
      .sort();
    const seen: string[] = [];
    let after: string | null = null;
    const pages: boolean[] = [];
    do {
      const page: Awaited<ReturnType<typeof racks.page>> = await racks.page(
        { roomId: hall.ciId },
        { first: 2, after },
        { actor },
      );
      seen.push(...page.edges.map((e) => `${e.node.name}:${e.node.ciId}`));
      pages.push(page.hasNextPage);
      after = page.endCursor;
      if (!page.hasNextPage) break;
    } while (after);
    expect(seen).toEqual([
      `pg-a:${made[1]!.ciId}`,
      `pg-b:${tied[0]}`,
      `pg-b:${tied[1]}`,
      `pg-c:${made[0]!.ciId}`,
      `pg-d:${made[4]!.ciId}`,
    ]);
    expect(pages).toEqual([true, true, false]);
    // The node is the record the list returns, no extra key.
    const [first] = (await racks.page({ roomId: hall.ciId }, { first: 1 }, { actor })).edges;
    expect(first!.node).toEqual((await racks.list({ roomId: hall.ciId }))[0]);
    expect(await racks.page({ roomId: 'not-a-uuid' }, {}, { actor })).toEqual({
      edges: [],
      hasNextPage: false,
      endCursor: null,
    });
    await expect(racks.page({}, { first: 501 }, { actor })).rejects.toMatchObject({ field: 'first' });
    await expect(racks.page({}, { after: 'bogus' }, { actor })).rejects.toMatchObject({ field: 'after' });
    await expect(
      racks.page({}, {}, { actor: { ...actor, permissions: [] } as Actor }),
    ).rejects.toBeInstanceOf(ForbiddenError);

    // The other lists page the same way and keep their filters and computed fields.
    const panel = await power.createPanel({ name: 'pg-panel', locationId: hall.ciId }, { actor });
    const feed = await power.createFeed(
      { name: 'pg-feed', panelId: panel.ciId, voltage: 230, amperage: 16 },
      { actor },
    );
    const pdu = await power.createPdu(
      { name: 'pg-pdu', rackId: made[1]!.ciId, feedId: feed.ciId, capacityW: 2000 },
      { actor },
    );
    const dev = await server('pg-dev');
    await racks.place({ rackId: made[1]!.ciId, deviceId: dev.id, position: 1 }, { actor });
    await power.allocate({ pduId: pdu.ciId, deviceId: dev.id, watts: 250 }, { actor });
    const nodes = <T>(p: { edges: { node: T }[] }) => p.edges.map((e) => e.node);
    expect(
      nodes(await power.panelsPage({ locationId: hall.ciId }, {}, { actor })).map((p) => p.name),
    ).toEqual(['pg-panel']);
    expect(nodes(await power.feedsPage({ panelId: panel.ciId }, {}, { actor }))).toMatchObject([
      { name: 'pg-feed', capacityW: 2944, allocatedW: 250 },
    ]);
    expect(nodes(await power.pdusPage({ feedId: feed.ciId }, {}, { actor }))).toMatchObject([
      { name: 'pg-pdu', capacityW: 2000, allocatedW: 250 },
    ]);
    expect(nodes(await power.pdusPage({ rackId: made[0]!.ciId }, {}, { actor }))).toEqual([]);
    await environment.createSensor({ name: 'pg-t', locationId: hall.ciId, kind: 'temperature' }, { actor });
    expect(
      nodes(await environment.sensorsPage({ locationId: hall.ciId }, {}, { actor })).map((s) => s.name),
    ).toEqual(['pg-t']);
    const halls = await locations.page({ parentId: building.ciId }, { first: 1 }, { actor });
    expect(halls.hasNextPage).toBe(true);
    const rest = await locations.page({ parentId: building.ciId }, { after: halls.endCursor }, { actor });
    expect([...nodes(halls), ...nodes(rest)].map((l) => l.name)).toEqual(
      (await locations.list({ parentId: building.ciId })).map((l) => l.name),
    );
    expect((await locations.childrenOf([building.ciId, hall.ciId])).map((c) => c.map((l) => l.name))).toEqual(
      [(await locations.list({ parentId: building.ciId })).map((l) => l.name), []],
    );
  });

  it('reports a device on A/B feeds degraded, not down, when one feed fails (core cluster quorum)', async () => {
    const { locations, racks, power } = og.plugins.facilities;
    const building = (await locations.list({ kind: 'building' }))[0]!;
    const hall = await locations.create(
      { kind: 'room', name: 'AB hall', parentId: building.ciId },
      { actor },
    );
    const rack = await racks.create({ name: 'AB1', roomId: hall.ciId, uHeight: 10 }, { actor });
    const panel = await power.createPanel({ name: 'ab-panel', locationId: hall.ciId }, { actor });
    const feed = (name: string) =>
      power.createFeed({ name, panelId: panel.ciId, voltage: 230, amperage: 32 }, { actor });
    const [feedA, feedB] = [await feed('ab-feed-A'), await feed('ab-feed-B')];
    const pdu = (name: string, feedId: string) =>
      power.createPdu({ name, rackId: rack.ciId, feedId, capacityW: 3000 }, { actor });
    const [pduA, pduB] = [await pdu('ab-pdu-A', feedA.ciId), await pdu('ab-pdu-B', feedB.ciId)];
    const both = await server('ab-both');
    const aOnly = await server('ab-a-only');
    for (const [device, u] of [
      [both, 1],
      [aOnly, 3],
    ] as const)
      await racks.place({ rackId: rack.ciId, deviceId: device.id, position: u }, { actor });
    await power.allocate({ pduId: pduA.ciId, deviceId: both.id, watts: 200 }, { actor });
    await power.allocate({ pduId: pduB.ciId, deviceId: both.id, watts: 200 }, { actor });
    await power.allocate({ pduId: pduA.ciId, deviceId: aOnly.id, watts: 300 }, { actor });
    for (const [name, host] of [
      ['svc-ab', both],
      ['svc-a', aOnly],
    ] as const) {
      const svc = await og.cmdb.create(
        { class: 'business_service', name, attributes: { tier: 2 } },
        { actor },
      );
      await og.cmdb.relate({ type: 'depends_on', sourceId: svc.id, targetId: host.id }, { actor });
    }
    const states = async (ids: string[]) =>
      Object.fromEntries(
        (await og.topology.impactOf(ids)).affected.map((ci) => [ci.name, ci.state] as const).sort(),
      );

    expect(await states([feedA.ciId])).toEqual({
      'ab-feed-A': 'down',
      'ab-pdu-A': 'down',
      // The rack and ab-both hang on a power group (a cluster of their PDUs, quorum 1): feed B still powers them.
      'AB1 power': 'degraded',
      AB1: 'degraded',
      'ab-both power': 'degraded',
      'ab-both': 'degraded',
      'svc-ab': 'degraded',
      // ab-a-only draws from feed A alone.
      'ab-a-only': 'down',
      'svc-a': 'down',
    });
    const both2 = await states([feedA.ciId, feedB.ciId]);
    expect([both2.AB1, both2['ab-both'], both2['svc-ab'], both2['ab-a-only']]).toEqual([
      'down',
      'down',
      'down',
      'down',
    ]);
    // Back on feed A alone, feed A failing takes ab-both down again.
    await power.release({ pduId: pduB.ciId, deviceId: both.id }, { actor });
    const after = await states([feedA.ciId]);
    expect([after['ab-both'], after['svc-ab'], after.AB1]).toEqual(['down', 'down', 'degraded']);
    // Feed B now powers only the rack's B side: the rack, and what it holds, are degraded, none down.
    expect(await states([feedB.ciId])).toEqual({
      'ab-feed-B': 'down',
      'ab-pdu-B': 'down',
      'AB1 power': 'degraded',
      AB1: 'degraded',
      'ab-both': 'degraded',
      'ab-a-only': 'degraded',
      'svc-ab': 'degraded',
      'svc-a': 'degraded',
    });
  });

  it('needs facilities:read to read and facilities:write to write', async () => {
    const reader: Actor = {
      kind: 'user',
      id: 'r',
      name: 'reader',
      permissions: ['facilities:read', 'cmdb:read'],
    };
    const nobody: Actor = { kind: 'user', id: 'n', name: 'nobody', permissions: ['cmdb:read'] };
    const { racks, locations, power } = og.plugins.facilities;
    expect((await racks.list({ roomId: room.ciId }, { actor: reader })).length).toBeGreaterThan(0);
    await expect(racks.list({}, { actor: nobody })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(power.roomBudget(room.ciId, { actor: nobody })).rejects.toMatchObject({
      permission: 'facilities:read',
    });
    await expect(locations.create({ kind: 'region', name: 'Asia' }, { actor: reader })).rejects.toMatchObject(
      {
        code: 'FORBIDDEN',
        permission: 'facilities:write',
      },
    );
    // Its roles are registered, owned by the plugin.
    const roles = await og.access.roles();
    expect(roles.filter((r) => r.owner === 'facilities').map((r) => [r.name, r.permissions])).toEqual([
      ['facilities_manager', ['facilities:read', 'facilities:write', 'cmdb:read', 'cmdb:write']],
      ['facilities_viewer', ['facilities:read', 'cmdb:read']],
    ]);
  });
});
