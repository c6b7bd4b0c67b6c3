import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Actor, Logger, OpsGraph } from '@opsgraph/core';
import {
  type ExecutionArgs,
  type FormattedExecutionResult,
  GraphQLError,
  type GraphQLFormattedError,
  getOperationAST,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { type Authenticate, isInvalidCredentials, resolveActor, toFetchRequest } from './auth.js';
import type { GraphQLContext } from './context.js';
import { LIMIT_EXCEEDED } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import { actorRateLimitKey } from './rate-limit.js';

/** Limits of the WebSocket endpoint (`websocket` option of the server). */
export interface WebSocketLimits {
  /** Open sockets in total; one more is closed with 1013 (try again later). Default 1000. */
  readonly maxConnections?: number;
  /**
   * Open sockets per actor (a token or user by id, anonymous callers by network address); one more
   * is closed with 4429 after `connection_init`. Default 50.
   */
  readonly maxConnectionsPerActor?: number;
  /**
   * Subscriptions running at once on one socket; one more is refused with `LIMIT_EXCEEDED` for that
   * operation only (the socket and its other subscriptions carry on). Default 50.
   */
  readonly maxSubscriptionsPerSocket?: number;
  /** Largest message, in bytes; a bigger one closes the socket with 1009 (message too big). Default 64 KiB. */
  readonly maxPayload?: number;
}

export const DEFAULT_WEBSOCKET_LIMITS: Required<WebSocketLimits> = Object.freeze({
  maxConnections: 1000,
  maxConnectionsPerActor: 50,
  maxSubscriptionsPerSocket: 50,
  maxPayload: 64 * 1024,
});

/** Close codes the server uses besides graphql-ws's own (4403 bad credentials, 4500 …). */
export const WS_CLOSE = Object.freeze({
  /** Too many sockets open in total: try again later (clients retry). */
  serverBusy: 1013,
  /** Too many sockets for this actor (graphql-ws clients do not retry it). */
  tooManyConnections: 4429,
  /** A message over `maxPayload` (set by `ws`). */
  messageTooBig: 1009,
});

export function resolveWebSocketLimits(limits: WebSocketLimits = {}): Required<WebSocketLimits> {
  const resolved = { ...DEFAULT_WEBSOCKET_LIMITS };
  for (const key of Object.keys(DEFAULT_WEBSOCKET_LIMITS) as (keyof WebSocketLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TypeError(`websocket.${key} must be a positive integer, got ${String(value)}`);
    }
    resolved[key] = value;
  }
  return resolved;
}

/**
 * Whether a browser page at `origin` may open a socket: no Origin (not a browser), this server's own
 * origin (same host and port as the request's Host), or one of the CORS allow-list. Browsers do not
 * apply CORS to WebSockets, so without this any site could open one with its visitors' cookies or
 * network position.
 */
export function isAllowedOrigin(
  origin: string | undefined,
  host: string | undefined,
  corsOrigins: readonly string[],
): boolean {
  if (origin === undefined) return true;
  if (corsOrigins.includes(origin)) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !!host && url.host === host;
  } catch {
    return false; // "null" (a sandboxed page or a file) and anything unparseable
  }
}

type SocketExtra = {
  actor?: Actor;
  /** Ids of the subscriptions this socket runs (pruned lazily against graphql-ws's own record). */
  subscriptionIds?: Set<string>;
};

/**
 * graphql-ws on the HTTP server's /graphql. The upgrade is checked first (path, `Origin`, sockets in
 * total), before graphql-ws sees the socket. The socket authenticates once at `connection_init`
 * (where sockets per actor are counted); each subscription gets its own context. Parsing and
 * validation go through `yoga.getEnveloped()`, so the envelop plugins' protections (token limit,
 * depth/cost/alias/directive limits, introspection off outside development, no field suggestions,
 * the mutation rate limit) apply here as over HTTP, each once. A refused operation answers with
 * errors for that operation only instead of closing the socket and every other subscription on it.
 */
export function attachWebSocket(options: {
  httpServer: Server;
  path: string;
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  og: OpsGraph;
  authenticate: Authenticate;
  anonymous: Actor;
  corsOrigins: readonly string[];
  limits: Required<WebSocketLimits>;
  logger: Logger;
  metrics?: ServerMetrics | undefined;
}) {
  const { httpServer, path, yoga, og, authenticate, anonymous, corsOrigins, limits, logger, metrics } =
    options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayload });
  const perActor = new Map<string, number>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== path) {
      // Someone else's upgrade handler may want it; with none, say where the endpoint is.
      if (httpServer.listenerCount('upgrade') === 1) {
        refuseUpgrade(socket, 404, 'NOT_FOUND', `No WebSocket endpoint at ${pathname}: connect to ${path}`);
      }
      return;
    }
    const origin = req.headers.origin;
    if (!isAllowedOrigin(origin, req.headers.host, corsOrigins)) {
      logger.info({ origin, address: req.socket.remoteAddress }, 'WebSocket refused: origin not allowed');
      refuseUpgrade(
        socket,
        403,
        'ORIGIN_NOT_ALLOWED',
        `WebSocket connections from the origin ${origin} are not allowed: connect from this server's own origin or one of its corsOrigins.`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // `clients` already holds this one.
      if (wss.clients.size > limits.maxConnections) {
        logger.warn({ max: limits.maxConnections }, 'WebSocket refused: maxConnections reached');
        ws.close(
          WS_CLOSE.serverBusy,
          closeReason(`Server busy: ${limits.maxConnections} WebSocket connections open; try again later`),
        );
        return;
      }
      // A socket's 'error' is always the client's protocol fault (a message over maxPayload, a bad
      // frame), and ws has already closed it with the right code (1009, 1002 …). graphql-ws would
      // print each to the console as an internal error: log it here instead, once.
      const emit = ws.emit.bind(ws);
      ws.emit = ((event: string | symbol, ...args: unknown[]) => {
        if (event !== 'error') return emit(event, ...args);
        const error = args[0] as Error & { code?: string };
        logger.info({ code: error.code, message: error.message }, 'WebSocket closed: client protocol error');
        return true;
      }) as typeof ws.emit;
      if (metrics) {
        metrics.socketOpened();
        ws.once('close', () => metrics.socketClosed());
      }
      wss.emit('connection', ws, req);
    });
  };
  httpServer.on('upgrade', onUpgrade);

  const server = useServer<Record<string, unknown>, SocketExtra>(
    {
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const credential =
          typeof params.authorization === 'string'
            ? params.authorization
            : typeof params.token === 'string'
              ? `Bearer ${params.token}`
              : undefined;
        let actor: Actor;
        try {
          const request = toFetchRequest(ctx.extra.request, credential ? { authorization: credential } : {});
          actor = await resolveActor(authenticate, request, og, anonymous);
        } catch (error) {
          if (isInvalidCredentials(error)) return false; // closes 4403 Forbidden
          logger.warn({ err: error }, 'WebSocket authentication failed; the client will retry');
          // A temporary failure (e.g. the database): 1013 "try again later" lets the client retry.
          ctx.extra.socket.close(1013, 'Try again later');
          return false;
        }
        const key = actorRateLimitKey(actor, ctx.extra.request.socket.remoteAddress);
        const open = perActor.get(key) ?? 0;
        if (open >= limits.maxConnectionsPerActor) {
          logger.info(
            { actor: key, max: limits.maxConnectionsPerActor },
            'WebSocket refused: too many for actor',
          );
          ctx.extra.socket.close(
            WS_CLOSE.tooManyConnections,
            closeReason(
              `Too many WebSocket connections for this caller (limit ${limits.maxConnectionsPerActor}): close one, or share one`,
            ),
          );
          return false;
        }
        perActor.set(key, open + 1);
        ctx.extra.socket.once('close', () => {
          const left = (perActor.get(key) ?? 1) - 1;
          if (left > 0) perActor.set(key, left);
          else perActor.delete(key);
        });
        ctx.extra.actor = actor;
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        // The socket signed in once; each operation runs as its actor is now. A revoked token or a
        // deactivated user closes the socket (4403, which clients do not retry), so no new operation
        // runs on stale credentials; changed grants apply from this operation on.
        let actor: Actor | null | undefined;
        try {
          actor = ctx.extra.actor && (await og.access.currentActor(ctx.extra.actor));
        } catch (error) {
          logger.warn({ err: error }, 'WebSocket operation refused: could not check its credentials');
          return [new GraphQLError('Could not check your credentials just now: try again')];
        }
        if (ctx.extra.actor && !actor) {
          ctx.extra.socket.close(
            CloseCode.Forbidden,
            closeReason('Forbidden: your credentials were revoked or expired; sign in again'),
          );
          return [new GraphQLError('Your credentials were revoked or have expired: sign in again')];
        }
        // The upgrade was a GET; Yoga refuses mutations in a GET (a link must not write). A socket is
        // not a link (its Origin was checked), so its operations look like POSTs.
        const upgrade = toFetchRequest(ctx.extra.request);
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          request: new Request(upgrade.url, { method: 'POST', headers: upgrade.headers }),
          actor: actor ?? undefined,
          clientAddress: ctx.extra.request.socket.remoteAddress,
          params: payload,
        });
        let document: ExecutionArgs['document'];
        try {
          document = parse(payload.query);
          // No rules here: Yoga's engine plugin adds graphql's specified rules and ours add theirs.
          // Passing specifiedRules as well would run them twice and report every error twice.
          const errors = validate(schema, document);
          if (errors.length > 0) return errors;
        } catch (error) {
          // A throwing parser or rule must refuse this operation only: a throw here closes the socket.
          if (error instanceof GraphQLError) return [error];
          logger.error({ err: error }, 'WebSocket operation could not be validated');
          return [new GraphQLError('The operation could not be validated')];
        }
        if (getOperationAST(document, payload.operationName)?.operation === 'subscription') {
          ctx.extra.subscriptionIds ??= new Set();
          const running = ctx.extra.subscriptionIds;
          for (const other of running) if (!(other in ctx.subscriptions)) running.delete(other);
          if (running.size >= limits.maxSubscriptionsPerSocket) {
            return [
              new GraphQLError(
                `Too many subscriptions on this socket: ${running.size} are running and the limit is ${limits.maxSubscriptionsPerSocket} (maxSubscriptionsPerSocket). Complete one first, or open another socket.`,
                {
                  extensions: {
                    code: LIMIT_EXCEEDED,
                    limit: 'maxSubscriptionsPerSocket',
                    max: limits.maxSubscriptionsPerSocket,
                  },
                },
              ),
            ];
          }
          running.add(id);
        }
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        return args;
      },
      execute: (args: ExecutionArgs) =>
        (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args: ExecutionArgs) =>
        (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      // `extensions.http` (status and headers for an HTTP answer, e.g. a rate limit's Retry-After)
      // means nothing on a socket; Yoga strips it over HTTP, so strip it here too.
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors?.some((e) => e.extensions?.http)) return;
        return { ...result, errors: result.errors.map(withoutHttp) } as FormattedExecutionResult;
      },
      onError: (_ctx, _id, _payload, errors) => {
        logger.debug({ errors: errors.map((e) => e.message) }, 'WebSocket operation failed');
        if (errors.some((e) => e.extensions?.http)) return errors.map(withoutHttp);
      },
    },
    wss,
  );

  return {
    wss,
    dispose: async () => {
      httpServer.off('upgrade', onUpgrade);
      await server.dispose();
    },
  };
}

function withoutHttp(error: GraphQLError): GraphQLFormattedError {
  const formatted = error.toJSON();
  if (!formatted.extensions?.http) return formatted;
  const { http: _http, ...extensions } = formatted.extensions;
  return { ...formatted, extensions };
}

/** A WebSocket close reason may hold at most 123 bytes. */
function closeReason(reason: string): string {
  return Buffer.byteLength(reason) <= 123 ? reason : `${Buffer.from(reason).subarray(0, 120).toString()}...`;
}

/** Answers an upgrade with an HTTP error and a JSON body saying why, then closes the connection. */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export { CloseCode };
