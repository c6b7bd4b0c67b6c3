import { readFileSync } from 'node:fs';
import { type Actor, ManualClock, systemActor, ValidationError } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificatesPlugin, EXPIRY_SWEEP, expiryDedupKey } from './index.js';

// Committed fixtures (see fixtures/make-fixtures.sh): two certificates for shop.example.com, the second
// renewing the first; not-after 2026-07-01T00:00:00Z and 2027-07-01T00:00:00Z.
const pem = (name: string) => readFileSync(new URL(`../fixtures/${name}.pem`, import.meta.url), 'utf8');
const shop2026 = pem('shop-2026');
const shop2027 = pem('shop-2027');
const ISSUER = 'O=OpsGraph Examples, CN=OpsGraph Example CA';
const DAY = 86_400_000;
const EXPIRES = new Date('2026-07-01T00:00:00Z').getTime();
const daysBefore = (days: number) => new Date(EXPIRES - days * DAY);

const actor = systemActor('test');
const only = [EXPIRY_SWEEP];

describe.each(testBackends())('certificates example plugin on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock(daysBefore(60));
  const service = () => og.plugins.certificates.certificates;
  const sweep = async () => {
    const [report] = await og.scheduler.run({ only });
    expect(report).toMatchObject({ name: EXPIRY_SWEEP, outcome: 'ran' });
    return report!.summary;
  };
  const alertsOf = async (ciId: string) =>
    (await og.events.alerts({ dedupKey: expiryDedupKey(ciId) }, { first: 10 })).edges.map((e) => ({
      status: e.node.status,
      severity: e.node.severity,
      count: e.node.count,
    }));

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock, plugins: [certificatesPlugin()] });
  });
  afterAll(() => og?.close());

  it('migrates under its own owner and registers its class, relationship type, roles and sweep', async () => {
    expect((await og.migrationStatus()).map((s) => s.owner)).toEqual(['core', 'certificates']);
    const ledger = await sql<{ name: string }>`select name from og_migrations_certificates`.execute(og.db);
    expect(ledger.rows.map((r) => r.name)).toEqual(['0001_certificates']);
    const schema = await og.cmdb.classSchema('tls_certificate');
    expect([...schema!.attributes.keys()]).toEqual([
      'common_name',
      'sans',
      'issuer',
      'serial',
      'not_before',
      'not_after',
      'fingerprint_sha256',
    ]);
    expect(schema!.identifiers.map((i) => i.fields)).toEqual([['serial', 'issuer']]);
    const type = (await og.cmdb.relationshipTypes()).find((t) => t.name === 'secured_by');
    expect(type).toMatchObject({ propagation: 'to_source', owner: 'certificates' });
    expect(og.scheduler.names).toContain('certificates.expiry');
  });

  it('imports a PEM as a CI in one transaction, and the same PEM again is the same CI', async () => {
    const app = await og.cmdb.create({ class: 'application', name: 'shop-frontend' }, { actor });
    const seq = await og.activity.latestSeq();
    const { certificate, created, renewed } = await service().import(
      { pem: shop2026, servedBy: [app.id] },
      { actor },
    );
    expect(created).toBe(true);
    expect(renewed).toEqual([]);
    expect(certificate).toMatchObject({
      name: 'shop.example.com',
      status: 'operational',
      commonName: 'shop.example.com',
      sans: ['shop.example.com', 'www.shop.example.com'],
      issuer: ISSUER,
      serial: '1001',
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2026-07-01T00:00:00Z'),
      alertLevel: 'ok',
      renewedBy: null,
      pem: shop2026.trim(),
    });
    expect(certificate.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const ci = await og.cmdb.get(certificate.ciId);
    expect(ci).toMatchObject({ class: 'tls_certificate', attributes: { serial: '1001', issuer: ISSUER } });
    const events = await og.activity.list({ after: seq, limit: 100 });
    expect(events.map((e) => e.type)).toEqual(['ci.created', 'ci.related', 'certificates.imported']);

    const again = await service().import({ pem: shop2026, servedBy: [app.id] }, { actor });
    expect(again).toMatchObject({ created: false, certificate: { ciId: certificate.ciId } });
    const [relationships] = await og.cmdb.relationshipsOf([certificate.ciId]);
    expect(relationships!.map((r) => [r.type, r.sourceId])).toEqual([['secured_by', app.id]]);
  });

  it('refuses bad input naming the field, writing nothing', async () => {
    const seq = await og.activity.latestSeq();
    const refusal = (input: Parameters<ReturnType<typeof service>['import']>[0]) =>
      service()
        .import(input, { actor })
        .catch((e: unknown) => e);
    const withKey = `${shop2026}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`;
    expect(await refusal({ pem: withKey })).toMatchObject({
      code: 'VALIDATION',
      field: 'pem',
      message: 'Invalid input: pem: holds a private key: import the certificate only, never its key',
    });
    const garbled = shop2026.replace('MIIC', 'MIIX');
    const unreadable = await refusal({ pem: garbled });
    expect(unreadable).toBeInstanceOf(ValidationError);
    expect(unreadable).toMatchObject({ field: 'pem' });
    expect(await refusal({ pem: 'hello' })).toMatchObject({ field: 'pem' });
    const missing = crypto.randomUUID();
    expect(await refusal({ pem: shop2027, servedBy: [missing] })).toMatchObject({
      code: 'NOT_FOUND',
      field: 'servedBy.0',
    });
    expect(await refusal({ pem: shop2027, servedBy: ['nope'] })).toMatchObject({ field: 'servedBy.0' });
    expect(await og.activity.latestSeq()).toBe(seq);
    expect(
      (await og.cmdb.list({ class: 'tls_certificate', attributes: [{ name: 'serial', value: '1002' }] }))
        .edges,
    ).toEqual([]);
  });

  it('checks the actor: certificates:read to read, certificates:write to import', async () => {
    const viewer: Actor = { kind: 'user', id: 'v', name: 'viewer', permissions: ['certificates:read'] };
    const stranger: Actor = { kind: 'user', id: 's', name: 'stranger', permissions: ['cmdb:*'] };
    await expect(service().expiring({ withinDays: 30 }, {}, { actor: viewer })).resolves.toBeDefined();
    await expect(service().expiring({ withinDays: 30 }, {}, { actor: stranger })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'certificates:read',
    });
    await expect(service().import({ pem: shop2027 }, { actor: viewer })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'certificates:write',
    });
    // The CMDB writes are the caller's: certificates:write alone does not create CIs.
    const writer: Actor = { kind: 'user', id: 'w', name: 'writer', permissions: ['certificates:*'] };
    await expect(service().import({ pem: shop2027 }, { actor: writer })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'cmdb:write',
    });
    await expect(service().sweep({}, viewer)).rejects.toMatchObject({ permission: 'certificates:write' });
    const roles = await og.access.roles();
    expect(roles.find((r) => r.name === 'certificates_manager')?.permissions).toEqual([
      'certificates:*',
      'cmdb:read',
      'cmdb:write',
    ]);
  });

  it('lets an expiring certificate impact what it secures and the business services behind', async () => {
    const [cert] = (await service().expiring({ withinDays: 365 })).edges.map((e) => e.node);
    const [secures] = await og.cmdb.relationshipsOf([cert!.ciId]);
    const shop = await og.cmdb.create({ class: 'business_service', name: 'Web shop' }, { actor });
    await og.cmdb.relate(
      { type: 'depends_on', sourceId: shop.id, targetId: secures![0]!.sourceId },
      { actor },
    );
    const impact = await og.topology.impactOf(cert!.ciId);
    expect(impact.affected.map((a) => a.name)).toEqual(['shop.example.com', 'shop-frontend', 'Web shop']);
    expect(impact.services.map((s) => s.name)).toEqual(['Web shop']);
  });

  it('raises a warning 30 days ahead and a critical 7 days ahead, each once, and clears on renewal', async () => {
    const { certificate: cert } = await service().import({ pem: shop2026 }, { actor });
    clock.set(daysBefore(31));
    expect(await sweep()).toEqual({ warning: 0, critical: 0, cleared: 0 });
    expect(await alertsOf(cert.ciId)).toEqual([]);

    clock.set(daysBefore(30));
    expect(await sweep()).toEqual({ warning: 1, critical: 0, cleared: 0 });
    expect(await alertsOf(cert.ciId)).toEqual([{ status: 'open', severity: 'warning', count: 1 }]);
    // Daily runs in between raise nothing more.
    for (let day = 29; day > 7; day--) {
      clock.set(daysBefore(day));
      expect(await sweep()).toEqual({ warning: 0, critical: 0, cleared: 0 });
    }
    expect(await alertsOf(cert.ciId)).toEqual([{ status: 'open', severity: 'warning', count: 1 }]);

    clock.set(daysBefore(7));
    expect(await sweep()).toEqual({ warning: 0, critical: 1, cleared: 0 });
    clock.set(daysBefore(-3)); // expired three days ago: still the same critical alert
    expect(await sweep()).toEqual({ warning: 0, critical: 0, cleared: 0 });
    expect(await alertsOf(cert.ciId)).toEqual([{ status: 'open', severity: 'critical', count: 2 }]);
    expect((await service().get(cert.ciId))?.alertLevel).toBe('critical');
    const [alert] = (await og.events.alerts({ dedupKey: expiryDedupKey(cert.ciId) })).edges;
    expect(alert?.node).toMatchObject({
      ciId: cert.ciId,
      source: 'certificates',
      type: 'certificate_expiry',
      message:
        'TLS certificate shop.example.com (serial 1001) expires on 2026-07-01T00:00:00.000Z, in 7 days',
    });

    // The renewal: a newer not-after for the same name takes over what the old one secured.
    const [before] = await og.cmdb.relationshipsOf([cert.ciId]);
    const renewal = await service().import({ pem: shop2027 }, { actor });
    expect(renewal.created).toBe(true);
    expect(renewal.renewed.map((c) => [c.ciId, c.status, c.renewedBy, c.alertLevel])).toEqual([
      [cert.ciId, 'retired', renewal.certificate.ciId, 'ok'],
    ]);
    expect(await alertsOf(cert.ciId)).toEqual([{ status: 'closed', severity: 'critical', count: 2 }]);
    const [after] = await og.cmdb.relationshipsOf([renewal.certificate.ciId]);
    expect(after!.map((r) => r.sourceId)).toEqual(
      before!.filter((r) => r.targetId === cert.ciId).map((r) => r.sourceId),
    );
    expect(await sweep()).toEqual({ warning: 0, critical: 0, cleared: 0 });
    expect((await service().expiring({ withinDays: 30 })).edges).toEqual([]);
    expect(await alertsOf(renewal.certificate.ciId)).toEqual([]);
    // A retired certificate is not imported back to life.
    await expect(service().import({ pem: shop2026 }, { actor })).rejects.toMatchObject({ field: 'pem' });
  });

  it('judges CIs discovery created too: a newer not-after clears, retiring clears at once', async () => {
    clock.set('2027-03-01T00:00:00Z');
    const attributes = (serial: string, notAfter: string) => ({
      common_name: `${serial}.example.net`,
      issuer: 'CN=Discovery CA',
      serial,
      not_before: '2026-03-01T00:00:00Z',
      not_after: notAfter,
    });
    const mail = await og.cmdb.create(
      { class: 'tls_certificate', name: 'mail', attributes: attributes('AA01', '2027-03-20T00:00:00Z') },
      { actor },
    );
    const vpn = await og.cmdb.create(
      { class: 'tls_certificate', name: 'vpn', attributes: attributes('AA02', '2027-03-05T00:00:00Z') },
      { actor },
    );
    expect(await sweep()).toEqual({ warning: 1, critical: 1, cleared: 0 });
    const expiring = await service().expiring({ withinDays: 30 });
    expect(expiring.edges.map((e) => [e.node.name, e.node.alertLevel, e.node.pem])).toEqual([
      ['vpn', 'critical', null],
      ['mail', 'warning', null],
    ]);

    // Renewed in place (discovery saw the new not-after): cleared by the next run.
    await og.cmdb.update(
      mail.id,
      { version: mail.version, attributes: { not_after: '2028-03-20T00:00:00Z' } },
      { actor },
    );
    expect(await sweep()).toEqual({ warning: 0, critical: 0, cleared: 1 });
    expect(await alertsOf(mail.id)).toEqual([{ status: 'closed', severity: 'warning', count: 1 }]);

    // Retired: its handler clears the alert after the commit, with no sweep.
    const cleared = new Promise<unknown>((resolve) => {
      const off = og.on('certificates.level_changed', (event) => {
        off();
        resolve(event.payload);
      });
    });
    await og.cmdb.retire(vpn.id, vpn.version, { actor });
    expect(await cleared).toEqual({
      ciId: vpn.id,
      from: 'critical',
      to: 'ok',
      notAfter: '2027-03-05T00:00:00.000Z',
    });
    expect(await alertsOf(vpn.id)).toEqual([{ status: 'closed', severity: 'critical', count: 1 }]);
    expect(await sweep()).toEqual({ warning: 0, critical: 0, cleared: 0 });
  });

  it('pages the expiring list soonest first, with cursors', async () => {
    clock.set('2026-08-01T00:00:00Z'); // the shop's renewal and mail's are valid; the others retired
    const made = [];
    for (const [i, day] of [3, 1, 2].entries()) {
      made.push(
        await og.cmdb.create(
          {
            class: 'tls_certificate',
            name: `page-${i}`,
            attributes: {
              common_name: `page-${i}.example.org`,
              issuer: 'CN=Paging CA',
              serial: `BB0${i}`,
              not_before: '2026-01-01T00:00:00Z',
              not_after: `2026-08-0${1 + day}T00:00:00Z`,
            },
          },
          { actor },
        ),
      );
    }
    const first = await service().expiring({ withinDays: 2 }, { first: 1 });
    expect(first.edges.map((e) => e.node.name)).toEqual(['page-1']);
    expect(first.hasNextPage).toBe(true);
    const rest = await service().expiring({ withinDays: 2 }, { first: 5, after: first.endCursor });
    expect(rest.edges.map((e) => e.node.name)).toEqual(['page-2']);
    expect(rest.hasNextPage).toBe(false);
    await expect(service().expiring({ withinDays: 2 }, { after: 'garbage' })).rejects.toMatchObject({
      field: 'after',
    });
    await expect(service().expiring({ withinDays: -1 })).rejects.toMatchObject({ field: 'withinDays' });
    // Expired ones stay listed: a week later all three are, soonest first.
    clock.set('2026-08-08T00:00:00Z');
    const all = await service().expiring({ withinDays: 0 });
    expect(all.edges.map((e) => e.node.name)).toEqual(['page-1', 'page-2', 'page-0']);
    for (const ci of made) await og.cmdb.retire(ci.id, ci.version, { actor });
  });
  it('raises a level once when sweeps run at once (the advisory lock and the compare-and-set)', async () => {
    clock.set('2031-01-01T00:00:00Z');
    const ci = await og.cmdb.create(
      {
        class: 'tls_certificate',
        name: 'race',
        attributes: {
          common_name: 'race.example.org',
          issuer: 'CN=Race CA',
          serial: 'CC01',
          not_before: '2030-01-01T00:00:00Z',
          not_after: '2031-01-20T00:00:00Z',
        },
      },
      { actor },
    );
    const [a, b, c, d] = await Promise.all([
      og.scheduler.run({ only }),
      og.scheduler.run({ only }),
      service().sweep({ ciIds: [ci.id] }),
      service().sweep({ ciIds: [ci.id] }),
    ]);
    const warnings = [a[0]?.summary.warning ?? 0, b[0]?.summary.warning ?? 0, c.warning, d.warning];
    expect(warnings.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await alertsOf(ci.id)).toEqual([{ status: 'open', severity: 'warning', count: 1 }]);
    const cleared = new Promise<void>((resolve) => {
      const off = og.on('certificates.level_changed', () => {
        off();
        resolve();
      });
    });
    await og.cmdb.retire(ci.id, ci.version, { actor });
    await cleared;
    expect(await alertsOf(ci.id)).toEqual([{ status: 'closed', severity: 'warning', count: 1 }]);
  });
});
