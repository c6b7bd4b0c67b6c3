import { type Actor, systemActor, ValidationError } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { network, PrefixFullError } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())('network IPAM on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [network()] });
  });
  afterAll(() => og?.close());
  const ipam = () => og.plugins.network.ipam;

  it('runs its migration under its own ledger, after core, and registers its classes and roles', async () => {
    const status = await og.migrationStatus();
    expect(status.map((s) => s.owner)).toEqual(['core', 'network']);
    const ledger = await sql<{ name: string }>`select name from og_migrations_network`.execute(og.db);
    expect(ledger.rows.map((r) => r.name)).toEqual(['0001_network_ipam_interfaces_vlans_firewall']);
    const classes = await og.cmdb.classes();
    for (const name of ['router', 'switch', 'firewall'])
      expect(classes.find((c) => c.name === name)).toMatchObject({ parent: 'hardware', owner: 'network' });
  });

  it('200 concurrent allocations in a /24 give 200 distinct addresses; a full /24 is a typed error naming it', async () => {
    const prefix = await ipam().createPrefix({ prefix: '10.20.0.0/24', description: 'race' }, { actor });
    const results = await Promise.all(
      Array.from({ length: 200 }, () => ipam().allocateAddress({ prefixId: prefix.id }, { actor })),
    );
    const addresses = results.map((a) => a.address);
    expect(new Set(addresses).size).toBe(200);
    // The lowest free first: exactly .1 to .200.
    expect([...addresses].sort((a, b) => Number(a.split('.')[3]) - Number(b.split('.')[3]))).toEqual(
      Array.from({ length: 200 }, (_, i) => `10.20.0.${i + 1}`),
    );
    expect(results.every((a) => a.prefixId === prefix.id)).toBe(true);
    await Promise.all(
      Array.from({ length: 54 }, () => ipam().allocateAddress({ prefixId: prefix.id }, { actor })),
    );
    const [use] = await ipam().utilisation([prefix.id]);
    expect(use).toEqual({ prefixId: prefix.id, used: 254n, total: 254n, ratio: 1 });
    // The 255th: network and broadcast are never handed out.
    const error = await ipam()
      .allocateAddress({ prefixId: prefix.id }, { actor })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrefixFullError);
    expect(error).toMatchObject({
      code: 'CONFLICT',
      reason: 'PREFIX_FULL',
      field: 'prefixId',
      prefixId: prefix.id,
      prefix: '10.20.0.0/24',
      message: 'Prefix 10.20.0.0/24 is full: all 254 usable addresses are allocated',
    });
    const stored = await sql<{ n: string | number }>`
      select count(distinct address) as n from network_addresses where address <<= '10.20.0.0/24'`.execute(
      og.db,
    );
    expect(Number(stored.rows[0]!.n)).toBe(254);
  });

  it('raises a utilisation alert through event management as a prefix fills, and clears it', async () => {
    const prefix = await ipam().createPrefix({ prefix: '10.21.0.0/29' }, { actor }); // 6 usable
    const allocated = [];
    for (let i = 0; i < 6; i++)
      allocated.push(await ipam().allocateAddress({ prefixId: prefix.id }, { actor }));
    const dedupKey = `network:prefix:${prefix.id}:utilisation`;
    const raised = await og.db
      .selectFrom('alerts')
      .select(['severity', 'status', 'message', 'node'])
      .where('dedupKey', '=', dedupKey)
      .executeTakeFirst();
    expect(raised).toEqual({
      severity: 'critical',
      status: 'open',
      node: '10.21.0.0/29',
      message: 'Prefix 10.21.0.0/29 is 100% used (6 of 6 addresses)',
    });
    const last = allocated.at(-1)!;
    await ipam().releaseAddress(last.id, last.version, { actor });
    const cleared = await og.db
      .selectFrom('alerts')
      .select(['status', 'closeReason'])
      .where('dedupKey', '=', dedupKey)
      .executeTakeFirst();
    // 5 of 6 is under the 90% warning level: cleared.
    expect(cleared).toEqual({ status: 'closed', closeReason: 'cleared' });
  });

  it('applies the usable-address rule to /31, /32 and IPv6, with bigint sizes', async () => {
    const p31 = await ipam().createPrefix({ prefix: '10.30.0.0/31' }, { actor });
    const p32 = await ipam().createPrefix({ prefix: '10.30.0.9/32' }, { actor });
    const v6 = await ipam().createPrefix({ prefix: '2001:DB8:0:1::/64' }, { actor });
    const p127 = await ipam().createPrefix({ prefix: '2001:db8:0:2::/127' }, { actor });
    expect(v6.prefix).toBe('2001:db8:0:1::/64');
    expect(v6.family).toBe(6);
    const a = await ipam().allocateAddress({ prefixId: p31.id }, { actor });
    const b = await ipam().allocateAddress({ prefixId: p31.id }, { actor });
    expect([a.address, b.address]).toEqual(['10.30.0.0', '10.30.0.1']);
    await expect(ipam().allocateAddress({ prefixId: p31.id }, { actor })).rejects.toBeInstanceOf(
      PrefixFullError,
    );
    expect((await ipam().allocateAddress({ prefixId: p32.id }, { actor })).address).toBe('10.30.0.9');
    expect((await ipam().allocateAddress({ prefixId: v6.id }, { actor })).address).toBe('2001:db8:0:1::1');
    expect((await ipam().allocateAddress({ prefixId: v6.id }, { actor })).address).toBe('2001:db8:0:1::2');
    expect((await ipam().allocateAddress({ prefixId: p127.id }, { actor })).address).toBe('2001:db8:0:2::');
    const [u31, u32, u6] = await ipam().utilisation([p31.id, p32.id, v6.id]);
    expect(u31).toMatchObject({ used: 2n, total: 2n, ratio: 1 });
    expect(u32).toMatchObject({ used: 1n, total: 1n });
    expect(u6).toMatchObject({ used: 2n, total: 2n ** 64n - 1n });
    expect(u6!.ratio).toBe(0);
  });

  it('computes parents as the longest containing prefix in the VRF, per VRF', async () => {
    const blue = await ipam().createVrf({ name: 'blue', rd: '65000:1' }, { actor });
    const p8 = await ipam().createPrefix({ prefix: '172.16.0.0/12' }, { actor });
    const p24 = await ipam().createPrefix({ prefix: '172.16.5.0/24' }, { actor });
    const blue24 = await ipam().createPrefix({ prefix: '172.16.5.0/24', vrfId: blue.id }, { actor });
    expect(p24.parentId).toBe(p8.id);
    expect(blue24.parentId).toBeNull();
    // A prefix in between becomes the parent, read again.
    const p16 = await ipam().createPrefix({ prefix: '172.16.0.0/16' }, { actor });
    expect(p16.parentId).toBe(p8.id);
    expect((await ipam().getPrefix(p24.id))?.parentId).toBe(p16.id);
    const listed = await ipam().prefixes({ within: '172.16.0.0/12', vrfId: null });
    expect(listed.map((p) => [p.prefix, p.parentId])).toEqual([
      ['172.16.0.0/12', null],
      ['172.16.0.0/16', p8.id],
      ['172.16.5.0/24', p16.id],
    ]);
    // The same prefix twice in one VRF is refused; in another VRF it is fine.
    await expect(
      ipam().createPrefix({ prefix: '172.16.5.0/24', vrfId: blue.id }, { actor }),
    ).rejects.toMatchObject({
      field: 'prefix',
      message: 'Invalid input: prefix: 172.16.5.0/24 already exists in VRF blue',
    });
    // Addresses: inside a prefix of their VRF, a host address, once.
    const address = await ipam().createAddress({ address: '172.16.5.10', dnsName: 'db.example' }, { actor });
    expect(address).toMatchObject({ address: '172.16.5.10', prefixId: p24.id, vrfId: null, family: 4 });
    const inBlue = await ipam().createAddress({ address: '172.16.5.10', vrfId: blue.id }, { actor });
    expect(inBlue.prefixId).toBe(blue24.id);
    await expect(ipam().createAddress({ address: '172.16.5.10' }, { actor })).rejects.toMatchObject({
      field: 'address',
      message: 'Invalid input: address: 172.16.5.10 is already in use in the global table',
    });
    await expect(ipam().createAddress({ address: '172.16.5.255' }, { actor })).rejects.toMatchObject({
      field: 'address',
      message:
        'Invalid input: address: 172.16.5.255 is not a host address of 172.16.5.0/24 (hosts are 172.16.5.1 to 172.16.5.254)',
    });
    await expect(ipam().createAddress({ address: '192.0.2.1' }, { actor })).rejects.toMatchObject({
      field: 'address',
      message:
        'Invalid input: address: 192.0.2.1 is in no prefix of the global table: create its prefix first',
    });
    // Deleting a prefix whose addresses another prefix holds is fine; the last one holding them is not.
    const deleted = await ipam().deletePrefix(p16.id, p16.version, { actor });
    expect(deleted.prefix).toBe('172.16.0.0/16');
    await expect(ipam().deletePrefix(blue24.id, blue24.version, { actor })).rejects.toMatchObject({
      field: 'id',
      message:
        'Invalid input: id: 172.16.5.0/24 still holds 172.16.5.10, which no other prefix contains: release its addresses first',
    });
  });

  it('allocates the next free child prefix, aligned, around existing ones, until full', async () => {
    const parent = await ipam().createPrefix({ prefix: '10.40.0.0/24', status: 'container' }, { actor });
    await ipam().createPrefix({ prefix: '10.40.0.64/26' }, { actor });
    const first = await ipam().allocatePrefix({ parentId: parent.id, length: 26 }, { actor });
    const second = await ipam().allocatePrefix({ parentId: parent.id, length: 25 }, { actor });
    expect([first.prefix, second.prefix]).toEqual(['10.40.0.0/26', '10.40.0.128/25']);
    expect(first.parentId).toBe(parent.id);
    // .0/26, .64/26 and .128/25 now cover the /24: nothing is left, even for a /30.
    await expect(ipam().allocatePrefix({ parentId: parent.id, length: 30 }, { actor })).rejects.toMatchObject(
      {
        reason: 'PREFIX_FULL',
        prefixId: parent.id,
        message: 'Prefix 10.40.0.0/24 is full: no free /30 is left in it',
      },
    );
    await expect(ipam().allocatePrefix({ parentId: parent.id, length: 24 }, { actor })).rejects.toMatchObject(
      {
        field: 'length',
      },
    );
    // IPv6: a /64 out of a /48, next to one taken.
    const v6 = await ipam().createPrefix({ prefix: '2001:db8:100::/48' }, { actor });
    await ipam().createPrefix({ prefix: '2001:db8:100::/64' }, { actor });
    const next = await ipam().allocatePrefix({ parentId: v6.id, length: 64 }, { actor });
    expect(next.prefix).toBe('2001:db8:100:1::/64');
  });

  it('refuses bad input naming the field and writes nothing', async () => {
    const seq = await og.activity.latestSeq();
    const cases: [() => Promise<unknown>, string, string][] = [
      [
        () => ipam().createPrefix({ prefix: '10.0.0.5/24' }, { actor }),
        'prefix',
        'has host bits set: did you mean 10.0.0.0/24?',
      ],
      [
        () => ipam().createPrefix({ prefix: '10.0.0.0/33' }, { actor }),
        'prefix',
        'must be an IPv4 or IPv6 prefix (Invalid subnet mask.)',
      ],
      [
        () => ipam().createPrefix({ prefix: '10.0.0.0' }, { actor }),
        'prefix',
        'must be a prefix such as 10.0.0.0/24',
      ],
      [
        () => ipam().createAddress({ address: '10.0.0.300' }, { actor }),
        'address',
        'must be an IPv4 or IPv6 address (Invalid IPv4 address.)',
      ],
      [
        () => ipam().createAddress({ address: '10.0.0.1/24' }, { actor }),
        'address',
        'must be an address without a prefix length',
      ],
      [
        () => ipam().createVrf({ name: 'x', rd: 'nope' }, { actor }),
        'rd',
        'must be a route distinguisher such as 65000:1',
      ],
    ];
    for (const [run, field, message] of cases) {
      const error = await run().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field, message: `Invalid input: ${field}: ${message}` });
    }
    await expect(ipam().allocateAddress({ prefixId: crypto.randomUUID() }, { actor })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      field: 'prefixId',
    });
    expect(await og.activity.latestSeq()).toBe(seq);
  });

  it('needs network:write to write and network:read to read', async () => {
    const reader: Actor = { kind: 'user', id: 'r', name: 'reader', permissions: ['network:read'] };
    const nobody: Actor = { kind: 'user', id: 'n', name: 'nobody', permissions: ['cmdb:read'] };
    await expect(ipam().createPrefix({ prefix: '10.99.0.0/24' }, { actor: reader })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'network:write',
    });
    await expect(ipam().prefixes({}, { actor: nobody })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'network:read',
    });
    expect(Array.isArray(await ipam().prefixes({}, { actor: reader }))).toBe(true);
  });
  it('pages prefixes and addresses by keyset: global table first, then each VRF, numeric order, IPv4 before IPv6', async () => {
    const red = await ipam().createVrf({ name: 'page-red' }, { actor });
    const made = [
      ['2001:db8:77::/48', undefined],
      ['10.88.10.0/24', undefined],
      ['10.88.9.0/24', undefined],
      ['10.88.0.0/16', red.id],
      ['10.88.2.0/24', red.id],
    ] as const;
    for (const [prefix, vrfId] of made)
      await ipam().createPrefix({ prefix, ...(vrfId ? { vrfId } : {}) }, { actor });
    const walk = async (first: number, filter: { within?: string; vrfId?: string | null } = {}) => {
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await ipam().prefixPage(filter, { first, after });
        const vrf = (id: string | null) => (id === null ? 'global' : id === red.id ? 'red' : id);
        seen.push(...page.edges.map((e) => `${vrf(e.node.vrfId)} ${e.node.prefix}`));
        expect(page.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
        if (!page.hasNextPage) return seen;
        after = page.endCursor;
      }
    };
    const v4 = ['global 10.88.9.0/24', 'global 10.88.10.0/24', 'red 10.88.0.0/16', 'red 10.88.2.0/24'];
    for (const first of [1, 2, 3, 50]) expect(await walk(first, { within: '10.88.0.0/16' })).toEqual(v4);
    expect(await walk(2, { within: '10.88.0.0/16', vrfId: null })).toEqual(v4.slice(0, 2));
    const all = await walk(2);
    // Pages of 2 walk the whole table as one page does, and (other tests' prefixes around) IPv4 sorts
    // before IPv6 and the global table before any VRF.
    expect(all).toEqual(await walk(500));
    expect(new Set(all).size).toBe(all.length);
    const at = (label: string) => all.indexOf(label);
    expect(at('global 10.88.10.0/24')).toBeLessThan(at('global 2001:db8:77::/48'));
    const globals = all.filter((p) => p.startsWith('global '));
    expect(all.slice(0, globals.length)).toEqual(globals);
    expect(all.slice(at('global 2001:db8:77::/48')).filter((p) => /^global \d+\./.test(p))).toEqual([]);
    await expect(ipam().prefixPage({}, { first: 2, after: 'eyJ4Ijp0cnVlfQ' })).rejects.toMatchObject({
      field: 'after',
    });
    await expect(ipam().prefixPage({}, { first: -1 })).rejects.toMatchObject({ field: 'first' });

    const lan = (await ipam().prefixes({ within: '10.88.9.0/24', vrfId: null }))[0]!;
    for (const address of ['10.88.9.200', '10.88.9.3', '10.88.9.20'])
      await ipam().createAddress({ address }, { actor });
    const first = await ipam().addressPage({ prefixId: lan.id }, { first: 2 });
    const rest = await ipam().addressPage({ prefixId: lan.id }, { first: 2, after: first.endCursor });
    expect([...first.edges, ...rest.edges].map((e) => e.node.address)).toEqual([
      '10.88.9.3',
      '10.88.9.20',
      '10.88.9.200',
    ]);
    expect([first.hasNextPage, rest.hasNextPage]).toEqual([true, false]);
  });
});
