import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Capacity metrics on CIs and their samples. Frozen: later changes are new migrations. */
export const capacityMigrations: Record<string, Migration> = {
  '0027_service_levels_capacity': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('capacity_metrics')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('kind', 'text', (c) =>
          c.notNull().check(sql`kind in ('storage', 'cpu', 'memory', 'rack_units', 'power')`),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('unit', 'text', (c) => c.notNull())
        .addColumn('capacity', 'double precision', (c) => c.notNull().check(sql`capacity > 0`))
        .addColumn('warning_percent', 'double precision', (c) => c.notNull())
        .addColumn('critical_percent', 'double precision', (c) => c.notNull())
        .addColumn('level', 'text', (c) =>
          c.notNull().defaultTo('ok').check(sql`level in ('ok', 'warning', 'critical')`),
        )
        .addColumn('latest_at', 'timestamptz')
        .addColumn('latest_value', 'double precision')
        .addColumn('retired_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint(
          'capacity_metrics_thresholds_check',
          sql`0 < warning_percent and warning_percent < critical_percent and critical_percent <= 100`,
        )
        .execute();
      // One live metric of a name per CI and kind; a retired one frees its name.
      await sql`create unique index capacity_metrics_name_idx on capacity_metrics (ci_id, kind, lower(name)) where retired_at is null`.execute(
        db,
      );
      await db.schema
        .createIndex('capacity_metrics_created_idx')
        .on('capacity_metrics')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('capacity_metrics_ci_idx')
        .on('capacity_metrics')
        .columns(['ci_id', 'created_at', 'id'])
        .execute();

      // A time series: the key is the only index, and serves every read (by metric, by time).
      await db.schema
        .createTable('capacity_samples')
        .addColumn('metric_id', 'uuid', (c) => c.notNull().references('capacity_metrics.id'))
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('capacity_samples_pk', ['metric_id', 'at'])
        .execute();
    },
  },
};
