import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/**
 * Business services' last published health (no row: up since the service's creation) and the cursor of
 * the incremental refresh over the activity stream. Frozen.
 */
export const serviceHealthMigrations: Record<string, Migration> = {
  '0030_service_health': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('service_health')
        .addColumn('service_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('up', 'degraded', 'down', 'maintenance')`),
        )
        .addColumn('since', 'timestamptz', (c) => c.notNull())
        .addColumn('causes', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('service_health_cursor')
        .addColumn('id', 'smallint', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('full_pending', 'boolean', (c) => c.notNull())
        .execute();
      // From the stream's end, with one full judgement first: the backlog's history need not be replayed.
      await sql`insert into service_health_cursor (id, seq, full_pending)
        select 1, coalesce(max(seq), 0), true from activity`.execute(db);
    },
  },
};
