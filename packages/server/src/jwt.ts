import type { Actor, OpsGraph } from '@opsgraph/core';
import {
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { type Authenticate, bearerTokenAuth, InvalidCredentials } from './auth.js';

/** How `jwtAuth` checks a JSON Web Token and maps it to an OpsGraph actor. */
export interface JwtAuthOptions {
  /** An HMAC secret (HS256/384/512): the key shared with the app that signs the tokens. */
  readonly secret?: string | Uint8Array;
  /** A public key (RS*, ES*, EdDSA), e.g. from `importSPKI` or `importJWK` of `jose`. */
  readonly publicKey?: CryptoKey | Uint8Array;
  /** The identity provider's JWKS endpoint; keys are fetched and cached, and rotate by themselves. */
  readonly jwksUrl?: string | URL;
  /** Expected `iss`; a token from another issuer is refused. */
  readonly issuer?: string | readonly string[];
  /** Expected `aud`; a token for another audience is refused. */
  readonly audience?: string | readonly string[];
  /** Accepted algorithms; default: those of the key kind given. */
  readonly algorithms?: readonly string[];
  /** Seconds of clock skew tolerated on `exp` and `nbf`. Default 30. */
  readonly clockToleranceSeconds?: number;
  /**
   * Create the user on first sight (from `sub`, `email` and `name` claims), audited as the system.
   * Default false: only users that exist (and are active) get in.
   */
  readonly provision?: boolean;
  /**
   * Maps verified claims to an actor; null refuses the token. Default: the active user whose external
   * id is `sub`, with the roles its grants give (see `provision`).
   */
  readonly toActor?: (claims: JWTPayload, og: OpsGraph) => Promise<Actor | null>;
  /** Also accept OpsGraph API tokens (`og_…`) in the same header, for scripts. Default true. */
  readonly apiTokens?: boolean;
}

/**
 * An `authenticate` hook for apps that sign in their users with JWTs: `Authorization: Bearer <jwt>`
 * (over HTTP, SSE, and graphql-ws `connection_init`'s `authorization`/`token`) is verified with `jose`
 * (signature, `exp`, `nbf`, issuer, audience) and mapped to the OpsGraph user whose external id is the
 * token's `sub`. No header: anonymous. A bad, expired or foreign token, or an unknown or inactive user:
 * 401 (WebSocket close 4403).
 */
export function jwtAuth(options: JwtAuthOptions): Authenticate {
  const key = keyOf(options);
  const verifyOptions: JWTVerifyOptions = {
    ...(options.issuer ? { issuer: toArray(options.issuer) } : {}),
    ...(options.audience ? { audience: toArray(options.audience) } : {}),
    ...(options.algorithms ? { algorithms: [...options.algorithms] } : {}),
    clockTolerance: options.clockToleranceSeconds ?? 30,
  };
  const toActor = options.toActor ?? defaultActor(options.provision ?? false);
  const apiTokens = options.apiTokens ?? true;

  return async (request, og) => {
    const header = request.headers.get('authorization');
    if (!header) return null;
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new InvalidCredentials('The Authorization header must be "Bearer <token>"');
    if (token.startsWith('og_')) {
      if (!apiTokens) throw new InvalidCredentials('API tokens are not accepted here: send a JWT');
      return bearerTokenAuth(request, og);
    }
    let claims: JWTPayload;
    try {
      claims = (await verify(token, key, verifyOptions)).payload;
    } catch (error) {
      throw new InvalidCredentials(refusalOf(error));
    }
    const actor = await toActor(claims, og);
    if (!actor) {
      throw new InvalidCredentials(
        `No active OpsGraph user has the external id of this token's subject: ask an administrator to create or reactivate it`,
      );
    }
    return actor;
  };
}

type Key = Uint8Array | CryptoKey | JWTVerifyGetKey;

function keyOf(options: JwtAuthOptions): Key {
  const given = [options.secret, options.publicKey, options.jwksUrl].filter((k) => k !== undefined);
  if (given.length !== 1) {
    throw new TypeError('jwtAuth needs exactly one of `secret`, `publicKey` or `jwksUrl` to verify tokens');
  }
  if (options.jwksUrl) return createRemoteJWKSet(new URL(String(options.jwksUrl)));
  if (options.publicKey) return options.publicKey;
  const secret = options.secret!;
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  // HS256 with a short secret can be brute-forced offline from any token: refuse it at start-up.
  if (bytes.length < 32) throw new TypeError('jwtAuth: an HMAC `secret` must be at least 32 bytes');
  return bytes;
}

// jwtVerify is overloaded on the key kind; one call site for the three.
const verify = (token: string, key: Key, options: JWTVerifyOptions) =>
  typeof key === 'function' ? jwtVerify(token, key, options) : jwtVerify(token, key, options);

const toArray = (value: string | readonly string[]): string[] =>
  typeof value === 'string' ? [value] : [...value];

/** What was wrong with a token, said without repeating it. */
function refusalOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The token has expired: sign in again';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `The token's "${error.claim}" claim is not accepted here (${error.reason}): get a token for this API`;
  }
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey
  ) {
    return 'The token was not signed by a key this API trusts';
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "The token's signing algorithm is not accepted";
  return 'The token is not a valid JWT';
}

function defaultActor(provision: boolean) {
  return async (claims: JWTPayload, og: OpsGraph): Promise<Actor | null> => {
    const sub = claims.sub;
    if (typeof sub !== 'string' || sub.length === 0) return null;
    const email = typeof claims.email === 'string' ? claims.email : undefined;
    const name = typeof claims.name === 'string' ? claims.name : (email ?? sub);
    return og.access.actorForUser(
      provision && email ? { externalId: sub, provision: { email, name } } : { externalId: sub },
    );
  };
}
