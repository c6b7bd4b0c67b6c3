import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Scheduled jobs, their targets and runs, and the backup compliance last recorded per CI. Frozen. */
export const operationsMigrations: Record<string, Migration> = {
  '0024_operations_jobs': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) =>
          c.notNull().check(sql`kind in ('backup', 'batch', 'patching', 'dr_test')`),
        )
        .addColumn('schedule', 'text', (c) => c.notNull())
        .addColumn('time_zone', 'text', (c) => c.notNull())
        .addColumn('expected_duration_minutes', 'integer', (c) =>
          c.notNull().check(sql`expected_duration_minutes > 0`),
        )
        .addColumn('start_grace_minutes', 'integer', (c) => c.notNull().check(sql`start_grace_minutes > 0`))
        .addColumn('owner_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('rpo_minutes', 'integer', (c) => c.check(sql`rpo_minutes > 0`))
        .addColumn('enabled', 'boolean', (c) => c.notNull())
        .addColumn('enabled_since', 'timestamptz', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint('jobs_backup_rpo', sql`(kind = 'backup') = (rpo_minutes is not null)`)
        .execute();
      await sql`create unique index jobs_name on jobs (lower(name))`.execute(db);

      await db.schema
        .createTable('job_targets')
        .addColumn('job_id', 'uuid', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_targets_pk', ['job_id', 'ci_id'])
        .execute();
      await db.schema.createIndex('job_targets_ci_idx').on('job_targets').column('ci_id').execute();

      await db.schema
        .createTable('job_runs')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('job_id', 'uuid', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('started', 'succeeded', 'failed', 'missed')`),
        )
        .addColumn('slot_at', 'timestamptz')
        .addColumn('run_key', 'text')
        .addColumn('started_at', 'timestamptz')
        .addColumn('finished_at', 'timestamptz')
        .addColumn('bytes', 'bigint', (c) => c.check(sql`bytes >= 0`))
        .addColumn('duration_ms', 'bigint', (c) => c.check(sql`duration_ms >= 0`))
        .addColumn('message', 'text')
        .addColumn('overran_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint('job_runs_started', sql`status <> 'started' or started_at is not null`)
        .addCheckConstraint('job_runs_missed_slot', sql`status <> 'missed' or slot_at is not null`)
        .execute();
      // A sender's run id records one run however often it is reported.
      await sql`create unique index job_runs_run_key on job_runs (job_id, run_key) where run_key is not null`.execute(
        db,
      );
      // One missed row per job and slot, whoever sweeps and however often.
      await sql`create unique index job_runs_missed on job_runs (job_id, slot_at) where status = 'missed'`.execute(
        db,
      );
      // Runs of a job newest first (the connection: by start, or the slot a missed one was due), and
      // those serving a slot (the sweep).
      await sql`create index job_runs_job_idx on job_runs (job_id, (coalesce(started_at, slot_at)) desc, id desc)`.execute(
        db,
      );
      await sql`create index job_runs_slot_idx on job_runs (job_id, slot_at) where slot_at is not null`.execute(
        db,
      );
      // What the overrun sweep scans.
      await sql`create index job_runs_open_idx on job_runs (started_at) where status = 'started' and overran_at is null`.execute(
        db,
      );
      // Last good backup per job.
      await sql`create index job_runs_good_idx on job_runs (job_id, started_at) where status = 'succeeded'`.execute(
        db,
      );

      await db.schema
        .createTable('backup_compliance_states')
        .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('compliant', 'boolean', (c) => c.notNull())
        .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
};
