import { type Ci, systemActor, ValidationError } from '@opsgraph/core';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { network } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())(
  'network interfaces, links, paths, VLANs and firewall rules on %s',
  (backend) => {
    let og: TestOpsGraph;
    beforeAll(async () => {
      og = await createTestOpsGraph({ backend, plugins: [network()] });
    });
    afterAll(() => og?.close());
    const net = () => og.plugins.network;
    const device = (cls: string, name: string) => og.cmdb.create({ class: cls, name }, { actor });

    it('keeps interface names unique per device and normalises MACs', async () => {
      const sw = await device('switch', 'sw-mac');
      const srv = await device('server', 'srv-mac');
      const eth0 = await net().interfaces.createInterface(
        { deviceId: sw.id, name: 'eth0', type: 'ethernet', speedMbps: 10_000, mac: '00-1A-2B-3C-4D-5E' },
        { actor },
      );
      expect(eth0).toMatchObject({
        deviceId: sw.id,
        name: 'eth0',
        mac: '00:1a:2b:3c:4d:5e',
        enabled: true,
        version: 1,
      });
      const cisco = await net().interfaces.createInterface(
        { deviceId: srv.id, name: 'eth0', mac: '001a.2b3c.4d5f' },
        { actor },
      );
      expect(cisco.mac).toBe('00:1a:2b:3c:4d:5f');
      await expect(
        net().interfaces.createInterface({ deviceId: sw.id, name: 'eth0' }, { actor }),
      ).rejects.toMatchObject({
        field: 'name',
        message: 'Invalid input: name: interface eth0 already exists on sw-mac',
      });
      const bad = await net()
        .interfaces.createInterface({ deviceId: sw.id, name: 'eth1', mac: 'zz:00:00:00:00:00' }, { actor })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(ValidationError);
      expect(bad).toMatchObject({ field: 'mac' });
      await expect(
        net().interfaces.createInterface({ deviceId: crypto.randomUUID(), name: 'x' }, { actor }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'deviceId' });
      const updated = await net().interfaces.updateInterface(
        eth0.id,
        { version: 1, enabled: false },
        { actor },
      );
      expect(updated).toMatchObject({ enabled: false, version: 2 });
      await expect(
        net().interfaces.updateInterface(eth0.id, { version: 1, enabled: true }, { actor }),
      ).rejects.toMatchObject({
        code: 'CONFLICT',
        field: 'version',
      });
      expect((await net().interfaces.interfacesOf(sw.id)).map((i) => i.name)).toEqual(['eth0']);
    });

    it('takes one link per interface end, naming the interface, and relates the devices in the CMDB', async () => {
      const a = await device('router', 'r-link');
      const b = await device('switch', 'sw-link');
      const c = await device('server', 'srv-link');
      const ra = await net().interfaces.createInterface({ deviceId: a.id, name: 'ge-0/0/0' }, { actor });
      const sb = await net().interfaces.createInterface({ deviceId: b.id, name: 'Gi1/0/1' }, { actor });
      const sc = await net().interfaces.createInterface({ deviceId: c.id, name: 'eno1' }, { actor });
      const link = await net().interfaces.connect(
        { aInterfaceId: ra.id, bInterfaceId: sb.id, cableType: 'fibre' },
        { actor },
      );
      expect(link).toMatchObject({ aInterfaceId: ra.id, bInterfaceId: sb.id, cableType: 'fibre' });
      // Either end again, on either side, is refused naming that interface.
      await expect(
        net().interfaces.connect({ aInterfaceId: sc.id, bInterfaceId: sb.id }, { actor }),
      ).rejects.toMatchObject({
        field: 'bInterfaceId',
        message: `Invalid input: bInterfaceId: interface Gi1/0/1 of sw-link is already linked (link ${link.id})`,
      });
      await expect(
        net().interfaces.connect({ aInterfaceId: ra.id, bInterfaceId: sc.id }, { actor }),
      ).rejects.toMatchObject({
        field: 'aInterfaceId',
        message: `Invalid input: aInterfaceId: interface ge-0/0/0 of r-link is already linked (link ${link.id})`,
      });
      // Concurrent links on one free interface: exactly one wins.
      const d = await device('server', 'srv-race');
      const free = await net().interfaces.createInterface({ deviceId: d.id, name: 'eth9' }, { actor });
      const others = await Promise.all(
        ['p1', 'p2', 'p3', 'p4'].map((name) =>
          net().interfaces.createInterface({ deviceId: c.id, name }, { actor }),
        ),
      );
      const outcomes = await Promise.allSettled(
        others.map((o) => net().interfaces.connect({ aInterfaceId: free.id, bInterfaceId: o.id }, { actor })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes.filter((o) => o.status === 'rejected'))
        expect((o as PromiseRejectedResult).reason).toMatchObject({ field: 'aInterfaceId' });
      // Impact flows over the cabling: the router failing reaches the switch.
      const [rels] = await og.cmdb.relationshipsOf([a.id]);
      expect(rels!.map((r) => [r.type, r.sourceId, r.targetId])).toEqual([['connected_to', a.id, b.id]]);
      const impact = await og.topology.impactOf(a.id);
      expect(JSON.stringify(impact)).toContain(b.id);
      // A linked interface cannot be deleted; disconnecting removes the relationship too.
      await expect(net().interfaces.deleteInterface(ra.id, ra.version, { actor })).rejects.toMatchObject({
        field: 'id',
      });
      await net().interfaces.disconnect(link.id, { actor });
      const [after] = await og.cmdb.relationshipsOf([a.id]);
      expect(after).toEqual([]);
      expect((await net().interfaces.deleteInterface(ra.id, ra.version, { actor })).id).toBe(ra.id);
    });

    it('finds the shortest path between devices over enabled links', async () => {
      // a - b - c - d, and a - e - d (shorter), and f alone.
      const names = ['pa', 'pb', 'pc', 'pd', 'pe', 'pf'] as const;
      const ci: Record<string, Ci> = {};
      for (const n of names) ci[n] = await device('switch', n);
      let port = 0;
      const cable = async (x: string, y: string) => {
        const ix = await net().interfaces.createInterface(
          { deviceId: ci[x]!.id, name: `p${++port}` },
          { actor },
        );
        const iy = await net().interfaces.createInterface(
          { deviceId: ci[y]!.id, name: `p${++port}` },
          { actor },
        );
        const link = await net().interfaces.connect({ aInterfaceId: ix.id, bInterfaceId: iy.id }, { actor });
        return { link, ix, iy };
      };
      await cable('pa', 'pb');
      await cable('pb', 'pc');
      await cable('pc', 'pd');
      const ae = await cable('pa', 'pe');
      const ed = await cable('pd', 'pe'); // cabled from d's side: the path walks it backwards
      const path = await net().interfaces.path(ci.pa!.id, ci.pd!.id);
      expect(path.hops).toEqual([
        { deviceId: ci.pa!.id, linkId: null, fromInterfaceId: null, toInterfaceId: null },
        { deviceId: ci.pe!.id, linkId: ae.link.id, fromInterfaceId: ae.ix.id, toInterfaceId: ae.iy.id },
        { deviceId: ci.pd!.id, linkId: ed.link.id, fromInterfaceId: ed.iy.id, toInterfaceId: ed.ix.id },
      ]);
      // Disable one end of a-e: the long way round.
      await net().interfaces.updateInterface(ae.iy.id, { version: ae.iy.version, enabled: false }, { actor });
      const around = await net().interfaces.path(ci.pa!.id, ci.pd!.id);
      expect(around.hops.map((h) => h.deviceId)).toEqual([ci.pa!.id, ci.pb!.id, ci.pc!.id, ci.pd!.id]);
      expect((await net().interfaces.path(ci.pa!.id, ci.pd!.id, { maxHops: 2 })).hops).toEqual([]);
      expect((await net().interfaces.path(ci.pa!.id, ci.pf!.id)).hops).toEqual([]);
    });

    it('keeps VIDs 1-4094 and unique per group', async () => {
      const dc1 = await net().vlans.createGroup({ name: 'dc1' }, { actor });
      const dc2 = await net().vlans.createGroup({ name: 'dc2' }, { actor });
      const v100 = await net().vlans.createVlan({ vid: 100, name: 'users', groupId: dc1.id }, { actor });
      await net().vlans.createVlan({ vid: 100, name: 'users', groupId: dc2.id }, { actor });
      await net().vlans.createVlan({ vid: 100, name: 'global-users' }, { actor });
      await expect(
        net().vlans.createVlan({ vid: 100, name: 'again', groupId: dc1.id }, { actor }),
      ).rejects.toMatchObject({
        field: 'vid',
        message: 'Invalid input: vid: VLAN 100 (users) already exists in group dc1',
      });
      await expect(net().vlans.createVlan({ vid: 100, name: 'again' }, { actor })).rejects.toMatchObject({
        field: 'vid',
        message: 'Invalid input: vid: VLAN 100 (global-users) already exists among the VLANs of no group',
      });
      for (const vid of [0, 4095])
        await expect(net().vlans.createVlan({ vid, name: 'x' }, { actor })).rejects.toMatchObject({
          field: 'vid',
          message: 'Invalid input: vid: must be 1 to 4094',
        });
      expect((await net().vlans.vlans({ groupId: dc1.id })).map((v) => [v.vid, v.name])).toEqual([
        [100, 'users'],
      ]);
      const prefix = await net().ipam.createPrefix({ prefix: '10.100.0.0/24', vlanId: v100.id }, { actor });
      expect(prefix.vlanId).toBe(v100.id);
      await expect(net().vlans.deleteVlan(v100.id, v100.version, { actor })).rejects.toMatchObject({
        field: 'id',
        message: 'Invalid input: id: VLAN 100 is used by prefix 10.100.0.0/24',
      });
    });

    it('orders firewall rules and evaluates the first match, by zone or CI, protocol and port', async () => {
      const fw = await device('firewall', 'fw-1');
      const web = await device('server', 'web-fw');
      const db = await device('server', 'db-fw');
      const laptop = await device('server', 'laptop-fw');
      const dmz = await net().firewall.createZone({ name: 'dmz', memberIds: [web.id] }, { actor });
      const fwApi = net().firewall;
      const allowSql = await fwApi.createRule(
        {
          firewallId: fw.id,
          action: 'allow',
          protocol: 'tcp',
          sourceZoneId: dmz.id,
          destinationCiId: db.id,
          ports: '5432, 80-81,22',
        },
        { actor },
      );
      expect(allowSql).toMatchObject({ position: 10, ports: '22,80-81,5432' });
      const denyAll = await fwApi.createRule({ firewallId: fw.id, action: 'deny' }, { actor });
      expect(denyAll.position).toBe(20);
      await expect(
        fwApi.createRule({ firewallId: fw.id, action: 'allow', position: 20 }, { actor }),
      ).rejects.toMatchObject({
        field: 'position',
        message: 'Invalid input: position: position 20 is taken on firewall fw-1',
      });
      await expect(
        fwApi.createRule({ firewallId: fw.id, action: 'allow', protocol: 'icmp', ports: '22' }, { actor }),
      ).rejects.toMatchObject({ field: 'ports' });
      await expect(
        fwApi.createRule({ firewallId: fw.id, action: 'allow', protocol: 'tcp', ports: '70000' }, { actor }),
      ).rejects.toMatchObject({
        field: 'ports',
      });
      const pingFirst = await fwApi.createRule(
        { firewallId: fw.id, action: 'allow', protocol: 'icmp', position: 5 },
        { actor },
      );
      expect((await fwApi.rules(fw.id)).map((r) => r.id)).toEqual([pingFirst.id, allowSql.id, denyAll.id]);
      const ask = (source: Ci, protocol: 'tcp' | 'udp' | 'icmp', port?: number) =>
        fwApi.evaluate({ firewallId: fw.id, sourceCiId: source.id, destinationCiId: db.id, protocol, port });
      expect(await ask(web, 'tcp', 5432)).toMatchObject({ action: 'allow', rule: { id: allowSql.id } });
      expect(await ask(web, 'tcp', 81)).toMatchObject({ action: 'allow', rule: { id: allowSql.id } });
      expect(await ask(web, 'tcp', 443)).toMatchObject({ action: 'deny', rule: { id: denyAll.id } });
      expect(await ask(laptop, 'tcp', 5432)).toMatchObject({ action: 'deny', rule: { id: denyAll.id } });
      expect(await ask(laptop, 'icmp')).toMatchObject({ action: 'allow', rule: { id: pingFirst.id } });
      await fwApi.deleteRule(denyAll.id, denyAll.version, { actor });
      expect(await ask(laptop, 'udp', 53)).toEqual({ action: 'deny', rule: null });
    });

    it('authorizes interfaces as their device: a scoped actor writes on its devices only', async () => {
      const mine = await device('switch', 'sw-scoped');
      const theirs = await device('switch', 'sw-other');
      const scoped = await scopedTestActor(og, 'net-team', [
        { ciId: mine.id, mode: 'contains', permissions: ['network:read', 'network:write'] },
      ]);
      const made = await net().interfaces.createInterface(
        { deviceId: mine.id, name: 'x1' },
        { actor: scoped },
      );
      expect(await net().interfaces.interfacesOf(mine.id, { actor: scoped })).toEqual([made]);
      await expect(
        net().interfaces.createInterface({ deviceId: theirs.id, name: 'x1' }, { actor: scoped }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', permission: 'network:write', field: 'deviceId' });
      await expect(net().interfaces.interfacesOf(theirs.id, { actor: scoped })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        permission: 'network:read',
      });
    });
  },
);
