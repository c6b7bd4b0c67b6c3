import { readFileSync } from 'node:fs';
import { ManualClock, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificatesPlugin } from './index.js';

const shop2026 = readFileSync(new URL('../fixtures/shop-2026.pem', import.meta.url), 'utf8');
const actor = systemActor('test');

const IMPORT = `mutation ($input: CertificatesImportInput!) {
  certificatesImport(input: $input) {
    __typename
    ... on CertificatesImportPayload { created certificate { ciId commonName sans serial notAfter alertLevel } }
    ... on ValidationError { issues { path message } }
    ... on Error { code message }
  }
}`;
const EXPIRING = `query ($days: Int!, $first: Int) {
  certificatesExpiring(withinDays: $days, first: $first) {
    edges { node { commonName issuer alertLevel notAfter } }
    pageInfo { hasNextPage }
  }
}`;

describe('certificates over GraphQL (HTTP)', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  const tokens: Record<string, string> = {};
  const clock = new ManualClock('2026-06-10T00:00:00Z'); // 21 days before the fixture's not-after

  const gql = async (query: string, variables: Record<string, unknown>, token: string) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions?: any }[] };
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({ clock, plugins: [certificatesPlugin()] });
    server = createOpsGraphServer({ opsgraph: og, scheduler: false });
    ({ url } = await server.listen(0, '127.0.0.1'));
    for (const [name, permissions] of [
      ['manager', ['certificates:*', 'cmdb:read', 'cmdb:write']],
      ['viewer', ['certificates:read']],
      ['cmdbOnly', ['cmdb:*']],
    ] as const)
      tokens[name] = (await og.access.createToken({ name, permissions: [...permissions] }, { actor })).secret;
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it('adds its fields only when the plugin is loaded', async () => {
    const fields = (s: OpsGraphServer) => ({
      query: Object.keys(s.schema.getQueryType()!.getFields())
        .filter((f) => f.startsWith('certificates'))
        .sort(),
      mutation: Object.keys(s.schema.getMutationType()!.getFields()).filter((f) =>
        f.startsWith('certificates'),
      ),
      types: Object.keys(s.schema.getTypeMap())
        .filter((t) => t.startsWith('Certificates'))
        .sort(),
    });
    expect(fields(server)).toEqual({
      query: ['certificatesCertificate', 'certificatesExpiring'],
      mutation: ['certificatesImport'],
      types: [
        'CertificatesCertificate',
        'CertificatesCertificateConnection',
        'CertificatesCertificateEdge',
        'CertificatesExpiryLevel',
        'CertificatesImportInput',
        'CertificatesImportPayload',
        'CertificatesImportResult',
      ],
    });
    const bare = await createTestOpsGraph();
    try {
      expect(fields(createOpsGraphServer({ opsgraph: bare, scheduler: false }))).toEqual({
        query: [],
        mutation: [],
        types: [],
      });
    } finally {
      await bare.close();
    }
  });

  it('imports a PEM and lists it as expiring, with the warning already raised', async () => {
    const imported = await gql(IMPORT, { input: { pem: shop2026 } }, tokens.manager!);
    expect(imported).toEqual({
      data: {
        certificatesImport: {
          __typename: 'CertificatesImportPayload',
          created: true,
          certificate: {
            ciId: expect.any(String),
            commonName: 'shop.example.com',
            sans: ['shop.example.com', 'www.shop.example.com'],
            serial: '1001',
            notAfter: '2026-07-01T00:00:00.000Z',
            alertLevel: 'WARNING',
          },
        },
      },
    });
    expect(await gql(EXPIRING, { days: 30 }, tokens.viewer!)).toEqual({
      data: {
        certificatesExpiring: {
          edges: [
            {
              node: {
                commonName: 'shop.example.com',
                issuer: 'O=OpsGraph Examples, CN=OpsGraph Example CA',
                alertLevel: 'WARNING',
                notAfter: '2026-07-01T00:00:00.000Z',
              },
            },
          ],
          pageInfo: { hasNextPage: false },
        },
      },
    });
    expect((await gql(EXPIRING, { days: 20 }, tokens.viewer!)).data.certificatesExpiring.edges).toEqual([]);
  });

  it('answers bad input with a typed error naming the field', async () => {
    const body = await gql(IMPORT, { input: { pem: 'not a certificate' } }, tokens.manager!);
    expect(body.data.certificatesImport).toEqual({
      __typename: 'ValidationError',
      issues: [{ path: 'pem', message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)' }],
      code: 'VALIDATION',
      message: 'Invalid input: pem: must be a PEM certificate (-----BEGIN CERTIFICATE-----)',
    });
  });

  it('refuses a token without certificates:read or certificates:write', async () => {
    const read = await gql(EXPIRING, { days: 30 }, tokens.cmdbOnly!);
    expect(read.data ?? null).toBeNull();
    expect(read.errors?.[0]?.message).toBe(
      'Query.certificatesExpiring: token "cmdbOnly" lacks the permission certificates:read; use a token that has it',
    );
    const write = await gql(IMPORT, { input: { pem: shop2026 } }, tokens.viewer!);
    expect(write.errors?.[0]?.message).toBe(
      'Mutation.certificatesImport: token "viewer" lacks the permission certificates:write; use a token that has it',
    );
  });
});
