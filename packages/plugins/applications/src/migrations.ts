import type { Migration } from '@opsgraph/core';
import { type Kysely, sql } from 'kysely';

// Frozen once released: a change is a new migration. Tables carry the plugin's prefix; the CMDB holds the
// CIs (applications, components, the hosts deployments run on), these tables what it does not.
export const migrations: Record<string, Migration> = {
  '0001_applications_tables': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('applications_applications')
        .addColumn('id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('service_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('service_relationship_id', 'uuid')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('applications_applications_service_idx')
        .on('applications_applications')
        .column('service_id')
        .execute();

      await db.schema
        .createTable('applications_components')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('application_id', 'uuid', (c) => c.notNull().references('applications_applications.id'))
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('role', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('relationship_id', 'uuid', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addUniqueConstraint('applications_components_unique', ['application_id', 'ci_id'])
        .execute();

      await db.schema
        .createTable('applications_environments')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('application_id', 'uuid', (c) => c.notNull().references('applications_applications.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('tier', 'text', (c) =>
          c.notNull().check(sql`tier in ('production', 'staging', 'test', 'development')`),
        )
        .addColumn('url', 'text')
        .addColumn('current_release', 'text')
        .addColumn('current_deployment_id', 'uuid')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addUniqueConstraint('applications_environments_unique', ['application_id', 'name'])
        .execute();

      await db.schema
        .createTable('applications_deployments')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('application_id', 'uuid', (c) => c.notNull().references('applications_applications.id'))
        .addColumn('environment_id', 'uuid', (c) => c.notNull().references('applications_environments.id'))
        .addColumn('release', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('pending', 'succeeded', 'failed', 'rolled_back')`),
        )
        .addColumn('deployed_by', 'text', (c) => c.notNull())
        .addColumn('recorded_by', 'jsonb', (c) => c.notNull())
        .addColumn('notes', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('finished_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // The deployments connection of an application: newest first.
      await db.schema
        .createIndex('applications_deployments_app_idx')
        .on('applications_deployments')
        .columns(['application_id', 'started_at', 'id'])
        .execute();
      await db.schema
        .createTable('applications_deployment_targets')
        .addColumn('deployment_id', 'uuid', (c) => c.notNull().references('applications_deployments.id'))
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addPrimaryKeyConstraint('applications_deployment_targets_pk', ['deployment_id', 'ci_id'])
        .execute();

      await db.schema
        .createTable('applications_health_checks')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('application_id', 'uuid', (c) => c.notNull().references('applications_applications.id'))
        .addColumn('environment_id', 'uuid', (c) => c.references('applications_environments.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('expected_status', 'integer', (c) => c.notNull())
        .addColumn('timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('interval_ms', 'integer', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('state', 'text', (c) =>
          c.notNull().defaultTo('unknown').check(sql`state in ('unknown', 'up', 'down')`),
        )
        .addColumn('next_due_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_checked_at', 'timestamptz')
        .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addUniqueConstraint('applications_health_checks_unique', ['application_id', 'name'])
        .execute();
      // The sweep's claim: enabled checks by due time.
      await db.schema
        .createIndex('applications_health_checks_due_idx')
        .on('applications_health_checks')
        .column('next_due_at')
        .where(sql.ref('enabled'), '=', true)
        .execute();
      await db.schema
        .createTable('applications_check_results')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('check_id', 'uuid', (c) => c.notNull().references('applications_health_checks.id'))
        .addColumn('checked_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ok', 'boolean', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .execute();
      await db.schema
        .createIndex('applications_check_results_check_idx')
        .on('applications_check_results')
        .columns(['check_id', 'checked_at', 'id'])
        .execute();
    },
  },
};
