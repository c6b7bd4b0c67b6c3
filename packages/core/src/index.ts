// The public face of @opsgraph/core. Nothing outside this package imports its internals.
export { intersect as intersectPermissions } from './access/effective.js';
export { ACTOR_CACHE_MS } from './access/freshness.js';
export type {
  AccessRequest,
  AccessRequestFilter,
  AccessRequestState,
  AccessScope,
  ApiToken,
  ApproveAccessRequestInput,
  CreatedApiToken,
  CreateGroupInput,
  CreateTokenInput,
  CreateUserInput,
  DefineRoleInput,
  Grant,
  GrantFilter,
  GrantInput,
  Group,
  GroupFilter,
  GroupMemberRef,
  GroupMembers,
  RejectAccessRequestInput,
  RequestAccessInput,
  Role,
  RoleDefinition,
  UpdateGroupInput,
  UpdateUserInput,
  User,
  UserFilter,
  UserRef,
} from './access/model.js';
export {
  accessRequestStates,
  MAX_REQUEST_SECONDS,
  MAX_SCOPE_CIS,
  scopeModes,
} from './access/model.js';
export {
  type AccessRequestChange,
  accessRequestEventTypes,
  type FollowAccessRequestsOptions,
} from './access/request-changes.js';
export { CORE_ROLES } from './access/roles.js';
export { AccessService, hashSecret } from './access/service.js';
export {
  type Approval,
  type ApprovalDecision,
  type ApprovalDecisionKind,
  type ApprovalFilter,
  type ApprovalOutcome,
  type ApprovalPageRequest,
  type ApprovalState,
  type ApprovalStepInput,
  type ApprovalSubject,
  type ApprovalsSettled,
  type Approvers,
  type ApproversInput,
  approvalDecisions,
  approvalStates,
  type DecideInput as DecideApprovalInput,
  MAX_APPROVAL_STEPS,
  MAX_QUORUM as MAX_APPROVAL_QUORUM,
  type OpenApprovalsOptions,
  type SettledHandler as ApprovalSettledHandler,
  type SubjectTypeOptions as ApprovalSubjectTypeOptions,
} from './approvals/model.js';
export { ApprovalRegistry, ApprovalsService } from './approvals/service.js';
export {
  type CancelMaintenanceOptions,
  MAX_WINDOW_CIS,
  MAX_WINDOW_DAYS,
  type MaintenanceFilter,
  type MaintenancePageRequest,
  type MaintenanceWindow,
  type MaintenanceWindowInput,
} from './changes/model.js';
export { ChangesService } from './changes/service.js';
export {
  type AttributeDefinition,
  type AttributeType,
  type AttributeValues,
  attributeTypes,
  type ClassSchema,
  type IdentityKey,
  identityKeys,
  validateAttributes,
} from './cmdb/attributes.js';
export {
  type CiChange,
  type CiChangeFilter,
  type CiChangeKind,
  ciChangeKinds,
  type FollowCiChangesOptions,
} from './cmdb/changes.js';
export type {
  AttributeFilter,
  Ci,
  CiClass,
  CiClassDefinition,
  CiFilter,
  CiHistoryEntry,
  CiOrder,
  CiOrderField,
  CiPageRequest,
  CiState,
  CiStatus,
  ClassDefinitionInput,
  CmdbSource,
  CmdbWriteOptions,
  CreateCiInput,
  FieldChange,
  HistoryKind,
  OrderDirection,
  Page,
  PageRequest,
  Propagation,
  RelateInput,
  Relationship,
  RelationshipType,
  RelationshipTypeDefinition,
  SourceDefinitionInput,
  UpdateCiInput,
} from './cmdb/model.js';
export {
  ciOrderFields,
  ciStatuses,
  historyKinds,
  MANUAL_SOURCE,
  orderDirections,
  propagations,
} from './cmdb/model.js';
export {
  type CiField,
  ciFields,
  conflictKinds,
  fieldSourceKey,
  itemOutcomes,
  MAX_RECONCILE_CIS,
  MAX_RECONCILE_RELATIONSHIPS,
  type ReconcileConflict,
  type ReconcileConflictKind,
  type ReconcileEnd,
  type ReconcileItemInput,
  type ReconcileOptions,
  type ReconcileOutcome,
  type ReconcilePayload,
  type ReconcileProgress,
  type ReconcileRelationshipInput,
  type ReconcileReport,
} from './cmdb/reconcile.js';
export { CmdbService, RUNTIME_OWNER } from './cmdb/service.js';
export {
  type ConnectOptions,
  connectDatabase,
  type DatabaseHandle,
  DEFAULT_DATABASE,
  type Dialect,
  redact,
} from './db/connect.js';
export type { Database } from './db/database.js';
export {
  type Migration,
  type MigrationReport,
  type MigrationSet,
  type MigrationStatus,
  migrate,
  migrationStatus,
} from './db/migrator.js';
export { type QueryEvent, QueryLog } from './db/query-log.js';
export {
  type AlertChange,
  type AlertChangeKind,
  alertChangeKinds,
  alertEventTypes,
  type FollowAlertsOptions,
} from './events/alert-changes.js';
export type {
  IncidentRule,
  IncidentRuleChangeOptions,
  IncidentRuleInput,
  IncidentRuleMatch,
  IncidentRulePatch,
  IncidentTemplate,
} from './events/incident-rules.js';
export type {
  Alert,
  AlertChangeOptions,
  AlertFilter,
  AlertOrder,
  AlertOrderField,
  AlertPageRequest,
  AlertSeverity,
  AlertStatus,
  EventAction,
  EventInput,
  EventOccurrence,
  EventSeverity,
  EventsOptions,
  IngestOptions,
  IngestOutcome,
  IngestResult,
  NormalizedEvent,
} from './events/model.js';
export {
  alertOrderFields,
  alertStatuses,
  eventActions,
  eventSeverities,
  ingestOutcomes,
  MAX_EVENTS_PER_INGEST,
  OCCURRENCES_KEPT_PER_ALERT,
} from './events/model.js';
export {
  deriveDedupKey,
  hostOfInstance,
  normalizeAlertmanager,
  normalizeGeneric,
  normalizePagerDuty,
} from './events/normalize.js';
export {
  type EventRule,
  type EventRuleInput,
  type EventRulePatch,
  MAX_RULES,
  type RuleActions,
  type RuleChangeOptions,
  type RuleField,
  type RuleMatch,
  ruleFields,
} from './events/rules.js';
export { EventsService } from './events/service.js';
export {
  type FollowIncidentsOptions,
  type IncidentChange,
  type IncidentEventType,
  incidentEventTypes,
  incidentMatches,
} from './incidents/changes.js';
export {
  type AssignIncidentInput,
  activeIncidentStates,
  type CreateIncidentInput,
  DEFAULT_PRIORITY_MATRIX,
  type HoldReason,
  holdReasons,
  type Incident,
  type IncidentChangeOptions,
  type IncidentFilter,
  type IncidentNote,
  type IncidentPageRequest,
  type IncidentState,
  type IncidentsOptions,
  incidentStates,
  incidentTransitions,
  type Level,
  type NoteInput,
  type NoteKind,
  noteKinds,
  type Priority,
  type ResolutionCode,
  resolutionCodes,
  type TransitionInput,
  type UpdateIncidentInput,
} from './incidents/model.js';
export { IncidentsService } from './incidents/service.js';
export { ActivityService, type FollowOptions, visibleTo } from './kernel/activity.js';
export type { ActivityQuery } from './kernel/activity-store.js';
export {
  type Actor,
  type ActorRef,
  type ActorScope,
  actorRef,
  anonymousActor,
  assertCan,
  assertCanOn,
  can,
  canOn,
  canSomewhere,
  grantsPermission,
  permissions,
  pluginActor,
  type ReadOptions,
  reachOf,
  readPermissionOf,
  type ScopeMode,
  systemActor,
  type WriteOptions,
} from './kernel/actor.js';
export { type Clock, ManualClock, systemClock } from './kernel/clock.js';
export {
  ConflictError,
  type ErrorCode,
  ForbiddenError,
  isOpsGraphError,
  NotFoundError,
  OpsGraphError,
  TransitionError,
  UnauthenticatedError,
  ValidationError,
  type ValidationIssue,
} from './kernel/errors.js';
export type {
  AnyDomainEvent,
  DomainEvent,
  DomainEventMap,
  DomainEventType,
  EventSubject,
  Jsonified,
} from './kernel/events.js';
export type { Kernel, WriteScope } from './kernel/kernel.js';
export { createLogger, type Logger } from './kernel/logger.js';
export {
  coreMigrations,
  createOpsGraph,
  type OpsGraph,
  type OpsGraphOptions,
  type OpsGraphTransaction,
} from './kernel/opsgraph.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './kernel/pagination.js';
export {
  definePlugin,
  isPlugin,
  type OpsGraphPlugin,
  orderPlugins,
  PLUGIN_API_VERSION,
  type PluginDefinition,
  type PluginEventHandlers,
  PluginLoadError,
} from './kernel/plugins.js';
export { CiReach, canOnEach, canSeeEvent, eventCiIds, type VisibleEvent } from './kernel/reach.js';
export type { CoreServices, OpsGraphPlugins } from './kernel/registry.js';
export { parseInput } from './kernel/validation.js';
export {
  type FollowRequestsOptions,
  type RequestChange,
  type RequestEventType,
  requestEventTypes,
  requestMatches,
} from './requests/changes.js';
export {
  type ApprovalStep as CatalogApprovalStep,
  type ApprovalStepKind as CatalogApprovalStepKind,
  type AssignTaskInput,
  approvalStepKinds as catalogApprovalStepKinds,
  type CatalogFilter,
  type CatalogItem,
  type CreateCatalogItemInput,
  type FormField,
  type FormFieldType,
  formFieldTypes,
  manualRequestTransitions,
  openRequestStates,
  type RequestChangeOptions,
  type RequestFilter,
  type RequestOrder,
  type RequestOrderField,
  type RequestPageRequest,
  type RequestState,
  type RequestTask,
  type RequestTransitionInput,
  requestOrderFields,
  requestStates,
  requestTransitions,
  type ServiceRequest,
  type SubmitRequestInput,
  type TaskAction,
  type TaskActionKind,
  type TaskFilter,
  type TaskState,
  type TaskTemplate,
  type TaskTransitionInput,
  taskActionKinds,
  taskStates,
  taskTransitions,
  type UpdateCatalogItemInput,
} from './requests/model.js';
export { REQUEST_SUBJECT, RequestsService } from './requests/service.js';
export {
  type DefineSlaInput,
  SLA_WARNING_RATIO,
  type SlaChangeOptions,
  type SlaDefinition,
  type SlaFilter,
  type SlaIncidentRef,
  type SlaTimer,
  type SlaTimerKind,
  type SlaTimerState,
  type SweepOptions as SlaSweepOptions,
  type SweepResult as SlaSweepResult,
  slaTimerKinds,
  slaTimerStates,
  type UpdateSlaInput,
} from './slas/model.js';
export { SlasService, slaSweepActor } from './slas/service.js';
export type {
  AffectedCi,
  CiSummary,
  DependencyPath,
  ImpactAnalysis,
  ImpactQuery,
  ImpactState,
  PathQuery,
  ReachedCi,
  RootCauseCandidate,
  ServiceMap,
  ServiceMapEdge,
  ServiceMapFormat,
  ServiceMapNode,
  ServiceMapQuery,
  TraversalQuery,
} from './topology/model.js';
export {
  MAX_DEPTH as MAX_TOPOLOGY_DEPTH,
  MAX_IDS as MAX_TOPOLOGY_IDS,
  serviceMapFormats,
} from './topology/model.js';
export { TopologyService } from './topology/service.js';
