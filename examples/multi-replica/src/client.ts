// Subscribes through one replica and ingests through the other: PostgreSQL NOTIFY carries each event
// across, and the load-balanced client would move the subscription to B if A died.
//   OPSGRAPH_TOKEN=og_… npm run client -w @opsgraph/example-multi-replica -- <url of A> <url of B>
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import {
  AlertChangedDocument,
  createOpsGraphClient,
  IngestEventsDocument,
  StreamHeadDocument,
  unwrap,
} from '@opsgraph/client';

export interface DemoResult {
  /** Dedup keys in the order the subscriber on A received their OPENED changes. */
  readonly received: readonly string[];
  /** Dedup keys in the order they were ingested on B. */
  readonly ingested: readonly string[];
  /** The seq of each change received, in order. */
  readonly seqs: readonly number[];
}

export async function runDemo(options: {
  readonly urlA: string;
  readonly urlB: string;
  readonly token: string;
  readonly events?: number;
  readonly log?: (line: string) => void;
}): Promise<DemoResult> {
  const { urlA, urlB, token, events = 50, log = () => {} } = options;
  // The subscriber's first socket goes to A; were A to die, it would reconnect to B and resume.
  const subscriber = createOpsGraphClient({ endpoints: [{ url: urlA }, { url: urlB }], token });
  const ingester = createOpsGraphClient({ url: urlB, token });
  const source = `multi-replica-${randomUUID().slice(0, 8)}`;
  try {
    // Fix the start first: whenever the subscription reaches A, it replays from here.
    const { streamHead } = await subscriber.request(StreamHeadDocument);
    const stream = subscriber.subscribe(AlertChangedDocument, { after: streamHead, filter: { source } });

    const ingested: string[] = [];
    for (let i = 0; i < events; i += 10) {
      const batch = Array.from({ length: Math.min(10, events - i) }, (_, j) => ({
        source,
        node: `host-${i + j}`,
        type: 'disk',
        severity: 'CRITICAL' as const,
        dedupKey: `${source}-${i + j}`,
      }));
      unwrap((await ingester.request(IngestEventsDocument, { events: batch })).ingestEvents);
      ingested.push(...batch.map((e) => e.dedupKey));
    }
    log(`ingested ${ingested.length} events through ${urlB}`);

    const received: string[] = [];
    const seqs: number[] = [];
    for await (const { alertChanged } of stream) {
      if (alertChanged.kind !== 'OPENED') continue;
      received.push(alertChanged.alert.dedupKey);
      seqs.push(alertChanged.seq);
      if (received.length === ingested.length) break;
    }
    log(`received ${received.length} alert changes through ${urlA}, in order`);
    return { received, ingested, seqs };
  } finally {
    await subscriber.close();
    await ingester.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [urlA, urlB] = process.argv.slice(2);
  const token = process.env.OPSGRAPH_TOKEN;
  if (!urlA || !urlB || !token) {
    console.error('usage: OPSGRAPH_TOKEN=og_… client.ts <url of replica A> <url of replica B>');
    process.exit(1);
  }
  await runDemo({ urlA, urlB, token, log: (line) => console.log(line) });
}
