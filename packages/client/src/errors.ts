/** One GraphQL error as the server sends it; `extensions.code` and `extensions.field` name what went wrong. */
export interface GraphQLErrorDetail {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly locations?: readonly { readonly line: number; readonly column: number }[];
  readonly extensions?: {
    /** e.g. `NOT_FOUND`, `VALIDATION`, `CONFLICT`, `FORBIDDEN`, `INTERNAL_SERVER_ERROR`. */
    readonly code?: string;
    /** Dotted path of the input at fault. */
    readonly field?: string;
    readonly [key: string]: unknown;
  };
}

export interface OpsGraphClientErrorOptions {
  readonly errors?: readonly GraphQLErrorDetail[];
  /** The HTTP status of the response, when the error came over HTTP. */
  readonly status?: number;
  /** The WebSocket close code, when the error came from a closed socket. */
  readonly closeCode?: number;
  /** Partial data that came with the errors, if any. */
  readonly data?: unknown;
  readonly cause?: unknown;
}

/** An operation failed: GraphQL errors, an HTTP error, or a WebSocket that closed for good. */
export class OpsGraphClientError extends Error {
  readonly errors: readonly GraphQLErrorDetail[];
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  readonly data: unknown;

  constructor(message: string, options: OpsGraphClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OpsGraphClientError';
    this.errors = options.errors ?? [];
    this.status = options.status;
    this.closeCode = options.closeCode;
    this.data = options.data;
  }

  /** The code of the first error (`extensions.code`), if any. */
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }

  /** The input field at fault of the first error (`extensions.field`), if any. */
  get field(): string | undefined {
    return this.errors[0]?.extensions?.field;
  }
}

/** The server refused the credentials (HTTP 401, WebSocket close 4401/4403). Retrying will not help. */
export class OpsGraphUnauthorizedError extends OpsGraphClientError {
  constructor(detail: string | undefined, options: OpsGraphClientErrorOptions = {}) {
    super(
      `OpsGraph refused the credentials${detail ? ` (${detail})` : ''}: send a valid API token, ` +
        'e.g. createOpsGraphClient({ url, token }), which goes out as `Authorization: Bearer <token>`',
      options,
    );
    this.name = 'OpsGraphUnauthorizedError';
  }
}

/** A readable message for a list of GraphQL errors: each message with its code and field. */
export function describeErrors(errors: readonly GraphQLErrorDetail[]): string {
  return errors
    .map((e) => {
      const code = e.extensions?.code;
      const field = e.extensions?.field;
      const tags = [code, field ? `field ${field}` : undefined].filter(Boolean).join(', ');
      return tags ? `${e.message} [${tags}]` : e.message;
    })
    .join('; ');
}

const AUTH_CLOSE_CODES = new Set([4401, 4403]);

/** Close codes after which reconnecting cannot succeed (protocol or authentication failures). */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  4004, // bad response
  4005, // internal client error
  4400, // bad request
  4401, // unauthorized
  4403, // forbidden: the token was refused
  4406, // subprotocol not acceptable
  4409, // subscriber already exists
  4429, // too many initialisation requests
  4500, // internal server error
]);

export interface CloseEventLike {
  readonly code: number;
  readonly reason: string;
}

export function isCloseEvent(value: unknown): value is CloseEventLike {
  return typeof value === 'object' && value !== null && 'code' in value && 'reason' in value;
}

/** Whether a subscription that failed with `reason` (as graphql-ws reports it) is worth reconnecting. */
export function isRetryable(reason: unknown): boolean {
  if (reason instanceof OpsGraphClientError || Array.isArray(reason)) return false; // GraphQL errors
  if (isCloseEvent(reason)) return !FATAL_CLOSE_CODES.has(reason.code);
  return true; // a network error: the server is down or restarting
}

/** Turns what graphql-ws reports (errors array, close event, error event) into an OpsGraphClientError. */
export function toClientError(reason: unknown): OpsGraphClientError {
  if (reason instanceof OpsGraphClientError) return reason;
  if (Array.isArray(reason)) {
    const errors = reason as GraphQLErrorDetail[];
    return new OpsGraphClientError(describeErrors(errors), { errors });
  }
  if (isCloseEvent(reason)) {
    const described = `${reason.code}${reason.reason ? ` ${reason.reason}` : ''}`;
    if (AUTH_CLOSE_CODES.has(reason.code)) {
      return new OpsGraphUnauthorizedError(`WebSocket closed ${described}`, { closeCode: reason.code });
    }
    return new OpsGraphClientError(`The OpsGraph WebSocket closed (${described})`, {
      closeCode: reason.code,
    });
  }
  if (reason instanceof Error) return new OpsGraphClientError(reason.message, { cause: reason });
  const message =
    typeof reason === 'object' && reason !== null && 'message' in reason && typeof reason.message === 'string'
      ? reason.message
      : String(reason);
  const cause = typeof reason === 'object' && reason !== null && 'error' in reason ? reason.error : reason;
  return new OpsGraphClientError(`OpsGraph WebSocket error: ${message || 'connection failed'}`, { cause });
}
