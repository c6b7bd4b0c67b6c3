import type { IncomingMessage } from 'node:http';
import { type Actor, anonymousActor, isOpsGraphError, type OpsGraph } from '@opsgraph/core';

/**
 * Maps a request to an actor. Return null for "no credentials" (anonymous) and throw
 * `InvalidCredentials` (or core's `UnauthenticatedError`) for credentials that are wrong: HTTP 401
 * with its message, WebSocket close 4403. Anything else thrown is an internal error (masked, 500). The same hook serves HTTP, SSE and
 * WebSocket: for a socket it gets the upgrade request's headers, with `connection_init`'s
 * `authorization` (or `token`) in the Authorization header.
 */
export type Authenticate = (request: Request, og: OpsGraph) => Promise<Actor | null>;

/** Default: `Authorization: Bearer <API token>`. */
export const bearerTokenAuth: Authenticate = async (request, og) => {
  const header = request.headers.get('authorization');
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const actor = match ? await og.access.authenticate(match[1]!) : null;
  if (!actor) throw new InvalidCredentials();
  return actor;
};

/** Credentials were sent and are wrong: HTTP 401, WebSocket close 4403 (graphql-ws's Forbidden). */
export class InvalidCredentials extends Error {
  constructor(
    message = 'The credentials sent are not valid (unknown, revoked or expired token): send a valid API token',
  ) {
    super(message);
  }
}

/** The actor of a request; `anonymous` (default: no permission) when it sends no credentials. */
export async function resolveActor(
  authenticate: Authenticate,
  request: Request,
  og: OpsGraph,
  anonymous: Actor = anonymousActor,
): Promise<Actor> {
  return (await authenticate(request, og)) ?? anonymous;
}

/** The anonymous actor holding `permissions` (none by default). */
export function anonymousWith(permissions: readonly string[] = []): Actor {
  for (const [index, permission] of permissions.entries()) {
    if (typeof permission !== 'string' || !/^(\*|[a-z][a-z0-9_-]*:[a-z*][a-z0-9_*-]*)$/.test(permission)) {
      throw new TypeError(
        `anonymousPermissions.${index} must look like "cmdb:read", "cmdb:*" or "*", got ${JSON.stringify(permission)}`,
      );
    }
  }
  if (permissions.length === 0) return anonymousActor;
  return Object.freeze({ ...anonymousActor, permissions: Object.freeze([...new Set(permissions)]) });
}

/** Whether an error thrown by an `Authenticate` hook means "wrong credentials" (not a failure). */
export function isInvalidCredentials(error: unknown): error is Error {
  return error instanceof InvalidCredentials || (isOpsGraphError(error) && error.code === 'UNAUTHENTICATED');
}

/** The headers of a Node request as a Fetch `Request`, for the authenticate hook. */
export function toFetchRequest(req: IncomingMessage, extraHeaders: Record<string, string> = {}): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) headers.set(name, value.join(', '));
  }
  for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { headers });
}
