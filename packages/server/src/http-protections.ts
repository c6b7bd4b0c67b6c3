import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

/** The largest request body /graphql and the webhooks accept (413 above it). */
export const MAX_REQUEST_BODY_SIZE = 1024 * 1024;

/**
 * The header that marks a request as not a cross-site form or link: any value. Yoga's own name, so
 * Yoga-aware tools already know it. JSON POSTs (`Content-Type: application/json`) need no header.
 */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';

/** The code of the error that refuses a request as a possible cross-site request forgery. */
export const CSRF_PREVENTED = 'CSRF_PREVENTED';

const csrfMessage = (request: Request) => {
  const type = request.headers.get('content-type');
  const what =
    request.method === 'GET'
      ? 'a GET request'
      : `a ${request.method} with ${type ? `Content-Type ${type.split(';')[0]}` : 'no Content-Type'}`;
  return (
    `Refused as a possible cross-site request forgery: ${what} could come from another site's form or link. ` +
    `Send the operation as JSON in a POST (Content-Type: application/json), or add the header ${CSRF_HEADER} (any value).`
  );
};

/**
 * HTTP-only protections of /graphql, as one Yoga plugin:
 * - CSRF prevention (Yoga's plugin): a request a browser would send cross-site without a CORS
 *   preflight (a GET, or a POST with a form or text/plain content type, or none) must carry
 *   `x-graphql-yoga-csrf`; refused with 403 and a message saying what to send.
 * - A content type no parser takes is refused with 415 and what to send (Yoga answers an empty 415).
 * - Batched operations (a JSON array) are refused with 400 and what to send instead.
 * - Yoga's terse "invalid JSON" and "body too large" answers get what to do; the JSON parser's own
 *   message (which echoes part of the body) is left out.
 * The WebSocket has none of these: its upgrade checks `Origin` instead (see ws.ts).
 */
export function useHttpProtections(options: { maxRequestBodySize: number }): Plugin {
  const csrf = useCSRFPrevention({ requestHeaders: [CSRF_HEADER] });
  return {
    onRequestParse(payload) {
      try {
        csrf.onRequestParse?.(payload as never);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        throw createGraphQLError(csrfMessage(payload.request), {
          extensions: { code: CSRF_PREVENTED, http: { status: 403 } },
        });
      }
      if (!payload.requestParser) {
        const type = payload.request.headers.get('content-type');
        throw createGraphQLError(
          `Unsupported request: ${payload.request.method} with ${type ? `Content-Type ${type.split(';')[0]}` : 'no Content-Type'}. ` +
            'Send the operation as JSON in a POST (Content-Type: application/json), or as a GET query string.',
          { extensions: { code: 'UNSUPPORTED_MEDIA_TYPE', http: { status: 415 } } },
        );
      }
      return {
        onRequestParseDone({ requestParserResult }) {
          if (Array.isArray(requestParserResult)) {
            throw createGraphQLError(
              `Batched operations are not accepted (the body is a JSON array of ${requestParserResult.length}): ` +
                'send one operation per request, as a JSON object { "query", "variables", "operationName" }.',
              { extensions: { code: 'BATCHING_NOT_SUPPORTED', http: { status: 400 } } },
            );
          }
        },
      };
    },
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !('errors' in result) || !result.errors?.length) return;
      let changed = false;
      const errors = result.errors.map((error) => {
        const better = clearer(error as GraphQLError, options.maxRequestBodySize);
        if (better !== error) changed = true;
        return better;
      });
      if (changed) setResult({ ...result, errors });
    },
  };
}

/** Yoga's own request errors, reworded to say what to do. Other errors are returned as they are. */
function clearer(error: GraphQLError, maxRequestBodySize: number): GraphQLError {
  if (error.extensions?.code === 'REQUEST_ENTITY_TOO_LARGE') {
    return new GraphQLError(
      `The request body is larger than ${formatBytes(maxRequestBodySize)} (the server's limit): send a shorter operation, fewer variables, or split the work into several requests.`,
      { extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', max: maxRequestBodySize, http: { status: 413 } } },
    );
  }
  if (error.message === 'POST body sent invalid JSON.') {
    return new GraphQLError(
      'The request body is not valid JSON: send a JSON object such as {"query": "{ me { name } }", "variables": {}}.',
      // Not `spec`: Yoga would then answer 200 to an `application/json` client; a broken body is a 400.
      { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } },
    );
  }
  return error;
}

/** `1 MB`, `64 KiB` or `1000 bytes`, for messages about a limit. */
export function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
