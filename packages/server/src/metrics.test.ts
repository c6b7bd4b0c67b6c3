import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support.js';

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
const sample = (text: string, name: string, labels = ''): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('GET /metrics', () => {
  let t: TestServer;
  let scraper: string;
  let sender: string;
  const scrape = async (token: string | null = scraper, server = t) => {
    const response = await fetch(`${server.origin}/metrics`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    };
  };

  beforeAll(async () => {
    t = await startTestServer({ scheduler: false });
    const actor = systemActor('test');
    const token = async (name: string, permissions: string[]) =>
      (await t.og.access.createToken({ name, permissions }, { actor })).secret;
    scraper = await token('prometheus', ['operations:read']);
    sender = await token('monitoring', ['event:write']);
  });
  afterAll(() => t?.close());

  it('needs operations:read: 401 without credentials, 403 with too few, the exposition format with it', async () => {
    expect((await scrape(null)).status).toBe(401);
    const forbidden = await scrape(t.tokens.reader);
    expect(forbidden.status).toBe(403);
    expect(forbidden.text).toContain('operations:read');
    const ok = await scrape();
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
    // The embedded database: one connection, idle between requests.
    expect(sample(ok.text, 'opsgraph_db_pool_max')).toBe(1);
    expect(sample(ok.text, 'opsgraph_db_pool_connections')).toBe(1);
    expect(sample(ok.text, 'opsgraph_db_pool_waiting')).toBe(0);
    expect(ok.text).toContain('opsgraph_process_cpu_user_seconds_total');
  });

  it('times operations by type and name, errors apart', async () => {
    for (let i = 0; i < 3; i++) await t.gql('query Who { me { name } }', {}, t.tokens.admin);
    await t.gql('mutation Nope { runSweeps(only: ["x"]) { __typename } }', {}, t.tokens.reader);
    const { text } = await scrape();
    expect(
      sample(
        text,
        'opsgraph_graphql_operation_duration_seconds_count',
        'type="query",operation="Who",outcome="ok"',
      ),
    ).toBe(3);
    expect(
      sample(
        text,
        'opsgraph_graphql_operation_duration_seconds_count',
        'type="mutation",operation="Nope",outcome="error"',
      ),
    ).toBe(1);
  });

  it('keeps at most 200 operation names as labels; later ones count as `other`', async () => {
    // 'Who' and 'Nope' above hold two of the 200.
    for (let i = 0; i < 205; i++) await t.gql(`query Q${i} { me { name } }`, {}, t.tokens.admin);
    const { text } = await scrape();
    expect(
      sample(
        text,
        'opsgraph_graphql_operation_duration_seconds_count',
        'type="query",operation="Q197",outcome="ok"',
      ),
    ).toBe(1);
    expect(
      sample(
        text,
        'opsgraph_graphql_operation_duration_seconds_count',
        'type="query",operation="Q198",outcome="ok"',
      ),
    ).toBeUndefined();
    expect(
      sample(
        text,
        'opsgraph_graphql_operation_duration_seconds_count',
        'type="query",operation="other",outcome="ok"',
      ),
    ).toBe(7);
  });

  it('counts events ingested by entry point', async () => {
    const post = await fetch(`${t.origin}/webhooks/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sender}` },
      body: JSON.stringify([
        { source: 'nagios', node: 'm-01', type: 'ping', severity: 'major' },
        { source: 'nagios', node: 'm-02', type: 'ping', severity: 'major' },
      ]),
    });
    expect(post.status).toBe(202);
    const mutation = await t.gql(
      `mutation { ingestEvents(events: [{ source: "nagios", node: "m-03", type: "ping", severity: MAJOR }]) { __typename } }`,
      {},
      sender,
    );
    expect(mutation.body.errors).toBeUndefined();
    const { text } = await scrape();
    expect(sample(text, 'opsgraph_events_ingested_total', 'via="events"')).toBe(2);
    expect(sample(text, 'opsgraph_events_ingested_total', 'via="graphql"')).toBe(1);
  });

  it('gauges open subscriptions and sockets, and counts sweep rounds', async () => {
    const client = t.wsClient({ token: t.tokens.admin });
    const events: unknown[] = [];
    const stop = client.subscribe(
      { query: 'subscription { alertChanged { seq } }' },
      { next: (e) => events.push(e), error: () => {}, complete: () => {} },
    );
    await expect
      .poll(async () => sample((await scrape()).text, 'opsgraph_graphql_active_subscriptions'))
      .toBe(1);
    expect(sample((await scrape()).text, 'opsgraph_websocket_connections')).toBe(1);
    stop();
    await expect
      .poll(async () => sample((await scrape()).text, 'opsgraph_graphql_active_subscriptions'))
      .toBe(0);
    await client.dispose();
    await expect.poll(async () => sample((await scrape()).text, 'opsgraph_websocket_connections')).toBe(0);

    await t.og.scheduler.run({ only: ['slas'] });
    expect(sample((await scrape()).text, 'opsgraph_sweep_runs_total', 'sweep="slas",outcome="ran"')).toBe(1);
  });

  it('can be public, or off', async () => {
    const open = await startTestServer({ og: t.og, scheduler: false, metrics: { public: true } });
    const off = await startTestServer({ og: t.og, scheduler: false, metrics: false });
    try {
      expect((await scrape(null, open)).status).toBe(200);
      expect((await scrape(scraper, off)).status).toBe(404);
    } finally {
      await Promise.all([open.close(), off.close()]);
    }
  });
});
