import { ForbiddenError } from './errors.js';

/**
 * Who acts. Every write takes one: it is recorded in history and activity, and checked against the
 * permissions it carries. The access process derives `permissions` from roles and grants.
 */
export interface Actor {
  readonly kind: 'user' | 'token' | 'system' | 'plugin' | 'anonymous';
  readonly id: string;
  readonly name: string;
  /** Permission names such as `cmdb:write`; `*` grants everything. */
  readonly permissions: readonly string[];
}

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
  tokensManage: 'access:tokens',
} as const;

/**
 * The permission needed to see an event of `type`: `ci.*` needs `cmdb:read`, `token.*` needs
 * `access:tokens`, a plugin's `<plugin>.*` needs `<plugin>:read`.
 */
export function readPermissionOf(eventType: string): string {
  const area = eventType.split('.')[0] ?? eventType;
  if (area === 'ci') return permissions.cmdbRead;
  if (area === 'token') return permissions.tokensManage;
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

export function can(actor: Actor, permission: string): boolean {
  return actor.permissions.includes('*') || actor.permissions.includes(permission);
}

export function assertCan(actor: Actor, permission: string): void {
  if (!can(actor, permission)) throw new ForbiddenError(permission, actor.name);
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
