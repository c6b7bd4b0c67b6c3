import type { ManualClock } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

const DEFINE = `mutation ($input: DefineCIClassInput!) {
  defineCIClass(input: $input) {
    __typename
    ... on MutationDefineCIClassSuccess {
      data { name parent owner attributes { name type required default values } identifiers { fields } }
    }
    ... on ValidationError { field issues { path message } }
  }
}`;

const CREATE = `mutation ($input: CreateCIInput!) {
  createCI(input: $input) {
    __typename
    ... on MutationCreateCISuccess { data { id version attributes attributeSources ownerGroup } }
    ... on ValidationError { field issues { path message } }
  }
}`;

describe('CI classes, attributes and history over GraphQL', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t?.close());

  it('shows the typed attributes and identifiers of core classes', async () => {
    const { body } = await t.gql(
      `{ ciClasses { name parent attributes { name type } allAttributes { name } identifiers { fields } } }`,
      undefined,
      t.tokens.reader,
    );
    const server = body.data?.ciClasses.find((c: { name: string }) => c.name === 'server');
    expect(server.parent).toBe('hardware');
    expect(server.attributes).toContainEqual({ name: 'mac_address', type: 'mac' });
    expect(server.allAttributes.map((a: { name: string }) => a.name)).toContain('serial_number');
    expect(server.identifiers).toEqual([{ fields: ['hostname', 'domain'] }, { fields: ['mac_address'] }]);
  });

  it('defines a class at runtime with cmdb:admin only, and names the field of a bad definition', async () => {
    const input = {
      name: 'load_balancer',
      label: 'Load balancer',
      parent: 'hardware',
      attributes: [
        { name: 'vip', type: 'ip', required: true },
        { name: 'mode', type: 'enum', values: ['l4', 'l7'], default: 'l7' },
      ],
      identifiers: [{ fields: ['vip'] }],
    };
    const refused = await t.gql(DEFINE, { input }, t.tokens.writer);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(refused.body.errors?.[0]?.message).toContain('cmdb:admin');

    const { body } = await t.gql(DEFINE, { input }, t.tokens.admin);
    expect(body.data?.defineCIClass).toEqual({
      __typename: 'MutationDefineCIClassSuccess',
      data: {
        name: 'load_balancer',
        parent: 'hardware',
        owner: 'runtime',
        attributes: [
          { name: 'vip', type: 'ip', required: true, default: null, values: null },
          { name: 'mode', type: 'enum', required: false, default: 'l7', values: ['l4', 'l7'] },
        ],
        identifiers: [{ fields: ['vip'] }],
      },
    });
    const bad = await t.gql(
      DEFINE,
      { input: { name: 'bad_lb', label: 'x', identifiers: [{ fields: ['nothing'] }] } },
      t.tokens.admin,
    );
    expect(bad.body.data?.defineCIClass).toMatchObject({
      __typename: 'ValidationError',
      field: 'identifiers.0.0',
    });
  });

  it('validates CI attributes against the class, naming each attribute at fault', async () => {
    const bad = await t.gql(
      CREATE,
      { input: { class: 'load_balancer', name: 'lb-x', attributes: { vip: '300.1.1.1', mode: 'l9' } } },
      t.tokens.writer,
    );
    expect(bad.body.data?.createCI.__typename).toBe('ValidationError');
    expect(bad.body.data?.createCI.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      'attributes.mode',
      'attributes.vip',
    ]);
    const ok = await t.gql(
      CREATE,
      {
        input: {
          class: 'load_balancer',
          name: 'lb-1',
          ownerGroup: 'netops',
          attributes: { vip: '10.0.0.10' },
        },
      },
      t.tokens.writer,
    );
    expect(ok.body.data?.createCI.data).toMatchObject({
      attributes: { vip: '10.0.0.10', mode: 'l7' },
      attributeSources: { vip: 'manual', mode: 'manual' },
      ownerGroup: 'netops',
    });
  });

  it('answers a CI history and its state at a moment', async () => {
    const created = await t.gql(
      CREATE,
      { input: { class: 'server', name: 'h-1', attributes: { cpu_count: 2 } } },
      t.tokens.writer,
    );
    const id: string = created.body.data?.createCI.data.id;
    const clock = t.og.clock as ManualClock;
    const between = clock.advance(30_000);
    clock.advance(30_000);
    await t.gql(
      `mutation ($id: ID!) { updateCI(id: $id, input: { version: 1, attributes: { cpu_count: 4 } }) { __typename } }`,
      { id },
      t.tokens.writer,
    );
    const { body } = await t.gql(
      `query ($id: ID!, $at: DateTime!) { ci(id: $id) {
        history { kind version source actor { kind name } changes { field before after } }
        stateAt(at: $at) { version attributes }
      } }`,
      { id, at: between.toISOString() },
      t.tokens.reader,
    );
    expect(body.data?.ci.history).toEqual([
      {
        kind: 'updated',
        version: 2,
        source: 'manual',
        actor: { kind: 'token', name: 'token "writer"' },
        changes: [{ field: 'attributes.cpu_count', before: 2, after: 4 }],
      },
      expect.objectContaining({ kind: 'created', version: 1 }),
    ]);
    expect(body.data?.ci.stateAt).toEqual({ version: 1, attributes: { cpu_count: 2 } });
  });

  it('defines sources and relationship types with cmdb:admin', async () => {
    const source = await t.gql(
      `mutation { defineCISource(input: { name: "asset_register", priority: 300, attributePriorities: { serial_number: 900 } }) {
        ... on MutationDefineCISourceSuccess { data { name label priority attributePriorities } } } }`,
      undefined,
      t.tokens.admin,
    );
    expect(source.body.data?.defineCISource.data).toEqual({
      name: 'asset_register',
      label: 'asset_register',
      priority: 300,
      attributePriorities: { serial_number: 900 },
    });
    const sources = await t.gql('{ ciSources { name priority } }', undefined, t.tokens.reader);
    expect(sources.body.data?.ciSources).toEqual([
      { name: 'asset_register', priority: 300 },
      { name: 'manual', priority: 100 },
    ]);
    const type = await t.gql(
      `mutation { defineRelationshipType(input: { name: "replicates_to", label: "replicates to", propagation: none }) {
        __typename ... on MutationDefineRelationshipTypeSuccess { data { name owner propagation } } } }`,
      undefined,
      t.tokens.admin,
    );
    expect(type.body.data?.defineRelationshipType.data).toEqual({
      name: 'replicates_to',
      owner: 'runtime',
      propagation: 'none',
    });
  });
});
