import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ForbiddenError, ValidationError } from '../kernel/errors.js';
import { definePlugin, PluginLoadError } from '../kernel/plugins.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';

const actor = systemActor('test');
const writer: Actor = { kind: 'user', id: 'w', name: 'Writer', permissions: ['cmdb:read', 'cmdb:write'] };

/** The issues of the ValidationError `promise` rejects with. */
async function issuesOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => {
      throw new Error('expected a ValidationError');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues;
}

describe.each(testBackends())('CI classes, attributes and identifiers on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend });
  });
  afterAll(() => og?.close());

  /** Runs `attempt`, expects it refused, and checks that no CI and no event was written. */
  const refusedWithoutWriting = async (attempt: () => Promise<unknown>) => {
    const seq = await og.activity.latestSeq();
    const count = (
      await og.db.selectFrom('cis').select(og.db.fn.countAll().as('n')).executeTakeFirstOrThrow()
    ).n;
    const issues = await issuesOf(attempt());
    expect(await og.activity.latestSeq()).toBe(seq);
    expect(
      (await og.db.selectFrom('cis').select(og.db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n,
    ).toBe(count);
    return issues;
  };

  describe('typed attributes', () => {
    it('inherits attributes down the hierarchy', async () => {
      const schema = await og.cmdb.classSchema('linux_server');
      expect([...schema!.attributes.keys()]).toEqual(
        expect.arrayContaining(['serial_number', 'hostname', 'mac_address', 'distribution']),
      );
      expect(schema!.identifiers).toEqual([
        { scope: 'hardware', fields: ['serial_number'] },
        { scope: 'hardware', fields: ['asset_tag'] },
        { scope: 'server', fields: ['hostname', 'domain'] },
        { scope: 'server', fields: ['mac_address'] },
      ]);
      expect(await og.cmdb.classSchema('toaster')).toBeNull();
    });

    it('accepts every type and stores it normalised', async () => {
      await og.cmdb.defineClass(
        {
          name: 'typed_thing',
          label: 'Typed thing',
          attributes: [
            { name: 's', type: 'string' },
            { name: 'i', type: 'integer' },
            { name: 'n', type: 'number' },
            { name: 'b', type: 'boolean' },
            { name: 'd', type: 'datetime' },
            { name: 'e', type: 'enum', values: ['red', 'green'] },
            { name: 'ip4', type: 'ip' },
            { name: 'ip6', type: 'ip' },
            { name: 'mac', type: 'mac' },
            { name: 'j', type: 'json' },
          ],
        },
        { actor },
      );
      const ci = await og.cmdb.create(
        {
          class: 'typed_thing',
          name: 't1',
          attributes: {
            s: 'text',
            i: 42,
            n: 2.5,
            b: false,
            d: '2026-03-01T10:00:00+02:00',
            e: 'green',
            ip4: '10.0.0.1',
            ip6: '2001:DB8::1',
            mac: '00-1A-2B-3C-4D-5E',
            j: { nested: [1, 'two', null] },
          },
        },
        { actor },
      );
      expect(ci.attributes).toEqual({
        s: 'text',
        i: 42,
        n: 2.5,
        b: false,
        d: '2026-03-01T08:00:00.000Z',
        e: 'green',
        ip4: '10.0.0.1',
        ip6: '2001:db8::1',
        mac: '00:1a:2b:3c:4d:5e',
        j: { nested: [1, 'two', null] },
      });
      expect(await og.cmdb.get(ci.id)).toEqual(ci);
    });

    it('refuses a wrong value of each type, naming the attribute, writing nothing', async () => {
      const issues = await refusedWithoutWriting(() =>
        og.cmdb.create(
          {
            class: 'typed_thing',
            name: 't-bad',
            attributes: {
              s: 5,
              i: 1.5,
              n: 'many',
              b: 'yes',
              d: '2026-03-01 10:00',
              e: 'blue',
              ip4: '10.0.0.256',
              mac: '00:1a:2b',
              j: undefined,
              unknown: 1,
            },
          },
          { actor },
        ),
      );
      expect(issues.map((i) => i.path).sort()).toEqual(
        [
          'attributes.s',
          'attributes.i',
          'attributes.n',
          'attributes.b',
          'attributes.d',
          'attributes.e',
          'attributes.ip4',
          'attributes.mac',
          'attributes.unknown',
        ].sort(),
      );
      expect(issues.find((i) => i.path === 'attributes.unknown')?.message).toBe(
        'is not an attribute of class typed_thing',
      );
      expect(issues.find((i) => i.path === 'attributes.e')?.message).toBe('must be one of red, green');
    });

    it('applies defaults on create and requires required attributes', async () => {
      await og.cmdb.defineClass(
        {
          name: 'ups',
          label: 'UPS',
          parent: 'hardware',
          attributes: [
            { name: 'capacity_va', type: 'integer', required: true },
            { name: 'phase', type: 'enum', values: ['single', 'three'], default: 'single', required: true },
          ],
        },
        { actor },
      );
      const issues = await refusedWithoutWriting(() =>
        og.cmdb.create({ class: 'ups', name: 'ups-0' }, { actor }),
      );
      expect(issues).toEqual([{ path: 'attributes.capacity_va', message: 'is required' }]);
      const ups = await og.cmdb.create(
        { class: 'ups', name: 'ups-1', attributes: { capacity_va: 3000, serial_number: 'UPS-1' } },
        { actor },
      );
      expect(ups.attributes).toEqual({ capacity_va: 3000, phase: 'single', serial_number: 'UPS-1' });
      // Cluster quorum defaults to 1 (core class).
      const cluster = await og.cmdb.create({ class: 'cluster', name: 'defaults-cluster' }, { actor });
      expect(cluster.attributes).toEqual({ quorum: 1 });
    });

    it('merges attributes on update; null removes one, but not a required one', async () => {
      const ci = await og.cmdb.create(
        { class: 'linux_server', name: 'merge-1', attributes: { os: 'debian', cpu_count: 4 } },
        { actor },
      );
      const updated = await og.cmdb.update(
        ci.id,
        { version: ci.version, attributes: { cpu_count: 8, os: null, memory_gb: 16 } },
        { actor },
      );
      expect(updated.attributes).toEqual({ cpu_count: 8, memory_gb: 16 });
      const ups = (await og.cmdb.list({ search: 'ups-1' })).edges[0]!.node;
      const issues = await issuesOf(
        og.cmdb.update(ups.id, { version: ups.version, attributes: { capacity_va: null } }, { actor }),
      );
      expect(issues).toEqual([{ path: 'attributes.capacity_va', message: 'is required' }]);
      expect((await og.cmdb.get(ups.id))!.version).toBe(ups.version);
    });
  });

  describe('identifiers', () => {
    it('refuses a second CI with the same identifier, whatever the case, and names the attribute', async () => {
      const first = await og.cmdb.create(
        { class: 'linux_server', name: 'web-01', attributes: { hostname: 'web-01', domain: 'shop.example' } },
        { actor },
      );
      const issues = await refusedWithoutWriting(() =>
        og.cmdb.create(
          {
            class: 'server',
            name: 'web-01 again',
            attributes: { hostname: 'WEB-01', domain: 'Shop.Example' },
          },
          { actor },
        ),
      );
      expect(issues).toHaveLength(1);
      expect(issues[0]!.path).toBe('attributes.hostname');
      expect(issues[0]!.message).toContain(first.id);
      // Another domain is another identity.
      await og.cmdb.create(
        {
          class: 'linux_server',
          name: 'web-01 lab',
          attributes: { hostname: 'web-01', domain: 'lab.example' },
        },
        { actor },
      );
    });

    it('scopes an identifier to the class that declares it, across its subclasses', async () => {
      await og.cmdb.create(
        { class: 'linux_server', name: 'sn-1', attributes: { serial_number: 'SN-1' } },
        { actor },
      );
      const issues = await refusedWithoutWriting(() =>
        og.cmdb.create(
          { class: 'ups', name: 'sn-1 ups', attributes: { serial_number: 'sn-1', capacity_va: 1 } },
          { actor },
        ),
      );
      expect(issues[0]!.path).toBe('attributes.serial_number');
    });

    it('identifies by name where the class says so', async () => {
      await og.cmdb.create({ class: 'business_service', name: 'Payments' }, { actor });
      const issues = await refusedWithoutWriting(() =>
        og.cmdb.create({ class: 'business_service', name: 'payments' }, { actor }),
      );
      expect(issues[0]!.path).toBe('name');
    });

    it('refuses an update onto another CI identity, and frees the identity of a retired CI', async () => {
      const a = await og.cmdb.create(
        { class: 'server', name: 'mac-a', attributes: { mac_address: 'aa:aa:aa:aa:aa:01' } },
        { actor },
      );
      const b = await og.cmdb.create(
        { class: 'server', name: 'mac-b', attributes: { mac_address: 'aa:aa:aa:aa:aa:02' } },
        { actor },
      );
      const issues = await issuesOf(
        og.cmdb.update(
          b.id,
          { version: b.version, attributes: { mac_address: 'AA-AA-AA-AA-AA-01' } },
          { actor },
        ),
      );
      expect(issues[0]!.path).toBe('attributes.mac_address');
      expect(await og.cmdb.get(b.id)).toEqual(b);
      // b's old identity is still b's: nobody else can take it.
      await issuesOf(
        og.cmdb.create(
          { class: 'server', name: 'mac-c', attributes: { mac_address: 'aa:aa:aa:aa:aa:02' } },
          { actor },
        ),
      );
      await og.cmdb.retire(a.id, a.version, { actor });
      const replacement = await og.cmdb.create(
        { class: 'server', name: 'mac-a2', attributes: { mac_address: 'aa:aa:aa:aa:aa:01' } },
        { actor },
      );
      expect(replacement.attributes.mac_address).toBe('aa:aa:aa:aa:aa:01');
    });

    it('lets only one of several concurrent creates take an identity', async () => {
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((i) =>
          og.cmdb.create(
            { class: 'server', name: `race-${i}`, attributes: { serial_number: 'RACE-1' } },
            { actor },
          ),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((r) => r.status === 'rejected')) {
        expect(r.reason).toBeInstanceOf(ValidationError);
        expect((r.reason as ValidationError).field).toBe('attributes.serial_number');
      }
      expect((await og.cmdb.list({ search: 'race-' })).edges).toHaveLength(1);
    });

    it('lets a CI change its identifier, freeing the old value', async () => {
      const ci = await og.cmdb.create(
        { class: 'server', name: 'rename-1', attributes: { hostname: 'old', domain: 'x.example' } },
        { actor },
      );
      await og.cmdb.update(ci.id, { version: ci.version, attributes: { hostname: 'new' } }, { actor });
      await og.cmdb.create(
        { class: 'server', name: 'takes-old', attributes: { hostname: 'old', domain: 'x.example' } },
        { actor },
      );
    });
  });

  describe('classes at runtime', () => {
    /** Each definition is refused with an issue at its path. */
    const expectRefusedAt = async (cases: [Parameters<typeof og.cmdb.defineClass>[0], string][]) => {
      for (const [input, path] of cases) {
        const issues = await issuesOf(og.cmdb.defineClass(input, { actor }));
        expect(
          issues.map((i) => i.path),
          JSON.stringify(input),
        ).toContain(path);
      }
    };

    it('needs cmdb:admin', async () => {
      await expect(
        og.cmdb.defineClass({ name: 'nope', label: 'Nope' }, { actor: writer }),
      ).rejects.toBeInstanceOf(ForbiddenError);
    });

    it('refuses bad definitions naming the field', async () => {
      const cases: [Parameters<typeof og.cmdb.defineClass>[0], string][] = [
        [{ name: 'Bad Name', label: 'x' }, 'name'],
        [{ name: 'orphan', label: 'x', parent: 'nothing' }, 'parent'],
        [{ name: 'e1', label: 'x', attributes: [{ name: 'c', type: 'enum' }] }, 'attributes.0.values'],
        [
          { name: 'e2', label: 'x', attributes: [{ name: 'c', type: 'integer', default: 'x' }] },
          'attributes.0.default',
        ],
        [
          { name: 'e3', label: 'x', attributes: [{ name: 'c', type: 'colour' as 'string' }] },
          'attributes.0.type',
        ],
        [
          { name: 'e4', label: 'x', parent: 'server', attributes: [{ name: 'hostname', type: 'string' }] },
          'attributes.0.name',
        ],
        [{ name: 'e5', label: 'x', identifiers: [['missing']] }, 'identifiers.0.0'],
        [
          { name: 'e6', label: 'x', attributes: [{ name: 'j', type: 'json' }], identifiers: [['j']] },
          'identifiers.0.0',
        ],
        [{ name: 'server', label: 'Mine' }, 'name'],
      ];
      await expectRefusedAt(cases);
      expect((await og.cmdb.classes()).map((c) => c.name)).not.toContain('e1');
    });

    it('defines a class with identifiers, usable at once; a class with CIs only grows compatibly', async () => {
      const def = {
        name: 'certificate',
        label: 'TLS certificate',
        attributes: [
          { name: 'fingerprint', type: 'string' as const, required: true },
          { name: 'expires_at', type: 'datetime' as const },
          { name: 'kind', type: 'enum' as const, values: ['dv', 'ov'] },
        ],
        identifiers: [['fingerprint']],
      };
      const cls = await og.cmdb.defineClass(def, { actor });
      expect(cls).toMatchObject({ name: 'certificate', owner: 'runtime', identifiers: [['fingerprint']] });
      const [audit] = await og.activity.list({ subject: { type: 'ci_class', id: 'certificate' } });
      expect(audit).toMatchObject({ type: 'ci.class_defined', payload: { created: true } });
      await og.cmdb.create(
        { class: 'certificate', name: 'shop cert', attributes: { fingerprint: 'AB:CD' } },
        { actor },
      );
      await issuesOf(
        og.cmdb.create(
          { class: 'certificate', name: 'dup cert', attributes: { fingerprint: 'ab:cd' } },
          { actor },
        ),
      );
      // Compatible: a new optional attribute, a wider enum.
      const grown = await og.cmdb.defineClass(
        {
          ...def,
          attributes: [
            ...def.attributes.slice(0, 2),
            { name: 'kind', type: 'enum', values: ['dv', 'ov', 'ev'] },
            { name: 'issuer', type: 'string' },
          ],
        },
        { actor },
      );
      expect(grown.attributes.map((a) => a.name)).toEqual(['fingerprint', 'expires_at', 'kind', 'issuer']);
      const cases: [Parameters<typeof og.cmdb.defineClass>[0], string][] = [
        [{ ...def, attributes: def.attributes.slice(0, 2) }, 'attributes'],
        [
          { ...def, attributes: [{ ...def.attributes[0]!, type: 'integer' }, ...def.attributes.slice(1)] },
          'attributes.0.type',
        ],
        [
          {
            ...def,
            attributes: [...def.attributes.slice(0, 2), { name: 'kind', type: 'enum', values: ['dv'] }],
          },
          'attributes.2.values',
        ],
        [
          { ...def, attributes: [...def.attributes, { name: 'owner_mail', type: 'string', required: true }] },
          'attributes.3.required',
        ],
        [{ ...def, identifiers: [] }, 'identifiers'],
        [{ ...def, parent: 'application' }, 'parent'],
      ];
      await expectRefusedAt(cases);
    });

    it('defines relationship types at runtime, usable in relate', async () => {
      const type = await og.cmdb.defineRelationshipType(
        { name: 'backs_up', label: 'backs up', inverseLabel: 'is backed up by', propagation: 'none' },
        { actor },
      );
      expect(type).toMatchObject({ name: 'backs_up', owner: 'runtime', propagation: 'none', acyclic: false });
      const a = await og.cmdb.create({ class: 'application', name: 'backup-app' }, { actor });
      const b = await og.cmdb.create({ class: 'database', name: 'backed-db' }, { actor });
      await og.cmdb.relate({ type: 'backs_up', sourceId: a.id, targetId: b.id }, { actor });
      const issues = await issuesOf(
        og.cmdb.defineRelationshipType({ name: 'depends_on', label: 'x', propagation: 'none' }, { actor }),
      );
      expect(issues[0]!.path).toBe('name');
    });
  });

  describe('sources', () => {
    it('records the source that set each attribute; an undeclared source is refused', async () => {
      await og.cmdb.defineSource({ name: 'scanner', priority: 10 }, { actor });
      const ci = await og.cmdb.create(
        { class: 'server', name: 'src-1', attributes: { os: 'linux' } },
        { actor, source: 'scanner' },
      );
      // CI fields are tracked too, under `$<field>` (reconciliation's precedence reads them).
      expect(ci.attributeSources).toEqual({ os: 'scanner', $name: 'scanner' });
      const updated = await og.cmdb.update(ci.id, { version: 1, attributes: { cpu_count: 2 } }, { actor });
      expect(updated.attributeSources).toEqual({ os: 'scanner', cpu_count: 'manual', $name: 'scanner' });
      const issues = await refusedWithoutWriting(() =>
        og.cmdb.create({ class: 'server', name: 'src-2' }, { actor, source: 'ghost' }),
      );
      expect(issues[0]!.path).toBe('source');
      expect((await og.cmdb.sources()).map((s) => [s.name, s.priority])).toEqual([
        ['manual', 100],
        ['scanner', 10],
      ]);
    });
  });
});

describe.each(testBackends())("plugins' classes with attributes on %s", (backend) => {
  it('registers attributes and identifiers, and validates CIs against them', async () => {
    const og = await createTestOpsGraph({
      backend,
      plugins: [
        definePlugin({
          name: 'network',
          ciClasses: [
            {
              name: 'network_device',
              label: 'Network device',
              parent: 'hardware',
              attributes: [{ name: 'management_ip', type: 'ip' }],
              identifiers: [['management_ip']],
            },
          ],
        }),
      ],
    });
    try {
      await og.cmdb.create(
        { class: 'network_device', name: 'sw-1', attributes: { management_ip: '10.1.1.1' } },
        { actor },
      );
      const issues = await issuesOf(
        og.cmdb.create(
          { class: 'network_device', name: 'sw-2', attributes: { management_ip: 'nope' } },
          { actor },
        ),
      );
      expect(issues[0]!.path).toBe('attributes.management_ip');
    } finally {
      await og.close();
    }
  });

  it('stops start-up naming the plugin when a class definition is invalid', async () => {
    const attempt = createTestOpsGraph({
      backend,
      plugins: [
        definePlugin({
          name: 'broken',
          ciClasses: [{ name: 'gadget', label: 'Gadget', identifiers: [['nothing']] }],
        }),
      ],
    });
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginLoadError);
    expect((error as Error).message).toContain('Plugin "broken" brings an invalid CI class "gadget"');
    expect((error as Error).message).toContain('identifiers.0.0');
  });
});
