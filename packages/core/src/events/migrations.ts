import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Event management's tables. Frozen: later changes are new migrations. */
export const eventsMigrations: Record<string, Migration> = {
  /** Alerts (one open or acknowledged per dedup key) and the events folded into them. */
  '0011_events_alerts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('alerts')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('dedup_key', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('open', 'acknowledged', 'closed')`),
        )
        .addColumn('severity', 'text', (c) =>
          c.notNull().check(sql`severity in ('critical', 'major', 'minor', 'warning', 'info')`),
        )
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('count', 'integer', (c) => c.notNull().check(sql`count > 0`))
        .addColumn('first_seen', 'timestamptz', (c) => c.notNull())
        .addColumn('last_seen', 'timestamptz', (c) => c.notNull())
        .addColumn('acknowledged_at', 'timestamptz')
        .addColumn('acknowledged_by', 'jsonb')
        .addColumn('closed_at', 'timestamptz')
        .addColumn('closed_by', 'jsonb')
        .addColumn('close_reason', 'text', (c) => c.check(sql`close_reason in ('cleared', 'manual')`))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // The dedup rule itself: one alert per key until it closes. Ingestion upserts against it
      // (`on conflict (dedup_key) where status <> 'closed'`), so concurrent repeats never make two.
      await sql`create unique index alerts_live_dedup_key_idx on alerts (dedup_key) where status <> 'closed'`.execute(
        db,
      );
      // The list: most recently seen first, maybe by status, maybe on some CIs.
      await db.schema.createIndex('alerts_last_seen_idx').on('alerts').columns(['last_seen', 'id']).execute();
      await db.schema
        .createIndex('alerts_status_last_seen_idx')
        .on('alerts')
        .columns(['status', 'last_seen', 'id'])
        .execute();
      await db.schema
        .createIndex('alerts_ci_idx')
        .on('alerts')
        .columns(['ci_id', 'last_seen'])
        .where(sql.ref('ci_id'), 'is not', null)
        .execute();
      await db.schema.createIndex('alerts_dedup_key_idx').on('alerts').column('dedup_key').execute();

      await db.schema
        .createTable('event_occurrences')
        .addColumn('seq', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('alert_id', 'uuid', (c) => c.notNull().references('alerts.id'))
        .addColumn('dedup_key', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('ci_id', 'uuid')
        .addColumn('occurred_at', 'timestamptz')
        .addColumn('received_at', 'timestamptz', (c) => c.notNull())
        .addColumn('raw', 'jsonb')
        .execute();
      await db.schema
        .createIndex('event_occurrences_alert_idx')
        .on('event_occurrences')
        .columns(['alert_id', 'seq'])
        .execute();

      // Binding events to CIs asks by host name and by name, in any case.
      await sql`create index cis_lower_name_idx on cis (lower(name))`.execute(db);
      await sql`create index cis_lower_hostname_idx on cis (lower(attributes->>'hostname'))`.execute(db);
    },
  },

  /** Event rules; and on alerts: flapping, maintenance suppression, topology roots, label groups. */
  '0013_events_rules_and_correlation': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('event_rules')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('enabled', 'boolean', (c) => c.notNull())
        .addColumn('match', 'jsonb', (c) => c.notNull())
        .addColumn('actions', 'jsonb', (c) => c.notNull())
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('updated_by', 'jsonb', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .alterTable('alerts')
        .addColumn('flapping', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
      await db.schema
        .alterTable('alerts')
        .addColumn('maintenance_window_id', 'uuid', (c) => c.references('maintenance_windows.id'))
        .execute();
      await db.schema
        .alterTable('alerts')
        .addColumn('root_alert_id', 'uuid', (c) => c.references('alerts.id'))
        .execute();
      await db.schema.alterTable('alerts').addColumn('group_key', 'text').execute();
      // A root's group, and re-grouping when a root closes.
      await db.schema
        .createIndex('alerts_root_idx')
        .on('alerts')
        .column('root_alert_id')
        .where(sql.ref('root_alert_id'), 'is not', null)
        .execute();
      // A label group's live members.
      await sql`create index alerts_live_group_key_idx on alerts (group_key) where group_key is not null and status <> 'closed'`.execute(
        db,
      );
      // Correlation looks for live alerts on the CIs a walk reached.
      await sql`create index alerts_live_ci_idx on alerts (ci_id, first_seen) where status <> 'closed' and ci_id is not null`.execute(
        db,
      );
    },
  },

  /** Alert -> incident rules (after incidents exist, 0014). */
  '0015_events_incident_rules': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('incident_rules')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('enabled', 'boolean', (c) => c.notNull())
        .addColumn('match', 'jsonb', (c) => c.notNull())
        .addColumn('incident', 'jsonb', (c) => c.notNull())
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('updated_by', 'jsonb', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },

  /**
   * Occurrences lose their foreign key to alerts: ingest writes them in the same transaction as the
   * alert upsert that returned their ids, and alerts are never deleted, so the check per row (most of
   * that insert's server time) guarded nothing. See the README (Event management).
   */
  '0031_events_occurrences_no_fk': {
    async up(db: Kysely<any>) {
      await sql`alter table event_occurrences drop constraint if exists event_occurrences_alert_id_fkey`.execute(
        db,
      );
    },
  },

  /**
   * The flapping count (closes of a dedup key within the window) by an index range, not by reading
   * every closed alert the key ever had: with 2,000 closed alerts per key it took 29 ms (PostgreSQL)
   * and 37 ms (PGlite) for 100 new alerts' keys, 1.2 and 1.8 ms with this index. Only closed alerts
   * are in it, so the repeats' updates of live alerts never touch it.
   */
  '0038_events_closed_alerts_by_key': {
    async up(db: Kysely<any>) {
      await sql`create index alerts_closed_key_idx on alerts (dedup_key, closed_at) where status = 'closed'`.execute(
        db,
      );
    },
  },
};
