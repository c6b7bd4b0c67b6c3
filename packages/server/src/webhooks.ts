import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Actor,
  can,
  type IngestResult,
  isOpsGraphError,
  type JobRun,
  type NormalizedEvent,
  normalizeAlertmanager,
  normalizePagerDuty,
  type OpsGraph,
  permissions,
  type ReportRunInput,
  ValidationError,
} from '@opsgraph/core';
import { type Authenticate, isInvalidCredentials, resolveActor, toFetchRequest } from './auth.js';
import { formatBytes, MAX_REQUEST_BODY_SIZE } from './http-protections.js';
import { actorRateLimitKey, createRateLimiter, RATE_LIMITED, type RateLimiter } from './rate-limit.js';

/** `webhooks` option of the server. */
export interface WebhookOptions {
  /**
   * Deliveries each actor (token or user) may make per minute, the three endpoints together; a budget
   * of their own, apart from the mutations'. Default 1200. `false` turns the limit off.
   */
  readonly requestsPerMinute?: number | false;
  /** The largest body accepted, in bytes (413 above it). Default 1 MB, as /graphql. */
  readonly maxBodySize?: number;
}

export const DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE = 1200;

/** The paths served, and the body format each reads. */
export const WEBHOOK_PATHS = {
  '/webhooks/alertmanager': 'alertmanager',
  '/webhooks/pagerduty': 'pagerduty',
  '/webhooks/events': 'events',
  // Runs of scheduled jobs (operations): `{ job: <id or name>, status, runKey?, at?, … }`.
  '/webhooks/job-runs': 'job-runs',
} as const;
export type WebhookSource = (typeof WEBHOOK_PATHS)[keyof typeof WEBHOOK_PATHS];

/** A refusal: the HTTP status, and the JSON body `{ code, message, … }` it answers with. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface WebhookContext {
  readonly og: OpsGraph;
  readonly authenticate: Authenticate;
  readonly anonymous: Actor;
  /** Told how many events each accepted delivery brought (metrics). */
  readonly onIngested?: ((source: Exclude<WebhookSource, 'job-runs'>, count: number) => void) | undefined;
}

/** What a webhook request is handled with; `limiter` is undefined when the budget is off. */
export interface WebhookHandler {
  readonly limiter: RateLimiter | undefined;
  /** Whether `pathname` is under `/webhooks/` (those are answered here, known or not). */
  matches(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void>;
}

export function createWebhookHandler(context: WebhookContext, options: WebhookOptions = {}): WebhookHandler {
  const maxBodySize = options.maxBodySize ?? MAX_REQUEST_BODY_SIZE;
  if (!Number.isSafeInteger(maxBodySize) || maxBodySize < 1)
    throw new TypeError(
      `webhooks.maxBodySize must be a positive integer, got ${String(options.maxBodySize)}`,
    );
  const perMinute = options.requestsPerMinute ?? DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE;
  if (perMinute !== false && (!Number.isSafeInteger(perMinute) || perMinute < 1))
    throw new TypeError(
      `webhooks.requestsPerMinute must be a positive integer or false, got ${String(perMinute)}`,
    );
  const limiter =
    perMinute === false ? undefined : createRateLimiter({ points: perMinute, durationSeconds: 60 });
  const logger = context.og.logger.child({ component: 'webhooks' });

  return {
    limiter,
    matches: (pathname) => pathname === '/webhooks' || pathname.startsWith('/webhooks/'),
    async handle(req, res, pathname) {
      const source = WEBHOOK_PATHS[pathname as keyof typeof WEBHOOK_PATHS];
      try {
        if (!source) {
          throw new Refusal(
            404,
            'NOT_FOUND',
            `No webhook at ${pathname}: POST to ${Object.keys(WEBHOOK_PATHS).join(', ')}.`,
          );
        }
        const delivered = await receive({ ...context, limiter, maxBodySize }, req, source);
        // Job runs are not monitoring events: they are not counted as ingested.
        if (source !== 'job-runs') context.onIngested?.(source, delivered.counts.accepted ?? 0);
        logger.info(
          { source, actor: delivered.actor.name, ...delivered.counts },
          'webhook delivery accepted',
        );
        send(res, 202, delivered.body);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        if (error.status === 400) {
          logger.warn(
            { source, field: error.details.field, issues: error.details.issues },
            'webhook body refused',
          );
        } else if (error.status === 401 || error.status === 403) {
          logger.warn({ source, status: error.status }, error.message);
        }
        send(
          res,
          error.status,
          { code: error.code, message: error.message, ...error.details },
          error.headers,
        );
      }
    },
  };
}

async function receive(
  ctx: WebhookContext & { limiter: RateLimiter | undefined; maxBodySize: number },
  req: IncomingMessage,
  source: WebhookSource,
) {
  if (req.method !== 'POST') {
    throw new Refusal(
      405,
      'METHOD_NOT_ALLOWED',
      `${req.method} is not accepted here: POST the JSON body.`,
      {},
      {
        allow: 'POST',
      },
    );
  }
  const fromHeaders = await authenticate(ctx, req);
  // PagerDuty senders carry no header: their routing key (read from the body below) is the token.
  const deferred = source === 'pagerduty' && fromHeaders.kind === 'anonymous' && !req.headers.authorization;
  if (!deferred) await admit(ctx, req, fromHeaders, source);
  requireJson(req);
  const body = parseJson(await readBody(req, ctx.maxBodySize));
  if (source === 'job-runs') {
    const run = await reportJobRun(ctx.og, fromHeaders, body);
    return { actor: fromHeaders, counts: { accepted: 1 }, body: { accepted: 1, run } };
  }
  let actor = fromHeaders;
  if (deferred) {
    actor = await authenticate(ctx, req, routingKeyOf(body));
    await admit(ctx, req, actor, source);
  }
  const results = await ingest(ctx.og, actor, source, body);
  const dedupKeys = results.map((r) => r.dedupKey);
  const counts: Record<string, number> = { accepted: results.length };
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  // Alertmanager left these out of the group (its max_alerts): worth seeing in the log.
  const truncated = source === 'alertmanager' ? (body as { truncatedAlerts?: unknown }).truncatedAlerts : 0;
  if (typeof truncated === 'number' && truncated > 0) counts.truncatedAlerts = truncated;
  return {
    actor,
    counts,
    body: {
      accepted: results.length,
      dedupKeys,
      results,
      // What PagerDuty's own Events API answers, for senders that read the dedup key back.
      ...(source === 'pagerduty'
        ? { status: 'success', message: 'Event processed', dedup_key: dedupKeys[0] }
        : {}),
    },
  };
}

/** The request's actor by the server's `authenticate` hook; `token` (a routing key) as a Bearer header. */
async function authenticate(ctx: WebhookContext, req: IncomingMessage, token?: string): Promise<Actor> {
  const request = toFetchRequest(req, token === undefined ? {} : { authorization: `Bearer ${token}` });
  try {
    return await resolveActor(ctx.authenticate, request, ctx.og, ctx.anonymous);
  } catch (error) {
    if (!isInvalidCredentials(error)) throw error;
    throw new Refusal(401, 'UNAUTHENTICATED', error.message);
  }
}

/** A body's `routing_key` when it can be a token (printable, no spaces: it goes into a header). */
function routingKeyOf(body: unknown): string | undefined {
  const key =
    typeof body === 'object' && body !== null ? (body as { routing_key?: unknown }).routing_key : undefined;
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(key))
    throw new Refusal(
      401,
      'UNAUTHENTICATED',
      'The routing_key is not a valid API token: send an OpsGraph API token as routing_key or as Authorization: Bearer.',
    );
  return key;
}

/** The permission a webhook needs: event:write, or operations:write to report job runs. */
const writePermissionOf = (source: WebhookSource) =>
  source === 'job-runs' ? permissions.operationsWrite : permissions.eventWrite;

/** Authenticated (401), holding its write permission (403), within its budget (429). */
async function admit(
  ctx: WebhookContext & { limiter: RateLimiter | undefined },
  req: IncomingMessage,
  actor: Actor,
  source: WebhookSource,
): Promise<void> {
  const write = writePermissionOf(source);
  if (!can(actor, write)) {
    if (actor.kind === 'anonymous') {
      const how =
        source === 'pagerduty'
          ? "as Authorization: Bearer <token>, or as the body's routing_key"
          : 'as Authorization: Bearer <token>';
      throw new Refusal(
        401,
        'UNAUTHENTICATED',
        `Authentication required: send an API token holding ${write} ${how}.`,
      );
    }
    throw new Refusal(403, 'FORBIDDEN', `${actor.name} lacks the permission ${write}, which webhooks need.`, {
      permission: write,
    });
  }
  if (!ctx.limiter) return;
  const decision = await ctx.limiter.consume(actorRateLimitKey(actor, req.socket.remoteAddress));
  if (decision.allowed) return;
  throw new Refusal(
    429,
    RATE_LIMITED,
    `Too many webhook deliveries: ${actor.name} may make ${decision.limit} a minute. Try again in ${decision.retryAfter} s.`,
    { retryAfter: decision.retryAfter, limit: decision.limit },
    { 'retry-after': String(decision.retryAfter) },
  );
}

function requireJson(req: IncomingMessage): void {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json' || (type?.startsWith('application/') && type.endsWith('+json'))) return;
  throw new Refusal(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `Unsupported request: ${type ? `Content-Type ${type}` : 'no Content-Type'}. Send the body as JSON (Content-Type: application/json).`,
  );
}

/** The body, up to `max` bytes; a longer one (by Content-Length or as it arrives) is a 413. */
async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const tooLarge = () =>
    new Refusal(
      413,
      'REQUEST_ENTITY_TOO_LARGE',
      `The request body is larger than ${formatBytes(max)} (the server's limit): send fewer events per delivery (Alertmanager: max_alerts).`,
      { max },
      // The rest of the body is not read: the client must not send its next request on this connection.
      { connection: 'close' },
    );
  if (Number(req.headers['content-length'] ?? 0) > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The parser's own message quotes the body: left out.
    throw new Refusal(400, 'BAD_REQUEST', 'The request body is not valid JSON.');
  }
}

/** Normalises and ingests in one transaction; a bad body is a 400 naming the field, nothing stored. */
async function ingest(
  og: OpsGraph,
  actor: Actor,
  source: WebhookSource,
  body: unknown,
): Promise<IngestResult[]> {
  try {
    const events: unknown =
      source === 'alertmanager'
        ? normalizeAlertmanager(body)
        : source === 'pagerduty'
          ? normalizePagerDuty(body)
          : body;
    // The generic body goes in as sent, so errors name `node` or `3.severity` as ingest sees them.
    return await og.events.ingest(events as NormalizedEvent[], { actor });
  } catch (error) {
    if (!isOpsGraphError(error)) throw error;
    if (error.code === 'VALIDATION') {
      const { issues } = error as ValidationError;
      throw new Refusal(400, 'VALIDATION', error.message, { field: error.field ?? '', issues });
    }
    if (error.code === 'FORBIDDEN') {
      throw new Refusal(403, 'FORBIDDEN', error.message, { permission: permissions.eventWrite });
    }
    throw error;
  }
}

/**
 * Reports a job run in one transaction: `job` names the job by id or name; a bad body (or an unknown
 * job) is a 400 naming the field, nothing stored. A `runKey` sent again records nothing new.
 */
async function reportJobRun(og: OpsGraph, actor: Actor, body: unknown): Promise<JobRun> {
  try {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw ValidationError.field('', 'the body must be one JSON object');
    const { job, ...rest } = body as Record<string, unknown>;
    // Looked up as the server: the sender was admitted holding operations:write, maybe not read.
    if (typeof job !== 'string' || job.trim() === '')
      throw ValidationError.field('job', 'must be the id or the name of a job');
    const found = (await og.operations.job(job)) ?? (await og.operations.jobByName(job.trim()));
    if (!found) throw ValidationError.field('job', `no job has the id or name ${job}`);
    return await og.operations.reportRun({ ...rest, jobId: found.id } as ReportRunInput, { actor });
  } catch (error) {
    if (!isOpsGraphError(error)) throw error;
    if (error.code === 'VALIDATION') {
      const { issues } = error as ValidationError;
      throw new Refusal(400, 'VALIDATION', error.message, { field: error.field ?? '', issues });
    }
    if (error.code === 'FORBIDDEN' || error.code === 'CONFLICT') {
      const status = error.code === 'FORBIDDEN' ? 403 : 409;
      throw new Refusal(status, error.code, error.message, { field: error.field ?? '' });
    }
    throw error;
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
