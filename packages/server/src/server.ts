import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Actor,
  can,
  type LiveServiceHealthOptions,
  type OpsGraph,
  permissions,
  type SchedulerRunner,
  type ServiceHealthRunner,
  type StartSchedulerOptions,
} from '@opsgraph/core';
import type { GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import {
  type Authenticate,
  anonymousWith,
  bearerTokenAuth,
  isInvalidCredentials,
  resolveActor,
  toFetchRequest,
} from './auth.js';
import type { GraphQLContext } from './context.js';
import { createMaskError } from './errors.js';
import { useFreshCachesPerEvent } from './fresh-context.js';
import { CSRF_HEADER, MAX_REQUEST_BODY_SIZE, useHttpProtections } from './http-protections.js';
import { type OperationLimits, resolveLimits, useOperationProtections } from './limits.js';
import { ServerMetrics } from './metrics.js';
import { type OperationQueries, useQueryCount } from './query-count.js';
import {
  createRateLimiter,
  DEFAULT_MUTATIONS_PER_MINUTE,
  type RateLimiter,
  type RateLimitOptions,
  useMutationRateLimit,
} from './rate-limit.js';
import { buildSchema } from './schema/index.js';
import { createWebhookHandler, type WebhookOptions } from './webhooks.js';
import { attachWebSocket, resolveWebSocketLimits, type WebSocketLimits } from './ws.js';

export interface OpsGraphServerOptions {
  readonly opsgraph: OpsGraph;
  /** Maps a request to an actor; default: `Authorization: Bearer <API token>`. */
  readonly authenticate?: Authenticate;
  /** Development conveniences: GraphiQL and introspection. Off by default. */
  readonly development?: boolean;
  /** Headers GraphiQL starts with (development only), e.g. a demo token. */
  readonly graphiqlHeaders?: Record<string, string>;
  /** Origins allowed by CORS, and to open a WebSocket; default none (same-origin only). */
  readonly corsOrigins?: readonly string[];
  /** The HTTP path of the API (also the WebSocket path). Default `/graphql`. */
  readonly path?: string;
  /**
   * Limits on each operation (HTTP, SSE and WebSocket): depth 12, cost 5000, aliases 15, tokens 1000,
   * directives 50 unless set here. An operation over a limit is refused with `LIMIT_EXCEEDED`.
   */
  readonly limits?: OperationLimits;
  /**
   * WebSocket limits: `maxConnections` 1000 in total (one more is closed with 1013, try again later),
   * `maxConnectionsPerActor` 50 (4429), `maxSubscriptionsPerSocket` 50 (that subscription is refused
   * with `LIMIT_EXCEEDED`), `maxPayload` 64 KiB per message (1009).
   */
  readonly websocket?: WebSocketLimits;
  /**
   * Mutations per actor (token or user by id, anonymous callers by address) and minute, over HTTP and
   * WebSocket together; default 600. Over it a mutation is refused with `RATE_LIMITED` and
   * `retryAfter` seconds (HTTP 429 with `Retry-After`). `false` turns the limit off.
   */
  readonly rateLimit?: RateLimitOptions | false;
  /**
   * Permissions of callers that send no credentials (e.g. `['cmdb:read']` for a read-only public
   * view). Default none: an anonymous caller can ask only `me`.
   */
  readonly anonymousPermissions?: readonly string[];
  /**
   * Called after each query or mutation with the SQL statements its execution ran (e.g. for metrics,
   * or a test that a page costs a constant number of queries). Counted too when the log level is debug.
   */
  readonly onOperationQueries?: (report: OperationQueries) => void;
  /**
   * The listening server's runner of `og.scheduler`: every sweep (expired grants, SLA timers,
   * maintenance windows, notification retries, plugins' sweeps) when due, by whichever replica holds
   * its advisory lock. `tickMs` (default 5,000) is how often it looks; `every` sets a sweep's cadence in
   * ms (defaults 30,000) or `false` to leave it to the app (`og.scheduler.run()`). `false`: no runner.
   */
  readonly scheduler?: StartSchedulerOptions | false;
  /**
   * The listening server refreshes business-service health on this process's commits
   * (`og.serviceHealth.start()`), so `serviceHealthChanged` follows an ingested alert at once; the
   * scheduler's `serviceHealth` sweep catches other replicas' commits. `false`: sweep only.
   */
  readonly serviceHealth?: LiveServiceHealthOptions | false;
  /**
   * `GET /metrics` in Prometheus' format (operation durations, open subscriptions and sockets, events
   * ingested, the database pool, sweeps, the process). It needs a caller with `operations:read` (give
   * Prometheus a token: `authorization: { credentials: … }` in its scrape config) unless `public: true`
   * (e.g. behind a network policy). `false`: no endpoint and nothing measured.
   */
  readonly metrics?: { readonly public?: boolean } | false;
  /**
   * The event webhooks (`POST /webhooks/alertmanager`, `/webhooks/pagerduty`, `/webhooks/events`, and
   * `/webhooks/job-runs` for job runs):
   * `requestsPerMinute` per actor (default 1200, `false`: no limit), `maxBodySize` (default 1 MB).
   * `false` turns the endpoints off (they answer 404 like any unknown path).
   */
  readonly webhooks?: WebhookOptions | false;
}

export interface OpsGraphServer {
  readonly yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  readonly schema: GraphQLSchema;
  /** The Node HTTP server carrying /graphql (HTTP, SSE, WebSocket), /webhooks/*, /healthz and /readyz. */
  readonly httpServer: Server;
  /** Listens (default 127.0.0.1:4000); resolves with the URL of the API. */
  listen(port?: number, host?: string): Promise<{ url: string; port: number }>;
  /**
   * The limiter the mutations spend (undefined when `rateLimit: false`). See `createRateLimiter` for
   * a separate budget, e.g. for webhook endpoints.
   */
  readonly mutationLimiter: RateLimiter | undefined;
  /** The webhooks' own limiter (undefined when webhooks or their limit are off). */
  readonly webhookLimiter: RateLimiter | undefined;
  /** Stops accepting, ends subscriptions and sockets. Does not close the OpsGraph. */
  close(): Promise<void>;
}

export function createOpsGraphServer(options: OpsGraphServerOptions): OpsGraphServer {
  const og = options.opsgraph;
  const logger = og.logger.child({ component: 'server' });
  const authenticate = options.authenticate ?? bearerTokenAuth;
  const development = options.development ?? false;
  const path = options.path ?? '/graphql';
  const limits = resolveLimits(options.limits);
  const websocketLimits = resolveWebSocketLimits(options.websocket);
  const anonymous = anonymousWith(options.anonymousPermissions);
  const corsOrigins = options.corsOrigins ?? [];
  const mutationLimiter =
    options.rateLimit === false
      ? undefined
      : createRateLimiter({
          points: options.rateLimit?.mutationsPerMinute ?? DEFAULT_MUTATIONS_PER_MINUTE,
          durationSeconds: 60,
        });
  const metrics = options.metrics === false ? undefined : new ServerMetrics(og);
  const webhooks =
    options.webhooks === false
      ? undefined
      : createWebhookHandler(
          { og, authenticate, anonymous, onIngested: (source, count) => metrics?.ingested(source, count) },
          options.webhooks,
        );
  const schema = buildSchema(og.pluginList);

  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: path,
    logging: false,
    multipart: false,
    maxRequestBodySize: MAX_REQUEST_BODY_SIZE,
    batching: false,
    landingPage: false,
    graphiql: development
      ? {
          title: 'OpsGraph',
          headers: JSON.stringify(options.graphiqlHeaders ?? {}),
          // GraphiQL may GET (and subscribe over SSE): its requests carry the CSRF header.
          additionalHeaders: { [CSRF_HEADER]: 'graphiql' },
        }
      : false,
    cors: (request) => {
      const origin = request.headers.get('origin');
      return origin && corsOrigins.includes(origin) ? { origin, credentials: true } : { origin: [] };
    },
    maskedErrors: { isDev: false, maskError: createMaskError(logger) },
    context: async ({
      request,
      actor,
      clientAddress,
    }: {
      request: Request;
      actor?: Actor;
      clientAddress?: string;
    }) => ({
      og,
      // A socket authenticates once at connection_init and passes its actor in.
      actor: actor ?? (await resolveActor(authenticate, request, og, anonymous)),
      requestId: request.headers.get('x-request-id') ?? crypto.randomUUID(),
      clientAddress,
      metrics,
    }),
    // Envelop hooks: they run for HTTP, SSE and the WebSocket's onSubscribe alike (but for the
    // HTTP-only request hooks of useHttpProtections).
    plugins: [
      useHttpProtections({ maxRequestBodySize: MAX_REQUEST_BODY_SIZE }),
      useOperationProtections({ limits, development }),
      ...(mutationLimiter ? [useMutationRateLimit(mutationLimiter)] : []),
      useFreshCachesPerEvent(),
      ...(metrics ? [metrics.plugin()] : []),
      // Only when someone will read the count: measuring puts each execution in an async context.
      ...(options.onOperationQueries || logger.isLevelEnabled('debug')
        ? [useQueryCount(og, logger, options.onOperationQueries)]
        : []),
    ],
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url === '/readyz') {
      try {
        await og.ping();
        const pending = (await og.migrationStatus()).filter((s) => s.pending.length > 0);
        if (pending.length > 0) {
          return sendJson(res, 503, {
            status: 'migrations pending',
            pending,
            hint: 'run `opsgraph migrate`',
          });
        }
        return sendJson(res, 200, { status: 'ready' });
      } catch (error) {
        logger.warn({ err: error }, 'readiness check failed');
        return sendJson(res, 503, { status: 'database unavailable' });
      }
    }
    if (metrics && url.split('?')[0] === '/metrics') return serveMetrics(req, res);
    if (webhooks) {
      const pathname = url.split('?')[0]!;
      // Webhooks authenticate themselves: a PagerDuty sender's token is in the body.
      if (webhooks.matches(pathname)) return webhooks.handle(req, res, pathname);
    }
    let actor: Actor;
    try {
      actor = await resolveActor(authenticate, toFetchRequest(req), og, anonymous);
    } catch (error) {
      if (isInvalidCredentials(error)) return sendJson(res, 401, { errors: [{ message: error.message }] });
      throw error;
    }
    // handleNodeRequestAndResponse only builds the Response; the adapter call also writes it to `res`.
    await yoga(req, res, { actor, clientAddress: req.socket.remoteAddress });
  };

  const serveMetrics = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendJson(res, 405, {
        errors: [{ message: `${req.method} is not accepted here: GET /metrics` }],
      });
    if (!(options.metrics && options.metrics.public === true)) {
      let actor: Actor;
      try {
        actor = await resolveActor(authenticate, toFetchRequest(req), og, anonymous);
      } catch (error) {
        if (isInvalidCredentials(error)) return sendJson(res, 401, { errors: [{ message: error.message }] });
        throw error;
      }
      if (!can(actor, permissions.operationsRead)) {
        const status = actor.kind === 'anonymous' ? 401 : 403;
        return sendJson(res, status, {
          errors: [
            {
              message: `/metrics needs operations:read: give the scraper a token with it${status === 401 ? ' (Authorization: Bearer …)' : ''}`,
            },
          ],
        });
      }
    }
    const { contentType, body } = await metrics!.render();
    res.writeHead(200, { 'content-type': contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const httpServer = createServer((req, res) => {
    handle(req, res).catch((error) => {
      // Masked like a GraphQL error: the client gets an id to quote, the log has the real error.
      const requestId = crypto.randomUUID();
      logger.error({ err: error, requestId }, 'request failed');
      if (!res.headersSent) {
        sendJson(res, 500, {
          errors: [
            {
              message: `Internal server error (request id ${requestId})`,
              extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
            },
          ],
        });
      } else res.end();
    });
  });

  const ws = attachWebSocket({
    httpServer,
    path,
    yoga,
    og,
    authenticate,
    anonymous,
    corsOrigins,
    limits: websocketLimits,
    logger,
    metrics,
  });

  let runner: SchedulerRunner | undefined;
  let health: ServiceHealthRunner | undefined;
  const schedulerOptions = options.scheduler ?? {};
  // Checked now, so a bad cadence stops start-up rather than the first listen.
  if (schedulerOptions) og.scheduler.checkStartOptions(schedulerOptions);

  return {
    yoga,
    schema,
    httpServer,
    mutationLimiter,
    webhookLimiter: webhooks?.limiter,
    listen: (port = 4000, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          if (schedulerOptions !== false && !runner) runner = og.scheduler.start(schedulerOptions);
          if (options.serviceHealth !== false && !health)
            health = og.serviceHealth.start(options.serviceHealth);
          const address = httpServer.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ url: `http://${shown}:${address.port}${path}`, port: address.port });
        });
      }),
    close: async () => {
      await runner?.stop();
      runner = undefined;
      await health?.stop();
      health = undefined;
      await ws.dispose();
      metrics?.close();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
