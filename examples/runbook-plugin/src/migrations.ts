import type { Migration } from '@opsgraph/core';
import type { Kysely } from 'kysely';

// Frozen once released: a new change is a new migration. Tables carry the plugin's prefix.
export const migrations: Record<string, Migration> = {
  '0001_runbooks': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('runbooks_runbooks')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('archived', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('runbooks_runbooks_ci_idx')
        .on('runbooks_runbooks')
        .column('ci_id')
        .execute();
    },
  },
};
