import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { network } from './index.js';

const actor = systemActor('test');

describe('network GraphQL over HTTP', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  const tokens: Record<string, string> = {};

  const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions?: any }[] };
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({ plugins: [network()] });
    server = createOpsGraphServer({ opsgraph: og });
    server.httpServer.keepAliveTimeout = 60_000;
    ({ url } = await server.listen(0, '127.0.0.1'));
    for (const [name, permissions] of [
      ['engineer', ['network:read', 'network:write', 'cmdb:read']],
      ['viewer', ['network:read', 'cmdb:read']],
      ['outsider', ['cmdb:read']],
    ] as const)
      tokens[name] = (await og.access.createToken({ name, permissions: [...permissions] }, { actor })).secret;
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it('has its fields only when the plugin is loaded', async () => {
    const query = server.schema.getQueryType()!.getFields();
    const mutation = server.schema.getMutationType()!.getFields();
    for (const field of [
      'networkPrefixes',
      'networkAddresses',
      'networkVlans',
      'networkInterfaces',
      'networkPath',
    ])
      expect(query[field], field).toBeDefined();
    expect(mutation.networkAllocateAddress?.args.map((a) => a.name).sort()).toEqual(['input', 'prefixId']);
    const plain = await createTestOpsGraph();
    try {
      const bare = createOpsGraphServer({ opsgraph: plain });
      expect(
        Object.keys(bare.schema.getQueryType()!.getFields()).filter((f) => f.startsWith('network')),
      ).toEqual([]);
      expect(bare.schema.getType('NetworkPrefix')).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('declares authScopes on every Network object type, connection and edge types included', () => {
    const unguarded = Object.values(server.schema.getTypeMap())
      .filter((type) => isObjectType(type) && type.name.startsWith('Network'))
      .filter((type) => !(type.extensions as any)?.pothosOptions?.authScopes)
      .map((type) => type.name);
    // The prefix-full error is the result of one's own call, like core's errors.
    expect(unguarded).toEqual(['NetworkPrefixFullError']);
    for (const node of ['Prefix', 'Address', 'Vrf', 'VlanGroup', 'Vlan', 'Interface', 'Zone', 'FirewallRule'])
      for (const name of [`Network${node}Connection`, `Network${node}Edge`])
        expect(server.schema.getType(name), name).toBeDefined();
  });

  it('allocates addresses, reports utilisation, and answers a full prefix with NetworkPrefixFullError', async () => {
    const created = await gql(
      `mutation ($input: NetworkCreatePrefixInput!) {
        networkCreatePrefix(input: $input) {
          __typename
          ... on MutationNetworkCreatePrefixSuccess { data { id prefix family } }
          ... on Error { code field message }
        }
      }`,
      { input: { prefix: '192.0.2.0/30' } },
      tokens.engineer,
    );
    const prefix = created.data.networkCreatePrefix.data;
    expect(prefix).toMatchObject({ prefix: '192.0.2.0/30', family: 4 });
    const ALLOCATE = `mutation ($prefixId: ID!) {
      networkAllocateAddress(prefixId: $prefixId) {
        __typename
        ... on MutationNetworkAllocateAddressSuccess { data { address prefixId } }
        ... on NetworkPrefixFullError { prefix prefixId message field }
        ... on Error { code message }
      }
    }`;
    const first = await gql(ALLOCATE, { prefixId: prefix.id }, tokens.engineer);
    const second = await gql(ALLOCATE, { prefixId: prefix.id }, tokens.engineer);
    expect([first, second].map((r) => r.data.networkAllocateAddress.data.address)).toEqual([
      '192.0.2.1',
      '192.0.2.2',
    ]);
    const full = await gql(ALLOCATE, { prefixId: prefix.id }, tokens.engineer);
    expect(full.data.networkAllocateAddress).toEqual({
      __typename: 'NetworkPrefixFullError',
      code: 'CONFLICT',
      prefix: '192.0.2.0/30',
      prefixId: prefix.id,
      field: 'prefixId',
      message: 'Prefix 192.0.2.0/30 is full: all 2 usable addresses are allocated',
    });
    const listed = await gql(
      `{ networkPrefixes(within: "192.0.2.0/24") { edges { node { prefix parentId utilisation { used total ratio } } } } }`,
      {},
      tokens.viewer,
    );
    expect(listed.data.networkPrefixes.edges.map((e: { node: unknown }) => e.node)).toEqual([
      { prefix: '192.0.2.0/30', parentId: null, utilisation: { used: '2', total: '2', ratio: 1 } },
    ]);
    // Bad input names the field.
    const bad = await gql(
      `mutation { networkCreatePrefix(input: { prefix: "192.0.2.1/24" }) { __typename ... on ValidationError { field message } } }`,
      {},
      tokens.engineer,
    );
    expect(bad.data.networkCreatePrefix).toEqual({
      __typename: 'ValidationError',
      field: 'prefix',
      message: 'Invalid input: prefix: has host bits set: did you mean 192.0.2.0/24?',
    });
  });

  it('shows interfaces of a device and the path between devices', async () => {
    const [a, b] = await Promise.all(
      ['gq-r1', 'gq-r2'].map((name) => og.cmdb.create({ class: 'router', name }, { actor })),
    );
    const CREATE = `mutation ($input: NetworkCreateInterfaceInput!) {
      networkCreateInterface(input: $input) {
        ... on MutationNetworkCreateInterfaceSuccess { data { id name mac } }
        ... on Error { code field message }
      }
    }`;
    const ia = (
      await gql(CREATE, { input: { deviceId: a!.id, name: 'xe-0', mac: 'AABBCCDDEEFF' } }, tokens.engineer)
    ).data.networkCreateInterface.data;
    const ib = (await gql(CREATE, { input: { deviceId: b!.id, name: 'xe-0' } }, tokens.engineer)).data
      .networkCreateInterface.data;
    expect(ia.mac).toBe('aa:bb:cc:dd:ee:ff');
    const link = await gql(
      `mutation ($input: NetworkConnectInput!) { networkConnect(input: $input) { ... on MutationNetworkConnectSuccess { data { id cableType } } } }`,
      { input: { aInterfaceId: ia.id, bInterfaceId: ib.id, cableType: 'FIBRE' } },
      tokens.engineer,
    );
    const linkId = link.data.networkConnect.data.id;
    const seen = await gql(
      `query ($a: ID!, $b: ID!) {
        networkInterfaces(deviceId: $a) { edges { node { name link { id } } } pageInfo { hasNextPage } }
        networkPath(fromDeviceId: $a, toDeviceId: $b) { reachable hops { deviceId linkId } }
      }`,
      { a: a!.id, b: b!.id },
      tokens.viewer,
    );
    expect(seen.data).toEqual({
      networkInterfaces: {
        edges: [{ node: { name: 'xe-0', link: { id: linkId } } }],
        pageInfo: { hasNextPage: false },
      },
      networkPath: {
        reachable: true,
        hops: [
          { deviceId: a!.id, linkId: null },
          { deviceId: b!.id, linkId },
        ],
      },
    });
  });

  it('refuses a token without network:read, and a reader writing', async () => {
    const refused = await gql(`{ networkPrefixes { edges { node { id } } } }`, {}, tokens.outsider);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]?.message).toContain('network:read');
    const anonymous = await gql(`{ networkVlans { edges { node { id } } } }`, {});
    expect(anonymous.errors?.[0]?.message).toContain('network:read');
    const write = await gql(
      `mutation { networkCreateVlanGroup(input: { name: "x" }) { __typename } }`,
      {},
      tokens.viewer,
    );
    expect(write.errors?.[0]?.message).toContain('network:write');
  });
});
