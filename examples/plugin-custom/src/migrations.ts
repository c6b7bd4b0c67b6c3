import type { Migration } from '@opsgraph/core';
import { type Kysely, sql } from 'kysely';

// Frozen once released: a change is a new migration. Tables carry the plugin's prefix; the ledger
// (`og_migrations_certificates`) is the plugin's own.
export const migrations: Record<string, Migration> = {
  '0001_certificates': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('certificates_certificates')
        // One row per certificate CI: what the CMDB does not hold (the PEM, the alert state).
        .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('pem', 'text')
        .addColumn('alert_level', 'text', (c) =>
          c.notNull().defaultTo('ok').check(sql`alert_level in ('ok', 'warning', 'critical')`),
        )
        .addColumn('level_changed_at', 'timestamptz')
        .addColumn('renewed_by', 'uuid', (c) => c.references('cis.id'))
        .addColumn('imported_at', 'timestamptz')
        .execute();
    },
  },
};
