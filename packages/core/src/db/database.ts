import type {
  AccessGrantTable,
  AccessGroupMemberTable,
  AccessGroupTable,
  AccessRequestTable,
  AccessRoleTable,
  AccessUserTable,
  ApiTokenTable,
} from '../access/model.js';
import type { ApprovalDecisionTable, ApprovalTable } from '../approvals/model.js';
import type { MaintenanceWindowCiTable, MaintenanceWindowTable } from '../changes/model.js';
import type {
  CiClassTable,
  CiHistoryTable,
  CiIdentityTable,
  CiTable,
  CmdbSourceTable,
  RelationshipTable,
  RelationshipTypeTable,
} from '../cmdb/model.js';
import type { IncidentRuleTable } from '../events/incident-rules.js';
import type { AlertTable, EventOccurrenceTable } from '../events/model.js';
import type { EventRuleTable } from '../events/rules.js';
import type { IncidentAlertTable, IncidentNoteTable, IncidentTable } from '../incidents/model.js';
import type { ActivityTable } from '../kernel/activity-store.js';
import type { CatalogItemTable, RequestTable, RequestTaskTable } from '../requests/model.js';
import type { SlaDefinitionTable, SlaTimerTable } from '../slas/model.js';

/**
 * Core's tables, as Kysely sees them (camelCase; stored snake_case). Plugins do not extend this type:
 * each sees the database through its own view, `kernel.db.withTables<MyTables>()`.
 */
export interface Database {
  activity: ActivityTable;
  ciClasses: CiClassTable;
  cis: CiTable;
  relationshipTypes: RelationshipTypeTable;
  relationships: RelationshipTable;
  ciIdentities: CiIdentityTable;
  cmdbSources: CmdbSourceTable;
  ciHistory: CiHistoryTable;
  apiTokens: ApiTokenTable;
  accessUsers: AccessUserTable;
  accessGroups: AccessGroupTable;
  accessGroupMembers: AccessGroupMemberTable;
  accessRoles: AccessRoleTable;
  accessGrants: AccessGrantTable;
  accessRequests: AccessRequestTable;
  alerts: AlertTable;
  eventOccurrences: EventOccurrenceTable;
  eventRules: EventRuleTable;
  incidentRules: IncidentRuleTable;
  maintenanceWindows: MaintenanceWindowTable;
  maintenanceWindowCis: MaintenanceWindowCiTable;
  incidents: IncidentTable;
  incidentAlerts: IncidentAlertTable;
  incidentNotes: IncidentNoteTable;
  slaDefinitions: SlaDefinitionTable;
  slaTimers: SlaTimerTable;
  approvals: ApprovalTable;
  approvalDecisions: ApprovalDecisionTable;
  catalogItems: CatalogItemTable;
  requests: RequestTable;
  requestTasks: RequestTaskTable;
}
