/**
 * Typed domain errors. Each carries a stable `code` (for clients and GraphQL extensions) and, where one
 * input is at fault, the `field` path. They are recognised by a brand, not `instanceof`, because an app
 * can end up with two copies of this package.
 */
const BRAND = 'opsgraph.error';

export type ErrorCode = 'NOT_FOUND' | 'VALIDATION' | 'CONFLICT' | 'FORBIDDEN' | 'UNAUTHENTICATED';

export interface ValidationIssue {
  /** Dotted path of the input at fault, e.g. `attributes.hostname`. */
  readonly path: string;
  readonly message: string;
}

export abstract class OpsGraphError extends Error {
  readonly $$type = BRAND;
  abstract readonly code: ErrorCode;
  /** The input field at fault, when there is one. */
  readonly field: string | undefined;

  constructor(message: string, field?: string) {
    super(message);
    this.name = new.target.name;
    this.field = field;
  }
}

export class NotFoundError extends OpsGraphError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly entity: string,
    readonly id: string,
    field?: string,
  ) {
    super(`${entity} ${id} was not found`, field);
  }
}

export class ValidationError extends OpsGraphError {
  readonly code = 'VALIDATION';
  constructor(readonly issues: readonly ValidationIssue[]) {
    const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    super(`Invalid input: ${list}`, issues[0]?.path || undefined);
  }

  static field(path: string, message: string): ValidationError {
    return new ValidationError([{ path, message }]);
  }
}

/** A write named a version that is no longer current: someone else changed the record first. */
export class ConflictError extends OpsGraphError {
  readonly code = 'CONFLICT';
  constructor(
    message: string,
    field?: string,
    readonly currentVersion?: number,
  ) {
    super(message, field);
  }

  static staleVersion(entity: string, id: string, expected: number, current: number): ConflictError {
    return new ConflictError(
      `${entity} ${id} was changed by someone else (you sent version ${expected}, it is now ${current}); reload it and apply your change again`,
      'version',
      current,
    );
  }
}

/**
 * A state machine refused a move: `from` cannot go to `to` (the `allowed` moves are named). A conflict,
 * not bad input: the same request is valid against a record in another state.
 */
export class TransitionError extends ConflictError {
  constructor(
    readonly entity: string,
    readonly id: string,
    readonly from: string,
    readonly to: string,
    readonly allowed: readonly string[],
    why?: string,
  ) {
    super(
      why ??
        `${entity} ${id} is ${from}: it can go to ${allowed.length > 0 ? allowed.join(', ') : 'no other state'}, not ${to}`,
      'to',
    );
  }
}

export class ForbiddenError extends OpsGraphError {
  readonly code = 'FORBIDDEN';
  /** What the permission was needed on, when not everywhere, e.g. `CI 5f0c…`. */
  readonly on: string | undefined;
  constructor(
    readonly permission: string,
    actorName: string,
    /** The input that asked for more than the actor holds, e.g. `permissions.1` of a new token. */
    field?: string,
    details: {
      /** What the permission was needed on, when not everywhere, e.g. `CI 5f0c…`. */
      readonly on?: string;
      /** Why, when holding `permission` is not the whole story (e.g. approving one's own request). */
      readonly reason?: string;
    } = {},
  ) {
    super(
      details.reason
        ? `${actorName} may not do this: ${details.reason}`
        : `${actorName} lacks the permission ${permission}${details.on ? ` on ${details.on}` : ''}`,
      field,
    );
    this.on = details.on;
  }
}

export class UnauthenticatedError extends OpsGraphError {
  readonly code = 'UNAUTHENTICATED';
}

export function isOpsGraphError(error: unknown): error is OpsGraphError {
  return typeof error === 'object' && error !== null && (error as { $$type?: unknown }).$$type === BRAND;
}
