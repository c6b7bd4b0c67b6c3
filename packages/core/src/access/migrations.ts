import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/**
 * The roles every installation has (as of 0009), documented in the README. Frozen: later changes are new
 * migrations.
 */
const coreRoles = [
  {
    name: 'admin',
    description: 'Everything, everywhere: the installation administrator.',
    permissions: ['*'],
  },
  {
    name: 'operator',
    description:
      'Runs IT operations: keeps the CMDB, handles events, incidents, problems, changes, requests and operations.',
    permissions: [
      'cmdb:read',
      'cmdb:write',
      'activity:read',
      'event:*',
      'incident:*',
      'problem:*',
      'change:*',
      'request:*',
      'operations:*',
      'access:read',
      'access:tokens',
      'access:request',
    ],
  },
  {
    name: 'agent',
    description:
      'Service desk agent: works incidents, problems and requests; reads the CMDB, changes and events.',
    permissions: [
      'cmdb:read',
      'activity:read',
      'incident:*',
      'problem:read',
      'problem:write',
      'request:read',
      'request:fulfil',
      'change:read',
      'event:read',
      'access:request',
      'access:tokens',
    ],
  },
  {
    name: 'requester',
    description: 'End user: raises requests, follows their incidents, asks for access.',
    permissions: ['request:create', 'request:read', 'incident:read', 'access:request'],
  },
  {
    name: 'viewer',
    description:
      'Reads everything (CMDB, activity, access, incidents, problems, changes, requests, events, operations).',
    permissions: [
      'cmdb:read',
      'activity:read',
      'access:read',
      'incident:read',
      'problem:read',
      'change:read',
      'request:read',
      'event:read',
      'operations:read',
      'access:request',
    ],
  },
];

export const accessMigrations: Record<string, Migration> = {
  '0003_access_api_tokens': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        // SHA-256 of the secret; the secret itself is shown once and never stored.
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('permissions', 'jsonb', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz')
        .addColumn('last_used_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .execute();
    },
  },
  /** Users and (nested) assignment groups. */
  '0008_access_identity': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('access_users')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('external_id', 'text', (c) => c.unique())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`create unique index access_users_email_idx on access_users (lower(email))`.execute(db);
      await db.schema
        .createIndex('access_users_name_idx')
        .on('access_users')
        .columns(['name', 'id'])
        .execute();

      await db.schema
        .createTable('access_groups')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`create unique index access_groups_name_idx on access_groups (lower(name))`.execute(db);
      await db.schema
        .createIndex('access_groups_name_id_idx')
        .on('access_groups')
        .columns(['name', 'id'])
        .execute();

      await db.schema
        .createTable('access_group_members')
        .addColumn('group_id', 'uuid', (c) => c.notNull().references('access_groups.id').onDelete('cascade'))
        .addColumn('member_user_id', 'uuid', (c) => c.references('access_users.id').onDelete('cascade'))
        .addColumn('member_group_id', 'uuid', (c) => c.references('access_groups.id').onDelete('cascade'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint(
          'access_group_members_one_member',
          sql`(member_user_id is null) <> (member_group_id is null)`,
        )
        .addCheckConstraint('access_group_members_not_itself', sql`member_group_id is distinct from group_id`)
        // NULLs are distinct: each constraint binds only the rows of its kind of member.
        .addUniqueConstraint('access_group_members_user_unique', ['group_id', 'member_user_id'])
        .addUniqueConstraint('access_group_members_group_unique', ['group_id', 'member_group_id'])
        .execute();
      // The walks go from a member up to the groups holding it.
      await db.schema
        .createIndex('access_group_members_user_idx')
        .on('access_group_members')
        .column('member_user_id')
        .where(sql.ref('member_user_id'), 'is not', null)
        .execute();
      await db.schema
        .createIndex('access_group_members_group_idx')
        .on('access_group_members')
        .column('member_group_id')
        .where(sql.ref('member_group_id'), 'is not', null)
        .execute();
    },
  },
  /** Roles (core ones seeded), grants (global or scoped, maybe time-bound), token owners and scopes. */
  '0009_access_roles_and_grants': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('access_roles')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('permissions', 'jsonb', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('approver_group', 'text')
        .addColumn('approver_role', 'text', (c) => c.references('access_roles.name'))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db
        .insertInto('access_roles')
        .values(
          coreRoles.map((role) => ({
            name: role.name,
            description: role.description,
            permissions: JSON.stringify(role.permissions),
            owner: 'core',
          })),
        )
        .execute();

      await db.schema
        .createTable('access_grants')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull().references('access_roles.name'))
        .addColumn('user_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('scope_ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('scope_mode', 'text', (c) => c.check(sql`scope_mode in ('contains', 'dependencies')`))
        .addColumn('expires_at', 'timestamptz')
        .addColumn('reason', 'text')
        .addColumn('request_id', 'uuid')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('revoked_by', 'text')
        .addColumn('expired_at', 'timestamptz')
        .addCheckConstraint('access_grants_one_holder', sql`(user_id is null) <> (group_id is null)`)
        .addCheckConstraint('access_grants_scope', sql`(scope_ci_id is null) = (scope_mode is null)`)
        .execute();
      // An actor is built from the grants that still count, of one user and of its groups.
      await db.schema
        .createIndex('access_grants_user_idx')
        .on('access_grants')
        .column('user_id')
        .where(sql<boolean>`user_id is not null and revoked_at is null and expired_at is null`)
        .execute();
      await db.schema
        .createIndex('access_grants_group_idx')
        .on('access_grants')
        .column('group_id')
        .where(sql<boolean>`group_id is not null and revoked_at is null and expired_at is null`)
        .execute();
      // The expiry sweep reads only the time-bound grants not yet marked.
      await db.schema
        .createIndex('access_grants_expiry_idx')
        .on('access_grants')
        .column('expires_at')
        .where(sql<boolean>`expires_at is not null and revoked_at is null and expired_at is null`)
        .execute();

      await db.schema
        .alterTable('api_tokens')
        .addColumn('owner_user_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('scope_ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('scope_mode', 'text', (c) => c.check(sql`scope_mode in ('contains', 'dependencies')`))
        .execute();
      await db.schema
        .createIndex('api_tokens_owner_idx')
        .on('api_tokens')
        .column('owner_user_id')
        .where(sql.ref('owner_user_id'), 'is not', null)
        .execute();
    },
  },
  /** Access requests: pending → approved | rejected | cancelled. */
  '0010_access_requests': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('access_requests')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('requester_id', 'uuid', (c) => c.notNull().references('access_users.id'))
        .addColumn('role', 'text', (c) => c.notNull().references('access_roles.name'))
        .addColumn('scope_ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('scope_mode', 'text', (c) => c.check(sql`scope_mode in ('contains', 'dependencies')`))
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('duration_seconds', 'integer')
        .addColumn('until', 'timestamptz')
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('pending', 'approved', 'rejected', 'cancelled')`),
        )
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('decided_by', 'text')
        .addColumn('decided_at', 'timestamptz')
        .addColumn('decision_note', 'text')
        .addColumn('grant_id', 'uuid', (c) => c.references('access_grants.id'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('access_requests_state_idx')
        .on('access_requests')
        .columns(['state', 'created_at'])
        .execute();
      await db.schema
        .createIndex('access_requests_requester_idx')
        .on('access_requests')
        .columns(['requester_id', 'created_at'])
        .execute();
    },
  },
};
