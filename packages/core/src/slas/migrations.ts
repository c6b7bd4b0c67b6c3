import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** SLA definitions (seeded with ITIL defaults) and the timers attached to incidents. Frozen. */
export const slasMigrations: Record<string, Migration> = {
  '0017_slas': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sla_definitions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('priority', 'smallint', (c) => c.notNull().check(sql`priority between 1 and 5`))
        .addColumn('response_minutes', 'integer', (c) => c.notNull().check(sql`response_minutes > 0`))
        .addColumn('resolution_minutes', 'integer', (c) => c.notNull().check(sql`resolution_minutes > 0`))
        .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // One active definition per priority: which one applies is never ambiguous.
      await sql`create unique index sla_definitions_active_priority on sla_definitions (priority) where active`.execute(
        db,
      );
      // ITIL-style defaults; operators edit or replace them.
      await sql`
        insert into sla_definitions (id, name, priority, response_minutes, resolution_minutes, created_at, updated_at)
        values (gen_random_uuid(), 'P1 critical', 1, 15, 240, now(), now()),
               (gen_random_uuid(), 'P2 high', 2, 30, 480, now(), now()),
               (gen_random_uuid(), 'P3 moderate', 3, 240, 4320, now(), now()),
               (gen_random_uuid(), 'P4 low', 4, 1440, 7200, now(), now()),
               (gen_random_uuid(), 'P5 planning', 5, 2880, 14400, now(), now())`.execute(db);

      await db.schema
        .createTable('sla_timers')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        .addColumn('definition_id', 'uuid', (c) => c.notNull().references('sla_definitions.id'))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('response', 'resolution')`))
        .addColumn('priority', 'smallint', (c) => c.notNull())
        .addColumn('target_minutes', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('running', 'paused', 'met', 'breached', 'cancelled')`),
        )
        .addColumn('elapsed_ms', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('running_since', 'timestamptz')
        .addColumn('warned_at', 'timestamptz')
        .addColumn('breached_at', 'timestamptz')
        .addColumn('stopped_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint(
          'sla_timers_running_since',
          sql`(state = 'running') = (running_since is not null)`,
        )
        .execute();
      await db.schema
        .createIndex('sla_timers_incident_idx')
        .on('sla_timers')
        .columns(['incident_id', 'created_at'])
        .execute();
      // What the sweep scans: running timers only.
      await sql`create index sla_timers_running_idx on sla_timers (running_since) where state = 'running'`.execute(
        db,
      );
    },
  },
  /**
   * Business-hours calendars for SLA definitions, and each running timer's warning and due moments
   * stored (computed by its calendar when it starts or resumes), so the sweep compares timestamps
   * instead of doing calendar arithmetic in SQL.
   */
  '0023_slas_business_calendars': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('business_calendars')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('time_zone', 'text', (c) => c.notNull())
        .addColumn('hours', 'jsonb', (c) => c.notNull())
        .addColumn('holidays', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`create unique index business_calendars_name on business_calendars (lower(name))`.execute(db);
      await db.schema
        .alterTable('sla_definitions')
        .addColumn('calendar_id', 'uuid', (c) => c.references('business_calendars.id'))
        .execute();
      await db.schema
        .alterTable('sla_timers')
        .addColumn('calendar_id', 'uuid', (c) => c.references('business_calendars.id'))
        .addColumn('warn_at', 'timestamptz')
        .addColumn('due_at', 'timestamptz')
        .execute();
      // Timers running before calendars existed count round the clock: their moments follow directly.
      await sql`
        update sla_timers
           set warn_at = running_since + ((target_minutes * 45000 - elapsed_ms) * interval '1 millisecond'),
               due_at = running_since + ((target_minutes * 60000 - elapsed_ms) * interval '1 millisecond')
         where state = 'running'`.execute(db);
      await sql`alter table sla_timers add constraint sla_timers_due_when_running
        check ((state = 'running') = (due_at is not null and warn_at is not null))`.execute(db);
      await sql`drop index sla_timers_running_idx`.execute(db);
      // What the sweep scans: the running timers past a moment.
      await sql`create index sla_timers_due_idx on sla_timers (due_at) where state = 'running'`.execute(db);
      await sql`create index sla_timers_warn_idx on sla_timers (warn_at)
        where state = 'running' and warned_at is null`.execute(db);
    },
  },
};
