import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Change management's tables. Frozen: later changes are new migrations. */
export const changesMigrations: Record<string, Migration> = {
  /**
   * Maintenance windows: a time span on some CIs (and what they contain) during which their alerts are
   * kept but suppressed. Change requests (later) create them; operators may schedule them directly.
   */
  '0012_changes_maintenance_windows': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('maintenance_windows')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
        // The change request that scheduled it, once change requests exist (no foreign key yet).
        .addColumn('change_id', 'uuid')
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('cancelled_by', 'jsonb')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint('maintenance_windows_span_check', sql`ends_at > starts_at`)
        .execute();
      // Ingestion asks "which windows are active now": few rows match, whatever the history.
      await db.schema
        .createIndex('maintenance_windows_active_idx')
        .on('maintenance_windows')
        .columns(['ends_at', 'starts_at'])
        .where(sql.ref('cancelled_at'), 'is', null)
        .execute();
      await db.schema
        .createTable('maintenance_window_cis')
        .addColumn('window_id', 'uuid', (c) => c.notNull().references('maintenance_windows.id'))
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addPrimaryKeyConstraint('maintenance_window_cis_pk', ['window_id', 'ci_id'])
        .execute();
      await db.schema
        .createIndex('maintenance_window_cis_ci_idx')
        .on('maintenance_window_cis')
        .columns(['ci_id', 'window_id'])
        .execute();
    },
  },
  /**
   * Change requests (numbered CHG0001001 on), the CIs they affect, and blackout windows; the role of
   * the change authority that the default approval policy names.
   */
  '0019_changes_requests': {
    async up(db: Kysely<any>) {
      await sql`create sequence change_number_seq start with 1001`.execute(db);
      await db.schema
        .createTable('change_requests')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('standard', 'normal', 'emergency')`))
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('justification', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('risk', 'text', (c) => c.notNull().check(sql`risk in ('low', 'medium', 'high')`))
        // false: assessed from the business services its CIs reach; true: given by a person.
        .addColumn('risk_given', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('service_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('planned_start', 'timestamptz')
        .addColumn('planned_end', 'timestamptz')
        .addColumn('state', 'text', (c) =>
          c
            .notNull()
            .check(
              sql`state in ('new', 'assess', 'authorize', 'scheduled', 'implement', 'review', 'closed', 'cancelled', 'rejected')`,
            ),
        )
        .addColumn('approval', 'text', (c) =>
          c
            .notNull()
            .check(sql`approval in ('not_requested', 'not_required', 'requested', 'approved', 'rejected')`),
        )
        .addColumn('assignment_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('assignee_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('requested_by_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('outcome', 'text', (c) => c.check(sql`outcome in ('successful', 'failed', 'backed_out')`))
        .addColumn('review_notes', 'text')
        .addColumn('close_notes', 'text')
        .addColumn('cancel_reason', 'text')
        .addColumn('maintenance_window_id', 'uuid', (c) => c.references('maintenance_windows.id'))
        // What was accepted (or flagged) when it was scheduled: { by, at, conflicts }.
        .addColumn('accepted_conflicts', 'jsonb')
        .addColumn('opened_by', 'jsonb', (c) => c.notNull())
        .addColumn('implemented_at', 'timestamptz')
        .addColumn('reviewed_at', 'timestamptz')
        .addColumn('closed_at', 'timestamptz')
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint(
          'change_requests_span_check',
          sql`planned_start is null or planned_end is null or planned_end > planned_start`,
        )
        .execute();
      await db.schema
        .createIndex('change_requests_created_idx')
        .on('change_requests')
        .columns(['created_at', 'id'])
        .execute();
      // Conflict detection scans the live changes by planned window.
      await sql`create index change_requests_live_idx on change_requests (planned_start, planned_end)
        where state in ('assess', 'authorize', 'scheduled', 'implement')`.execute(db);
      await db.schema
        .createTable('change_request_cis')
        .addColumn('change_id', 'uuid', (c) => c.notNull().references('change_requests.id'))
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addPrimaryKeyConstraint('change_request_cis_pk', ['change_id', 'ci_id'])
        .execute();
      await db.schema
        .createIndex('change_request_cis_ci_idx')
        .on('change_request_cis')
        .columns(['ci_id', 'change_id'])
        .execute();

      await db.schema
        .createTable('change_blackouts')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
        // The CI it covers (with what it contains and what contains it); null: every CI.
        .addColumn('ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint('change_blackouts_span_check', sql`ends_at > starts_at`)
        .execute();

      // The change authority of the default approval policy (owners may grant it to their CAB).
      await sql`insert into access_roles (name, description, permissions, owner)
        values ('change_manager', 'Change authority: reads changes and approves them when an approval policy names the role.',
                '["change:read", "change:approve", "cmdb:read", "activity:read"]'::jsonb, 'core')
        on conflict (name) do nothing`.execute(db);
    },
  },
  '0029_changes_maintenance_edges': {
    async up(db: Kysely<any>) {
      // When the scheduler announced each window's start and end. Windows already begun or over when
      // this lands count as announced, so an upgrade does not replay history as news.
      await db.schema
        .alterTable('maintenance_windows')
        .addColumn('started_noted_at', 'timestamptz')
        .addColumn('ended_noted_at', 'timestamptz')
        .execute();
      await sql`update maintenance_windows set started_noted_at = starts_at where starts_at <= now()`.execute(
        db,
      );
      await sql`update maintenance_windows set ended_noted_at = ends_at where ends_at <= now()`.execute(db);
      await db.schema
        .createIndex('maintenance_windows_unnoted_idx')
        .on('maintenance_windows')
        .columns(['starts_at', 'ends_at'])
        .where(sql.ref('ended_noted_at'), 'is', null)
        .execute();
    },
  },
};
