import { type AnyDomainEvent, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { network } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())('network: a retired device is released on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [network()] });
  });
  afterAll(() => og?.close());
  const net = () => og.plugins.network;
  const device = (cls: string, name: string) => og.cmdb.create({ class: cls, name }, { actor });

  /** Committed events, grouped by the publish (one per transaction) that delivered them. */
  function batches() {
    const groups: AnyDomainEvent[][] = [];
    let open: AnyDomainEvent[] | null = null;
    const off = og.on('*', (event) => {
      if (!open) {
        open = [];
        groups.push(open);
        // One transaction's events are published together, in one synchronous pass.
        queueMicrotask(() => {
          open = null;
        });
      }
      open.push(event as AnyDomainEvent);
    });
    return { groups, off };
  }

  const released = (deviceId: string) =>
    new Promise<AnyDomainEvent>((resolve) => {
      const off = og.on('network.device.released', (event) => {
        if (event.payload.deviceId !== deviceId) return;
        off();
        resolve(event as AnyDomainEvent);
      });
    });

  it('disconnects its links, removes the connected_to it made and releases its addresses in one transaction', async () => {
    const router = await device('router', 'r-retire');
    const sw = await device('switch', 'sw-retire');
    const srv = await device('server', 'srv-retire');
    const r1 = await net().interfaces.createInterface({ deviceId: router.id, name: 'ge-0/0/1' }, { actor });
    const r2 = await net().interfaces.createInterface({ deviceId: router.id, name: 'ge-0/0/2' }, { actor });
    await net().interfaces.createInterface({ deviceId: router.id, name: 'ge-0/0/3' }, { actor });
    const s1 = await net().interfaces.createInterface({ deviceId: sw.id, name: 'Gi1/0/1' }, { actor });
    const c1 = await net().interfaces.createInterface({ deviceId: srv.id, name: 'eno1' }, { actor });
    const toSwitch = await net().interfaces.connect({ aInterfaceId: r1.id, bInterfaceId: s1.id }, { actor });
    const toServer = await net().interfaces.connect({ aInterfaceId: c1.id, bInterfaceId: r2.id }, { actor });
    // A link the router is not on stays, with its relationship.
    const s3 = await net().interfaces.createInterface({ deviceId: sw.id, name: 'Gi1/0/3' }, { actor });
    const c2 = await net().interfaces.createInterface({ deviceId: srv.id, name: 'eno2' }, { actor });
    const kept = await net().interfaces.connect({ aInterfaceId: s3.id, bInterfaceId: c2.id }, { actor });

    const prefix = await net().ipam.createPrefix({ prefix: '10.77.0.0/29' }, { actor });
    const a1 = await net().ipam.allocateAddress({ prefixId: prefix.id, interfaceId: r1.id }, { actor });
    const a2 = await net().ipam.allocateAddress({ prefixId: prefix.id, interfaceId: r2.id }, { actor });
    const a3 = await net().ipam.allocateAddress({ prefixId: prefix.id, interfaceId: s1.id }, { actor });
    expect([a1.address, a2.address, a3.address]).toEqual(['10.77.0.1', '10.77.0.2', '10.77.0.3']);
    const [before] = await net().ipam.utilisation([prefix.id]);
    expect(before!.used).toBe(3n);

    const seen = batches();
    const done = released(router.id);
    await og.cmdb.retire(router.id, router.version, { actor });
    const event = await done;
    seen.off();

    expect(event).toMatchObject({
      type: 'network.device.released',
      subject: { type: 'ci', id: router.id },
      actor: { kind: 'plugin', id: 'network' },
      payload: {
        deviceId: router.id,
        linkIds: [toSwitch.id, toServer.id].sort(),
        addressIds: [a1.id, a2.id],
      },
    });
    // The handler's writes arrived as one transaction, every one as the plugin.
    const batch = seen.groups.find((g) => g.includes(event))!;
    expect(batch.map((e) => e.type).sort()).toEqual(
      [
        'ci.unrelated',
        'ci.unrelated',
        'network.address.released',
        'network.address.released',
        'network.device.released',
        'network.link.deleted',
        'network.link.deleted',
      ].sort(),
    );
    for (const e of batch) expect(e.actor).toMatchObject({ kind: 'plugin', id: 'network' });
    expect(
      batch
        .filter((e) => e.type === 'network.address.released')
        .map((e) => (e.payload as { address: { address: string } }).address.address),
    ).toEqual(['10.77.0.1', '10.77.0.2']);

    // Links gone on both ends; the unrelated link stays.
    expect(
      (await net().interfaces.linksOf([r1.id, r2.id, s1.id, c1.id, s3.id])).map((l) => l?.id ?? null),
    ).toEqual([null, null, null, null, kept.id]);
    // The router's connected_to relationships are gone; the switch-server one stays.
    const [routerRels, switchRels] = await og.cmdb.relationshipsOf([router.id, sw.id]);
    expect(routerRels).toEqual([]);
    expect(switchRels!.map((r) => [r.type, r.sourceId, r.targetId])).toEqual([
      ['connected_to', sw.id, srv.id],
    ]);
    // Its addresses are free again: the next allocation takes the lowest.
    expect(
      (await net().ipam.addresses({ prefixId: prefix.id })).map((a) => [a.address, a.interfaceId]),
    ).toEqual([['10.77.0.3', s1.id]]);
    const [after] = await net().ipam.utilisation([prefix.id]);
    expect(after!.used).toBe(1n);
    expect((await net().ipam.allocateAddress({ prefixId: prefix.id }, { actor })).address).toBe('10.77.0.1');
    // Its interfaces stay, as records of the retired device, now free to delete.
    expect((await net().interfaces.interfacesOf(router.id)).map((i) => i.name)).toEqual([
      'ge-0/0/1',
      'ge-0/0/2',
      'ge-0/0/3',
    ]);
    // Nothing left to release: calling again writes nothing.
    expect(await net().interfaces.releaseDevice(router.id, { actor })).toEqual({
      linkIds: [],
      addressIds: [],
    });
  });

  it('refuses a caller without network:write on the device', async () => {
    const sw = await device('switch', 'sw-retire-auth');
    const reader = { kind: 'user', id: 'u-reader', name: 'reader', permissions: ['network:read'] } as const;
    await expect(net().interfaces.releaseDevice(sw.id, { actor: reader })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });
});
