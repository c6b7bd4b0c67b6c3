import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationsPlugin } from './index.js';

const actor = systemActor('test');

describe('applications GraphQL over HTTP', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let url: string;
  const tokens: Record<string, string> = {};
  const gql = async (query: string, variables: Record<string, unknown>, token: string) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string }[] };
  };

  beforeAll(async () => {
    og = await createTestOpsGraph({ plugins: [applicationsPlugin()] });
    for (const [name, permissions] of Object.entries({
      manager: ['applications:*', 'cmdb:read', 'cmdb:write', 'operations:read'],
      cmdbOnly: ['cmdb:read'],
    }))
      tokens[name] = (await og.access.createToken({ name, permissions }, { actor })).secret;
    server = createOpsGraphServer({ opsgraph: og });
    ({ url } = await server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await server?.close();
    await og?.close();
  });

  it('has its fields only when the plugin is loaded', async () => {
    const fields = server.schema.getQueryType()!.getFields();
    expect(
      Object.keys(fields)
        .filter((f) => f.startsWith('applications'))
        .sort(),
    ).toEqual([
      'applications',
      'applicationsApplication',
      'applicationsDeployment',
      'applicationsHealthCheck',
    ]);
    const mutations = Object.keys(server.schema.getMutationType()!.getFields()).filter((f) =>
      f.startsWith('applications'),
    );
    expect(mutations).toHaveLength(11);
    const bare = await createTestOpsGraph();
    try {
      const plain = createOpsGraphServer({ opsgraph: bare });
      expect(
        Object.keys(plain.schema.getQueryType()!.getFields()).some((f) => f.startsWith('applications')),
      ).toBe(false);
      expect(plain.schema.getType('ApplicationsApplication')).toBeUndefined();
    } finally {
      await bare.close();
    }
  });

  it('declares the permission of every type it adds, connection and edge types included', () => {
    // The rule of packages/server/src/schema-auth.test.ts, for the plugin's types: only a mutation's
    // result wrapper goes without (it holds a guarded record).
    const types = Object.values(server.schema.getTypeMap()).filter(
      (type) => isObjectType(type) && type.name.startsWith('Applications'),
    );
    const scoped = (type: (typeof types)[number]) =>
      Boolean((type.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions?.authScopes);
    expect(
      types.filter((type) => !scoped(type) && !/^Applications\w+Success$/.test(type.name)).map((t) => t.name),
    ).toEqual([]);
    expect(
      types
        .filter((type) => /(Connection|Edge)$/.test(type.name))
        .map((type) => [type.name, scoped(type)])
        .sort(),
    ).toEqual([
      ['ApplicationsApplicationConnection', true],
      ['ApplicationsApplicationEdge', true],
      ['ApplicationsDeploymentConnection', true],
      ['ApplicationsDeploymentEdge', true],
    ]);
    // The one root list is a connection.
    expect(String(server.schema.getQueryType()!.getFields().applications!.type)).toBe(
      'ApplicationsApplicationConnection!',
    );
  });

  it('creates, deploys and reads an application with its deployments connection', async () => {
    const created = await gql(
      `mutation($input: ApplicationsCreateInput!) {
        applicationsCreate(input: $input) {
          __typename
          ... on ApplicationsCreateSuccess { data { id name version } }
          ... on Error { message field }
        }
      }`,
      { input: { name: 'storefront' } },
      tokens.manager!,
    );
    expect(created.errors).toBeUndefined();
    const app = created.data.applicationsCreate.data;
    expect(app).toMatchObject({ name: 'storefront', version: 1 });
    const env = await gql(
      `mutation($id: ID!) { applicationsDefineEnvironment(applicationId: $id, input: { name: "production" }) {
        __typename } }`,
      { id: app.id },
      tokens.manager!,
    );
    expect(env.data.applicationsDefineEnvironment.__typename).toBe('ApplicationsDefineEnvironmentSuccess');
    const deploy = `mutation($input: ApplicationsDeploymentInput!) {
      applicationsRecordDeployment(input: $input) {
        __typename
        ... on ApplicationsRecordDeploymentSuccess { data { id release status } }
        ... on Error { message field }
      }
    }`;
    for (const [release, startedAt] of [
      ['1.0.0', '2026-01-01T00:00:00Z'],
      ['1.1.0', '2026-01-02T00:00:00Z'],
    ])
      await gql(
        deploy,
        {
          input: {
            applicationId: app.id,
            environment: 'production',
            release,
            status: 'SUCCEEDED',
            startedAt,
          },
        },
        tokens.manager!,
      );
    const bad = await gql(
      deploy,
      { input: { applicationId: app.id, environment: 'nowhere', release: '2' } },
      tokens.manager!,
    );
    expect(bad.data.applicationsRecordDeployment).toMatchObject({
      __typename: 'ValidationError',
      field: 'environment',
    });

    const read = await gql(
      `query($id: ID!) {
        applicationsApplication(id: $id) {
          name
          environments { name currentRelease }
          deployments(first: 1) { edges { node { release status } } pageInfo { hasNextPage } }
          dependencyMap(format: MERMAID) { content }
        }
      }`,
      { id: app.id },
      tokens.manager!,
    );
    expect(read.errors).toBeUndefined();
    expect(read.data.applicationsApplication).toEqual({
      name: 'storefront',
      environments: [{ name: 'production', currentRelease: '1.1.0' }],
      deployments: {
        edges: [{ node: { release: '1.1.0', status: 'SUCCEEDED' } }],
        pageInfo: { hasNextPage: true },
      },
      dependencyMap: {
        content: 'flowchart LR\n  n0["storefront (application)"]\n  style n0 stroke-width:3px\n',
      },
    });
  });

  it('refuses a token without applications:read', async () => {
    const refused = await gql('{ applications { edges { node { id } } } }', {}, tokens.cmdbOnly!);
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]?.message).toContain('lacks the permission applications:read');
    const write = await gql(
      'mutation { applicationsCreate(input: { name: "nope" }) { __typename } }',
      {},
      tokens.cmdbOnly!,
    );
    expect(write.errors?.[0]?.message).toContain('lacks the permission applications:write');
  });
});
