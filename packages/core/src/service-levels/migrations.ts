import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Service level objectives on business services. Frozen: later changes are new migrations. */
export const serviceLevelsMigrations: Record<string, Migration> = {
  '0026_service_levels_slos': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('slos')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('service_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        // Four decimals at most (99.9999): the error budget is an exact ratio in parts per million.
        .addColumn('objective', sql`numeric(7,4)`, (c) =>
          c.notNull().check(sql`objective > 0 and objective < 100`),
        )
        .addColumn('period', 'text', (c) =>
          c.notNull().check(sql`period in ('day', 'week', 'month', 'quarter')`),
        )
        .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('UTC'))
        .addColumn('incident_priorities', 'jsonb', (c) => c.notNull())
        .addColumn('alert_severities', 'jsonb', (c) => c.notNull())
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('retired_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // One live SLO of a name per service: "which SLO" is never ambiguous on a dashboard.
      await sql`create unique index slos_service_name_idx on slos (service_id, lower(name)) where retired_at is null`.execute(
        db,
      );
      // The list's order: by name in byte order (the same on every server's collation), then id.
      await sql`create index slos_name_idx on slos ((name collate "C"), id)`.execute(db);
      // Outages read a service's alerts by CI and time: the CI index of alerts serves it; incidents by
      // service use the GIN index on service_ids.
    },
  },
};
