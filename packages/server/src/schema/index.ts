import type { OpsGraphPlugin } from '@opsgraph/core';
import type { GraphQLSchema } from 'graphql';
import '../augment.js';
import { createBuilder } from '../builder.js';
import { addAccess } from './access.js';
import { addActivity } from './activity.js';
import { addCmdb } from './cmdb.js';
import { addErrorTypes } from './errors.js';
import { addReconcile } from './reconcile.js';
import { addRelationships } from './relationships.js';
import { addScalars } from './scalars.js';

/** Core's schema plus each loaded plugin's contribution, in plugin dependency order. */
export function buildSchema(plugins: readonly OpsGraphPlugin[] = []): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({});
  builder.mutationType({});
  builder.subscriptionType({});
  addScalars(builder);
  addErrorTypes(builder);
  const { CI } = addCmdb(builder);
  addRelationships(builder, CI);
  addReconcile(builder, CI);
  addAccess(builder);
  addActivity(builder);
  for (const plugin of plugins) {
    try {
      plugin.graphql?.(builder);
    } catch (error) {
      throw new Error(
        `Plugin "${plugin.name}" failed to add its GraphQL types: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  return builder.toSchema({ sortSchema: true });
}
