import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OperationQueries, type OpsGraphServer } from '@opsgraph/server';
import { isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facilitiesPlugin } from './index.js';

const actor = systemActor('test');

const SETUP = `mutation ($room: FacilitiesCreateLocationInput!) {
  facilitiesCreateLocation(input: $room) {
    __typename
    ... on MutationFacilitiesCreateLocationSuccess { data { id name kind } }
    ... on Error { code message field }
  }
}`;
const RACK = `mutation ($input: FacilitiesCreateRackInput!) {
  facilitiesCreateRack(input: $input) {
    ... on MutationFacilitiesCreateRackSuccess { data { id name uHeight } }
  }
}`;
const PLACE = `mutation ($input: FacilitiesPlaceDeviceInput!) {
  facilitiesPlaceDevice(input: $input) {
    __typename
    ... on MutationFacilitiesPlaceDeviceSuccess { data { deviceName position height face } }
    ... on ValidationError { field message issues { path message } }
    ... on Error { code message }
  }
}`;
const ELEVATION = `query ($id: ID!) {
  facilitiesRack(id: $id) {
    name
    elevationSvg
    elevation { units { u front { name } rear { name } } }
    powerBudget { capacityW allocatedW headroomW }
  }
}`;

describe('facilities over GraphQL (HTTP)', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  const tokens: Record<string, string> = {};
  const reports: OperationQueries[] = [];

  const gql = async (
    query: string,
    variables: Record<string, unknown>,
    token?: string,
    operationName?: string,
  ) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables, ...(operationName ? { operationName } : {}) }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string }[] };
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({ plugins: [facilitiesPlugin()] });
    for (const [name, permissions] of [
      ['manager', ['facilities:read', 'facilities:write', 'cmdb:read', 'cmdb:write']],
      ['cmdb', ['cmdb:read', 'cmdb:write']],
    ] as const)
      tokens[name] = (await og.access.createToken({ name, permissions: [...permissions] }, { actor })).secret;
    server = createOpsGraphServer({ opsgraph: og, onOperationQueries: (r) => reports.push(r) });
    server.httpServer.keepAliveTimeout = 60_000;
    ({ url } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it('has its fields only when the plugin is loaded', async () => {
    const fields = (s: OpsGraphServer) => ({
      query: Object.keys(s.schema.getQueryType()!.getFields()).filter((f) => f.startsWith('facilities')),
      mutation: Object.keys(s.schema.getMutationType()!.getFields()).filter((f) =>
        f.startsWith('facilities'),
      ),
    });
    const loaded = fields(server);
    expect(loaded.query.sort()).toEqual([
      'facilitiesElevation',
      'facilitiesLocation',
      'facilitiesLocations',
      'facilitiesPdus',
      'facilitiesPowerFeeds',
      'facilitiesPowerPanels',
      'facilitiesRack',
      'facilitiesRackPowerBudget',
      'facilitiesRacks',
      'facilitiesRoomPowerBudget',
      'facilitiesSensors',
    ]);
    expect(loaded.mutation).toHaveLength(13);
    expect(server.schema.getType('FacilitiesRack')).toBeDefined();

    const bare = await createTestOpsGraph();
    try {
      const without = createOpsGraphServer({ opsgraph: bare });
      expect(fields(without)).toEqual({ query: [], mutation: [] });
      expect(without.schema.getType('FacilitiesRack')).toBeUndefined();
    } finally {
      await bare.close();
    }
  });

  it('builds a rack, refuses a collision naming the rack and U, and draws the elevation', async () => {
    const manager = tokens.manager!;
    const create = async (kind: string, name: string, parentId?: string) =>
      (await gql(SETUP, { room: { kind, name, ...(parentId ? { parentId } : {}) } }, manager)).data
        .facilitiesCreateLocation.data.id as string;
    const site = await create('SITE', 'LON1');
    const building = await create('BUILDING', 'LON1-A', site);
    const room = await create('ROOM', 'Data hall', building);
    const rack = (await gql(RACK, { input: { name: 'R7', roomId: room, uHeight: 12 } }, manager)).data
      .facilitiesCreateRack.data;
    expect(rack).toMatchObject({ name: 'R7', uHeight: 12 });
    const web = await og.cmdb.create({ class: 'linux_server', name: 'web-07' }, { actor });
    const db = await og.cmdb.create({ class: 'linux_server', name: 'db-07' }, { actor });

    const placed = await gql(
      PLACE,
      { input: { rackId: rack.id, deviceId: web.id, position: 4, height: 2 } },
      manager,
    );
    expect(placed.data.facilitiesPlaceDevice).toEqual({
      __typename: 'MutationFacilitiesPlaceDeviceSuccess',
      data: { deviceName: 'web-07', position: 4, height: 2, face: 'FRONT' },
    });
    const clash = await gql(PLACE, { input: { rackId: rack.id, deviceId: db.id, position: 5 } }, manager);
    expect(clash.data.facilitiesPlaceDevice).toEqual({
      __typename: 'ValidationError',
      code: 'VALIDATION',
      field: 'position',
      message: 'Invalid input: position: rack R7: U5 is taken by web-07',
      issues: [{ path: 'position', message: 'rack R7: U5 is taken by web-07' }],
    });
    const range = await gql(
      PLACE,
      { input: { rackId: rack.id, deviceId: db.id, position: 11, height: 3 } },
      manager,
    );
    expect(range.data.facilitiesPlaceDevice.issues).toEqual([
      { path: 'position', message: 'rack R7 has 12 U: U11-U13 is out of range' },
    ]);

    const { data } = await gql(ELEVATION, { id: rack.id }, manager);
    expect(
      data.facilitiesRack.elevation.units
        .filter((u: any) => u.front)
        .map((u: any) => [u.u, u.front.name, u.rear.name]),
    ).toEqual([
      [5, 'web-07', 'web-07'],
      [4, 'web-07', 'web-07'],
    ]);
    expect(data.facilitiesRack.elevationSvg).toContain('web-07');
    expect(data.facilitiesRack.elevationSvg).toContain('data-u-from="4" data-u-to="5"');
    expect(data.facilitiesRack.powerBudget).toEqual({ capacityW: 0, allocatedW: 0, headroomW: 0 });

    // A list of racks loads placements, budgets and elevations in batches.
    await gql(RACK, { input: { name: 'R8', roomId: room, uHeight: 4 } }, manager);
    const list = await gql(
      `query ($room: ID!) { facilitiesRacks(roomId: $room) { edges { node { name placements { deviceName position } powerBudget { headroomW } elevationSvg } } } }`,
      { room },
      manager,
    );
    expect(
      list.data.facilitiesRacks.edges.map(({ node: r }: any) => [
        r.name,
        r.placements,
        r.powerBudget.headroomW,
        r.elevationSvg.includes('web-07'),
      ]),
    ).toEqual([
      ['R7', [{ deviceName: 'web-07', position: 4 }], 0, true],
      ['R8', [], 0, false],
    ]);
  });

  it('refuses a token without facilities:read, and anonymous callers', async () => {
    const refused = await gql('{ facilitiesRacks { edges { node { name } } } }', {}, tokens.cmdb);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.message).toMatch(
      /Query\.facilitiesRacks: .* lacks the permission facilities:read/,
    );
    const write = await gql(SETUP, { room: { kind: 'REGION', name: 'Nope' } }, tokens.cmdb);
    expect(write.errors?.[0]?.message).toMatch(/lacks the permission facilities:write/);
    const anonymous = await gql('{ facilitiesRacks { edges { node { name } } } }', {});
    expect(anonymous.errors?.[0]?.message).toMatch(/needs the permission facilities:read/);
  });

  it('guards every type it adds, connections and edges included', () => {
    const unguarded = Object.values(server.schema.getTypeMap())
      .filter((type) => isObjectType(type) && type.name.startsWith('Facilities'))
      .filter(
        (type) =>
          !(type.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions?.authScopes,
      )
      .map((type) => type.name);
    expect(unguarded).toEqual([]);
    expect(
      Object.keys(server.schema.getTypeMap())
        .filter((name) => /^Facilities\w+(Connection|Edge)$/.test(name))
        .sort(),
    ).toEqual([
      'FacilitiesLocationConnection',
      'FacilitiesLocationEdge',
      'FacilitiesPduConnection',
      'FacilitiesPduEdge',
      'FacilitiesPowerFeedConnection',
      'FacilitiesPowerFeedEdge',
      'FacilitiesPowerPanelConnection',
      'FacilitiesPowerPanelEdge',
      'FacilitiesRackConnection',
      'FacilitiesRackEdge',
      'FacilitiesSensorConnection',
      'FacilitiesSensorEdge',
    ]);
  });

  describe('pages of racks', () => {
    const RACKS = `query Racks($room: ID!, $first: Int, $after: String) {
      facilitiesRacks(roomId: $room, first: $first, after: $after) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges {
          cursor
          node {
            name
            placements { deviceName position }
            pdus { name allocatedW draws { deviceName watts } }
            powerBudget { capacityW allocatedW headroomW pdus { name draws { deviceName } } }
            elevation { units { u front { name } } }
            elevationSvg
          }
        }
      }
    }`;
    let hall: string;
    const N = 6;

    beforeAll(async () => {
      const { locations, racks, power } = og.plugins.facilities;
      const site = await locations.create({ kind: 'site', name: 'FRA1' }, { actor });
      const building = await locations.create(
        { kind: 'building', name: 'FRA1-A', parentId: site.ciId },
        { actor },
      );
      hall = (
        await locations.create({ kind: 'room', name: 'Count hall', parentId: building.ciId }, { actor })
      ).ciId;
      const panel = await power.createPanel({ name: 'count-panel', locationId: hall }, { actor });
      const feed = await power.createFeed(
        { name: 'count-feed', panelId: panel.ciId, voltage: 400, amperage: 63, phase: 'three' },
        { actor },
      );
      // Each rack: two servers, a PDU each of them draws from.
      for (let i = 1; i <= N; i++) {
        const rack = await racks.create({ name: `C${i}`, roomId: hall, uHeight: 10 }, { actor });
        const pdu = await power.createPdu(
          { name: `pdu-C${i}`, rackId: rack.ciId, feedId: feed.ciId, capacityW: 3000 },
          { actor },
        );
        for (const u of [1, 3]) {
          const device = await og.cmdb.create({ class: 'linux_server', name: `c${i}-u${u}` }, { actor });
          await racks.place({ rackId: rack.ciId, deviceId: device.id, position: u }, { actor });
          await power.allocate({ pduId: pdu.ciId, deviceId: device.id, watts: 100 * u }, { actor });
        }
      }
    });

    const statements = async (first: number) => {
      reports.length = 0;
      const result = await gql(RACKS, { room: hall, first }, tokens.manager, 'Racks');
      expect(result.errors).toBeUndefined();
      const report = reports.find((r) => r.operationName === 'Racks');
      return { data: result.data.facilitiesRacks, count: report!.queries.length };
    };

    it('costs the same statements for 1 rack as for N, nested fields included', async () => {
      const one = await statements(1);
      const all = await statements(N);
      expect(one.data.edges).toHaveLength(1);
      expect(all.data.edges).toHaveLength(N);
      expect(all.count).toBe(one.count);
      // One for the page, then one per batched field: placements, PDUs, their draws, budgets, elevations.
      expect(all.count).toBeLessThanOrEqual(10);
      const c6 = all.data.edges[N - 1].node;
      expect(c6).toMatchObject({
        name: 'C6',
        placements: [
          { deviceName: 'c6-u3', position: 3 },
          { deviceName: 'c6-u1', position: 1 },
        ],
        pdus: [
          {
            name: 'pdu-C6',
            allocatedW: 400,
            draws: [
              { deviceName: 'c6-u1', watts: 100 },
              { deviceName: 'c6-u3', watts: 300 },
            ],
          },
        ],
        powerBudget: {
          capacityW: 3000,
          allocatedW: 400,
          headroomW: 2600,
          pdus: [{ name: 'pdu-C6', draws: [{ deviceName: 'c6-u1' }, { deviceName: 'c6-u3' }] }],
        },
      });
      expect(c6.elevation.units.filter((u: any) => u.front).map((u: any) => [u.u, u.front.name])).toEqual([
        [3, 'c6-u3'],
        [1, 'c6-u1'],
      ]);
      expect(c6.elevationSvg).toContain('c6-u3');
    });

    it('pages forward with cursors, and refuses paging backward', async () => {
      const names: string[] = [];
      let after: string | null = null;
      const infos: boolean[][] = [];
      for (;;) {
        const { data } = await gql(RACKS, { room: hall, first: 4, after }, tokens.manager, 'Racks');
        const page = data.facilitiesRacks;
        names.push(...page.edges.map((e: any) => e.node.name));
        infos.push([page.pageInfo.hasNextPage, page.pageInfo.hasPreviousPage]);
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1).cursor);
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(names).toEqual(['C1', 'C2', 'C3', 'C4', 'C5', 'C6']);
      expect(infos).toEqual([
        [true, false],
        [false, true],
      ]);
      const back = await gql('{ facilitiesRacks(last: 2) { edges { node { name } } } }', {}, tokens.manager);
      expect(back.errors?.[0]?.message).toMatch(/last: is not supported/);
      const bad = await gql(
        '{ facilitiesSensors(after: "nope") { edges { node { name } } } }',
        {},
        tokens.manager,
      );
      expect(bad.errors?.[0]?.message).toMatch(/after/);
    });

    it('keeps the filters of the other lists, and loads location children in one batch', async () => {
      const { data } = await gql(
        `query ($hall: ID!) {
          facilitiesPowerPanels(locationId: $hall) { edges { node { name } } }
          facilitiesPowerFeeds { edges { node { name allocatedW } } }
          facilitiesPdus(rackId: null, first: 2) { pageInfo { hasNextPage } edges { node { name } } }
          facilitiesSensors(locationId: $hall) { edges { node { name } } }
          facilitiesLocations(kind: SITE) { edges { node { name children { name children { name } } } } }
        }`,
        { hall },
        tokens.manager,
      );
      expect(data.facilitiesPowerPanels.edges.map((e: any) => e.node.name)).toEqual(['count-panel']);
      expect(
        data.facilitiesPowerFeeds.edges.find((e: any) => e.node.name === 'count-feed').node.allocatedW,
      ).toBe(N * 400);
      expect(data.facilitiesPdus).toEqual({
        pageInfo: { hasNextPage: true },
        edges: [{ node: { name: 'pdu-C1' } }, { node: { name: 'pdu-C2' } }],
      });
      expect(data.facilitiesSensors.edges).toEqual([]);
      expect(data.facilitiesLocations.edges.map((e: any) => e.node)).toEqual([
        { name: 'FRA1', children: [{ name: 'FRA1-A', children: [{ name: 'Count hall' }] }] },
        { name: 'LON1', children: [{ name: 'LON1-A', children: [{ name: 'Data hall' }] }] },
      ]);
    });
  });
});
