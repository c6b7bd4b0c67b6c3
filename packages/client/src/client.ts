import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type DocumentNode, type OperationDefinitionNode, print } from 'graphql';
import { createClient, type Client as WsClient, type ClientOptions as WsClientOptions } from 'graphql-ws';
import { Channel } from './channel.js';
import {
  describeErrors,
  FATAL_CLOSE_CODES,
  type GraphQLErrorDetail,
  isCloseEvent,
  isRetryable,
  OpsGraphClientError,
  OpsGraphUnauthorizedError,
  toClientError,
} from './errors.js';
import {
  ActivityHeadDocument,
  ActivityStreamDocument,
  type ActivityStreamSubscription,
  CiChangedDocument,
  type CiChangedFilter,
  CiChangedHeadDocument,
  type CiChangedSubscription,
} from './generated/graphql.js';
import { defaultWebSocket } from './websocket.js';

/** An event of the activity stream, as `followActivity` yields it. */
export type ActivityStreamEvent = NonNullable<ActivityStreamSubscription['activity']> & { seq: number };

/** A change of a CI, as `followCiChanges` yields it. */
export type CiChangeEvent = CiChangedSubscription['ciChanged'];

export interface OpsGraphClientOptions {
  /** The HTTP URL of the API, e.g. `http://localhost:4000/graphql`. */
  readonly url: string;
  /** The WebSocket URL; default: `url` with `http` turned into `ws` (`https` into `wss`). */
  readonly wsUrl?: string;
  /** An API token, or a function returning one (called for each request and each new socket). */
  readonly token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Extra HTTP headers for every request. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The fetch to use; default: the global one. */
  readonly fetch?: typeof fetch;
  /** The WebSocket class; default: the global one, else the `ws` package (Node 20). */
  readonly webSocketImpl?: unknown;
  /** How many times to reconnect a lost socket before giving up; default: without end. */
  readonly retryAttempts?: number;
  /** Waits before reconnect number `retries` (0-based); default: randomised exponential backoff to 30 s. */
  readonly retryWait?: (retries: number) => Promise<void>;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SubscribeOptions {
  /** Ends the iterator (and unsubscribes) when aborted. */
  readonly signal?: AbortSignal;
}

export interface FollowActivityOptions {
  /** Start after this sequence number (e.g. the last one you stored); default: from now on. */
  readonly after?: number;
  /** Only events of these types, e.g. `['ci.created', 'ci.updated']`. */
  readonly types?: readonly string[];
  readonly signal?: AbortSignal;
}

export interface FollowCiChangesOptions {
  /** Which CIs: `ids`, `class` (and the classes below it), `tag`; every given part must hold. */
  readonly filter?: CiChangedFilter;
  /** Start after this sequence number (e.g. the last one you stored); default: from now on. */
  readonly after?: number;
  readonly signal?: AbortSignal;
}

/** Variables are optional when the operation has no required variable. */
type Args<TVars, TOptions> =
  Record<string, never> extends TVars
    ? [variables?: TVars, options?: TOptions]
    : [variables: TVars, options?: TOptions];

export interface OpsGraphClient {
  /** Runs a query or mutation over HTTP; throws `OpsGraphClientError` on GraphQL or HTTP errors. */
  request<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    ...args: Args<TVars, RequestOptions>
  ): Promise<TResult>;
  /**
   * Runs a subscription over the shared WebSocket. A lost socket is reconnected and the operation sent
   * again with the same variables; credentials refused (4401/4403) and other fatal closes end the
   * iterator with an `OpsGraphClientError`. Leaving the loop unsubscribes.
   */
  subscribe<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    ...args: Args<TVars, SubscribeOptions>
  ): AsyncIterableIterator<TResult>;
  /**
   * The activity stream, resumable: after a lost connection it subscribes again with `after` set to
   * the last sequence number seen, so it yields every event once, in order, with none missing.
   */
  followActivity(options?: FollowActivityOptions): AsyncIterableIterator<ActivityStreamEvent>;
  /**
   * Changes of the CIs matching `filter` (needs only cmdb:read), resumable like `followActivity`: after
   * a lost connection it subscribes again after the last sequence number seen.
   */
  followCiChanges(options?: FollowCiChangesOptions): AsyncIterableIterator<CiChangeEvent>;
  /** Ends every subscription and closes the sockets. */
  close(): Promise<void>;
}

const INITIAL_RETRY_MS = 300;
const MAX_RETRY_MS = 30_000;

/** Randomised exponential backoff in ms before reconnect number `retries`: about 0.3 s, 0.6 s … 30 s. */
export function retryDelay(retries: number): number {
  const ceiling = Math.min(MAX_RETRY_MS, INITIAL_RETRY_MS * 2 ** Math.min(retries, 20));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

const defaultRetryWait = (retries: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, retryDelay(retries)));

interface PreparedOperation {
  readonly query: string;
  readonly operationName: string | undefined;
}

const prepared = new WeakMap<DocumentNode, PreparedOperation>();

function prepare(document: DocumentNode): PreparedOperation {
  let operation = prepared.get(document);
  if (!operation) {
    const definition = document.definitions.find(
      (d): d is OperationDefinitionNode => d.kind === 'OperationDefinition',
    );
    operation = { query: print(document), operationName: definition?.name?.value };
    prepared.set(document, operation);
  }
  return operation;
}

/** Closes a graphql-ws client; its dispose rejects when a connection attempt is failing, which is fine. */
function disposeQuietly(client: WsClient): Promise<void> {
  return Promise.resolve(client.dispose()).catch(() => undefined);
}

export function createOpsGraphClient(options: OpsGraphClientOptions): OpsGraphClient {
  const url = options.url;
  const wsUrl = options.wsUrl ?? url.replace(/^http/i, 'ws');
  const retryAttempts = options.retryAttempts ?? Number.POSITIVE_INFINITY;
  const retryWait = options.retryWait ?? defaultRetryWait;
  const open = new Set<Channel<unknown>>();
  const sockets = new Set<WsClient>();
  let shared: Promise<WsClient> | undefined;
  let closed = false;

  const token = async (): Promise<string | undefined> =>
    typeof options.token === 'function' ? await options.token() : options.token;

  const webSocketImpl = async (): Promise<unknown> => options.webSocketImpl ?? (await defaultWebSocket());

  async function createWsClient(overrides: Partial<WsClientOptions>): Promise<WsClient> {
    const client = createClient({
      url: wsUrl,
      webSocketImpl: await webSocketImpl(),
      lazy: true,
      connectionParams: async () => {
        const secret = await token();
        return secret ? { authorization: `Bearer ${secret}` } : {};
      },
      retryAttempts,
      retryWait,
      // graphql-ws retries 4403 (it may be granted later); a refused token will not be, so stop there.
      shouldRetry: (reason) => !(isCloseEvent(reason) && FATAL_CLOSE_CODES.has(reason.code)),
      ...overrides,
    });
    sockets.add(client);
    return client;
  }

  function track<T>(channel: Channel<T>, signal: AbortSignal | undefined): Channel<T> {
    if (closed) channel.fail(new OpsGraphClientError('The OpsGraph client is closed'));
    open.add(channel as Channel<unknown>);
    if (signal) {
      if (signal.aborted) void channel.return();
      else signal.addEventListener('abort', () => void channel.return(), { once: true });
    }
    return channel;
  }

  async function request<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    variables?: TVars,
    requestOptions: RequestOptions = {},
  ): Promise<TResult> {
    const { query, operationName } = prepare(document);
    const secret = await token();
    let response: Response;
    try {
      response = await (options.fetch ?? fetch)(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json;q=0.9',
          ...options.headers,
          ...requestOptions.headers,
          ...(secret ? { authorization: `Bearer ${secret}` } : {}),
        },
        body: JSON.stringify({ query, operationName, variables: variables ?? {} }),
        ...(requestOptions.signal ? { signal: requestOptions.signal } : {}),
      });
    } catch (error) {
      if (requestOptions.signal?.aborted) throw error;
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new OpsGraphClientError(
        `Could not reach OpsGraph at ${url}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`,
        { cause: error },
      );
    }
    const text = await response.text();
    let body: { data?: unknown; errors?: GraphQLErrorDetail[] } | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    if (response.status === 401) {
      throw new OpsGraphUnauthorizedError(errors[0]?.message ?? 'HTTP 401', { status: 401, errors });
    }
    if (errors.length > 0) {
      throw new OpsGraphClientError(describeErrors(errors), {
        errors,
        status: response.status,
        data: body?.data ?? null,
      });
    }
    if (!response.ok || body?.data == null) {
      throw new OpsGraphClientError(
        `OpsGraph answered HTTP ${response.status} ${response.statusText} without a GraphQL result`,
        { status: response.status },
      );
    }
    return body.data as TResult;
  }

  function subscribe<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    variables?: TVars,
    subscribeOptions: SubscribeOptions = {},
  ): AsyncIterableIterator<TResult> {
    const { query, operationName } = prepare(document);
    let dispose: (() => void) | undefined;
    const channel: Channel<TResult> = track(
      new Channel<TResult>(() => {
        open.delete(channel as Channel<unknown>);
        dispose?.();
      }),
      subscribeOptions.signal,
    );
    if (channel.closed) return channel;
    shared ??= createWsClient({});
    shared.then(
      (ws) => {
        if (channel.closed) return;
        dispose = ws.subscribe(
          { query, ...(operationName ? { operationName } : {}), variables: (variables ?? {}) as never },
          {
            next: (result) => {
              if (result.errors?.length) channel.fail(toClientError(result.errors));
              else channel.push(result.data as TResult);
            },
            error: (reason) => channel.fail(toClientError(reason)),
            complete: () => channel.end(),
          },
        );
      },
      (error) => channel.fail(toClientError(error)),
    );
    return channel;
  }

  /** What a resumable stream is made of: its subscription, its variables, its event, its head query. */
  interface Resumable<TEvent extends { seq: number }> {
    readonly document: DocumentNode;
    readonly variables: Record<string, unknown>;
    readonly event: (data: unknown) => TEvent | null | undefined;
    readonly head: (signal: AbortSignal | undefined) => Promise<number>;
  }

  function followResumable<TEvent extends { seq: number }>(
    stream: Resumable<TEvent>,
    follow: { readonly after?: number | undefined; readonly signal?: AbortSignal | undefined },
  ): AsyncIterableIterator<TEvent> {
    const { query, operationName } = prepare(stream.document);
    let lastSeq = follow.after;
    let failures = 0;
    let ws: WsClient | undefined;
    let dispose: (() => void) | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const channel: Channel<TEvent> = track(
      new Channel<TEvent>(() => {
        open.delete(channel as Channel<unknown>);
        clearTimeout(timer);
        dispose?.();
        if (ws) {
          sockets.delete(ws);
          disposeQuietly(ws);
        }
      }),
      follow.signal,
    );
    if (channel.closed) return channel;

    // One subscription per connection: graphql-ws's own retry would re-send the first `after`, so this
    // socket never retries by itself (retryAttempts: 0); each attempt below subscribes with the last
    // sequence number seen. The variables object is also kept current, in case graphql-ws re-sends it.
    const attempt = () => {
      if (channel.closed || !ws) return;
      const variables: Record<string, unknown> = {
        ...stream.variables,
        ...(lastSeq !== undefined ? { after: lastSeq } : {}),
      };
      let ended = false;
      dispose = ws.subscribe(
        { query, ...(operationName ? { operationName } : {}), variables },
        {
          next: (result) => {
            if (result.errors?.length) return channel.fail(toClientError(result.errors));
            const event = stream.event(result.data);
            if (!event || typeof event.seq !== 'number') return;
            if (lastSeq !== undefined && event.seq <= lastSeq) return; // seen before a reconnect
            lastSeq = event.seq;
            variables.after = event.seq;
            channel.push(event);
          },
          error: (reason) => {
            if (ended || channel.closed) return;
            ended = true;
            if (!isRetryable(reason) || failures >= retryAttempts) return channel.fail(toClientError(reason));
            const retries = failures++;
            // The default wait is a timer that leaving the loop cancels, so nothing lingers.
            if (options.retryWait) void options.retryWait(retries).then(attempt);
            else timer = setTimeout(attempt, retryDelay(retries));
          },
          complete: () => {
            if (ended) return;
            ended = true;
            channel.end(); // the server ended the stream
          },
        },
      );
    };

    // Without `after`, start from the head as it is now: a reconnect before the first event then
    // resumes from there instead of from "now" again, so nothing in between is missed.
    const head =
      lastSeq === undefined
        ? stream.head(follow.signal).then((seq) => {
            lastSeq = seq;
          })
        : Promise.resolve();
    head
      .then(() => createWsClient({ retryAttempts: 0, on: { connected: () => (failures = 0) } }))
      .then(
        (client) => {
          ws = client;
          if (channel.closed) {
            sockets.delete(client);
            disposeQuietly(client);
            return;
          }
          attempt();
        },
        (error) => channel.fail(toClientError(error)),
      );
    return channel;
  }

  const signalOption = (signal: AbortSignal | undefined) => (signal ? { signal } : {});

  function followActivity(follow: FollowActivityOptions = {}): AsyncIterableIterator<ActivityStreamEvent> {
    return followResumable<ActivityStreamEvent>(
      {
        document: ActivityStreamDocument,
        variables: follow.types ? { types: [...follow.types] } : {},
        event: (data) =>
          (data as ActivityStreamSubscription | null | undefined)?.activity as ActivityStreamEvent,
        head: (signal) => request(ActivityHeadDocument, {}, signalOption(signal)).then((r) => r.activityHead),
      },
      follow,
    );
  }

  function followCiChanges(follow: FollowCiChangesOptions = {}): AsyncIterableIterator<CiChangeEvent> {
    return followResumable<CiChangeEvent>(
      {
        document: CiChangedDocument,
        variables: follow.filter ? { filter: follow.filter } : {},
        event: (data) => (data as CiChangedSubscription | null | undefined)?.ciChanged,
        head: (signal) =>
          request(CiChangedHeadDocument, {}, signalOption(signal)).then((r) => r.ciChangedHead),
      },
      follow,
    );
  }

  return {
    request: request as OpsGraphClient['request'],
    subscribe: subscribe as OpsGraphClient['subscribe'],
    followActivity,
    followCiChanges,
    async close() {
      closed = true;
      for (const channel of [...open]) await channel.return();
      const clients = [...sockets];
      sockets.clear();
      shared = undefined;
      await Promise.all(clients.map(disposeQuietly));
    },
  };
}
