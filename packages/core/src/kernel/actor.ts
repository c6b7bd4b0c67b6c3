import { ForbiddenError } from './errors.js';

/**
 * Who acts. Every write takes one: it is recorded in history and activity, and checked against the
 * permissions it carries. The access process derives `permissions` from roles and grants.
 */
export interface Actor {
  readonly kind: 'user' | 'token' | 'system' | 'plugin' | 'anonymous';
  readonly id: string;
  readonly name: string;
  /**
   * Permissions held everywhere, such as `cmdb:write`; `cmdb:*` grants every permission of an area,
   * `*` grants everything.
   */
  readonly permissions: readonly string[];
  /**
   * Permissions held only on some CIs (a grant scoped to a CI and what it contains, or to a business
   * service and its dependencies), resolved against the CMDB when the actor was built.
   */
  readonly scopes?: readonly ActorScope[];
  /** The user this actor acts for: the user itself, or the owner of a token. */
  readonly userId?: string;
}

/** Permissions an actor holds on a set of CIs only. */
export interface ActorScope {
  /** The CI the grant names. */
  readonly ciId: string;
  /** `contains`: the CI and what it contains; `dependencies`: the CI and what it depends on. */
  readonly mode: ScopeMode;
  readonly permissions: readonly string[];
  /** Every CI the scope covers, the named one included. */
  readonly ciIds: ReadonlySet<string>;
}

export type ScopeMode = 'contains' | 'dependencies';

/** The part of an actor stored with a record. */
export interface ActorRef {
  readonly kind: Actor['kind'];
  readonly id: string;
  readonly name: string;
}

/** Permissions of core; plugins add their own (`<plugin>:<verb>`). */
export const permissions = {
  activityRead: 'activity:read',
  cmdbRead: 'cmdb:read',
  cmdbWrite: 'cmdb:write',
  /** Define CI classes, relationship types and discovery sources. */
  cmdbAdmin: 'cmdb:admin',
  /** See users, groups, roles, grants and access requests. */
  accessRead: 'access:read',
  /** Manage users, groups, roles and grants; decide any access request. */
  accessAdmin: 'access:admin',
  /** Manage one's own API tokens. */
  tokensManage: 'access:tokens',
  /** Ask for access (a role, maybe on a scope, maybe for a while). */
  accessRequest: 'access:request',
  incidentRead: 'incident:read',
  incidentWrite: 'incident:write',
  incidentAssign: 'incident:assign',
  /** Declare and clear major incidents, post their status updates, manage who is told of them. */
  incidentMajor: 'incident:major',
  problemRead: 'problem:read',
  problemWrite: 'problem:write',
  changeRead: 'change:read',
  changeWrite: 'change:write',
  changeApprove: 'change:approve',
  requestRead: 'request:read',
  requestCreate: 'request:create',
  requestFulfil: 'request:fulfil',
  /** Define the service catalog; read every request. */
  requestAdmin: 'request:admin',
  eventRead: 'event:read',
  eventWrite: 'event:write',
  /** Configure event processing: event rules. */
  eventAdmin: 'event:admin',
  operationsRead: 'operations:read',
  operationsWrite: 'operations:write',
} as const;

/** The areas of the access process whose events `access:read` lets one see. */
const accessAreas = new Set(['user', 'group', 'role', 'grant', 'access_request']);
// IT operations control and service levels: jobs and runs, backups, DR plans and tests, SLOs, capacity.
const operationsAreas = new Set(['job', 'job_run', 'backup', 'dr_plan', 'dr_test', 'slo', 'capacity_metric']);

/**
 * The permission needed to see an event of `type`: `ci.*` needs `cmdb:read`, `token.*` needs
 * `access:tokens`, `alert.*`, `event_rule.*`, `incident_rule.*` and `service.*` (health) need `event:read`, `maintenance.*` needs `change:read`, `sla.*`, `business_calendar.*` and `service_subscription.*` need `incident:read`, `approval.*` needs `activity:read`, `known_error.*` needs `problem:read`, `request.*` and `request_task.*` need `request:fulfil`, `catalog_item.*` needs `request:read`, `user.*`, `group.*`, `role.*`, `grant.*` and `access_request.*` need `access:read`, `job.*`, `job_run.*`, `backup.*`, `dr_plan.*`, `dr_test.*`, `slo.*` and `capacity_metric.*` need `operations:read`,
 * a plugin's `<plugin>.*` needs `<plugin>:read`.
 */
export function readPermissionOf(eventType: string): string {
  const area = eventType.split('.')[0] ?? eventType;
  if (area === 'ci') return permissions.cmdbRead;
  if (area === 'token') return permissions.tokensManage;
  if (area === 'alert' || area === 'event_rule' || area === 'incident_rule') return permissions.eventRead;
  // A business service's health is derived from alerts: event:read on the service.
  if (area === 'service') return permissions.eventRead;
  if (area === 'maintenance') return permissions.changeRead;
  // SLA definitions, their calendars and timers are part of incident management.
  if (area === 'sla' || area === 'business_calendar') return permissions.incidentRead;
  // Approvals serve several processes (changes, requests): who reads the whole stream sees them.
  if (area === 'approval') return permissions.activityRead;
  // Known errors are part of problem management.
  if (area === 'known_error') return permissions.problemRead;
  // Subscriptions to business services' outage notifications, too.
  if (area === 'service_subscription') return permissions.incidentRead;
  if (accessAreas.has(area)) return permissions.accessRead;
  if (operationsAreas.has(area)) return permissions.operationsRead;
  // request:read alone shows one's own requests only: the stream of everyone's is for fulfillers.
  if (area === 'request' || area === 'request_task') return permissions.requestFulfil;
  if (area === 'catalog_item') return permissions.requestRead;
  return `${area}:read`;
}

export const systemActor = (name = 'system'): Actor => ({
  kind: 'system',
  id: name,
  name,
  permissions: ['*'],
});

export const pluginActor = (plugin: string): Actor => ({
  kind: 'plugin',
  id: plugin,
  name: `plugin ${plugin}`,
  permissions: ['*'],
});

export const anonymousActor: Actor = Object.freeze({
  kind: 'anonymous',
  id: 'anonymous',
  name: 'anonymous',
  permissions: [],
});

/** Whether a held permission (maybe `*` or `area:*`) gives `permission`. */
export function grantsPermission(held: readonly string[], permission: string): boolean {
  if (held.includes('*') || held.includes(permission)) return true;
  const colon = permission.indexOf(':');
  return colon > 0 && held.includes(`${permission.slice(0, colon)}:*`);
}

/** Whether the actor holds `permission` everywhere (scoped grants do not count). */
export function can(actor: Actor, permission: string): boolean {
  return grantsPermission(actor.permissions, permission);
}

export function assertCan(actor: Actor, permission: string): void {
  if (!can(actor, permission)) throw new ForbiddenError(permission, actor.name);
}

/** Whether the actor holds `permission` on one CI: everywhere, or through a scope covering it. */
export function canOn(actor: Actor, permission: string, ciId: string): boolean {
  if (can(actor, permission)) return true;
  return (actor.scopes ?? []).some((s) => s.ciIds.has(ciId) && grantsPermission(s.permissions, permission));
}

export function assertCanOn(actor: Actor, permission: string, ciId: string): void {
  if (!canOn(actor, permission, ciId)) throw new ForbiddenError(permission, actor.name);
}

/**
 * Where the actor holds `permission`: `'all'`, or the CIs its scopes cover (maybe none). Lists filter
 * by it, so a scoped reader sees only its CIs.
 */
export function reachOf(actor: Actor, permission: string): 'all' | ReadonlySet<string> {
  if (can(actor, permission)) return 'all';
  const reached = new Set<string>();
  for (const scope of actor.scopes ?? []) {
    if (grantsPermission(scope.permissions, permission)) for (const id of scope.ciIds) reached.add(id);
  }
  return reached;
}

/** Whether the actor holds `permission` anywhere at all (everywhere or on some CIs). */
export function canSomewhere(actor: Actor, permission: string): boolean {
  return (
    can(actor, permission) ||
    (actor.scopes ?? []).some((s) => s.ciIds.size > 0 && grantsPermission(s.permissions, permission))
  );
}

export const actorRef = (actor: Actor): ActorRef => ({ kind: actor.kind, id: actor.id, name: actor.name });

/** Options every write takes. */
export interface WriteOptions {
  readonly actor: Actor;
}

/** Options every read takes: with an actor, its read permission is checked. */
export interface ReadOptions {
  readonly actor?: Actor;
}
