// Live fan-out over WebSocket: 1,000 graphql-ws subscribers on loopback, each following alert changes,
// while events are published at a steady pace and then in one burst. The subject is the OpsGraph server
// (events ingested through /webhooks/events, delivered by `alertChanged` with per-event authorization);
// the baseline is bare graphql-ws with an in-process pub/sub publishing the same messages. Both run in
// their own process; the subscribers are clients in this one, the same code for both sides.
import WebSocket from 'ws';
import type { MeasuredScenario, MeasureOptions } from '../harness.js';
import { startTarget } from '../harness.js';

const SUBSCRIPTION = 'subscription { alertChanged { seq kind alert { id dedupKey severity message } } }';
/** Where a `next` message carries the alert's message text (no quotes or escapes in ours). */
const MESSAGE_FIELD = '"message":"';
/** Subscribers that connect at once. */
const CONNECT_WAVE = 50;
/** The goal: p99 delivery latency under this, in milliseconds. */
const GOAL_P99_MS = 200;

interface Plan {
  readonly subscribers: number;
  /** Events published one by one, `paceMs` apart: each one's latency to every subscriber is a sample. */
  readonly paced: number;
  readonly paceMs: number;
  /** Events published in one request: delivered messages per second while they drain. */
  readonly burst: number;
}

/**
 * Latency is measured below saturation (5 events/s is 5,000 messages/s to 1,000 subscribers, the
 * subscribers' own process sharing the machine); what saturation delivers is the burst's figure.
 * `BENCH_EVENTS_PER_SECOND` paces otherwise (e.g. 10 to see queueing once the server falls behind).
 */
const eventsPerSecond = Number(process.env.BENCH_EVENTS_PER_SECOND ?? 5);

const plans: Record<'full' | 'quick', Plan> = {
  full: { subscribers: 1_000, paced: 100, paceMs: 1000 / eventsPerSecond, burst: 100 },
  quick: { subscribers: 20, paced: 5, paceMs: 50, burst: 10 },
};

export interface SideResult {
  readonly label: string;
  readonly subscribers: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly samples: number;
  /** Messages delivered per second over the paced phase (subscribers × events ÷ its duration). */
  readonly pacedPerSecond: number;
  /** Messages delivered per second draining the burst. */
  readonly burstPerSecond: number;
}

interface Side {
  readonly label: string;
  readonly target: string;
  /** Publishes events (each `{ dedupKey, severity, message }`) in one request. */
  publish(url: string, token: string | undefined, events: readonly BenchEvent[]): Promise<void>;
}

interface BenchEvent {
  readonly dedupKey: string;
  readonly severity: string;
  readonly message: string;
}

const sides: readonly Side[] = [
  {
    label: 'bare graphql-ws',
    target: 'ws-bare',
    publish: (url, _token, events) => post(new URL('/publish', url), undefined, events),
  },
  {
    label: 'OpsGraph alertChanged',
    target: 'opsgraph-subscribers',
    publish: (url, token, events) =>
      post(
        new URL('/webhooks/events', url),
        token,
        events.map((e) => ({ source: 'bench', node: 'bench-node', type: e.dedupKey, ...e })),
      ),
  },
];

async function post(url: URL, token: string | undefined, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (response.status >= 300)
    throw new Error(`POST ${url.pathname}: HTTP ${response.status} ${await response.text()}`);
}

/**
 * One subscriber speaking graphql-ws's protocol (graphql-transport-ws) on a bare socket, as light as a
 * client can be so the figures are the server's: it reads each message's text by a string search
 * rather than parsing the JSON. Any other message than `next` (an error, a completion, a close) fails it.
 */
function openSubscriber(
  url: string,
  authorization: string | undefined,
  on: { subscribed(): void; next(message: string): void; failed(reason: string): void },
): WebSocket {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  let live = true;
  const fail = (reason: string) => {
    if (!live) return;
    live = false;
    on.failed(reason);
  };
  socket.on('open', () =>
    socket.send(JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : {} })),
  );
  socket.on('message', (data) => {
    const text = data.toString();
    const at = text.indexOf(MESSAGE_FIELD);
    if (at >= 0 && text.startsWith('{"id":"1","type":"next"')) {
      const from = at + MESSAGE_FIELD.length;
      on.next(text.slice(from, text.indexOf('"', from)));
    } else if (text.includes('"type":"connection_ack"')) {
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } }));
      on.subscribed();
    } else if (text.includes('"type":"ping"')) socket.send('{"type":"pong"}');
    else fail(text.slice(0, 300));
  });
  socket.on('close', (code, reason) => fail(`closed ${code} ${reason.toString()}`));
  socket.on('error', (error) => fail(error.message));
  return socket;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measureSide(side: Side, plan: Plan): Promise<SideResult> {
  const target = await startTarget(side.target);
  const { url, token, subscriberTokens } = target.info;
  const sockets: WebSocket[] = [];
  try {
    // When each message was published, by its message text; and per subscriber, what it received.
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const received = new Array<number>(plan.subscribers).fill(0);
    const measured = new Array<number>(plan.subscribers).fill(0);
    let deliveries = 0;
    let lastDelivery = 0;
    const wsUrl = url.replace(/^http/, 'ws');
    const failures: string[] = [];
    // Connected in waves, as dashboards open over time: a thousand handshakes in the same instant
    // would measure the connection storm (and the init timeout), not the fan-out.
    let connecting: Promise<void>[] = [];
    for (let i = 0; i < plan.subscribers; i++) {
      if (connecting.length === CONNECT_WAVE) {
        await Promise.all(connecting);
        connecting = [];
      }
      let connected!: () => void;
      connecting.push(
        new Promise<void>((resolve) => {
          connected = resolve;
        }),
      );
      sockets.push(
        openSubscriber(
          wsUrl,
          subscriberTokens?.length ? `Bearer ${subscriberTokens[i % subscriberTokens.length]}` : undefined,
          {
            subscribed: () => connected(),
            next: (message) => {
              const now = performance.now();
              received[i]!++;
              if (message.startsWith('probe')) return;
              measured[i]!++;
              deliveries++;
              lastDelivery = now;
              const at = sentAt.get(message);
              if (at !== undefined) latencies.push(now - at);
            },
            failed: (reason) => {
              failures.push(`subscriber ${i}: ${reason}`);
              connected();
            },
          },
        ),
      );
    }
    await Promise.all(connecting);
    // Probes until every subscriber hears one: the subscriptions are live from then on.
    let probes = 0;
    const ready = performance.now();
    while (received.some((n) => n === 0)) {
      if (failures.length > 0)
        throw new Error(`${side.label}: ${failures.length} subscriber(s) failed, first ${failures[0]}`);
      if (performance.now() - ready > 120_000)
        throw new Error(`${side.label}: subscribers not all live after 120 s`);
      await side.publish(url, token, [
        { dedupKey: `probe-${probes}`, severity: 'info', message: `probe ${probes}` },
      ]);
      probes++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const deliveredBefore = deliveries;

    // Paced: one event every paceMs; every delivery is a latency sample.
    const pacedStart = performance.now();
    for (let k = 0; k < plan.paced; k++) {
      const message = `paced ${k}`;
      sentAt.set(message, performance.now());
      await side.publish(url, token, [{ dedupKey: `paced-${k}`, severity: 'critical', message }]);
      const next = pacedStart + (k + 1) * plan.paceMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
    await waitFor(() => deliveries - deliveredBefore >= plan.subscribers * plan.paced, 60_000);
    const pacedSeconds = (lastDelivery - pacedStart) / 1000;

    // Burst: every event in one request, drained by every subscriber.
    const burstBase = deliveries;
    const burstStart = performance.now();
    await side.publish(
      url,
      token,
      Array.from({ length: plan.burst }, (_, k) => ({
        dedupKey: `burst-${k}`,
        severity: 'major',
        message: `burst ${k}`,
      })),
    );
    await waitFor(() => deliveries - burstBase >= plan.subscribers * plan.burst, 120_000);
    const burstSeconds = (lastDelivery - burstStart) / 1000;

    await new Promise((resolve) => setTimeout(resolve, 100)); // anything extra would arrive now
    const wrong = measured.findIndex((n) => n !== plan.paced + plan.burst);
    if (wrong >= 0)
      throw new Error(
        `${side.label}: subscriber ${wrong} got ${measured[wrong]} messages, expected ${plan.paced + plan.burst}`,
      );
    const sorted = latencies.sort((a, b) => a - b);
    return {
      label: side.label,
      subscribers: plan.subscribers,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      samples: sorted.length,
      pacedPerSecond: (plan.subscribers * plan.paced) / pacedSeconds,
      burstPerSecond: (plan.subscribers * plan.burst) / burstSeconds,
    };
  } finally {
    for (const socket of sockets) socket.terminate();
    await target.stop();
  }
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > timeoutMs)
      throw new Error(`not all messages delivered after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export default {
  name: 'subscribers',
  description:
    'WebSocket fan-out: alert changes delivered to 1,000 graphql-ws subscribers (latency p50/p99, messages/s) vs bare graphql-ws',
  async measure({ quick, log }: MeasureOptions) {
    const plan = plans[quick ? 'quick' : 'full'];
    const results: SideResult[] = [];
    for (const side of sides) {
      log(
        `  ${side.label}: ${plan.subscribers} subscribers, ${plan.paced} events ${plan.paceMs} ms apart, then a burst of ${plan.burst}`,
      );
      results.push(await measureSide(side, plan));
    }
    const [baseline, subject] = results as [SideResult, SideResult];
    const lines = [
      `| side | subscribers | latency p50 / p99 / max ms (${fixed(1000 / plan.paceMs, 0)} events/s) | paced msgs/s | burst msgs/s |`,
      `| --- | ---: | ---: | ---: | ---: |`,
      ...results.map(
        (r) =>
          `| ${r.label} | ${r.subscribers} | ${fixed(r.p50)} / ${fixed(r.p99)} / ${fixed(r.max)} | ${fixed(r.pacedPerSecond, 0)} | ${fixed(r.burstPerSecond, 0)} |`,
      ),
      `ratio subject/baseline: p99 latency ${fixed(subject.p99 / baseline.p99, 2)} (lower is better), burst msgs/s ${fixed(subject.burstPerSecond / baseline.burstPerSecond, 2)}`,
      `goal p99 < ${GOAL_P99_MS} ms: ${subject.p99 < GOAL_P99_MS ? 'met' : 'not met'}${quick ? ' (--quick measures nothing)' : ''}`,
    ];
    return { lines, data: { baseline, subject, goalP99Ms: GOAL_P99_MS } };
  },
} satisfies MeasuredScenario;
