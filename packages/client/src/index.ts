// The public face of @opsgraph/client.
export {
  type ActivityStreamEvent,
  type CiChangeEvent,
  createOpsGraphClient,
  type FollowActivityOptions,
  type FollowCiChangesOptions,
  type OpsGraphClient,
  type OpsGraphClientOptions,
  type OpsGraphEndpoint,
  type RequestOptions,
  retryDelay,
  type SubscribeOptions,
} from './client.js';
export {
  type GraphQLErrorDetail,
  OpsGraphClientError,
  type OpsGraphClientErrorOptions,
  OpsGraphUnauthorizedError,
} from './errors.js';
// Typed documents (e.g. `CreateCiDocument`) and the types of their results and variables.
export * from './generated/graphql.js';
export { unwrap } from './unwrap.js';
