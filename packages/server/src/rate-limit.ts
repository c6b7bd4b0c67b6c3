import type { Actor } from '@opsgraph/core';
import { GraphQLError, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { GraphQLContext } from './context.js';

/** The code of the error that refuses an operation for going over a rate limit (`extensions.code`). */
export const RATE_LIMITED = 'RATE_LIMITED';

/** The answer of a rate limiter to one request. */
export type RateLimitDecision =
  | { readonly allowed: true; readonly remaining: number }
  | {
      readonly allowed: false;
      /** Whole seconds until the next request of this key is allowed (at least 1). */
      readonly retryAfter: number;
      /** The budget per window that was used up. */
      readonly limit: number;
    };

/** A budget of requests per key and window, kept in this process's memory. */
export interface RateLimiter {
  /** The requests each key may make per window. */
  readonly points: number;
  /** The window, in seconds. */
  readonly durationSeconds: number;
  /** Spends `points` (default 1) of `key`'s budget, or says how long to wait when it is used up. */
  consume(key: string, points?: number): Promise<RateLimitDecision>;
}

export interface RateLimiterOptions {
  /** Requests each key may make per window. */
  readonly points: number;
  /** The window in seconds; default 60. */
  readonly durationSeconds?: number;
}

/**
 * An in-memory limiter (rate-limiter-flexible's `RateLimiterMemory`), one budget per key. The server
 * builds one for mutations; an endpoint that is not GraphQL (such as a webhook receiver) builds its
 * own and calls `consume(actorRateLimitKey(actor, address))` per request, answering HTTP 429 with
 * `Retry-After: <retryAfter>` when refused. Each replica counts on its own: with N replicas behind a
 * load balancer a key gets up to N times the budget.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const points = positiveInteger(options.points, 'points');
  const durationSeconds = positiveInteger(options.durationSeconds ?? 60, 'durationSeconds');
  const limiter = new RateLimiterMemory({ points, duration: durationSeconds });
  return {
    points,
    durationSeconds,
    async consume(key, cost = 1) {
      try {
        const result = await limiter.consume(key, cost);
        return { allowed: true, remaining: result.remainingPoints };
      } catch (rejection) {
        // The limiter rejects with a RateLimiterRes when the budget is spent; anything else is a bug.
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        return {
          allowed: false,
          retryAfter: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
          limit: points,
        };
      }
    },
  };
}

/**
 * Whose budget a request spends: a token's or a user's own (by id), anonymous callers by network
 * address (`anonymous@<address>`). Behind a reverse proxy every anonymous caller shares the proxy's.
 */
export function actorRateLimitKey(actor: Actor, clientAddress: string | undefined): string {
  if (actor.kind === 'anonymous') return `anonymous@${clientAddress ?? 'unknown'}`;
  return `${actor.kind}:${actor.id}`;
}

/** `rateLimit` option of the server. */
export interface RateLimitOptions {
  /** Mutations each actor may run per minute (HTTP, SSE and WebSocket together). Default 600. */
  readonly mutationsPerMinute?: number;
}

export const DEFAULT_MUTATIONS_PER_MINUTE = 600;

/** A clear refusal: what happened, the budget, and when to try again. */
export function rateLimitedError(
  actor: Actor,
  decision: { retryAfter: number; limit: number },
): GraphQLError {
  const who = actor.kind === 'anonymous' ? 'an anonymous caller (counted by network address)' : actor.name;
  return new GraphQLError(
    `Too many mutations: ${who} may run ${decision.limit} a minute. Try again in ${decision.retryAfter} s (extensions.retryAfter).`,
    {
      extensions: {
        code: RATE_LIMITED,
        retryAfter: decision.retryAfter,
        limit: decision.limit,
        // Yoga answers HTTP 429 with this header; the WebSocket path drops `http` (see ws.ts).
        http: { status: 429, headers: { 'Retry-After': String(decision.retryAfter) } },
      },
    },
  );
}

/**
 * Spends one unit of the actor's budget for each mutation, before it runs. An envelop hook, so it
 * counts mutations over HTTP and over the WebSocket alike (one budget per actor).
 */
export function useMutationRateLimit(limiter: RateLimiter): Plugin<GraphQLContext> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      const { actor, clientAddress } = args.contextValue;
      const decision = await limiter.consume(actorRateLimitKey(actor, clientAddress));
      if (!decision.allowed) setResultAndStopExecution({ errors: [rateLimitedError(actor, decision)] });
    },
  };
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`rate limit ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
