import type { OpsGraph } from '@opsgraph/core';
import type { Plugin } from 'graphql-yoga';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { GraphQLContext } from './context.js';

/** Distinct operation names kept as labels; later ones count as `other` (names are client-chosen). */
const MAX_OPERATION_NAMES = 200;

/**
 * OpsGraph's own metrics in Prometheus' format (prom-client), one registry per server: GraphQL
 * operation durations by type and name, active subscriptions (HTTP SSE and WebSocket alike), WebSocket
 * connections, events ingested through the server, the database pool, scheduler sweeps, and Node's
 * process metrics.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #names = new Set<string>();
  readonly #durations = new Histogram({
    name: 'opsgraph_graphql_operation_duration_seconds',
    help: 'Time to execute a GraphQL query or mutation (parse and validation excluded), by type and operation name.',
    labelNames: ['type', 'operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly #subscriptions = new Gauge({
    name: 'opsgraph_graphql_active_subscriptions',
    help: 'GraphQL subscriptions open now (over SSE and WebSocket).',
    registers: [this.registry],
  });
  readonly #sockets = new Gauge({
    name: 'opsgraph_websocket_connections',
    help: 'WebSocket connections open now.',
    registers: [this.registry],
  });
  readonly #ingested = new Counter({
    name: 'opsgraph_events_ingested_total',
    help: 'Monitoring events accepted through this server, by entry point (alertmanager, pagerduty, events, graphql).',
    labelNames: ['via'] as const,
    registers: [this.registry],
  });
  readonly #sweeps = new Counter({
    name: 'opsgraph_sweep_runs_total',
    help: 'Scheduler sweep rounds in this process, by sweep and outcome (ran, locked, not-due, failed).',
    labelNames: ['sweep', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #unsubscribe: () => void;

  constructor(og: OpsGraph) {
    collectDefaultMetrics({ register: this.registry, prefix: 'opsgraph_' });
    const pool = (field: 'max' | 'total' | 'idle' | 'waiting', help: string) =>
      new Gauge({
        name: `opsgraph_db_pool_${field === 'total' ? 'connections' : field}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(og.poolStats()[field]);
        },
      });
    pool('max', 'Most database connections the pool opens (1 for the embedded database).');
    pool('total', 'Database connections open now.');
    pool('idle', 'Database connections open and not in use.');
    pool('waiting', 'Callers waiting for a database connection: above zero for long, the pool is too small.');
    this.#unsubscribe = og.scheduler.onReport((report) =>
      this.#sweeps.inc({ sweep: report.name, outcome: report.outcome }),
    );
  }

  /** Events accepted through an entry point. */
  ingested(via: 'alertmanager' | 'pagerduty' | 'events' | 'graphql', count: number): void {
    if (count > 0) this.#ingested.inc({ via }, count);
  }

  socketOpened(): void {
    this.#sockets.inc();
  }

  socketClosed(): void {
    this.#sockets.dec();
  }

  /** The Envelop plugin timing executions and counting open subscriptions, on HTTP, SSE and WebSocket. */
  plugin(): Plugin<GraphQLContext> {
    return {
      onExecute: ({ args }) => {
        const started = performance.now();
        const { type, name } = chosenOperation(args.document, args.operationName);
        const operation = this.#label(name);
        return {
          onExecuteDone: ({ result }) => {
            const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
            this.#durations.observe(
              { type, operation, outcome: failed ? 'error' : 'ok' },
              (performance.now() - started) / 1000,
            );
          },
        };
      },
      onSubscribe: () => ({
        onSubscribeResult: ({ result }) => {
          // An error result (refused, forbidden) is not an open subscription.
          if (!(Symbol.asyncIterator in (result as object))) return;
          this.#subscriptions.inc();
          return { onEnd: () => this.#subscriptions.dec() };
        },
      }),
    };
  }

  /** What `/metrics` answers. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.#unsubscribe();
  }

  #label(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (this.#names.has(name)) return name;
    if (this.#names.size >= MAX_OPERATION_NAMES) return 'other';
    this.#names.add(name);
    return name;
  }
}

/** The operation a request runs: the one named, else the document's only one (clients often send no name). */
function chosenOperation(
  document: { definitions: readonly { kind: string; operation?: string; name?: { value: string } }[] },
  operationName: string | null | undefined,
): { type: string; name: string | undefined } {
  const operations = document.definitions.filter((d) => d.kind === 'OperationDefinition');
  const chosen = operationName ? operations.find((d) => d.name?.value === operationName) : operations[0];
  return { type: chosen?.operation ?? 'unknown', name: operationName ?? chosen?.name?.value };
}
