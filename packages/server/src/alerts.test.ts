import { type Actor, type Ci, ManualClock, systemActor } from '@opsgraph/core';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerTokenAuth } from './auth.js';
import type { OperationQueries } from './query-count.js';
import { collect, readSseUntil, startTestServer, subscribeSse, type TestServer } from './test-support.js';

const admin = systemActor('test');
const MINUTE = 60_000;

const ERROR_FIELDS = /* GraphQL */ `
  ... on Error { __typename message code field }
  ... on ValidationError { issues { path message } }
  ... on ConflictError { currentVersion }`;
const INGEST = /* GraphQL */ `
  mutation ($events: [EventInput!]!) {
    ingestEvents(events: $events) {
      __typename
      ... on MutationIngestEventsSuccess { data { dedupKey alertId outcome } }
      ${ERROR_FIELDS}
    }
  }`;
const LIST = /* GraphQL */ `
  query ($filter: AlertFilter, $orderBy: AlertOrder, $first: Int, $after: String) {
    alerts(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      edges { cursor node { id dedupKey status severity count ciId ci { name } events(first: 1) { severity action } } }
      pageInfo { hasNextPage endCursor }
    }
  }`;
const lifecycle = (name: 'acknowledgeAlert' | 'closeAlert') => /* GraphQL */ `
  mutation ($id: ID!, $version: Int!) {
    ${name}(id: $id, version: $version) {
      __typename
      ... on Mutation${name[0]!.toUpperCase()}${name.slice(1)}Success {
        data { id status version acknowledgedBy { name } closedBy { name } closeReason }
      }
      ${ERROR_FIELDS}
    }
  }`;
const CHANGED = /* GraphQL */ `
  subscription ($filter: AlertFilter, $after: Seq) {
    alertChanged(filter: $filter, after: $after) {
      seq kind repeats actor { name }
      alert { id dedupKey status severity count version ciId }
    }
  }`;

type Result = { data?: Record<string, any> | null; errors?: readonly any[] };
const change = (r: Result) => `${r.data?.alertChanged.kind} ${r.data?.alertChanged.alert.dedupKey}`;

/**
 * Alerts over the real server. `Authorization: Bearer <name>` authenticates as a hand-built scoped actor
 * (as scoped.test.ts does): web-reader reads events and CIs on al-web; web-events reads only its events;
 * web-writer reads and writes them. API tokens: admin (everything), reader (cmdb:read only).
 */
describe.each(testBackends())('alerts over GraphQL on %s', (backend) => {
  let og: TestOpsGraph;
  let t: TestServer;
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const actors = new Map<string, Actor>();
  const reports: OperationQueries[] = [];
  let web: Ci;
  let db: Ci;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    t = await startTestServer({
      og,
      authenticate: async (request, og) => {
        const name = /^Bearer (\S+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
        return (name && actors.get(name)) || bearerTokenAuth(request, og);
      },
      onOperationQueries: (report) => reports.push(report),
    });
    web = await og.cmdb.create({ class: 'server', name: 'al-web' }, { actor: admin });
    db = await og.cmdb.create({ class: 'server', name: 'al-db' }, { actor: admin });
    const onWeb = (permissions: string[]) => [{ ciId: web.id, mode: 'contains' as const, permissions }];
    for (const actor of [
      await scopedTestActor(og, 'web-reader', onWeb(['event:read', 'cmdb:read'])),
      await scopedTestActor(og, 'web-events', onWeb(['event:read'])),
      await scopedTestActor(og, 'web-writer', onWeb(['event:read', 'event:write'])),
    ])
      actors.set(actor.name, actor);
  });
  afterAll(async () => {
    await t?.close();
    await og?.close();
  });

  const ingest = async (events: Record<string, unknown>[], token = t.tokens.admin) => {
    const { body } = await t.gql(INGEST, { events }, token);
    expect(body.errors).toBeUndefined();
    return body.data!.ingestEvents;
  };
  const event = (dedupKey: string, extra: Record<string, unknown> = {}) => ({
    source: 'gql-test',
    node: 'nowhere',
    type: 'check',
    severity: 'MAJOR',
    dedupKey,
    ...extra,
  });
  const list = async (variables: Record<string, unknown>, token = t.tokens.admin) => {
    const { body } = await t.gql(LIST, variables, token);
    expect(body.errors).toBeUndefined();
    return body.data!.alerts;
  };

  it('ingests events in input order, binding them to CIs by node', async () => {
    const result = await ingest([
      event('in-web', { node: 'AL-WEB' }),
      event('in-db', { node: 'al-db', severity: 'CRITICAL' }),
      event('in-web', { node: 'al-web', labels: { team: 'shop' } }),
      event('in-none', { action: 'TRIGGER', occurredAt: '2026-03-01T08:59:00Z' }),
      event('in-gone', { severity: 'CLEAR' }),
    ]);
    expect(result.__typename).toBe('MutationIngestEventsSuccess');
    expect(result.data.map((r: any) => r.outcome)).toEqual([
      'OPENED',
      'OPENED',
      'REPEATED',
      'OPENED',
      'IGNORED',
    ]);
    expect(result.data[2].alertId).toBe(result.data[0].alertId);
    expect(result.data[4].alertId).toBeNull();
    const { body } = await t.gql(
      'query ($id: ID!) { alert(id: $id) { count ciId ci { name } labels events { severity occurredAt } } }',
      { id: result.data[0].alertId },
      t.tokens.admin,
    );
    expect(body.data?.alert).toMatchObject({
      count: 2,
      ciId: web.id,
      ci: { name: 'al-web' },
      labels: { team: 'shop' },
    });
    expect(body.data?.alert.events).toHaveLength(2);
  });

  it('refuses bad events naming the field, and writes nothing', async () => {
    const before = await og.activity.latestSeq();
    // The schema itself refuses a severity that is not one: GraphQL names the variable's path.
    const loud = await t.gql(
      INGEST,
      { events: [event('bad-1'), event('bad-1', { severity: 'LOUD' })] },
      t.tokens.admin,
    );
    expect(loud.status).toBe(400);
    expect(loud.body.data ?? null).toBeNull();
    expect(loud.body.errors?.[0].message).toMatch(/"LOUD" at "events\[1\]\.severity"/);
    // What only core can judge comes back typed, naming the argument, the item and the field.
    for (const [bad, field] of [
      [{ source: ' ' }, 'events.1.source'],
      [{ ciId: crypto.randomUUID() }, 'events.1.ciId'],
      [{ labels: { team: 7 } }, 'events.1.labels.team'],
    ] as const) {
      const result = await ingest([event('bad-2'), event('bad-2', bad)]);
      expect(result).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field });
      expect(result.issues[0].path).toBe(field);
    }
    expect((await list({ filter: { dedupKey: 'bad-2' } })).edges).toEqual([]);
    expect((await list({ filter: { dedupKey: 'bad-1' } })).edges).toEqual([]);
    expect(await og.activity.latestSeq()).toBe(before);
    // Ingesting needs event:write everywhere: a scoped writer is refused, whatever the node.
    const { body } = await t.gql(INGEST, { events: [event('bad-3', { node: 'al-web' })] }, 'web-writer');
    expect(body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
  });

  it('lists with a filter, a page at a time, in each order', async () => {
    const opts = { source: 'gql-list' };
    for (const [key, severity] of [
      ['ls-a', 'MINOR'],
      ['ls-b', 'CRITICAL'],
      ['ls-c', 'WARNING'],
      ['ls-d', 'CRITICAL'],
      ['ls-e', 'INFO'],
    ]) {
      clock.advance(MINUTE);
      await ingest([event(key!, { ...opts, severity })]);
    }
    const walk = async (orderBy?: Record<string, string>) => {
      const keys: string[] = [];
      let after: string | null = null;
      do {
        const page: any = await list({ filter: opts, first: 2, after, ...(orderBy ? { orderBy } : {}) });
        keys.push(...page.edges.map((e: any) => e.node.dedupKey));
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      } while (after);
      return keys;
    };
    expect(await walk()).toEqual(['ls-e', 'ls-d', 'ls-c', 'ls-b', 'ls-a']);
    expect(await walk({ field: 'FIRST_SEEN', direction: 'ASC' })).toEqual([
      'ls-a',
      'ls-b',
      'ls-c',
      'ls-d',
      'ls-e',
    ]);
    expect(await walk({ field: 'SEVERITY' })).toEqual(['ls-d', 'ls-b', 'ls-a', 'ls-c', 'ls-e']);
    const critical = await list({ filter: { ...opts, severity: ['CRITICAL'], status: ['OPEN'] } });
    expect(critical.edges.map((e: any) => e.node.dedupKey)).toEqual(['ls-d', 'ls-b']);
    expect(critical.edges[0].node).toMatchObject({ status: 'OPEN', count: 1, ciId: null, ci: null });
    expect(critical.edges[0].node.events).toEqual([{ severity: 'CRITICAL', action: 'TRIGGER' }]);

    // A cursor continues only its own order; paging backwards is refused, not ignored.
    const first = await list({ filter: opts, first: 1 });
    const other = await t.gql(
      LIST,
      { filter: opts, after: first.pageInfo.endCursor, orderBy: { field: 'SEVERITY' } },
      t.tokens.admin,
    );
    expect(other.body.errors?.[0]).toMatchObject({ extensions: { code: 'VALIDATION', field: 'after' } });
    const backwards = await t.gql('{ alerts(last: 2) { edges { cursor } } }', undefined, t.tokens.admin);
    expect(backwards.body.errors?.[0]).toMatchObject({ extensions: { code: 'VALIDATION', field: 'last' } });
  });

  it('shows a scoped reader only the alerts on CIs in its scope', async () => {
    const [onWeb, onDb, onNone] = (
      await ingest([
        event('sc-web', { source: 'gql-scope', node: 'al-web' }),
        event('sc-db', { source: 'gql-scope', node: 'al-db' }),
        event('sc-none', { source: 'gql-scope' }),
      ])
    ).data.map((r: any) => r.alertId);
    const seen = await list({ filter: { source: 'gql-scope' } }, 'web-reader');
    expect(seen.edges.map((e: any) => [e.node.dedupKey, e.node.ci?.name])).toEqual([['sc-web', 'al-web']]);
    const everything = await list({ first: 500 }, 'web-reader');
    expect(everything.edges.every((e: any) => e.node.ciId === web.id)).toBe(true);
    // Events on the CI without cmdb:read there: the alert, but not the CI's record.
    const eventsOnly = await list({ filter: { source: 'gql-scope' } }, 'web-events');
    expect(eventsOnly.edges.map((e: any) => [e.node.ciId, e.node.ci])).toEqual([[web.id, null]]);
    for (const id of [onDb, onNone]) {
      const { body } = await t.gql('query ($id: ID!) { alert(id: $id) { id } }', { id }, 'web-reader');
      expect(body).toEqual({ data: { alert: null } });
    }
    const { body } = await t.gql('query ($id: ID!) { alert(id: $id) { id } }', { id: onWeb }, 'web-reader');
    expect(body.data?.alert.id).toBe(onWeb);
    // No event:read anywhere: refused outright.
    const refused = await t.gql(LIST, {}, t.tokens.reader);
    expect(refused.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    // Reading is not writing; a writer on al-web cannot touch al-db's alert, nor learn that it exists.
    const readerAck = await t.gql(lifecycle('acknowledgeAlert'), { id: onWeb, version: 1 }, 'web-events');
    expect(readerAck.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    const writerAck = await t.gql(lifecycle('acknowledgeAlert'), { id: onDb, version: 1 }, 'web-writer');
    expect(writerAck.body.data?.acknowledgeAlert).toMatchObject({ __typename: 'NotFoundError', field: 'id' });
    const ok = await t.gql(lifecycle('acknowledgeAlert'), { id: onWeb, version: 1 }, 'web-writer');
    expect(ok.body.data?.acknowledgeAlert.data).toMatchObject({
      status: 'ACKNOWLEDGED',
      acknowledgedBy: { name: 'web-writer' },
    });
  });

  it('acknowledges and closes with versions: a stale one is a CONFLICT', async () => {
    const [{ alertId: id }] = (await ingest([event('lc-1')])).data;
    const ack = await t.gql(lifecycle('acknowledgeAlert'), { id, version: 1 }, t.tokens.admin);
    expect(ack.body.data?.acknowledgeAlert).toMatchObject({
      __typename: 'MutationAcknowledgeAlertSuccess',
      data: { status: 'ACKNOWLEDGED', version: 2, acknowledgedBy: { name: 'token "admin"' } },
    });
    const stale = await t.gql(lifecycle('closeAlert'), { id, version: 1 }, t.tokens.admin);
    expect(stale.body.data?.closeAlert).toMatchObject({
      __typename: 'ConflictError',
      code: 'CONFLICT',
      field: 'version',
      currentVersion: 2,
    });
    const closed = await t.gql(lifecycle('closeAlert'), { id, version: 2 }, t.tokens.admin);
    expect(closed.body.data?.closeAlert.data).toMatchObject({
      status: 'CLOSED',
      version: 3,
      closeReason: 'MANUAL',
    });
    const again = await t.gql(lifecycle('closeAlert'), { id, version: 3 }, t.tokens.admin);
    expect(again.body.data?.closeAlert).toMatchObject({ __typename: 'ConflictError', currentVersion: 3 });
    const unknown = await t.gql(
      lifecycle('closeAlert'),
      { id: crypto.randomUUID(), version: 1 },
      t.tokens.admin,
    );
    expect(unknown.body.data?.closeAlert).toMatchObject({ __typename: 'NotFoundError', field: 'id' });
  });

  it('costs the same few SQL queries for a page of 5 alerts with CIs and events as for 50', async () => {
    await ingest(
      Array.from({ length: 60 }, (_, i) =>
        event(`qc-${i}`, { source: 'gql-count', node: i % 2 ? 'al-web' : 'al-db' }),
      ),
    );
    const measured = async (first: number) => {
      const requestId = crypto.randomUUID();
      const response = await fetch(t.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${t.tokens.admin}`,
          'x-request-id': requestId,
        },
        body: JSON.stringify({ query: LIST, variables: { first, filter: { source: 'gql-count' } } }),
      });
      const body = (await response.json()) as { data?: any; errors?: any[] };
      expect(body.errors).toBeUndefined();
      expect(body.data.alerts.edges).toHaveLength(first);
      return reports.find((r) => r.requestId === requestId)!.queries.map((q) => q.sql);
    };
    const five = await measured(5);
    const fifty = await measured(50);
    // The page, its CIs, their events: the same statements whatever the page size.
    expect(fifty.length, fifty.join('\n')).toBe(five.length);
    expect(fifty.length).toBeLessThanOrEqual(3);
  });

  /** A subscription that keeps running: `arrived(n)` waits for its n-th result. */
  function follow(client: Client, variables: Record<string, unknown>) {
    const results: Result[] = [];
    const waiters: { count: number; resolve: () => void }[] = [];
    const stop = client.subscribe(
      { query: CHANGED, variables },
      {
        next: (result) => {
          results.push(result as Result);
          for (const w of waiters.filter((w) => results.length >= w.count)) w.resolve();
        },
        error: () => {},
        complete: () => {},
      },
    );
    const arrived = (count: number) =>
      results.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve }));
    return { results, arrived, stop };
  }

  it('streams opened, updated, acknowledged and closed in order; a scoped reader gets none of other CIs', async () => {
    const { body } = await t.gql('{ alertChangedHead }', undefined, t.tokens.admin);
    const after = body.data!.alertChangedHead;
    const all = follow(t.wsClient({ token: t.tokens.admin }), { after, filter: { source: 'gql-stream' } });
    const scoped = follow(t.wsClient({ authorization: 'Bearer web-reader' }), {
      after,
      filter: { source: 'gql-stream' },
    });
    const opts = { source: 'gql-stream' };

    // Changes on al-db (and on no CI) first: the scoped reader must not hear of them.
    const [db1, none1] = (await ingest([event('st-db', { ...opts, node: 'al-db' }), event('st-none', opts)]))
      .data;
    await ingest([
      event('st-db', { ...opts, node: 'al-db', severity: 'CRITICAL' }),
      event('st-db', { ...opts, node: 'al-db' }),
    ]);
    await t.gql(lifecycle('acknowledgeAlert'), { id: db1.alertId, version: 1 }, t.tokens.admin);
    await t.gql(lifecycle('closeAlert'), { id: db1.alertId, version: 2 }, t.tokens.admin);
    await ingest([event('st-none', { ...opts, severity: 'CLEAR' })]);
    // Then the same life on al-web.
    const [web1] = (await ingest([event('st-web', { ...opts, node: 'al-web' })])).data;
    await ingest([event('st-web', { ...opts, node: 'al-web' })]);
    await t.gql(lifecycle('acknowledgeAlert'), { id: web1.alertId, version: 1 }, t.tokens.admin);
    await t.gql(lifecycle('closeAlert'), { id: web1.alertId, version: 2 }, t.tokens.admin);

    await all.arrived(10);
    await scoped.arrived(4);
    expect(all.results.map(change)).toEqual([
      'OPENED st-db',
      'OPENED st-none',
      'UPDATED st-db',
      'ACKNOWLEDGED st-db',
      'CLOSED st-db',
      'CLOSED st-none',
      'OPENED st-web',
      'UPDATED st-web',
      'ACKNOWLEDGED st-web',
      'CLOSED st-web',
    ]);
    const updated = all.results[2]!.data!.alertChanged;
    expect(updated).toMatchObject({ repeats: 2, alert: { count: 3, severity: 'MAJOR', ciId: db.id } });
    expect(all.results[3]!.data!.alertChanged.actor).toEqual({ name: 'token "admin"' });
    expect(none1.alertId).toBe(all.results[1]!.data!.alertChanged.alert.id);
    const seqs = all.results.map((r) => r.data!.alertChanged.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Only al-web's four, although al-db's came first.
    expect(scoped.results.map(change)).toEqual([
      'OPENED st-web',
      'UPDATED st-web',
      'ACKNOWLEDGED st-web',
      'CLOSED st-web',
    ]);
    expect(scoped.results.every((r) => r.data?.alertChanged.alert.ciId === web.id && !r.errors)).toBe(true);
    all.stop();
    scoped.stop();
  });

  it('filters the stream by status, severity, CI and dedup key, and refuses what it cannot follow', async () => {
    const { body } = await t.gql('{ alertChangedHead }', undefined, t.tokens.admin);
    const after = body.data!.alertChangedHead;
    const client = t.wsClient({ token: t.tokens.admin });
    const open = follow(client, { after, filter: { source: 'gql-sf', status: ['OPEN'] } });
    const critical = follow(client, { after, filter: { source: 'gql-sf', severity: ['CRITICAL'] } });
    const onWeb = follow(client, { after, filter: { ciId: web.id, dedupKey: 'sf-web' } });
    const opts = { source: 'gql-sf' };
    const [a] = (
      await ingest([event('sf-a', opts), event('sf-web', { ...opts, node: 'al-web', severity: 'CRITICAL' })])
    ).data;
    await t.gql(lifecycle('acknowledgeAlert'), { id: a.alertId, version: 1 }, t.tokens.admin);
    await t.gql(lifecycle('closeAlert'), { id: a.alertId, version: 2 }, t.tokens.admin);
    await open.arrived(3);
    await critical.arrived(1);
    await onWeb.arrived(1);
    // Leaving OPEN is news to followers of open alerts; a close from ACKNOWLEDGED is not.
    expect(open.results.map(change)).toEqual(['OPENED sf-a', 'OPENED sf-web', 'ACKNOWLEDGED sf-a']);
    expect(critical.results.map(change)).toEqual(['OPENED sf-web']);
    expect(onWeb.results.map(change)).toEqual(['OPENED sf-web']);

    const badFilter = await collect(client, { query: CHANGED, variables: { filter: { ciId: 'web' } } }).done;
    expect(badFilter.error).toBeUndefined();
    expect(badFilter.results[0]?.errors?.[0]).toMatchObject({
      extensions: { code: 'VALIDATION', field: 'filter.ciId' },
    });
    const refused = await collect(t.wsClient({ token: t.tokens.reader }), { query: CHANGED }).done;
    expect(refused.results[0]?.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    // The socket lives on for the other subscriptions.
    const { done } = collect(client, { query: '{ alertChangedHead }' });
    expect((await done).results[0]?.errors).toBeUndefined();
    for (const sub of [open, critical, onWeb]) sub.stop();
  });

  it('checks event:read on every change: a subscriber that loses it gets FORBIDDEN, and the socket lives on', async () => {
    const held = ['event:read'];
    actors.set('fading', { kind: 'user', id: 'fading', name: 'fading', permissions: held });
    const { body } = await t.gql('{ alertChangedHead }', undefined, t.tokens.admin);
    const client = t.wsClient({ authorization: 'Bearer fading' });
    const sub = follow(client, { after: body.data!.alertChangedHead, filter: { source: 'gql-fade' } });
    await ingest([event('fade-1', { source: 'gql-fade' })]);
    await sub.arrived(1);
    held.length = 0;
    await ingest([event('fade-2', { source: 'gql-fade' })]);
    await sub.arrived(2);
    expect(
      sub.results.map((r) => r.data?.alertChanged?.alert.dedupKey ?? r.errors?.[0]?.extensions?.code),
    ).toEqual(['fade-1', 'FORBIDDEN']);
    held.push('event:read');
    const { done } = collect(client, { query: '{ alertChangedHead }' });
    expect((await done).results[0]?.errors).toBeUndefined();
  });

  it('streams over SSE as well', async () => {
    const { response, close } = await subscribeSse(t.url, t.tokens.admin, {
      query: CHANGED,
      variables: { filter: { dedupKey: 'sse-1' } },
    });
    expect(response.status).toBe(200);
    // The response has started: the subscription has fixed its starting point.
    await ingest([event('sse-1')]);
    const got = await readSseUntil(response, (result) => result.data?.alertChanged);
    close();
    expect(got).toMatchObject({ kind: 'OPENED', alert: { dedupKey: 'sse-1', status: 'OPEN' } });
  });
});
