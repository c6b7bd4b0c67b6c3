import { type Page, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { network } from './index.js';

const actor = systemActor('test');

/** Every row of a list, read 2 at a time by cursor, and whether each page said more follow. */
async function walk<T>(read: (after?: string) => Promise<Page<T>>): Promise<{ rows: T[]; more: boolean[] }> {
  const rows: T[] = [];
  const more: boolean[] = [];
  let after: string | undefined;
  do {
    const page = await read(after);
    rows.push(...page.edges.map((e) => e.node));
    more.push(page.hasNextPage);
    after = page.hasNextPage ? (page.endCursor ?? undefined) : undefined;
  } while (after);
  return { rows, more };
}

describe.each(testBackends())('network keyset pages on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [network()] });
  });
  afterAll(() => og?.close());
  const net = () => og.plugins.network;

  it('pages VLANs in the order of the list: by group, the groupless last, then VID; the filter kept', async () => {
    const vlans = net().vlans;
    const groups: { id: string; name: string }[] = [];
    for (const name of ['dc-a', 'dc-b']) groups.push(await vlans.createGroup({ name }, { actor }));
    for (const vid of [30, 10, 20]) {
      await vlans.createVlan({ vid, name: `free-${vid}` }, { actor });
      for (const g of groups)
        await vlans.createVlan({ vid, name: `${g.name}-${vid}`, groupId: g.id }, { actor });
    }
    const list = (await vlans.vlans()).map((v) => v.name);
    const { rows, more } = await walk((after) =>
      vlans.vlanPage({}, { first: 2, ...(after ? { after } : {}) }),
    );
    expect(rows.map((v) => v.name)).toEqual(list);
    expect(list.slice(-3)).toEqual(['free-10', 'free-20', 'free-30']);
    expect(more).toEqual([true, true, true, true, false]); // 9 rows, 2 a page
    const groupless = await walk((after) =>
      vlans.vlanPage({ groupId: null }, { first: 2, ...(after ? { after } : {}) }),
    );
    expect(groupless.rows.map((v) => v.vid)).toEqual([10, 20, 30]);
    const one = await walk((after) =>
      vlans.vlanPage({ groupId: groups[1]!.id }, { first: 2, ...(after ? { after } : {}) }),
    );
    expect(one.rows.map((v) => v.name)).toEqual(['dc-b-10', 'dc-b-20', 'dc-b-30']);
    expect((await vlans.vlanPage({ groupId: 'nope' })).edges).toEqual([]);
  });

  it('pages VRFs, VLAN groups and zones by name, and a firewall rules in evaluation order', async () => {
    for (const name of ['red', 'green', 'blue']) await net().ipam.createVrf({ name }, { actor });
    const vrfs = await walk((after) => net().ipam.vrfPage({ first: 2, ...(after ? { after } : {}) }));
    expect(vrfs.rows.map((v) => v.name)).toEqual(['blue', 'green', 'red']);
    expect(vrfs.more).toEqual([true, false]);
    const groups = await walk((after) => net().vlans.groupPage({ first: 1, ...(after ? { after } : {}) }));
    expect(groups.rows.map((g) => g.name)).toEqual(['dc-a', 'dc-b']);
    for (const name of ['web', 'app', 'db']) await net().firewall.createZone({ name }, { actor });
    const zones = await walk((after) => net().firewall.zonePage({ first: 2, ...(after ? { after } : {}) }));
    expect(zones.rows.map((z) => z.name)).toEqual(['app', 'db', 'web']);

    const fw = await og.cmdb.create({ class: 'firewall', name: 'fw-pages' }, { actor });
    for (const position of [30, 10, 50, 20, 40])
      await net().firewall.createRule({ firewallId: fw.id, action: 'allow', position }, { actor });
    const rules = await walk((after) =>
      net().firewall.rulePage(fw.id, { first: 2, ...(after ? { after } : {}) }),
    );
    expect(rules.rows.map((r) => r.position)).toEqual([10, 20, 30, 40, 50]);
    expect(rules.more).toEqual([true, true, false]);
  });

  it('pages a device interfaces by name and refuses a cursor of another list, naming `after`', async () => {
    const sw = await og.cmdb.create({ class: 'switch', name: 'sw-pages' }, { actor });
    for (const name of ['eth2', 'eth0', 'eth1'])
      await net().interfaces.createInterface({ deviceId: sw.id, name }, { actor });
    const all = await walk((after) =>
      net().interfaces.interfacePage(sw.id, { first: 2, ...(after ? { after } : {}) }),
    );
    expect(all.rows.map((i) => i.name)).toEqual(['eth0', 'eth1', 'eth2']);
    const vrfCursor = (await net().ipam.vrfPage({ first: 1 })).endCursor!;
    await expect(net().vlans.vlanPage({}, { after: vrfCursor })).rejects.toMatchObject({
      field: 'after',
      message:
        'Invalid input: after: is a cursor of the order name:asc, not vid:asc: a cursor continues only the order it was made under',
    });
  });
});
