// The public face of @opsgraph/server.
import './augment.js';

export {
  type Authenticate,
  anonymousWith,
  bearerTokenAuth,
  InvalidCredentials,
  isInvalidCredentials,
} from './auth.js';
export {
  type CiPermission,
  createBuilder,
  type OpsGraphBuilder,
  type OpsGraphSchemaTypes,
  onCis,
} from './builder.js';
export type { GraphQLContext } from './context.js';
export { createDemoToken, seedDemo } from './demo.js';
export {
  type ActivityEventDetail,
  type ActivityEventTarget,
  createActivityEventTarget,
} from './event-target.js';
export { CSRF_HEADER, CSRF_PREVENTED, MAX_REQUEST_BODY_SIZE } from './http-protections.js';
export { type JwtAuthOptions, jwtAuth } from './jwt.js';
export { DEFAULT_LIMITS, LIMIT_EXCEEDED, type OperationLimits } from './limits.js';
export type { OperationQueries } from './query-count.js';
export {
  actorRateLimitKey,
  createRateLimiter,
  DEFAULT_MUTATIONS_PER_MINUTE,
  RATE_LIMITED,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitOptions,
} from './rate-limit.js';
export { mutationErrors } from './schema/errors.js';
export { buildSchema } from './schema/index.js';
export { connectionOf, forwardPage } from './schema/pages.js';
export {
  createOpsGraphServer,
  type OpsGraphServer,
  type OpsGraphServerOptions,
} from './server.js';
export {
  DEFAULT_WEBHOOK_REQUESTS_PER_MINUTE,
  WEBHOOK_PATHS,
  type WebhookOptions,
  type WebhookSource,
} from './webhooks.js';
export { DEFAULT_WEBSOCKET_LIMITS, isAllowedOrigin, type WebSocketLimits, WS_CLOSE } from './ws.js';
