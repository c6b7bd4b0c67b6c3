import type { Actor, Logger, OpsGraph } from '@opsgraph/core';
import { type ExecutionArgs, GraphQLError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { WebSocketServer } from 'ws';
import { type Authenticate, isInvalidCredentials, resolveActor } from './auth.js';
import type { GraphQLContext } from './context.js';
import { toFetchRequest } from './server.js';

type SocketExtra = {
  actor?: Actor;
};

/**
 * graphql-ws on the HTTP server's /graphql. The socket authenticates once at `connection_init`;
 * each subscription gets its own context. Parsing and validation go through `yoga.getEnveloped()`, so
 * the envelop plugins' protections (token limit, depth/cost/alias/directive limits, introspection off
 * outside development, no field suggestions) apply here as over HTTP, each once. A refused operation
 * answers with errors for that operation only instead of closing the socket and every other
 * subscription on it.
 */
export function attachWebSocket(options: {
  wss: WebSocketServer;
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  og: OpsGraph;
  authenticate: Authenticate;
  logger: Logger;
}) {
  const { wss, yoga, og, authenticate, logger } = options;

  return useServer<Record<string, unknown>, SocketExtra>(
    {
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const credential =
          typeof params.authorization === 'string'
            ? params.authorization
            : typeof params.token === 'string'
              ? `Bearer ${params.token}`
              : undefined;
        try {
          const request = toFetchRequest(ctx.extra.request, credential ? { authorization: credential } : {});
          ctx.extra.actor = await resolveActor(authenticate, request, og);
          return true;
        } catch (error) {
          if (isInvalidCredentials(error)) return false; // closes 4403 Forbidden
          logger.warn({ err: error }, 'WebSocket authentication failed; the client will retry');
          // A temporary failure (e.g. the database): 1013 "try again later" lets the client retry.
          ctx.extra.socket.close(1013, 'Try again later');
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          request: toFetchRequest(ctx.extra.request),
          actor: ctx.extra.actor,
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
      onError: (_ctx, _id, _payload, errors) => {
        logger.debug({ errors: errors.map((e) => e.message) }, 'WebSocket operation failed');
      },
    },
    wss,
  );
}

export { CloseCode };
