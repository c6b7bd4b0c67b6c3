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
import type {
  ChangeBlackoutTable,
  ChangeRequestCiTable,
  ChangeRequestTable,
  MaintenanceWindowCiTable,
  MaintenanceWindowTable,
} from '../changes/model.js';
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
import type { SchedulerSweepTable } from '../kernel/scheduler-store.js';
import type {
  IncidentMajorPeriodTable,
  IncidentWatcherTable,
  NotificationTable,
  ServiceSubscriptionTable,
} from '../notifications/model.js';
import type {
  BackupComplianceStateTable,
  JobRunTable,
  JobTable,
  JobTargetTable,
} from '../operations/model.js';
import type { DrPlanTable, DrTestTable } from '../operations/recovery-model.js';
import type {
  KnownErrorTable,
  ProblemIncidentTable,
  ProblemNoteTable,
  ProblemTable,
} from '../problems/model.js';
import type { CatalogItemTable, RequestTable, RequestTaskTable } from '../requests/model.js';
import type { ServiceHealthCursorTable, ServiceHealthTable } from '../service-health/model.js';
import type { CapacityMetricTable, CapacitySampleTable } from '../service-levels/capacity-model.js';
import type { SloTable } from '../service-levels/model.js';
import type { BusinessCalendarTable, SlaDefinitionTable, SlaTimerTable } from '../slas/model.js';

/**
 * Core's tables, as Kysely sees them (camelCase; stored snake_case). Plugins do not extend this type:
 * each sees the database through its own view, `kernel.db.withTables<MyTables>()`.
 */
export interface Database {
  activity: ActivityTable;
  schedulerSweeps: SchedulerSweepTable;
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
  businessCalendars: BusinessCalendarTable;
  slaDefinitions: SlaDefinitionTable;
  slaTimers: SlaTimerTable;
  approvals: ApprovalTable;
  approvalDecisions: ApprovalDecisionTable;
  changeRequests: ChangeRequestTable;
  changeRequestCis: ChangeRequestCiTable;
  changeBlackouts: ChangeBlackoutTable;
  problems: ProblemTable;
  problemIncidents: ProblemIncidentTable;
  problemNotes: ProblemNoteTable;
  knownErrors: KnownErrorTable;
  incidentMajorPeriods: IncidentMajorPeriodTable;
  incidentWatchers: IncidentWatcherTable;
  serviceSubscriptions: ServiceSubscriptionTable;
  notifications: NotificationTable;
  catalogItems: CatalogItemTable;
  requests: RequestTable;
  requestTasks: RequestTaskTable;
  slos: SloTable;
  capacityMetrics: CapacityMetricTable;
  capacitySamples: CapacitySampleTable;
  drPlans: DrPlanTable;
  drTests: DrTestTable;
  jobs: JobTable;
  jobTargets: JobTargetTable;
  jobRuns: JobRunTable;
  backupComplianceStates: BackupComplianceStateTable;
  serviceHealth: ServiceHealthTable;
  serviceHealthCursor: ServiceHealthCursorTable;
}
