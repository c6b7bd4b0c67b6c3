import type { OpsGraphPlugin } from '@opsgraph/core';
import type { GraphQLSchema } from 'graphql';
import '../augment.js';
import { createBuilder } from '../builder.js';
import { addAccess } from './access.js';
import { addAccessGrants } from './access-grants.js';
import { addAccessIdentity } from './access-identity.js';
import { addActivity } from './activity.js';
import { addAlertChanged } from './alert-changed.js';
import { addAlerts } from './alerts.js';
import { addApprovals } from './approvals.js';
import { addCapacity } from './capacity.js';
import { addChanges } from './changes.js';
import { addCiChanged } from './ci-changed.js';
import { addCiListing } from './ci-listing.js';
import { addCmdb } from './cmdb.js';
import { addCmdbClasses } from './cmdb-classes.js';
import { addCmdbHistory } from './cmdb-history.js';
import { addErrorTypes } from './errors.js';
import { addEventRules } from './event-rules.js';
import { addIncidents } from './incidents.js';
import { addMaintenance } from './maintenance.js';
import { addNotifications } from './notifications.js';
import { addOperations } from './operations.js';
import { addProblems } from './problems.js';
import { addReconcile } from './reconcile.js';
import { addRecovery } from './recovery.js';
import { addRelationships } from './relationships.js';
import { addRequests } from './requests.js';
import { addScalars } from './scalars.js';
import { addScheduler } from './scheduler.js';
import { addServiceHealth } from './service-health.js';
import { addServiceLevels } from './service-levels.js';
import { addSlas } from './slas.js';
import { addTopology } from './topology.js';

/** Core's schema plus each loaded plugin's contribution, in plugin dependency order. */
export function buildSchema(plugins: readonly OpsGraphPlugin[] = []): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({});
  builder.mutationType({});
  builder.subscriptionType({});
  addScalars(builder);
  addErrorTypes(builder);
  const cmdb = addCmdb(builder);
  const { CI } = cmdb;
  const { OrderDirection } = addCiListing(builder, cmdb);
  addCmdbClasses(builder, { CiClass: cmdb.CIClass });
  addCmdbHistory(builder, CI);
  const { Relationship } = addRelationships(builder, CI);
  addTopology(builder, CI, Relationship);
  addReconcile(builder, cmdb);
  addMaintenance(builder, CI);
  const { ActorRef, ActivityEvent } = addActivity(builder);
  const identity = addAccessIdentity(builder);
  addAccess(builder, identity);
  addAccessGrants(builder, { ...identity, ActivityEvent });
  addCiChanged(builder, { CI, Relationship, ActorRef });
  const alerts = addAlerts(builder, { CI, OrderDirection });
  addAlertChanged(builder, alerts);
  addServiceHealth(builder, { CI, Alert: alerts.Alert });
  addEventRules(builder, alerts);
  const incidents = addIncidents(builder, {
    CI,
    User: identity.User,
    Group: identity.Group,
    Alert: alerts.Alert,
  });
  addSlas(builder, incidents);
  addScheduler(builder);
  const { Approval } = addApprovals(builder, identity);
  addChanges(builder, {
    CI,
    User: identity.User,
    Group: identity.Group,
    Approval,
    OrderDirection,
  });
  addProblems(builder, {
    CI,
    User: identity.User,
    Group: identity.Group,
    OrderDirection,
    ...incidents,
  });
  addNotifications(builder, { CI, User: identity.User, ...incidents });
  addRequests(builder, { CI, User: identity.User, Group: identity.Group, OrderDirection, Approval });
  addServiceLevels(builder, { CI, AlertSeverity: alerts.Severity });
  addCapacity(builder, { CI });
  addRecovery(builder, { CI, Group: identity.Group });
  addOperations(builder, { CI, Group: identity.Group });
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
