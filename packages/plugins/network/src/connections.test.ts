import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OperationQueries, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { network } from './index.js';

const actor = systemActor('test');
const N = 20;

const PREFIXES = `query Prefixes($first: Int, $after: String, $vrfId: ID, $within: String) {
  networkPrefixes(first: $first, after: $after, vrfId: $vrfId, within: $within) {
    edges { cursor node { prefix vrf { name } parent { prefix } utilisation { used total } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;
const ADDRESSES = `query Addresses($first: Int, $after: String, $prefixId: ID) {
  networkAddresses(first: $first, after: $after, prefixId: $prefixId) {
    edges { cursor node { address vrf { name } prefix { prefix } interface { name deviceId } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const VLANS = `query Vlans($first: Int, $after: String, $groupId: ID) {
  networkVlans(first: $first, after: $after, groupId: $groupId) {
    edges { cursor node { vid name group { name } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const RULES = `query Rules($firewallId: ID!, $first: Int, $after: String) {
  networkFirewallRules(firewallId: $firewallId, first: $first, after: $after) {
    edges { node { position action } }
    pageInfo { hasNextPage endCursor }
  }
}`;

describe('network lists as Relay connections over HTTP', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  let token: string;
  let vrfId: string;
  let lanId: string;
  let groupId: string;
  let firewallId: string;
  const reports: OperationQueries[] = [];

  const gql = async (query: string, variables: Record<string, unknown>) => {
    reports.length = 0;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions?: any }[] };
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({ plugins: [network()] });
    server = createOpsGraphServer({ opsgraph: og, onOperationQueries: (r) => reports.push(r) });
    ({ url } = await server.listen(0, '127.0.0.1'));
    token = (
      await og.access.createToken({ name: 'viewer', permissions: ['network:read', 'cmdb:read'] }, { actor })
    ).secret;
    const ipam = og.plugins.network.ipam;
    vrfId = (await ipam.createVrf({ name: 'blue', rd: '65000:7' }, { actor })).id;
    // The same space in the global table and in VRF blue: pages keep the two apart.
    for (const vrf of [undefined, vrfId]) {
      await ipam.createPrefix({ prefix: '10.50.0.0/16', ...(vrf ? { vrfId: vrf } : {}) }, { actor });
      for (let i = N - 1; i >= 0; i--)
        await ipam.createPrefix({ prefix: `10.50.${i}.0/24`, ...(vrf ? { vrfId: vrf } : {}) }, { actor });
    }
    lanId = (await ipam.prefixes({ vrfId, within: '10.50.0.0/24' }))[0]!.id;
    // N addresses in blue's 10.50.0.0/24, each on an interface of its own device.
    for (let i = 0; i < N; i++) {
      const device = await og.cmdb.create({ class: 'switch', name: `conn-sw-${i}` }, { actor });
      const iface = await og.plugins.network.interfaces.createInterface(
        { deviceId: device.id, name: `eth${i}` },
        { actor },
      );
      await ipam.allocateAddress({ prefixId: lanId, interfaceId: iface.id }, { actor });
    }
    // N VLANs in group core (each with its group to resolve), and 2 of no group.
    const vlans = og.plugins.network.vlans;
    groupId = (await vlans.createGroup({ name: 'core' }, { actor })).id;
    for (let i = N; i >= 1; i--) await vlans.createVlan({ vid: 100 + i, name: `v${i}`, groupId }, { actor });
    for (const vid of [2, 1]) await vlans.createVlan({ vid, name: `free${vid}` }, { actor });
    firewallId = (await og.cmdb.create({ class: 'firewall', name: 'conn-fw' }, { actor })).id;
    for (const [position, action] of [
      [30, 'deny'],
      [10, 'allow'],
      [20, 'deny'],
    ] as const)
      await og.plugins.network.firewall.createRule({ firewallId, position, action }, { actor });
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it('pages prefixes forward by cursor, keeping the filters, global table first', async () => {
    const seen: string[] = [];
    const pages: boolean[] = [];
    let after: string | null = null;
    do {
      const body = await gql(PREFIXES, { first: 8, after, within: '10.50.0.0/16' });
      expect(body.errors).toBeUndefined();
      const { edges, pageInfo } = body.data.networkPrefixes;
      expect(pageInfo.hasPreviousPage).toBe(after !== null);
      expect(pageInfo.startCursor).toBe(edges[0].cursor);
      expect(pageInfo.endCursor).toBe(edges.at(-1).cursor);
      for (const e of edges) seen.push(`${e.node.vrf?.name ?? 'global'} ${e.node.prefix}`);
      pages.push(pageInfo.hasNextPage);
      after = pageInfo.hasNextPage ? pageInfo.endCursor : null;
    } while (after);
    const space = ['10.50.0.0/16', ...Array.from({ length: N }, (_, i) => `10.50.${i}.0/24`)];
    expect(seen).toEqual([...space.map((p) => `global ${p}`), ...space.map((p) => `blue ${p}`)]);
    expect(pages).toEqual([true, true, true, true, true, false]); // 42 rows, 8 a page
    // Filters still apply: VRF and `within`.
    const blue = await gql(PREFIXES, { first: 3, vrfId, within: '10.50.4.0/22' });
    expect(blue.data.networkPrefixes.edges.map((e: any) => [e.node.prefix, e.node.vrf.name])).toEqual([
      ['10.50.4.0/24', 'blue'],
      ['10.50.5.0/24', 'blue'],
      ['10.50.6.0/24', 'blue'],
    ]);
    expect(blue.data.networkPrefixes.pageInfo.hasNextPage).toBe(true);
  });

  it('pages addresses and refuses cursors and arguments it cannot honour, naming them', async () => {
    const one = await gql(ADDRESSES, { first: 15, prefixId: lanId });
    const two = await gql(ADDRESSES, {
      first: 15,
      prefixId: lanId,
      after: one.data.networkAddresses.pageInfo.endCursor,
    });
    const all = [...one.data.networkAddresses.edges, ...two.data.networkAddresses.edges].map(
      (e: any) => e.node.address,
    );
    expect(all).toEqual(Array.from({ length: N }, (_, i) => `10.50.0.${i + 1}`));
    expect(two.data.networkAddresses.pageInfo.hasNextPage).toBe(false);

    const garbage = await gql(ADDRESSES, { first: 2, after: 'bm90IGEgY3Vyc29y' });
    expect(garbage.errors?.[0]).toMatchObject({
      message: 'Invalid input: after: is not a cursor this API returned',
      extensions: { code: 'VALIDATION', field: 'after' },
    });
    const tooMany = await gql(ADDRESSES, { first: 501 });
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({ field: 'first' });
    const backwards = await gql(`{ networkPrefixes(last: 2) { edges { cursor } } }`, {});
    expect(backwards.errors?.[0]?.extensions).toMatchObject({ field: 'last' });
  });

  it('costs the same SQL statements for a page of 1 as for a page of N, edges resolved', async () => {
    const page = async (query: string, variables: Record<string, unknown>) => {
      const body = await gql(query, variables);
      expect(body.errors).toBeUndefined();
      expect(reports).toHaveLength(1);
      return { data: body.data, queries: reports[0]!.queries.length };
    };
    const prefixes = { vrfId, within: '10.50.0.0/17' }; // every one has a parent and a VRF
    const p1 = await page(PREFIXES, { first: 1, ...prefixes });
    const pN = await page(PREFIXES, { first: N, ...prefixes });
    expect(p1.data.networkPrefixes.edges).toHaveLength(1);
    expect(pN.data.networkPrefixes.edges).toHaveLength(N);
    expect(pN.queries).toBe(p1.queries);
    for (const [i, e] of pN.data.networkPrefixes.edges.entries())
      expect(e.node).toEqual({
        prefix: `10.50.${i}.0/24`,
        vrf: { name: 'blue' },
        parent: { prefix: '10.50.0.0/16' },
        utilisation: { used: i === 0 ? String(N) : '0', total: '254' },
      });

    const a1 = await page(ADDRESSES, { first: 1, prefixId: lanId });
    const aN = await page(ADDRESSES, { first: N, prefixId: lanId });
    expect(a1.data.networkAddresses.edges).toHaveLength(1);
    expect(aN.data.networkAddresses.edges).toHaveLength(N);
    expect(aN.queries).toBe(a1.queries);
    for (const [i, e] of aN.data.networkAddresses.edges.entries())
      expect(e.node).toMatchObject({
        address: `10.50.0.${i + 1}`,
        vrf: { name: 'blue' },
        prefix: { prefix: '10.50.0.0/24' },
        interface: { name: `eth${i}` },
      });
  });

  it('VLANs: a page of 1 and a page of N cost the same SQL statements, group resolved', async () => {
    const page = async (first: number) => {
      const body = await gql(VLANS, { first, groupId });
      expect(body.errors).toBeUndefined();
      expect(reports).toHaveLength(1);
      return { edges: body.data.networkVlans.edges, queries: reports[0]!.queries.length };
    };
    const one = await page(1);
    const many = await page(N);
    expect(one.edges).toHaveLength(1);
    expect(many.edges).toHaveLength(N);
    expect(many.queries).toBe(one.queries);
    expect(many.queries).toBe(2); // the page, then every group at once
    expect(many.edges.map((e: any) => e.node)).toEqual(
      Array.from({ length: N }, (_, i) => ({ vid: 101 + i, name: `v${i + 1}`, group: { name: 'core' } })),
    );
  });

  it('pages VLANs across groups by cursor (the groupless last) and rules in evaluation order', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const body = await gql(VLANS, { first: 7, after });
      expect(body.errors).toBeUndefined();
      seen.push(
        ...body.data.networkVlans.edges.map((e: any) => `${e.node.group?.name ?? '-'} ${e.node.vid}`),
      );
      const info = body.data.networkVlans.pageInfo;
      after = info.hasNextPage ? info.endCursor : null;
    } while (after);
    expect(seen).toEqual([...Array.from({ length: N }, (_, i) => `core ${101 + i}`), '- 1', '- 2']);

    const first = await gql(RULES, { firewallId, first: 2 });
    expect(first.data.networkFirewallRules.edges.map((e: any) => e.node)).toEqual([
      { position: 10, action: 'ALLOW' },
      { position: 20, action: 'DENY' },
    ]);
    const rest = await gql(RULES, {
      firewallId,
      first: 2,
      after: first.data.networkFirewallRules.pageInfo.endCursor,
    });
    expect(rest.data.networkFirewallRules).toMatchObject({
      edges: [{ node: { position: 30, action: 'DENY' } }],
      pageInfo: { hasNextPage: false },
    });
  });

  it('has no plain list among its root fields: every list is a scoped Network…Connection', () => {
    const fields = Object.values(server.schema.getQueryType()!.getFields()).filter((f) =>
      f.name.startsWith('network'),
    );
    const lists = fields.filter((f) => String(f.type).replace(/!$/, '').startsWith('['));
    expect(lists.map((f) => f.name)).toEqual([]);
    const connections = fields
      .filter((f) => String(f.type).endsWith('Connection!'))
      .map((f) => [f.name, String(f.type)])
      .sort();
    expect(connections).toEqual(
      [
        ['networkVrfs', 'NetworkVrfConnection!'],
        ['networkPrefixes', 'NetworkPrefixConnection!'],
        ['networkAddresses', 'NetworkAddressConnection!'],
        ['networkVlanGroups', 'NetworkVlanGroupConnection!'],
        ['networkVlans', 'NetworkVlanConnection!'],
        ['networkInterfaces', 'NetworkInterfaceConnection!'],
        ['networkZones', 'NetworkZoneConnection!'],
        ['networkFirewallRules', 'NetworkFirewallRuleConnection!'],
      ].sort(),
    );
  });
});
