import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type DocumentNode, type OperationDefinitionNode, print } from 'graphql';
import { createClient, type Client as WsClient, type ClientOptions as WsClientOptions } from 'graphql-ws';
import { Channel } from './channel.js';
import {
  describeErrors,
  FATAL_CLOSE_CODES,
  type GraphQLErrorDetail,
  isCloseEvent,
  OpsGraphClientError,
  OpsGraphUnauthorizedError,
  toClientError,
} from './errors.js';
import {
  ActivityStreamDocument,
  type ActivityStreamSubscription,
  CiChangedDocument,
  type CiChangedFilter,
  type CiChangedSubscription,
  StreamHeadDocument,
} from './generated/graphql.js';
import { defaultWebSocket } from './websocket.js';

/** An event of the activity stream, as `followActivity` yields it. */
export type ActivityStreamEvent = NonNullable<ActivityStreamSubscription['activity']> & { seq: number };

/** A change of a CI, as `followCiChanges` yields it. */
export type CiChangeEvent = CiChangedSubscription['ciChanged'];

/** One server replica of a load-balanced client. */
export interface OpsGraphEndpoint {
  /** Its HTTP URL, e.g. `http://10.0.0.1:4000/graphql`. */
  readonly url: string;
  /** Its WebSocket URL; default: `url` with `http` turned into `ws` (`https` into `wss`). */
  readonly wsUrl?: string;
}

export interface OpsGraphClientOptions {
  /** The HTTP URL of the API, e.g. `http://localhost:4000/graphql`. Give this or `endpoints`. */
  readonly url?: string;
  /** The WebSocket URL; default: `url` with `http` turned into `ws` (`https` into `wss`). */
  readonly wsUrl?: string;
  /**
   * Several replicas instead of one `url`: HTTP requests take them in turn and move on to the next
   * when one cannot be reached (a query on any connection error, a mutation only when the connection
   * could not be made, so it never runs twice); each new WebSocket goes to the next one, so the
   * subscriptions of a replica that dies reconnect to another and resume there.
   */
  readonly endpoints?: readonly OpsGraphEndpoint[];
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
   * again; credentials refused (4401/4403) and other fatal closes end the iterator with an
   * `OpsGraphClientError`. Leaving the loop unsubscribes.
   *
   * Resumable streams: when the operation declares `$after` and its root field carries `seq` (every
   * OpsGraph subscription does), it is sent again with `after` = the last seq delivered, and a payload
   * at or below it is dropped: every event once, in order, none missed. Without `after` it first asks
   * for the stream head (`streamHead`) and starts there, so a reconnect before the first event misses
   * nothing either.
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

/** Whether a subscription declares `$after`: then the client resumes it by seq. */
function declaresAfter(document: DocumentNode): boolean {
  return document.definitions.some(
    (d) =>
      d.kind === 'OperationDefinition' &&
      d.variableDefinitions?.some((v) => v.variable.name.value === 'after'),
  );
}

/** The operation's kind: mutations are never sent twice (see `endpoints`). */
function isMutation(document: DocumentNode): boolean {
  return document.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation === 'mutation');
}

/** The seq of a subscription payload's root field, if it has one. */
function seqOf(data: unknown): number | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const root = Object.values(data)[0] as { seq?: unknown } | null | undefined;
  return typeof root?.seq === 'number' ? root.seq : undefined;
}

/**
 * Errors of a connection that was never made: nothing reached the server, so even a mutation may
 * go to the next endpoint. (A connection that broke later may have carried it already.)
 */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverConnected(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
  return (
    NOT_CONNECTED.has(cause?.code ?? '') || (cause?.errors ?? []).some((e) => NOT_CONNECTED.has(e.code ?? ''))
  );
}

/** Yields `map` of each value of `source`; leaving the loop returns `source`. */
function mapIterator<T, U>(source: AsyncIterableIterator<T>, map: (value: T) => U): AsyncIterableIterator<U> {
  return {
    async next() {
      const item = await source.next();
      return item.done ? { done: true, value: undefined } : { done: false, value: map(item.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Closes a graphql-ws client; its dispose rejects when a connection attempt is failing, which is fine. */
function disposeQuietly(client: WsClient): Promise<void> {
  return Promise.resolve(client.dispose()).catch(() => undefined);
}

function resolveEndpoints(options: OpsGraphClientOptions): Required<OpsGraphEndpoint>[] {
  const given: readonly OpsGraphEndpoint[] | undefined =
    options.endpoints ??
    (options.url ? [{ url: options.url, ...(options.wsUrl ? { wsUrl: options.wsUrl } : {}) }] : undefined);
  if (options.endpoints && (options.url || options.wsUrl))
    throw new TypeError('createOpsGraphClient: give `url` (and `wsUrl`) or `endpoints`, not both');
  if (!given || given.length === 0)
    throw new TypeError('createOpsGraphClient: give `url`, or `endpoints` with at least one `{ url }`');
  return given.map((e, i) => {
    if (typeof e.url !== 'string' || !/^https?:\/\//i.test(e.url))
      throw new TypeError(
        `createOpsGraphClient: endpoints[${i}].url must be an http(s) URL, got ${String(e.url)}`,
      );
    return { url: e.url, wsUrl: e.wsUrl ?? e.url.replace(/^http/i, 'ws') };
  });
}

export function createOpsGraphClient(options: OpsGraphClientOptions): OpsGraphClient {
  const endpoints = resolveEndpoints(options);
  // Round robin: each request starts at the next endpoint, each new socket goes to the next one.
  let nextHttp = 0;
  let nextWs = 0;
  const wsUrl = () => endpoints[nextWs++ % endpoints.length]!.wsUrl;
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
      url: wsUrl, // called for each connection, so a reconnect goes to the next endpoint
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

  const signalOption = (signal: AbortSignal | undefined) => (signal ? { signal } : {});

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
    const init: RequestInit = {
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
    };
    const mutation = isMutation(document);
    const first = nextHttp++;
    let response: Response | undefined;
    const failures: string[] = [];
    for (let i = 0; i < endpoints.length && !response; i++) {
      const { url } = endpoints[(first + i) % endpoints.length]!;
      try {
        response = await (options.fetch ?? fetch)(url, init);
      } catch (error) {
        if (requestOptions.signal?.aborted) throw error;
        const cause = (error as { cause?: { message?: string } }).cause?.message;
        failures.push(`${url}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`);
        // A connection error moves on to the next endpoint; a mutation only if it never left.
        if (i + 1 < endpoints.length && (!mutation || neverConnected(error))) continue;
        throw new OpsGraphClientError(`Could not reach OpsGraph at ${failures.join('; ')}`, { cause: error });
      }
    }
    if (!response) throw new OpsGraphClientError('Could not reach OpsGraph'); // not reached
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

  /**
   * The stream head, asked again (with the sockets' backoff) while no server can be reached, as a lost
   * socket is reconnected: a subscription started during a restart waits instead of failing.
   */
  async function streamHead(signal: AbortSignal | undefined, gone: () => boolean): Promise<number> {
    for (let retries = 0; ; retries++) {
      try {
        return (await request(StreamHeadDocument, {}, signalOption(signal))).streamHead;
      } catch (error) {
        const unreachable =
          error instanceof OpsGraphClientError && error.status === undefined && error.errors.length === 0;
        if (!unreachable || retries >= retryAttempts || gone()) throw error;
        await retryWait(retries);
        if (gone()) throw error;
      }
    }
  }

  function subscribe<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    variables?: TVars,
    subscribeOptions: SubscribeOptions = {},
  ): AsyncIterableIterator<TResult> {
    const { query, operationName } = prepare(document);
    const resumable = declaresAfter(document);
    // graphql-ws sends this same object again on each reconnect (serialised then), so keeping
    // `after` current here is what resumes the stream from the last payload delivered.
    const vars: Record<string, unknown> = { ...(variables as Record<string, unknown> | undefined) };
    let last = typeof vars.after === 'number' ? vars.after : undefined;
    let dispose: (() => void) | undefined;
    const channel: Channel<TResult> = track(
      new Channel<TResult>(() => {
        open.delete(channel as Channel<unknown>);
        dispose?.();
      }),
      subscribeOptions.signal,
    );
    if (channel.closed) return channel;
    // Without `after`, fix the start at the head as it is now (see the doc comment).
    const start =
      resumable && vars.after == null
        ? streamHead(subscribeOptions.signal, () => channel.closed).then((head) => {
            last = head;
            vars.after = head;
          })
        : Promise.resolve();
    start
      .then(() => (shared ??= createWsClient({})))
      .then(
        (ws) => {
          if (channel.closed) return;
          dispose = ws.subscribe(
            { query, ...(operationName ? { operationName } : {}), variables: vars },
            {
              next: (result) => {
                if (result.errors?.length) return channel.fail(toClientError(result.errors));
                const seq = resumable ? seqOf(result.data) : undefined;
                if (seq !== undefined) {
                  if (last !== undefined && seq <= last) return; // delivered before a reconnect
                  last = seq;
                  vars.after = seq;
                }
                channel.push(result.data as TResult);
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

  function followActivity(follow: FollowActivityOptions = {}): AsyncIterableIterator<ActivityStreamEvent> {
    const stream = subscribe(
      ActivityStreamDocument,
      {
        ...(follow.after !== undefined ? { after: follow.after } : {}),
        ...(follow.types ? { types: [...follow.types] } : {}),
      },
      signalOption(follow.signal),
    );
    return mapIterator(stream, (data) => data.activity as ActivityStreamEvent);
  }

  function followCiChanges(follow: FollowCiChangesOptions = {}): AsyncIterableIterator<CiChangeEvent> {
    const stream = subscribe(
      CiChangedDocument,
      {
        ...(follow.after !== undefined ? { after: follow.after } : {}),
        ...(follow.filter ? { filter: follow.filter } : {}),
      },
      signalOption(follow.signal),
    );
    return mapIterator(stream, (data) => data.ciChanged);
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
