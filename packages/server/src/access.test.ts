import { type Ci, type ManualClock, systemActor, type User } from '@opsgraph/core';
import { testBackends } from '@opsgraph/core/testing';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtAuth } from './jwt.js';
import { collect, startTestServer, subscribeSse, type TestServer } from './test-support.js';

type Result = { data?: Record<string, any> | null; errors?: any[] };

/** Reads the results of an SSE response, keeping its place between calls. */
function sseReader(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const all: Result[] = [];
  let buffer = '';
  let pending: Promise<ReadableStreamReadResult<string>> | undefined;
  return {
    /** Every result so far, once `enough` holds for them or `ms` pass. */
    async until(enough: (all: Result[]) => boolean, ms: number): Promise<Result[]> {
      const deadline = Date.now() + ms;
      while (!enough(all)) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        pending ??= reader.read();
        const step = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), left))]);
        if (step === null) break;
        pending = undefined;
        if (step.done) break;
        buffer += step.value;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const data = buffer
            .slice(0, end)
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('\n');
          buffer = buffer.slice(end + 2);
          if (data) all.push(JSON.parse(data) as Result);
        }
      }
      return [...all];
    },
  };
}

const SECRET = 'access-test-secret-of-at-least-32-bytes';
const admin = systemActor('test');
const ROLES = ['admin', 'operator', 'agent', 'requester', 'viewer'] as const;
type RoleName = (typeof ROLES)[number];

const jwt = (sub: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

/** Whether a response refused the operation for a permission (top-level, or as a ForbiddenError result). */
function refused(body: Result): boolean {
  if (body.errors?.some((e) => e.extensions?.code === 'FORBIDDEN')) return true;
  return Object.values(body.data ?? {}).some((v) => v?.__typename === 'ForbiddenError');
}

/**
 * Users and roles over GraphQL, signed in with JWTs (jwtAuth). The CMDB:
 *   svc-a depends_on app-a runs_on srv-a        svc-b depends_on app-b runs_on srv-b
 */
describe.each(testBackends())('access management over GraphQL on %s', (backend) => {
  let t: TestServer;
  const ci: Record<string, Ci> = {};
  const users: Record<string, User> = {};
  const tokens: Record<string, string> = {};
  const as = (user: string) => tokens[user]!;

  async function user(name: string, grants: { role: string; scope?: string; expiresAt?: Date }[] = []) {
    const created = await t.og.access.createUser(
      { externalId: `idp|${name}`, email: `${name}@example.test`, name },
      { actor: admin },
    );
    users[name] = created;
    tokens[name] = await jwt(`idp|${name}`);
    for (const g of grants) {
      await t.og.access.grant(
        {
          role: g.role,
          userId: created.id,
          ...(g.scope ? { scope: { ciId: ci[g.scope]!.id, mode: 'dependencies' as const } } : {}),
          ...(g.expiresAt ? { expiresAt: g.expiresAt } : {}),
        },
        { actor: admin },
      );
    }
    return created;
  }

  beforeAll(async () => {
    t = await startTestServer({ backend, authenticate: jwtAuth({ secret: SECRET }) });
    for (const [name, cls] of [
      ['svc-a', 'business_service'],
      ['app-a', 'application'],
      ['srv-a', 'server'],
      ['svc-b', 'business_service'],
      ['app-b', 'application'],
      ['srv-b', 'server'],
    ] as const) {
      ci[name] = await t.og.cmdb.create({ class: cls, name }, { actor: admin });
    }
    for (const [source, type, target] of [
      ['svc-a', 'depends_on', 'app-a'],
      ['app-a', 'runs_on', 'srv-a'],
      ['svc-b', 'depends_on', 'app-b'],
      ['app-b', 'runs_on', 'srv-b'],
    ] as const) {
      await t.og.cmdb.relate({ type, sourceId: ci[source]!.id, targetId: ci[target]!.id }, { actor: admin });
    }
    for (const role of ROLES) await user(role, [{ role }]);
  });
  afterAll(() => t?.close());

  it('lets each core role do what it should and nothing else', async () => {
    const operations: { name: string; query: string; allowed: readonly RoleName[] }[] = [
      {
        name: 'read CIs',
        query: '{ cis(first: 5) { edges { node { id } } } }',
        allowed: ['admin', 'operator', 'agent', 'viewer'],
      },
      {
        name: 'create a CI',
        query: `mutation { createCI(input: { class: "application", name: "new-${Math.random()}" }) { __typename } }`,
        allowed: ['admin', 'operator'],
      },
      {
        name: 'define a CI class',
        query: `mutation { defineCIClass(input: { name: "c${Math.random().toString(36).slice(2, 8)}", label: "C", parent: "application" }) { __typename } }`,
        allowed: ['admin'],
      },
      { name: 'read activity', query: '{ activityHead }', allowed: ['admin', 'operator', 'agent', 'viewer'] },
      {
        name: 'list users',
        query: '{ users(first: 5) { edges { node { id } } } }',
        allowed: ['admin', 'operator', 'viewer'],
      },
      {
        name: 'list groups',
        query: '{ groups(first: 5) { edges { node { id } } } }',
        allowed: ['admin', 'operator', 'viewer'],
      },
      { name: 'list roles', query: '{ roles { name } }', allowed: ROLES },
      {
        name: 'create a user',
        query: `mutation { createUser(input: { email: "x${Math.random()}@example.test", name: "X" }) { __typename } }`,
        allowed: ['admin'],
      },
      {
        name: 'grant a role',
        query: 'mutation ($id: ID!) { grantRole(role: "viewer", userId: $id) { __typename } }',
        allowed: ['admin'],
      },
      {
        name: 'create an API token',
        query: 'mutation { createApiToken(name: "mine", permissions: ["access:request"]) { __typename } }',
        allowed: ['admin', 'operator', 'agent'],
      },
      {
        name: 'ask for access',
        query:
          'mutation { requestAccess(role: "operator", reason: "on call", durationSeconds: 3600) { __typename } }',
        allowed: ROLES,
      },
    ];
    for (const op of operations) {
      for (const role of ROLES) {
        // A fresh name each time, so a repeat is judged on permissions, not a duplicate.
        const query = op.query.replace(/0\.\d+/g, () => String(Math.random()).slice(2));
        const { body } = await t.gql(query, { id: users.viewer!.id }, as(role));
        const allowed = op.allowed.includes(role);
        expect(refused(body), `${role}: ${op.name} ${allowed ? 'allowed' : 'refused'}`).toBe(!allowed);
        if (allowed) expect(body.errors, `${role}: ${op.name}`).toBeUndefined();
      }
    }
  });

  it('scopes a grant on a service to its dependencies, following the CMDB as it changes', async () => {
    await user('scoped', [{ role: 'viewer', scope: 'svc-a' }]);
    const names = async () =>
      (
        await t.gql('{ cis(first: 100) { edges { node { name } } } }', undefined, as('scoped'))
      ).body.data?.cis.edges.map((e: { node: { name: string } }) => e.node.name);
    expect(await names()).toEqual(['app-a', 'srv-a', 'svc-a']);
    const me = await t.gql(
      '{ me { kind userId permissions scopes { ciId mode ciCount permissions } } }',
      undefined,
      as('scoped'),
    );
    expect(me.body.data?.me).toMatchObject({
      kind: 'user',
      userId: users.scoped!.id,
      scopes: [{ ciId: ci['svc-a']!.id, mode: 'dependencies', ciCount: 3 }],
    });
    expect(me.body.data?.me.permissions).toEqual([]);

    const other = await t.gql(
      'query ($id: ID!) { ci(id: $id) { name } }',
      { id: ci['srv-b']!.id },
      as('scoped'),
    );
    expect(other.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    expect(other.body.errors?.[0]?.message).toContain(ci['srv-b']!.id);

    // A new dependency of the service is covered at once; one taken away is not any more.
    const db = await t.og.cmdb.create({ class: 'database', name: 'db-a' }, { actor: admin });
    const rel = await t.og.cmdb.relate(
      { type: 'depends_on', sourceId: ci['app-a']!.id, targetId: db.id },
      { actor: admin },
    );
    expect(await names()).toEqual(['app-a', 'db-a', 'srv-a', 'svc-a']);
    await t.og.cmdb.unrelate(rel.id, { actor: admin });
    expect(await names()).toEqual(['app-a', 'srv-a', 'svc-a']);
  });

  it('runs an access request from ask to grant, streaming each step only to those it concerns', async () => {
    const lead = await user('lead', [{ role: 'requester' }]);
    await user('vera', [{ role: 'viewer' }]);
    await user('olga', [{ role: 'requester' }]);
    const GROUP = `mutation { createGroup(input: { name: "dba-leads" }) {
      ... on MutationCreateGroupSuccess { data { id } } } }`;
    const groupId = (await t.gql(GROUP, undefined, as('admin'))).body.data?.createGroup.data.id;
    const added = await t.gql(
      'mutation ($g: ID!, $u: ID!) { addGroupMember(groupId: $g, member: { userId: $u }) { __typename } }',
      { g: groupId, u: lead.id },
      as('admin'),
    );
    expect(added.body, JSON.stringify(added.body)).toMatchObject({
      data: { addGroupMember: { __typename: 'MutationAddGroupMemberSuccess' } },
    });
    const role = await t.gql(
      `mutation { defineRole(input: { name: "dba", permissions: ["cmdb:read", "cmdb:write"], approverGroup: "dba-leads" }) { __typename } }`,
      undefined,
      as('admin'),
    );
    expect(role.body.data?.defineRole.__typename).toBe('MutationDefineRoleSuccess');

    const SUB =
      'subscription { accessRequestChanged { kind request { role state requesterId } grant { role } } }';
    const streams = await Promise.all(
      (['vera', 'lead', 'olga'] as const).map((name) => subscribeSse(t.url, as(name), { query: SUB })),
    );
    const [vera, leadStream, olga] = streams;

    const asked = await t.gql(
      `mutation ($ci: ID!) { requestAccess(role: "dba", reason: "migration", durationSeconds: 7200,
         scope: { ciId: $ci, mode: DEPENDENCIES }) {
         __typename ... on MutationRequestAccessSuccess { data { id state version } } } }`,
      { ci: ci['svc-a']!.id },
      as('vera'),
    );
    const request = asked.body.data?.requestAccess.data;
    expect(request).toMatchObject({ state: 'PENDING' });

    // The requester can't decide her own request; someone who is no approver can't either.
    const APPROVE = `mutation ($id: ID!) { approveAccessRequest(id: $id, note: "ok") {
      __typename ... on ForbiddenError { message } ... on MutationApproveAccessRequestSuccess { data { grant { id role expiresAt } } } } }`;
    const self = await t.gql(APPROVE, { id: request.id }, as('vera'));
    expect(self.body.data?.approveAccessRequest).toMatchObject({
      __typename: 'ForbiddenError',
      message: expect.stringMatching(/never approve their own/),
    });
    expect(
      (await t.gql(APPROVE, { id: request.id }, as('olga'))).body.data?.approveAccessRequest.__typename,
    ).toBe('ForbiddenError');

    // The lead (no access:read) finds it among the requests he may decide, and approves it.
    const decidable = await t.gql('{ accessRequests(decidable: true) { id } }', undefined, as('lead'));
    expect(decidable.body.data?.accessRequests).toEqual([{ id: request.id }]);
    expect(
      (await t.gql('{ accessRequests(decidable: true) { id } }', undefined, as('olga'))).body.data
        ?.accessRequests,
    ).toEqual([]);
    const approved = await t.gql(APPROVE, { id: request.id }, as('lead'));
    expect(approved.body.data?.approveAccessRequest.data?.grant, JSON.stringify(approved.body)).toMatchObject(
      {
        role: 'dba',
      },
    );

    const seen = async (stream: (typeof streams)[number], n: number) =>
      (await sseReader(stream.response).until((items) => items.length >= n, 5_000)).map(
        (r) => `${r.data?.accessRequestChanged.kind} ${r.data?.accessRequestChanged.request.state}`,
      );
    expect(await seen(vera!, 2)).toEqual(['CREATED PENDING', 'APPROVED APPROVED']);
    expect(await seen(leadStream!, 2)).toEqual(['CREATED PENDING', 'APPROVED APPROVED']);
    // Olga saw nothing of it.
    expect(await sseReader(olga!.response).until(() => false, 500)).toEqual([]);
    for (const stream of streams) stream.close();

    // The grant works at once: vera may now write A's CIs, and only those.
    const srvA = (await t.og.cmdb.get(ci['srv-a']!.id))!;
    const write = await t.gql(
      `mutation ($id: ID!, $v: Int!) { updateCI(id: $id, input: { version: $v, tags: ["dba"] }) { __typename } }`,
      { id: srvA.id, v: srvA.version },
      as('vera'),
    );
    expect(write.body.data?.updateCI.__typename).toBe('MutationUpdateCISuccess');
    const srvB = (await t.og.cmdb.get(ci['srv-b']!.id))!;
    const writeB = await t.gql(
      `mutation ($id: ID!, $v: Int!) { updateCI(id: $id, input: { version: $v, tags: ["dba"] }) { __typename } }`,
      { id: srvB.id, v: srvB.version },
      as('vera'),
    );
    expect(writeB.body.data?.updateCI.__typename).toBe('ForbiddenError');

    // The audit trail names who asked and who approved.
    const history = await t.gql(
      'query ($id: ID!) { accessRequest(id: $id) { history { type actor { name } } } }',
      { id: request.id },
      as('admin'),
    );
    expect(history.body.data?.accessRequest.history).toEqual([
      { type: 'access_request.created', actor: { name: 'vera' } },
      { type: 'grant.created', actor: { name: 'lead' } },
      { type: 'access_request.approved', actor: { name: 'lead' } },
    ]);
  });

  it('stops a subscriber the moment its grant is revoked or expires', async () => {
    const clock = t.og.clock as ManualClock;
    const expiring = await user('expiring', [
      { role: 'viewer', expiresAt: new Date(clock.now().getTime() + 3_600_000) },
    ]);
    const revoked = await user('revoked', [{ role: 'viewer' }]);
    const SUB = { query: 'subscription { ciChanged { kind ci { name tags } } }' };
    const outcomes = (['expiring', 'revoked'] as const).map((name) => {
      const client = t.wsClient({ authorization: `Bearer ${as(name)}` });
      return collect(client, SUB, () => false);
    });
    const bump = async (tag: string) => {
      const srv = (await t.og.cmdb.get(ci['srv-a']!.id))!;
      await t.og.cmdb.update(srv.id, { version: srv.version, tags: [tag] }, { actor: admin });
    };
    // Both subscriptions are up once an event reaches them.
    await new Promise((r) => setTimeout(r, 300));
    await bump('before');
    await expect.poll(() => outcomes.length).toBe(2);
    await new Promise((r) => setTimeout(r, 500));

    clock.advance(3_600_001); // the expiring grant is over, though no sweep ran yet
    const grant = (await t.og.access.grants({ userId: revoked.id }))[0]!;
    const revoke = await t.gql(
      'mutation ($id: ID!) { revokeGrant(id: $id) { __typename } }',
      { id: grant.id },
      as('admin'),
    );
    expect(revoke.body.data?.revokeGrant.__typename).toBe('MutationRevokeGrantSuccess');
    await bump('after');

    for (const [i, name] of (['expiring', 'revoked'] as const).entries()) {
      const { results, error } = await outcomes[i]!.done;
      const tags = results.flatMap((r) => (r.data ? [r.data.ciChanged.ci.tags[0]] : []));
      expect(tags, name).toEqual(['before']);
      expect(error, name).toBeUndefined();
      // The stream ends with one FORBIDDEN error for that subscription (the socket stays up).
      expect(results.at(-1)?.errors?.[0]?.extensions?.code, name).toBe('FORBIDDEN');
    }
    expect(expiring.id).not.toBe(revoked.id);
  });

  it('records each expired grant once, by itself, however many servers sweep', async () => {
    const clock = t.og.clock as ManualClock;
    const temp = await user('temp', [
      { role: 'viewer', expiresAt: new Date(clock.now().getTime() + 60_000) },
    ]);
    const replicas = await Promise.all(
      [1, 2].map(() => startTestServer({ og: t.og, scheduler: { every: { access: 20 } } })),
    );
    try {
      const expiredOf = async () =>
        (await t.og.activity.list({ types: ['grant.expired'], limit: 1000 })).filter(
          (e) => (e.payload as { grant: { userId: string } }).grant.userId === temp.id,
        );
      await new Promise((r) => setTimeout(r, 100));
      expect(await expiredOf()).toEqual([]); // not yet due
      clock.advance(60_001);
      await expect.poll(async () => (await expiredOf()).length, { timeout: 5_000 }).toBe(1);
      await new Promise((r) => setTimeout(r, 200)); // more sweeps on both replicas
      expect((await expiredOf()).length).toBe(1);
      expect((await t.og.access.grants({ userId: temp.id }))[0]?.expiredAt).not.toBeNull();
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it('closes a socket with 4403 at its next operation once its token is revoked', async () => {
    const { secret, token } = await t.og.access.createToken(
      { name: 'socket', permissions: ['cmdb:read'] },
      { actor: admin },
    );
    const client = t.wsClient({ token: secret });
    const first = await collect(client, { query: '{ me { name } }' }, () => true).done;
    expect(first.results[0]?.data?.me.name).toBe('token "socket"');
    await t.og.access.revokeToken(token.id, { actor: admin });
    const second = await collect(client, { query: '{ me { name } }' }).done;
    expect(second.results.some((r) => r.data?.me)).toBe(false);
    expect((second.error as { code?: number } | undefined)?.code).toBe(4403);
  });

  it('ends a subscription with UNAUTHENTICATED when its token is revoked', async () => {
    const { secret, token } = await t.og.access.createToken(
      { name: 'dashboard', permissions: ['cmdb:read'] },
      { actor: admin },
    );
    const { response, close } = await subscribeSse(t.url, secret, {
      query: 'subscription { ciChanged { ci { name } } }',
    });
    const stream = sseReader(response);
    const srv = (await t.og.cmdb.get(ci['srv-b']!.id))!;
    await t.og.cmdb.update(srv.id, { version: srv.version, tags: ['one'] }, { actor: admin });
    expect((await stream.until((all) => all.length >= 1, 5_000)).length).toBe(1);
    await t.og.access.revokeToken(token.id, { actor: admin });
    const again = (await t.og.cmdb.get(ci['srv-b']!.id))!;
    await t.og.cmdb.update(again.id, { version: again.version, tags: ['two'] }, { actor: admin });
    const items = await stream.until((all) => all.some((r) => r.errors), 5_000);
    close();
    expect(items.filter((r) => r.data).length).toBe(1);
    expect(items.at(-1)?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
