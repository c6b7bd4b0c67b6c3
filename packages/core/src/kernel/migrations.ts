import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

export const kernelMigrations: Record<string, Migration> = {
  '0001_kernel_activity': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('activity')
        .addColumn('seq', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('id', 'uuid', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('subject_type', 'text')
        .addColumn('subject_id', 'text')
        .addColumn('actor_kind', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_name', 'text', (c) => c.notNull())
        .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('activity_subject_idx')
        .on('activity')
        .columns(['subject_type', 'subject_id', 'seq'])
        .execute();
      await db.schema.createIndex('activity_type_idx').on('activity').columns(['type', 'seq']).execute();
    },
  },
  '0028_kernel_scheduler': {
    async up(db: Kysely<any>) {
      // The last run of each sweep, shared by replicas (the cadence) and shown to operators.
      await db.schema
        .createTable('scheduler_sweeps')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_run_at', 'timestamptz')
        .addColumn('last_duration_ms', 'integer')
        .addColumn('last_summary', 'jsonb')
        .addColumn('last_error_at', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('runs', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  /**
   * The activity payload is stored as `json` (the text as written) rather than `jsonb`: nothing
   * queries inside it, every reader parses it whole, and appending hundreds of events a write no
   * longer converts each to jsonb. See the README (Domain events).
   */
  '0032_kernel_activity_payload_json': {
    async up(db: Kysely<any>) {
      await sql`alter table activity alter column payload drop default`.execute(db);
      await sql`alter table activity alter column payload type json using payload::json`.execute(db);
      await sql`alter table activity alter column payload set default '{}'::json`.execute(db);
    },
  },
  /**
   * No unique index on the event id: nothing looks an event up by it (readers go by seq, type or
   * subject), ids are random UUIDs made at append, and the index was about a fifth of the append's
   * time for bulk writes. See the README (Domain events).
   */
  '0035_kernel_activity_id_not_indexed': {
    async up(db: Kysely<any>) {
      await sql`alter table activity drop constraint if exists activity_id_key`.execute(db);
    },
  },
};
