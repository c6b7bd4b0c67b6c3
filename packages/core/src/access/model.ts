import type { ColumnType, Selectable } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { ScopeMode } from '../kernel/actor.js';

/*
 * ITIL access management: who (users, in nested assignment groups) holds which rights (roles: sets of
 * permissions) where (grants: everywhere, or on a CI and what it contains, or on a business service and
 * what it depends on), for how long, and who asked and who agreed (access requests).
 */

// ---------------------------------------------------------------------------------------------------
// Permissions and scopes

/** `area:verb` (verb may be `*`), or `*` for everything. */
export const permissionName = z
  .string()
  .regex(/^(\*|[a-z][a-z0-9_-]*:[a-z*][a-z0-9_*-]*)$/, 'must look like "cmdb:write" or "*"');

export const scopeModes = ['contains', 'dependencies'] as const satisfies readonly ScopeMode[];

/** Where a grant (or a token) applies: a CI and what it contains, or a CI and what it depends on. */
export interface AccessScope {
  readonly ciId: string;
  readonly mode: ScopeMode;
}

const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID');

export const scopeInput = z.strictObject({
  ciId: uuid.transform((id) => id.toLowerCase()),
  mode: z.enum(scopeModes, 'must be "contains" or "dependencies"'),
});

/** Most CIs one scope may cover: a grant beyond that is refused (ask for a narrower scope). */
export const MAX_SCOPE_CIS = 50_000;

// ---------------------------------------------------------------------------------------------------
// API tokens

export interface ApiTokenTable {
  id: string;
  name: string;
  tokenHash: string;
  prefix: string;
  permissions: ColumnType<string[], string, string>;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** The user the token acts for (it never holds more than they do now); null for a system's token. */
  ownerUserId: ColumnType<string | null, string | null | undefined, string | null>;
  scopeCiId: ColumnType<string | null, string | null | undefined, string | null>;
  scopeMode: ColumnType<ScopeMode | null, ScopeMode | null | undefined, ScopeMode | null>;
}

/** A token as listed: everything but its hash. */
export interface ApiToken {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly permissions: string[];
  /** `<actor kind>:<actor id>` of whoever created it. */
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
  /** The user it acts for: it holds at most what they hold, now. Null: created by a system or plugin. */
  readonly ownerUserId: string | null;
  /** Limits every permission of the token to these CIs; null: wherever its owner holds them. */
  readonly scope: AccessScope | null;
}

export interface CreatedApiToken {
  /** The secret, shown this once: only its hash is kept. */
  readonly secret: string;
  readonly token: ApiToken;
}

export const createTokenInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  permissions: z.array(permissionName).min(1, 'must grant at least one permission').max(100),
  expiresAt: z.coerce.date().nullish(),
  scope: scopeInput.nullish(),
});
export type CreateTokenInput = z.input<typeof createTokenInput>;

// ---------------------------------------------------------------------------------------------------
// Users

export interface AccessUserTable {
  id: string;
  /** The identity provider's id (OIDC `sub`, LDAP DN …); unique when set. */
  externalId: string | null;
  /** Unique, case-insensitively. */
  email: string;
  name: string;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  /** The user's line manager (who approves the user's requests that need manager approval). */
  managerId: ColumnType<string | null, string | null | undefined, string | null>;
  version: ColumnType<number, number | undefined, number>;
  createdAt: Date;
  updatedAt: Date;
}
export type User = Selectable<AccessUserTable>;

const email = z.string().trim().max(320).pipe(z.email('must be an email address'));
const personName = z.string().trim().min(1, 'must not be empty').max(200);
const externalId = z.string().trim().min(1, 'must not be empty').max(500);

export const createUserInput = z.strictObject({
  email,
  name: personName,
  externalId: externalId.nullish(),
  active: z.boolean().default(true),
  /** The user's line manager: an existing user, not the user itself nor one it manages. */
  managerId: uuid.transform((id) => id.toLowerCase()).nullish(),
});
export type CreateUserInput = z.input<typeof createUserInput>;

export const updateUserInput = z.strictObject({
  version: z.int('must be the version you read').positive('must be the version you read'),
  email: email.optional(),
  name: personName.optional(),
  externalId: externalId.nullish(),
  /** false deactivates: the user's actors and tokens stop working at once; grants stay for reactivation. */
  active: z.boolean().optional(),
  /** The user's line manager; null removes it. */
  managerId: uuid.transform((id) => id.toLowerCase()).nullish(),
});
export type UpdateUserInput = z.input<typeof updateUserInput>;

export interface UserFilter extends PageRequest {
  /** Case-insensitive part of the name, email or external id (`%` and `_` literal). */
  readonly search?: string;
  readonly active?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Groups

export interface AccessGroupTable {
  id: string;
  /** Unique, case-insensitively. */
  name: string;
  description: string | null;
  version: ColumnType<number, number | undefined, number>;
  createdAt: Date;
  updatedAt: Date;
}
export type Group = Selectable<AccessGroupTable>;

/** A direct member of a group: a user or another group (exactly one of the two). */
export interface AccessGroupMemberTable {
  groupId: string;
  memberUserId: string | null;
  memberGroupId: string | null;
  createdAt: Date;
}

export type GroupMemberRef = { readonly userId: string } | { readonly groupId: string };

export interface GroupMembers {
  /** Users who are direct members. */
  readonly users: User[];
  /** Groups that are direct members (their members are members too). */
  readonly groups: Group[];
}

const groupName = z.string().trim().min(1, 'must not be empty').max(200);
const description = z.string().trim().max(2000);

export const createGroupInput = z.strictObject({
  name: groupName,
  description: description.nullish(),
});
export type CreateGroupInput = z.input<typeof createGroupInput>;

export const updateGroupInput = z.strictObject({
  version: z.int('must be the version you read').positive('must be the version you read'),
  name: groupName.optional(),
  description: description.nullish(),
});
export type UpdateGroupInput = z.input<typeof updateGroupInput>;

export interface GroupFilter extends PageRequest {
  /** Case-insensitive part of the name (`%` and `_` literal). */
  readonly search?: string;
}

// ---------------------------------------------------------------------------------------------------
// Roles

/** Who owns a role: `core` (seeded), a plugin's name, or `runtime` (defined through the API). */
export type RoleOwner = string;

export interface AccessRoleTable {
  name: string;
  description: string;
  permissions: ColumnType<string[], string, string>;
  owner: string;
  /** Name of the group whose members (transitively) may decide requests for this role. */
  approverGroup: string | null;
  /** Holders of this role may decide requests for this role. */
  approverRole: string | null;
  version: ColumnType<number, number | undefined, number>;
  createdAt: Date;
  updatedAt: Date;
}
export type Role = Selectable<AccessRoleTable>;

/**
 * A role: a named set of permissions. Plugins declare theirs (`roles` of `definePlugin`); operators
 * with `access:admin` define more (`og.access.defineRole`). Access requests for the role are decided
 * by members of `approverGroup`, holders of `approverRole`, or (always) holders of `access:admin`.
 */
export interface RoleDefinition {
  readonly name: string;
  readonly description?: string;
  readonly permissions: readonly string[];
  readonly approverGroup?: string | null;
  readonly approverRole?: string | null;
}

export const roleName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lower-case: a letter, then letters, digits, - or _');

export const roleDefinitionInput = z.strictObject({
  name: roleName,
  description: description.default(''),
  permissions: z.array(permissionName).min(1, 'a role grants at least one permission').max(200),
  approverGroup: groupName.nullish(),
  approverRole: roleName.nullish(),
  /** When redefining: the version you read (a stale one is a ConflictError). */
  version: z.int().positive().optional(),
});
export type DefineRoleInput = z.input<typeof roleDefinitionInput>;

// ---------------------------------------------------------------------------------------------------
// Grants

export interface AccessGrantTable {
  id: string;
  role: string;
  userId: string | null;
  groupId: string | null;
  scopeCiId: string | null;
  scopeMode: ScopeMode | null;
  expiresAt: Date | null;
  reason: string | null;
  /** The access request whose approval made the grant. */
  requestId: string | null;
  createdBy: string;
  createdAt: Date;
  revokedAt: Date | null;
  revokedBy: string | null;
  /** Set by the expiry sweep (the grant stopped counting at `expiresAt` already). */
  expiredAt: Date | null;
}

/** A role given to a user or a group, everywhere (`scope` null) or on a scope, maybe until `expiresAt`. */
export interface Grant {
  readonly id: string;
  readonly role: string;
  readonly userId: string | null;
  readonly groupId: string | null;
  readonly scope: AccessScope | null;
  readonly expiresAt: Date | null;
  readonly reason: string | null;
  readonly requestId: string | null;
  /** `<actor kind>:<actor id>`. */
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
  readonly revokedBy: string | null;
  readonly expiredAt: Date | null;
}

export const grantInput = z
  .strictObject({
    role: roleName,
    userId: uuid.optional(),
    groupId: uuid.optional(),
    scope: scopeInput.nullish(),
    expiresAt: z.coerce.date().nullish(),
    reason: z.string().trim().min(1, 'must not be empty').max(2000).nullish(),
  })
  .superRefine((value, ctx) => {
    if ((value.userId === undefined) === (value.groupId === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['userId'], message: 'give either userId or groupId' });
    }
  });
export type GrantInput = z.input<typeof grantInput>;

export interface GrantFilter {
  readonly userId?: string;
  readonly groupId?: string;
  readonly role?: string;
  /** true: only grants that count now; false: only revoked or expired ones. */
  readonly active?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Access requests

export const accessRequestStates = ['pending', 'approved', 'rejected', 'cancelled'] as const;
export type AccessRequestState = (typeof accessRequestStates)[number];

export interface AccessRequestTable {
  id: string;
  requesterId: string;
  role: string;
  scopeCiId: string | null;
  scopeMode: ScopeMode | null;
  reason: string;
  durationSeconds: number | null;
  until: Date | null;
  state: AccessRequestState;
  version: ColumnType<number, number | undefined, number>;
  decidedBy: string | null;
  decidedAt: Date | null;
  decisionNote: string | null;
  grantId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccessRequest {
  readonly id: string;
  readonly requesterId: string;
  readonly role: string;
  readonly scope: AccessScope | null;
  readonly reason: string;
  /** The grant lasts this long from approval … */
  readonly durationSeconds: number | null;
  /** … or until then; neither: until revoked. */
  readonly until: Date | null;
  readonly state: AccessRequestState;
  readonly version: number;
  /** `<actor kind>:<actor id>` of whoever approved, rejected or cancelled it. */
  readonly decidedBy: string | null;
  readonly decidedAt: Date | null;
  readonly decisionNote: string | null;
  /** The grant its approval made. */
  readonly grantId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A year: longer access is a standing grant, given by an administrator. */
export const MAX_REQUEST_SECONDS = 366 * 24 * 3600;

export const requestAccessInput = z
  .strictObject({
    role: roleName,
    scope: scopeInput.nullish(),
    reason: z.string().trim().min(1, 'must say why').max(2000),
    durationSeconds: z
      .int('must be a whole number of seconds')
      .min(60, 'must be at least 60')
      .max(MAX_REQUEST_SECONDS, `must be at most ${MAX_REQUEST_SECONDS}`)
      .nullish(),
    until: z.coerce.date().nullish(),
  })
  .superRefine((value, ctx) => {
    if (value.durationSeconds != null && value.until != null) {
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'give durationSeconds or until, not both' });
    }
  });
export type RequestAccessInput = z.input<typeof requestAccessInput>;

const note = z.string().trim().min(1, 'must not be empty').max(2000);

export const approveInput = z.strictObject({
  note: note.nullish(),
  /** The version you read; a stale one is a ConflictError. */
  version: z.int().positive().optional(),
});
export type ApproveAccessRequestInput = z.input<typeof approveInput>;

export const rejectInput = z.strictObject({
  note,
  version: z.int().positive().optional(),
});
export type RejectAccessRequestInput = z.input<typeof rejectInput>;

export interface AccessRequestFilter {
  readonly state?: AccessRequestState;
  readonly requesterId?: string;
  /** Only pending requests the actor may decide (as approver or access:admin), whoever asked. */
  readonly decidable?: boolean;
  /** At most this many, newest first (default 100, at most 500). */
  readonly first?: number;
}

// ---------------------------------------------------------------------------------------------------
// Effective access

/** Which user an actor is built for: by id, or by the identity provider's id (maybe creating the user). */
export type UserRef =
  | { readonly id: string }
  | {
      readonly externalId: string;
      /** When no user has this externalId: create one with these (audited as the system). */
      readonly provision?: { readonly email: string; readonly name: string };
    };

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'token.created': { token: ApiToken };
    'token.revoked': { token: ApiToken };
    'user.created': { user: User };
    'user.updated': { user: User; changes: string[] };
    'group.created': { group: Group };
    'group.updated': { group: Group; changes: string[] };
    'group.member_added': { groupId: string; member: GroupMemberRef };
    'group.member_removed': { groupId: string; member: GroupMemberRef };
    'role.defined': { role: Role; created: boolean };
    'grant.created': { grant: Grant };
    'grant.revoked': { grant: Grant };
    'grant.expired': { grant: Grant };
    'access_request.created': { request: AccessRequest };
    'access_request.approved': { request: AccessRequest; grant: Grant };
    'access_request.rejected': { request: AccessRequest };
    'access_request.cancelled': { request: AccessRequest };
  }
}
