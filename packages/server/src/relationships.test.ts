import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const RELATE = `mutation ($input: RelateCIsInput!) {
  relateCIs(input: $input) {
    __typename
    ... on MutationRelateCIsSuccess { data { id type source { name } target { name } } }
    ... on Error { code field message }
  }
}`;

describe('relationships over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestServer();
    for (const [name, cls] of [
      ['shop', 'application'],
      ['shop-db', 'database'],
      ['vm-1', 'linux_server'],
    ] as const) {
      ids[name] = (await t.og.cmdb.create({ class: cls, name }, { actor: systemActor('test') })).id;
    }
  });
  afterAll(() => t?.close());

  it('relates CIs and shows each relationship on both CIs, with its ends', async () => {
    const rel = async (type: string, source: string, target: string) =>
      (
        await t.gql(
          RELATE,
          { input: { type, sourceId: ids[source], targetId: ids[target] } },
          t.tokens.writer,
        )
      ).body;
    expect((await rel('depends_on', 'shop', 'shop-db')).data?.relateCIs).toMatchObject({
      __typename: 'MutationRelateCIsSuccess',
      data: { type: 'depends_on', source: { name: 'shop' }, target: { name: 'shop-db' } },
    });
    await rel('runs_on', 'shop-db', 'vm-1');

    const { body } = await t.gql(
      `{ cis(first: 10) { edges { node { name relationships { type source { name } target { name } } } } } }`,
      undefined,
      t.tokens.reader,
    );
    const byName = Object.fromEntries(
      body.data?.cis.edges.map((e: any) => [
        e.node.name,
        e.node.relationships.map((r: any) => `${r.source.name} ${r.type} ${r.target.name}`).sort(),
      ]),
    );
    expect(byName).toEqual({
      shop: ['shop depends_on shop-db'],
      'shop-db': ['shop depends_on shop-db', 'shop-db runs_on vm-1'],
      'vm-1': ['shop-db runs_on vm-1'],
    });
  });

  it('answers a self-loop and an unknown type with a ValidationError naming the field', async () => {
    const self = await t.gql(
      RELATE,
      { input: { type: 'depends_on', sourceId: ids.shop, targetId: ids.shop } },
      t.tokens.writer,
    );
    expect(self.body.data?.relateCIs).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION',
      field: 'targetId',
    });
    const unknown = await t.gql(
      RELATE,
      { input: { type: 'likes', sourceId: ids.shop, targetId: ids['vm-1'] } },
      t.tokens.writer,
    );
    expect(unknown.body.data?.relateCIs).toMatchObject({ __typename: 'ValidationError', field: 'type' });
  });

  it('refuses relating without cmdb:write, and lists the relationship types', async () => {
    const refused = await t.gql(
      RELATE,
      { input: { type: 'depends_on', sourceId: ids['vm-1'], targetId: ids.shop } },
      t.tokens.reader,
    );
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const types = await t.gql(
      '{ relationshipTypes { name propagation acyclic } }',
      undefined,
      t.tokens.reader,
    );
    expect(types.body.data?.relationshipTypes).toContainEqual({
      name: 'contains',
      propagation: 'to_target',
      acyclic: true,
    });
  });
});
