import type { Logger } from '@opsgraph/core';
import { isOpsGraphError } from '@opsgraph/core';
import { GraphQLError } from 'graphql';

/**
 * Domain errors reach the client with their code and field; anything else is masked to a message with
 * a request id that the server log carries with the real error.
 */
export function createMaskError(logger: Logger) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
    if (isOpsGraphError(original)) {
      return new GraphQLError(original.message, {
        ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
        extensions: { code: original.code, ...(original.field ? { field: original.field } : {}) },
      });
    }
    if (
      original instanceof Error &&
      original.name === 'ForbiddenError' &&
      (original as { code?: string }).code
    ) {
      // Pothos scope-auth refused a field or type.
      return new GraphQLError(original.message, {
        ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
        extensions: { code: 'FORBIDDEN' },
      });
    }
    // Validation, syntax, a bad variable value (an enum value that is not one: GraphQL's error wrapping
    // the enum's own): GraphQL's words all the way down, safe to show. As Yoga's default mask decides.
    if (graphqlOwn(error)) return error;
    const requestId = crypto.randomUUID();
    logger.error({ err: original, requestId }, 'unexpected error in a GraphQL operation');
    return new GraphQLError(`${message} (request id ${requestId})`, {
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId, ...(isDev ? { cause: String(original) } : {}) },
    });
  };
}

const graphqlOwn = (error: unknown): error is GraphQLError =>
  error instanceof GraphQLError && (error.originalError == null || graphqlOwn(error.originalError));
