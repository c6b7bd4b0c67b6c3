// The public face of @opsgraph/server.
import './augment.js';

export { type Authenticate, bearerTokenAuth, InvalidCredentials, isInvalidCredentials } from './auth.js';
export {
  type CiPermission,
  createBuilder,
  type OpsGraphBuilder,
  type OpsGraphSchemaTypes,
  onCis,
} from './builder.js';
export type { GraphQLContext } from './context.js';
export { createDemoToken, seedDemo } from './demo.js';
export { type JwtAuthOptions, jwtAuth } from './jwt.js';
export { DEFAULT_LIMITS, LIMIT_EXCEEDED, type OperationLimits } from './limits.js';
export type { OperationQueries } from './query-count.js';
export { mutationErrors } from './schema/errors.js';
export { buildSchema } from './schema/index.js';
export { createOpsGraphServer, type OpsGraphServer, type OpsGraphServerOptions } from './server.js';
