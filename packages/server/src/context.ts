import type { Actor, OpsGraph } from '@opsgraph/core';
import type { ServerMetrics } from './metrics.js';

/** What every resolver sees. Built fresh per HTTP request and per subscription (fresh DataLoaders). */
export interface GraphQLContext {
  readonly og: OpsGraph;
  readonly actor: Actor;
  /** Correlates logs and masked errors with a request. */
  readonly requestId: string;
  /** The network address of the caller (the socket's peer; a proxy's when behind one). */
  readonly clientAddress?: string | undefined;
  /** This server's metrics (undefined when turned off). */
  readonly metrics?: ServerMetrics | undefined;
}
