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
};
