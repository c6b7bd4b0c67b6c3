// Acceptance (issue 9, point 1): two `opsgraph serve` processes on one PostgreSQL; 100 WebSocket
// subscribers of two kinds (one sees every alert, one only those on the shop's CIs) split across
// them; 1,000 events ingested on both; then one replica is SIGKILLed while events keep coming on the
// other. Every subscriber must receive exactly what it may see, in seq order, none twice, none lost.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createOpsGraphClient, IngestEventsDocument, type OpsGraphClient, unwrap } from '@opsgraph/client';
import { alertEventTypes, createOpsGraph, type OpsGraph, systemActor } from '@opsgraph/core';
import { createTestDatabase } from '@opsgraph/core/testing';
import { type Replica, startReplica } from '@opsgraph/example-multi-replica';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

const actor = systemActor('multi-replica-test');
const SUBSCRIBERS = 100;
const TOKENS_PER_KIND = 5; // 10 sockets per token: under the 50 per actor a replica allows, even after failover

type Change = {
  alertChanged: { seq: number; kind: string; alert: { dedupKey: string; ciId: string | null } };
};
// A lean selection: the point is who receives what, not the alert's fields.
const ALERT_CHANGED = parse(
  'subscription MultiReplica($after: Seq) { alertChanged(after: $after) { seq kind alert { dedupKey ciId } } }',
) as TypedDocumentNode<Change, { after?: number | null }>;

type Kind = 'all' | 'shop';

interface Subscriber {
  readonly kind: Kind;
  /** The replica its first socket went to. */
  readonly first: 'A' | 'B';
  readonly client: OpsGraphClient;
  readonly seqs: number[];
  /** The URL of each socket it opened, in order. */
  readonly sockets: string[];
  error?: unknown;
}

/** Every alert change after `after`, from the shared table: what each kind of subscriber must get. */
async function alertChangesAfter(og: OpsGraph, after: number) {
  const all: { seq: number; ciId: string | null }[] = [];
  for (let from = after; ; ) {
    const page = await og.activity.list({ after: from, limit: 1000, types: [...alertEventTypes] });
    if (page.length === 0) return all;
    for (const e of page)
      all.push({ seq: e.seq, ciId: (e.payload as { alert: { ciId: string | null } }).alert.ciId });
    from = page.at(-1)!.seq;
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('two replicas on one PostgreSQL, 100 subscribers, one replica killed', () => {
  let og: OpsGraph;
  let a: Replica;
  let b: Replica;
  let wsA: string;
  let wsB: string;
  const tokens: Record<Kind, string[]> = { all: [], shop: [] };
  let ingestToken: string;
  let shopCis: Set<string>;
  const nodes: string[] = [];

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    a = await startReplica({ databaseUrl, port: 0, migrate: true }); // migrates; B starts after
    b = await startReplica({ databaseUrl, port: 0 });
    [wsA, wsB] = [a.url, b.url].map((u) => u.replace(/^http/, 'ws')) as [string, string];
    og = await createOpsGraph({ database: databaseUrl });

    // The shop depends on its app, which runs on five web servers; five other servers are elsewhere.
    const shop = await og.cmdb.create({ class: 'business_service', name: 'shop' }, { actor });
    const app = await og.cmdb.create({ class: 'application', name: 'shop-app' }, { actor });
    await og.cmdb.relate({ type: 'depends_on', sourceId: shop.id, targetId: app.id }, { actor });
    shopCis = new Set([shop.id, app.id]);
    for (let i = 0; i < 5; i++) {
      const web = await og.cmdb.create({ class: 'linux_server', name: `shop-web-${i}` }, { actor });
      await og.cmdb.relate({ type: 'runs_on', sourceId: app.id, targetId: web.id }, { actor });
      shopCis.add(web.id);
      await og.cmdb.create({ class: 'linux_server', name: `other-${i}` }, { actor });
      // Alerts bind to the CI named as their node; `lost-*` names none (an alert on no CI).
      nodes.push(`shop-web-${i}`, `other-${i}`, `lost-${i}`);
    }

    // Ann sees every alert; Sam only those on the shop and what it depends on. Each makes tokens.
    await og.access.defineRole({ name: 'token_user', permissions: ['access:tokens'] }, { actor });
    const ann = await og.access.createUser({ email: 'ann@example.com', name: 'Ann' }, { actor });
    const sam = await og.access.createUser({ email: 'sam@example.com', name: 'Sam' }, { actor });
    for (const user of [ann, sam]) await og.access.grant({ role: 'token_user', userId: user.id }, { actor });
    await og.access.grant({ role: 'viewer', userId: ann.id }, { actor });
    await og.access.grant(
      { role: 'viewer', userId: sam.id, scope: { ciId: shop.id, mode: 'dependencies' } },
      { actor },
    );
    for (const [kind, user] of [
      ['all', ann],
      ['shop', sam],
    ] as const) {
      const as = (await og.access.actorForUser({ id: user.id }))!;
      for (let i = 0; i < TOKENS_PER_KIND; i++)
        tokens[kind].push(
          (await og.access.createToken({ name: `${kind}-${i}`, permissions: ['event:read'] }, { actor: as }))
            .secret,
        );
    }
    ({ secret: ingestToken } = await og.access.createToken(
      { name: 'ingest', permissions: ['event:write', 'event:read'] },
      { actor },
    ));
  }, 120_000);

  afterAll(async () => {
    await a?.kill();
    await b?.stop();
    await og?.close();
  });

  it('delivers to each subscriber what it may see, in order, none twice, across a replica dying', {
    timeout: 120_000,
  }, async () => {
    const started = Date.now();
    const start = await og.activity.latestSeq();
    const subscribers: Subscriber[] = Array.from({ length: SUBSCRIBERS }, (_, i) => {
      const kind: Kind = i % 2 === 0 ? 'all' : 'shop';
      const first = i % 4 < 2 ? 'A' : 'B'; // each kind split evenly across the replicas
      const sockets: string[] = [];
      const client = createOpsGraphClient({
        endpoints: first === 'A' ? [{ url: a.url }, { url: b.url }] : [{ url: b.url }, { url: a.url }],
        token: tokens[kind][Math.floor(i / 2) % TOKENS_PER_KIND],
        webSocketImpl: class extends WebSocket {
          constructor(...args: ConstructorParameters<typeof WebSocket>) {
            super(...args);
            sockets.push(String(args[0]));
          }
        },
      });
      return { kind, first, client, seqs: [], sockets };
    });
    for (const s of subscribers) {
      void (async () => {
        try {
          for await (const change of s.client.subscribe(ALERT_CHANGED, { after: start }))
            s.seqs.push(change.alertChanged.seq);
        } catch (error) {
          s.error = error;
        }
      })();
    }

    // Ingest through both replicas at once, in batches, each event its own alert.
    const ingestA = createOpsGraphClient({ url: a.url, token: ingestToken });
    const ingestB = createOpsGraphClient({ url: b.url, token: ingestToken });
    let n = 0;
    const batch = (size: number) =>
      Array.from({ length: size }, () => {
        const i = n++;
        return {
          source: 'mr',
          node: nodes[i % nodes.length]!,
          type: 'cpu',
          severity: 'CRITICAL' as const,
          dedupKey: `mr-${i}`,
        };
      });
    const ingest = async (client: OpsGraphClient, batches: number, size: number) => {
      for (let i = 0; i < batches; i++)
        unwrap((await client.request(IngestEventsDocument, { events: batch(size) })).ingestEvents);
    };
    await Promise.all([ingest(ingestA, 20, 25), ingest(ingestB, 20, 25)]);
    expect(n).toBe(1000);
    const ingested = Date.now();

    /** What each kind may see, from the table; resolves once every subscriber has all of it. */
    const settle = async (what: string) => {
      const changes = await alertChangesAfter(og, start);
      const expected: Record<Kind, number[]> = {
        all: changes.map((c) => c.seq),
        shop: changes.filter((c) => c.ciId !== null && shopCis.has(c.ciId)).map((c) => c.seq),
      };
      await waitFor(
        what,
        () => {
          const failed = subscribers.find((s) => s.error);
          if (failed) throw failed.error;
          return subscribers.every((s) => s.seqs.length >= expected[s.kind].length);
        },
        40_000,
      );
      return expected;
    };

    const phase1 = await settle('every subscriber to receive the first 1,000 events');
    expect(phase1.all.length).toBeGreaterThanOrEqual(1000); // one OPENED each, and any grouping
    expect(phase1.shop.length).toBeGreaterThanOrEqual(300); // 5 of the 15 nodes are the shop's
    expect(phase1.shop.length).toBeLessThan(phase1.all.length);
    for (const s of subscribers) expect(s.seqs).toEqual(phase1[s.kind]);
    const delivered = Date.now();

    // Replica A dies (SIGKILL: no goodbye to its sockets) while B is ingesting: after 3 of 20 batches.
    let ingestedAtKill = 0;
    let killed: Promise<void> | undefined;
    for (let i = 0; i < 20; i++) {
      if (i === 3) {
        ingestedAtKill = n;
        killed = a.kill();
      }
      await ingest(ingestB, 1, 10);
    }
    await killed;
    expect(ingestedAtKill).toBe(1030);
    expect(n).toBe(1200);
    const phase2 = await settle('every subscriber to resume on replica B');
    expect(phase2.all.length).toBeGreaterThanOrEqual(1200);
    for (const s of subscribers) expect(s.seqs).toEqual(phase2[s.kind]);

    // A's subscribers did move to B; B's never left it.
    for (const s of subscribers.filter((s) => s.first === 'A')) expect(s.sockets).toEqual([wsA, wsB]);
    for (const s of subscribers.filter((s) => s.first === 'B')) expect(s.sockets).toEqual([wsB]);

    await Promise.all([...subscribers.map((s) => s.client.close()), ingestA.close(), ingestB.close()]);
    const secs = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`;
    console.log(
      `multi-replica acceptance: ingest ${secs(started, ingested)}, delivery ${secs(ingested, delivered)}, kill and resume ${secs(delivered, Date.now())}`,
    );
  });
});
