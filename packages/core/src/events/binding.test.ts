// Binding events to CIs by IP address: the store compares only nodes that could be an address, with a
// join on equal values, so these check that a mixed batch still binds every node as before.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../kernel/actor.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { EventInput } from './model.js';

const admin = systemActor('test');

describe.each(testBackends())('binding events by IP address on %s', (backend) => {
  let og: TestOpsGraph;
  const server = (name: string, attributes: Record<string, unknown>) =>
    og.cmdb.create({ class: 'linux_server', name, attributes }, { actor: admin }).then((ci) => ci.id);

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  const event = (key: string, node: string): EventInput => ({
    source: 'probe',
    node,
    type: 'ping',
    severity: 'minor',
    dedupKey: key,
  });
  const bound = async (events: EventInput[]) => {
    const results = await og.events.ingest(events, { actor: admin });
    return Promise.all(results.map(async (r) => (await og.events.alert(r.alertId!))!.ciId));
  };

  it('binds IPv4 and IPv6 nodes (any case) in a batch of host names, and host names as before', async () => {
    const v4 = await server('ipv4-host', { ip_address: '192.0.2.10' });
    const v6 = await server('ipv6-host', { ip_address: '2001:DB8::A1' });
    const named = await Promise.all(
      Array.from({ length: 40 }, (_, i) => server(`bulk-${i}`, { hostname: `bulk-host-${i}` })),
    );
    const events = [
      ...named.map((_, i) => event(`bulk-${i}`, `BULK-HOST-${i}`)),
      event('v4', '192.0.2.10'),
      event('v6-upper', '2001:db8::a1'),
      event('v6-lower', '2001:DB8::a1'),
      event('v4-unknown', '192.0.2.99'),
      event('looks-like-ip', '198.51.100'),
    ];
    expect(await bound(events)).toEqual([...named, v4, v6, v6, null, null]);
  });

  it('prefers a host name to an address, and leaves an address two CIs hold unbound', async () => {
    const byName = await server('10.20.30.40', {});
    await server('holder', { ip_address: '10.20.30.40' });
    await server('holder-a', { ip_address: '10.20.30.41' });
    await server('holder-b', { ip_address: '10.20.30.41' });
    expect(await bound([event('name-wins', '10.20.30.40'), event('ambiguous', '10.20.30.41')])).toEqual([
      byName,
      null,
    ]);
  });

  it('does not bind to a retired CI by its address', async () => {
    const gone = await og.cmdb.create(
      { class: 'linux_server', name: 'gone', attributes: { ip_address: '203.0.113.5' } },
      { actor: admin },
    );
    await og.cmdb.retire(gone.id, gone.version, { actor: admin });
    expect(await bound([event('retired', '203.0.113.5')])).toEqual([null]);
  });
});
