// Helpers for the server's own tests: a real server on a free loopback port, HTTP and WebSocket clients.

import { systemActor } from '@opsgraph/core';
import { type Backend, createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { type Client, createClient, type ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import { createOpsGraphServer, type OpsGraphServer, type OpsGraphServerOptions } from './server.js';

export interface GraphQLResponse {
  status: number;
  body: ExecutionResult<Record<string, any>> & { errors?: any[] };
}

export interface TestServer {
  og: TestOpsGraph;
  server: OpsGraphServer;
  /** http://127.0.0.1:<port>/graphql */
  url: string;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** ws://127.0.0.1:<port>/graphql */
  wsUrl: string;
  /** Secrets of API tokens: everything, cmdb read and write, cmdb read only. */
  tokens: { admin: string; writer: string; reader: string };
  /** POSTs an operation; `token` adds `Authorization: Bearer <token>`. */
  gql(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse>;
  /**
   * A graphql-ws client that does not retry; closed by `close()`. `origin` sets the upgrade's Origin
   * header (as a browser page there would).
   */
  wsClient(connectionParams?: Record<string, unknown>, options?: { origin?: string }): Client;
  close(): Promise<void>;
}

export async function startTestServer(
  options: { backend?: Backend; og?: TestOpsGraph } & Omit<Partial<OpsGraphServerOptions>, 'opsgraph'> = {},
): Promise<TestServer> {
  const { backend = 'pglite', og: given, ...serverOptions } = options;
  const og = given ?? (await createTestOpsGraph({ backend }));
  const actor = systemActor('test');
  const token = async (name: string, permissions: string[]) =>
    (await og.access.createToken({ name, permissions }, { actor })).secret;
  const tokens = {
    admin: await token('admin', ['*']),
    writer: await token('writer', ['cmdb:read', 'cmdb:write', 'activity:read']),
    reader: await token('reader', ['cmdb:read']),
  };
  const server = createOpsGraphServer({ opsgraph: og, ...serverOptions });
  // fetch keeps connections alive and reuses them. With Node's 5 s default, a test that keeps the
  // event loop busy longer than that (PGlite work between two requests) can send its next request on
  // a connection the server is closing ("other side closed"). Idle connections outlive a test here.
  server.httpServer.keepAliveTimeout = 60_000;
  const { url, port } = await server.listen(0, '127.0.0.1');
  const clients: Client[] = [];
  return {
    og,
    server,
    url,
    origin: `http://127.0.0.1:${port}`,
    wsUrl: url.replace(/^http/, 'ws'),
    tokens,
    gql: async (query, variables, bearer) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
        body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
      });
      return { status: response.status, body: (await response.json()) as GraphQLResponse['body'] };
    },
    wsClient: (connectionParams, { origin } = {}) => {
      const client = createClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: origin
          ? class extends WebSocket {
              constructor(address: string, protocols?: string | string[]) {
                super(address, protocols, { origin });
              }
            }
          : WebSocket,
        retryAttempts: 0,
        lazy: true,
        ...(connectionParams ? { connectionParams } : {}),
      });
      clients.push(client);
      return client;
    },
    close: async () => {
      await Promise.all(clients.map((client) => client.dispose()));
      await server.close();
      if (!given) await og.close();
    },
  };
}

/** Subscribes and collects results until `until` returns true for one of them, or the stream ends. */
export function collect(
  client: Client,
  payload: { query: string; variables?: Record<string, unknown> },
  until: (result: ExecutionResult<Record<string, any>>) => boolean = () => false,
): { done: Promise<{ results: ExecutionResult<Record<string, any>>[]; error?: unknown }>; stop: () => void } {
  const results: ExecutionResult<Record<string, any>>[] = [];
  let stop = () => {};
  const done = new Promise<{ results: ExecutionResult<Record<string, any>>[]; error?: unknown }>(
    (resolve) => {
      stop = client.subscribe(payload, {
        next: (result) => {
          results.push(result as ExecutionResult<Record<string, any>>);
          if (until(result as ExecutionResult<Record<string, any>>)) {
            stop();
            resolve({ results });
          }
        },
        error: (error) => resolve({ results, error }),
        complete: () => resolve({ results }),
      });
    },
  );
  return { done, stop: () => stop() };
}

type SseResult = ExecutionResult<Record<string, any>>;

/** POSTs a subscription asking for Server-Sent Events; `close()` aborts the request. */
export async function subscribeSse(
  url: string,
  token: string,
  payload: { query: string; variables?: Record<string, unknown> },
): Promise<{ response: Response; close: () => void }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(payload),
    signal: controller.signal,
  });
  return { response, close: () => controller.abort() };
}

/**
 * Reads the results an SSE response carries until `pick` returns a value for one (or `ms` pass), then
 * stops reading. A message's `data:` lines are joined, as the SSE format says.
 */
export async function readSseUntil<T>(
  response: Response,
  pick: (result: SseResult) => T | undefined,
  ms = 10_000,
): Promise<T | undefined> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = message
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        const picked = data ? pick(JSON.parse(data) as SseResult) : undefined;
        if (picked !== undefined) return picked;
      }
    }
    return undefined;
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * That the server is still serving after something hostile: `/healthz` answers 200 and an authorised
 * query (the reader's `me` and a page of CIs) succeeds. Throws (failing the test) otherwise.
 */
export async function expectServing(t: TestServer): Promise<void> {
  const health = await fetch(`${t.origin}/healthz`);
  if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
  const { status, body } = await t.gql(
    '{ me { name } cis(first: 1) { edges { node { id } } } }',
    undefined,
    t.tokens.reader,
  );
  if (status !== 200 || body.errors || body.data?.me?.name !== 'token "reader"') {
    throw new Error(`an authorised query failed: HTTP ${status} ${JSON.stringify(body)}`);
  }
}

/** What a raw WebSocket upgrade ended in: open (then closed by the caller), refused, or closed. */
export type RawSocketOutcome =
  | { kind: 'open'; socket: WebSocket }
  | { kind: 'refused'; status: number; body: string };

/** Opens a raw WebSocket (graphql-transport-ws subprotocol) with the given headers. */
export function openRawSocket(url: string, options: { origin?: string } = {}): Promise<RawSocketOutcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(
      url,
      'graphql-transport-ws',
      options.origin ? { origin: options.origin } : {},
    );
    socket.once('open', () => resolve({ kind: 'open', socket }));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ kind: 'refused', status: response.statusCode ?? 0, body }));
    });
    socket.once('error', reject);
  });
}

/** Resolves with the close code and reason of a raw socket. */
export function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}
