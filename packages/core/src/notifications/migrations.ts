import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/**
 * Major incidents and outage notifications: each period an incident was major (who declared and cleared
 * it, when, why), incident watchers, users' subscriptions to business services, and the notifications
 * written for them (an outbox: delivered after commit, retried by the sweep). Frozen.
 */
export const notificationsMigrations: Record<string, Migration> = {
  '0022_incidents_major_notifications': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('incident_major_periods')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        .addColumn('declared_at', 'timestamptz', (c) => c.notNull())
        .addColumn('declared_by', 'jsonb', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('cleared_at', 'timestamptz')
        .addColumn('cleared_by', 'jsonb')
        .addColumn('clear_reason', 'text')
        .execute();
      await db.schema
        .createIndex('incident_major_periods_incident_idx')
        .on('incident_major_periods')
        .columns(['incident_id', 'declared_at'])
        .execute();
      // At most one open period per incident.
      await sql`create unique index incident_major_periods_open on incident_major_periods (incident_id) where cleared_at is null`.execute(
        db,
      );

      await db.schema
        .createTable('incident_watchers')
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('access_users.id').onDelete('cascade'))
        .addColumn('added_at', 'timestamptz', (c) => c.notNull())
        .addColumn('added_by', 'jsonb', (c) => c.notNull())
        .addPrimaryKeyConstraint('incident_watchers_pk', ['incident_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('incident_watchers_user_idx')
        .on('incident_watchers')
        .column('user_id')
        .execute();

      await db.schema
        .createTable('service_subscriptions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('service_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('access_users.id').onDelete('cascade'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addUniqueConstraint('service_subscriptions_unique', ['service_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('service_subscriptions_user_idx')
        .on('service_subscriptions')
        .column('user_id')
        .execute();

      await db.schema
        .createTable('notifications')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('occasion_id', 'uuid', (c) => c.notNull())
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        .addColumn('kind', 'text', (c) =>
          c
            .notNull()
            .check(
              sql`kind in ('major_declared', 'major_update', 'major_resolved', 'major_closed', 'major_cleared')`,
            ),
        )
        .addColumn('recipient_id', 'uuid', (c) => c.notNull().references('access_users.id'))
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'sent', 'failed')`))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('sent_at', 'timestamptz')
        .addColumn('next_attempt_at', 'timestamptz')
        .addColumn('claim_id', 'uuid')
        .addColumn('claimed_until', 'timestamptz')
        .addColumn('content', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        // A user hears of one occasion once per channel.
        .addUniqueConstraint('notifications_once', ['occasion_id', 'recipient_id', 'channel'])
        .execute();
      await db.schema
        .createIndex('notifications_incident_idx')
        .on('notifications')
        .columns(['incident_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('notifications_recipient_idx')
        .on('notifications')
        .columns(['recipient_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('notifications_created_idx')
        .on('notifications')
        .columns(['created_at', 'id'])
        .execute();
      // What delivery and the sweep scan: those still to deliver.
      await sql`create index notifications_due_idx on notifications (next_attempt_at) where status <> 'sent' and next_attempt_at is not null`.execute(
        db,
      );
    },
  },
};
