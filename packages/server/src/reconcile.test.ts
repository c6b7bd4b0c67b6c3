import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const RECONCILE = `mutation ($input: ReconcileCIsInput!) {
  reconcileCIs(input: $input) {
    __typename
    ... on MutationReconcileCIsSuccess {
      data {
        source created updated unchanged skipped
        items { index ref outcome ci { id name class attributes } }
        conflicts { list index ref kind field reason kept offered heldBy ci { name } }
        relationships { created unchanged skipped }
      }
    }
    ... on Error { code field message }
    ... on ValidationError { issues { path message } }
  }
}`;

describe('reconcileCIs over GraphQL', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await t.og.cmdb.defineSource({ name: 'scanner', priority: 10 }, { actor: systemActor('test') });
  });
  afterAll(() => t?.close());

  const reconcile = async (input: Record<string, unknown>, token = t.tokens.writer) =>
    (await t.gql(RECONCILE, { input }, token)).body;

  const payload = {
    source: 'scanner',
    cis: [
      {
        ref: 'web',
        class: 'linux_server',
        name: 'gql-web',
        tags: ['prod'],
        attributes: { hostname: 'gql-web', domain: 'shop.example', cpu_count: 2 },
      },
      { ref: 'app', class: 'application', name: 'gql-app', status: 'installed' },
      { ref: 'nobody', class: 'server', name: 'no-id' },
    ],
    relationships: [{ type: 'runs_on', source: { ref: 'app' }, target: { ref: 'web' } }],
  };

  it('reconciles a feed and answers the report with its CIs', async () => {
    const body = await reconcile(payload);
    expect(body.errors).toBeUndefined();
    const report = body.data?.reconcileCIs;
    expect(report).toMatchObject({
      __typename: 'MutationReconcileCIsSuccess',
      data: {
        source: 'scanner',
        created: 2,
        updated: 0,
        unchanged: 0,
        skipped: 1,
        relationships: { created: 1, unchanged: 0, skipped: 0 },
      },
    });
    expect(report.data.items).toEqual([
      {
        index: 0,
        ref: 'web',
        outcome: 'created',
        ci: {
          id: expect.any(String),
          name: 'gql-web',
          class: 'linux_server',
          attributes: { hostname: 'gql-web', domain: 'shop.example', cpu_count: 2 },
        },
      },
      expect.objectContaining({
        index: 1,
        outcome: 'created',
        ci: expect.objectContaining({ name: 'gql-app' }),
      }),
      { index: 2, ref: 'nobody', outcome: 'skipped', ci: null },
    ]);
    expect(report.data.conflicts).toEqual([
      expect.objectContaining({ list: 'cis', index: 2, ref: 'nobody', kind: 'unidentified', ci: null }),
    ]);

    // Again: nothing changes.
    const again = (await reconcile(payload)).data?.reconcileCIs.data;
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 2, relationships: { unchanged: 1 } });
  });

  it('reports a field a higher-priority source holds', async () => {
    const web = (await t.og.cmdb.list({ search: 'gql-web' })).edges[0]!.node;
    await t.og.cmdb.update(
      web.id,
      { version: web.version, attributes: { cpu_count: 64 } },
      { actor: systemActor('test') },
    );
    const report = (await reconcile(payload)).data?.reconcileCIs.data;
    expect(report.conflicts).toContainEqual(
      expect.objectContaining({
        kind: 'precedence',
        field: 'attributes.cpu_count',
        kept: 64,
        offered: 2,
        heldBy: 'manual',
        ci: { name: 'gql-web' },
      }),
    );
  });

  it('answers bad input with a ValidationError listing every path, and an unknown source by field', async () => {
    const bad = await reconcile({
      source: 'scanner',
      cis: [
        { ref: 'x', class: 'toaster', name: 'x' },
        { class: 'server', name: 'y', attributes: { cpu_count: 'many', hostname: 'y', domain: 'd' } },
        { class: 'application', name: 'z', status: 'retired' },
      ],
      relationships: [
        { type: 'depends_on', source: { ref: 'x' }, target: { ref: 'missing' } },
        { type: 'depends_on', source: { ref: 'x', ciId: 'also' }, target: { ref: 'x' } },
      ],
    });
    expect(bad.data?.reconcileCIs).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    expect(bad.data?.reconcileCIs.issues.map((i: { path: string }) => i.path).sort()).toEqual(
      [
        'cis.0.class',
        'cis.1.attributes.cpu_count',
        'cis.2.status',
        'relationships.0.target',
        'relationships.1.source',
      ].sort(),
    );
    const unknown = await reconcile({ ...payload, source: 'ghost' });
    expect(unknown.data?.reconcileCIs).toMatchObject({ __typename: 'ValidationError', field: 'source' });
  });

  it('needs cmdb:write', async () => {
    const refused = await reconcile(payload, t.tokens.reader);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
