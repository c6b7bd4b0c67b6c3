import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
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

  const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
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
    server = createOpsGraphServer({ opsgraph: og });
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
      `query ($room: ID!) { facilitiesRacks(roomId: $room) { name placements { deviceName position } powerBudget { headroomW } elevationSvg } }`,
      { room },
      manager,
    );
    expect(
      list.data.facilitiesRacks.map((r: any) => [
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
    const refused = await gql('{ facilitiesRacks { name } }', {}, tokens.cmdb);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.message).toMatch(
      /Query\.facilitiesRacks: .* lacks the permission facilities:read/,
    );
    const write = await gql(SETUP, { room: { kind: 'REGION', name: 'Nope' } }, tokens.cmdb);
    expect(write.errors?.[0]?.message).toMatch(/lacks the permission facilities:write/);
    const anonymous = await gql('{ facilitiesRacks { name } }', {});
    expect(anonymous.errors?.[0]?.message).toMatch(/needs the permission facilities:read/);
  });
});
