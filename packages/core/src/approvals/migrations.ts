import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Generic approvals: ordered steps on any subject (a change, a request …) and each decision. Frozen. */
export const approvalsMigrations: Record<string, Migration> = {
  '0018_approvals': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('approvals')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('subject_type', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'uuid', (c) => c.notNull())
        // Opening the approvals of a subject again (after a rejection or a cancel) starts a new round.
        .addColumn('round', 'integer', (c) => c.notNull())
        .addColumn('step', 'smallint', (c) => c.notNull().check(sql`step >= 1`))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('approver_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('approver_role', 'text', (c) => c.references('access_roles.name'))
        .addColumn('approver_user_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('quorum', 'smallint', (c) => c.notNull().check(sql`quorum >= 1`))
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('waiting', 'pending', 'approved', 'rejected', 'cancelled')`),
        )
        // The user who asked for the subject: never an approver of it (segregation of duties).
        .addColumn('requester_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('opened_by', 'jsonb', (c) => c.notNull())
        .addColumn('pending_since', 'timestamptz')
        .addColumn('settled_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint(
          'approvals_one_approver',
          sql`num_nonnulls(approver_group_id, approver_role, approver_user_id) = 1`,
        )
        .addUniqueConstraint('approvals_subject_step', ['subject_type', 'subject_id', 'round', 'step'])
        .execute();
      // "My approvals to do" scans the pending steps only.
      await sql`create index approvals_pending_idx on approvals (created_at, id) where state = 'pending'`.execute(
        db,
      );
      await db.schema
        .createIndex('approvals_created_idx')
        .on('approvals')
        .columns(['created_at', 'id'])
        .execute();

      await db.schema
        .createTable('approval_decisions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('approval_id', 'uuid', (c) => c.notNull().references('approvals.id'))
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('access_users.id'))
        .addColumn('decision', 'text', (c) => c.notNull().check(sql`decision in ('approve', 'reject')`))
        .addColumn('comment', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('decided_by', 'jsonb', (c) => c.notNull())
        .addColumn('decided_at', 'timestamptz', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull().generatedAlwaysAsIdentity())
        // One decision per user per step.
        .addUniqueConstraint('approval_decisions_once', ['approval_id', 'user_id'])
        .execute();
    },
  },
};
