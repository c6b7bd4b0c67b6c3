import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Incident management's tables. Frozen: later changes are new migrations. */
export const incidentsMigrations: Record<string, Migration> = {
  '0014_incidents': {
    async up(db: Kysely<any>) {
      // Human numbers INC0001001, INC0001002 …: a sequence, so concurrent creates never share one.
      await sql`create sequence incident_number_seq start with 1001`.execute(db);
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull().unique())
        .addColumn('short_description', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('caller_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('service_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('impact', 'smallint', (c) => c.notNull().check(sql`impact between 1 and 3`))
        .addColumn('urgency', 'smallint', (c) => c.notNull().check(sql`urgency between 1 and 3`))
        .addColumn('priority', 'smallint', (c) => c.notNull().check(sql`priority between 1 and 5`))
        .addColumn('category', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('assignment_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('assignee_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('state', 'text', (c) =>
          c
            .notNull()
            .check(sql`state in ('new', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled')`),
        )
        .addColumn('hold_reason', 'text')
        .addColumn('resolution_code', 'text')
        .addColumn('resolution_notes', 'text')
        .addColumn('resolved_at', 'timestamptz')
        .addColumn('resolved_by', 'jsonb')
        .addColumn('closed_at', 'timestamptz')
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('reopen_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('major', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('opened_by', 'jsonb', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('incidents_created_idx')
        .on('incidents')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('incidents_state_idx')
        .on('incidents')
        .columns(['state', 'created_at'])
        .execute();
      await db.schema.createIndex('incidents_ci_idx').on('incidents').column('ci_id').execute();
      await db.schema
        .createIndex('incidents_group_idx')
        .on('incidents')
        .column('assignment_group_id')
        .execute();
      await sql`create index incidents_service_ids_idx on incidents using gin (service_ids)`.execute(db);

      await db.schema
        .createTable('incident_alerts')
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        // An alert belongs to one incident at most: duplicates link, they do not open another.
        .addColumn('alert_id', 'uuid', (c) => c.notNull().unique().references('alerts.id'))
        .addColumn('linked_at', 'timestamptz', (c) => c.notNull())
        .addColumn('linked_by', 'jsonb', (c) => c.notNull())
        .addPrimaryKeyConstraint('incident_alerts_pk', ['incident_id', 'alert_id'])
        .execute();

      await db.schema
        .createTable('incident_notes')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('work_note', 'comment')`))
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('author', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        // Insertion order: notes written in the same millisecond still read back as written.
        .addColumn('seq', 'bigint', (c) => c.notNull().generatedAlwaysAsIdentity())
        .execute();
      await db.schema
        .createIndex('incident_notes_incident_idx')
        .on('incident_notes')
        .columns(['incident_id', 'seq'])
        .execute();
    },
  },
};
