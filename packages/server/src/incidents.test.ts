import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startTestServer, type TestServer } from './test-support.js';

const CREATE = `mutation ($input: CreateIncidentInput!) {
  createIncident(input: $input) {
    __typename
    ... on MutationCreateIncidentSuccess { data { id number priority state version services { name } allowedTransitions } }
    ... on ValidationError { field issues { path message } }
    ... on Error { code field message }
  }
}`;
const TRANSITION = `mutation ($id: ID!, $version: Int, $input: IncidentTransitionInput!) {
  transitionIncident(id: $id, version: $version, input: $input) {
    __typename
    ... on MutationTransitionIncidentSuccess { data { state version resolutionCode } }
    ... on ValidationError { field issues { path } }
    ... on Error { code field message }
  }
}`;

describe('incidents over GraphQL', () => {
  let t: TestServer;
  const ids: Record<string, string> = {};
  let agent: string;
  let scoped: string;
  beforeAll(async () => {
    t = await startTestServer();
    const actor = systemActor('test');
    for (const [name, cls, attributes] of [
      ['db-01', 'linux_server', {}],
      ['other', 'linux_server', {}],
      ['shop', 'business_service', { tier: 1 }],
    ] as const)
      ids[name] = (await t.og.cmdb.create({ class: cls, name, attributes }, { actor })).id;
    await t.og.cmdb.relate({ type: 'depends_on', sourceId: ids.shop!, targetId: ids['db-01']! }, { actor });
    const token = async (name: string, permissions: string[], scope?: { ciId: string; mode: 'contains' }) =>
      (await t.og.access.createToken({ name, permissions, ...(scope ? { scope } : {}) }, { actor })).secret;
    agent = await token('agent', ['incident:read', 'incident:write', 'incident:assign', 'cmdb:read']);
    scoped = await token('db watcher', ['incident:read', 'cmdb:read'], {
      ciId: ids['db-01']!,
      mode: 'contains',
    });
  });
  afterAll(() => t?.close());

  it('opens an incident with its priority and business services; bad input names the field', async () => {
    const ok = (
      await t.gql(
        CREATE,
        { input: { shortDescription: 'DB down', ciId: ids['db-01'], impact: 1, urgency: 1 } },
        agent,
      )
    ).body.data?.createIncident;
    expect(ok).toMatchObject({
      __typename: 'MutationCreateIncidentSuccess',
      data: {
        number: expect.stringMatching(/^INC\d{7}$/),
        priority: 1,
        state: 'NEW',
        services: [{ name: 'shop' }],
      },
    });
    expect(ok.data.allowedTransitions).toEqual(['IN_PROGRESS', 'ON_HOLD', 'RESOLVED', 'CANCELLED']);
    const bad = (await t.gql(CREATE, { input: { shortDescription: ' ', impact: 7 } }, agent)).body.data
      ?.createIncident;
    expect(bad.__typename).toBe('ValidationError');
    expect(bad.issues.map((i: { path: string }) => i.path).sort()).toEqual(['impact', 'shortDescription']);
  });

  it('enforces the state machine with typed errors and required fields', async () => {
    const created = (await t.gql(CREATE, { input: { shortDescription: 'Slow', ciId: ids['db-01'] } }, agent))
      .body.data?.createIncident.data;
    const closed = (await t.gql(TRANSITION, { id: created.id, input: { to: 'CLOSED' } }, agent)).body.data
      ?.transitionIncident;
    expect(closed).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT', field: 'to' });
    expect(closed.message).toMatch(/can go to in_progress, on_hold, resolved, cancelled, not closed/);
    const missing = (await t.gql(TRANSITION, { id: created.id, input: { to: 'RESOLVED' } }, agent)).body.data
      ?.transitionIncident;
    expect(missing.issues.map((i: { path: string }) => i.path)).toEqual([
      'resolutionCode',
      'resolutionNotes',
    ]);
    const resolved = (
      await t.gql(
        TRANSITION,
        {
          id: created.number ?? created.id,
          version: created.version,
          input: { to: 'RESOLVED', resolutionCode: 'SOLVED_WORKAROUND', resolutionNotes: 'Restarted.' },
        },
        agent,
      )
    ).body.data?.transitionIncident;
    expect(resolved).toMatchObject({ data: { state: 'RESOLVED', resolutionCode: 'SOLVED_WORKAROUND' } });
    const stale = (
      await t.gql(TRANSITION, { id: created.id, version: created.version, input: { to: 'CLOSED' } }, agent)
    ).body.data?.transitionIncident;
    expect(stale).toMatchObject({ __typename: 'ConflictError', field: 'version' });
  });

  it('incidentChanged delivers the changes a subscriber may read, in order', async () => {
    const after = Number(
      (await t.gql('{ activity(limit: 1000) { seq } }', undefined, t.tokens.admin)).body.data?.activity.at(-1)
        ?.seq ?? 0,
    );
    const query = `subscription ($after: Seq) { incidentChanged(after: $after) { seq kind incident { shortDescription state } } }`;
    const { done } = collect(
      t.wsClient({ token: scoped }),
      { query, variables: { after } },
      (r) => r.data?.incidentChanged?.kind === 'STATE_CHANGED',
    );
    const hidden = (await t.gql(CREATE, { input: { shortDescription: 'Elsewhere', ciId: ids.other } }, agent))
      .body.data?.createIncident.data;
    const seen = (await t.gql(CREATE, { input: { shortDescription: 'Mine', ciId: ids['db-01'] } }, agent))
      .body.data?.createIncident.data;
    await t.gql(TRANSITION, { id: hidden.id, input: { to: 'IN_PROGRESS' } }, agent);
    await t.gql(TRANSITION, { id: seen.id, input: { to: 'IN_PROGRESS' } }, agent);
    const { results, error } = await done;
    expect(error).toBeUndefined();
    expect(
      results.map(
        (r) => `${r.data?.incidentChanged.kind} ${r.data?.incidentChanged.incident.shortDescription}`,
      ),
    ).toEqual(['CREATED Mine', 'STATE_CHANGED Mine']);
  });
});
