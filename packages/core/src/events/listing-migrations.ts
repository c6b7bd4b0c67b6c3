import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Indexes that serve the alert list's orders. Frozen: later changes are new migrations. */
export const alertListingMigrations: Record<string, Migration> = {
  '0016_events_alert_orders': {
    async up(db: Kysely<any>) {
      // Keyset pages: each order is its keys then id in one direction, which a btree serves either way.
      await db.schema
        .createIndex('alerts_first_seen_idx')
        .on('alerts')
        .columns(['first_seen', 'id'])
        .execute();
      // The severity order's expression exactly as alert-order.ts writes it, or the planner cannot use it.
      await sql`create index alerts_severity_level_idx on alerts (
        (array_position(array['info','warning','minor','major','critical']::text[], "severity")), last_seen, id)`.execute(
        db,
      );
    },
  },
};
