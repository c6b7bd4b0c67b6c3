import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Disaster-recovery plans per business service and the DR tests recorded against them. Frozen. */
export const recoveryMigrations: Record<string, Migration> = {
  '0025_operations_recovery': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('dr_plans')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('service_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('rto_seconds', 'integer', (c) => c.notNull().check(sql`rto_seconds > 0`))
        .addColumn('rpo_seconds', 'integer', (c) => c.notNull().check(sql`rpo_seconds >= 0`))
        .addColumn('test_every_seconds', 'integer', (c) => c.check(sql`test_every_seconds > 0`))
        .addColumn('owner_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('steps', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('live', 'retired')`))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('retired_at', 'timestamptz')
        .addColumn('retired_reason', 'text')
        .addCheckConstraint('dr_plans_retired_at', sql`(state = 'retired') = (retired_at is not null)`)
        .execute();
      // One live plan per business service: which plan to follow is never ambiguous.
      await sql`create unique index dr_plans_live_service on dr_plans (service_id) where state = 'live'`.execute(
        db,
      );
      // The list's keyset order.
      await db.schema
        .createIndex('dr_plans_created_idx')
        .on('dr_plans')
        .columns(['created_at', 'id'])
        .execute();

      await db.schema
        .createTable('dr_tests')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('plan_id', 'uuid', (c) => c.notNull().references('dr_plans.id'))
        .addColumn('plan_version', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ended_at', 'timestamptz', (c) => c.notNull())
        .addColumn('achieved_rto_seconds', 'integer', (c) =>
          c.notNull().check(sql`achieved_rto_seconds >= 0`),
        )
        .addColumn('achieved_rpo_seconds', 'integer', (c) =>
          c.notNull().check(sql`achieved_rpo_seconds >= 0`),
        )
        .addColumn('target_rto_seconds', 'integer', (c) => c.notNull())
        .addColumn('target_rpo_seconds', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('passed', 'failed')`))
        .addColumn('notes', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('recorded_by', 'jsonb', (c) => c.notNull())
        .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint('dr_tests_span', sql`ended_at >= started_at`)
        .execute();
      // A plan's tests newest first, and its newest passing one.
      await sql`create index dr_tests_plan_idx on dr_tests (plan_id, started_at desc, id desc)`.execute(db);
    },
  },
};
