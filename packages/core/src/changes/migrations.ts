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
};
