import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Problem management's tables and the known-error database. Frozen: later changes are new migrations. */
export const problemsMigrations: Record<string, Migration> = {
  '0020_problems': {
    async up(db: Kysely<any>) {
      // Human numbers PRB0001001 … and KE0001001 …: sequences, so concurrent creates never share one.
      await sql`create sequence problem_number_seq start with 1001`.execute(db);
      await sql`create sequence known_error_number_seq start with 1001`.execute(db);
      await db.schema
        .createTable('problems')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull().unique())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('service_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('impact', 'smallint', (c) => c.notNull().check(sql`impact between 1 and 3`))
        .addColumn('urgency', 'smallint', (c) => c.notNull().check(sql`urgency between 1 and 3`))
        .addColumn('priority', 'smallint', (c) => c.notNull().check(sql`priority between 1 and 5`))
        .addColumn('category', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('assignment_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('assignee_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('state', 'text', (c) =>
          c
            .notNull()
            .check(
              sql`state in ('new', 'assess', 'root_cause_analysis', 'fix_in_progress', 'resolved', 'closed', 'cancelled')`,
            ),
        )
        .addColumn('root_cause', 'text')
        .addColumn('workaround', 'text')
        .addColumn('resolution_code', 'text', (c) =>
          c.check(sql`resolution_code in ('fix_applied', 'risk_accepted')`),
        )
        .addColumn('resolution_notes', 'text')
        .addColumn('resolved_at', 'timestamptz')
        .addColumn('resolved_by', 'jsonb')
        .addColumn('closed_at', 'timestamptz')
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('reopen_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('opened_by', 'jsonb', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('problems_created_idx')
        .on('problems')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('problems_updated_idx')
        .on('problems')
        .columns(['updated_at', 'id'])
        .execute();
      await db.schema
        .createIndex('problems_priority_idx')
        .on('problems')
        .columns(['priority', 'created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('problems_state_idx')
        .on('problems')
        .columns(['state', 'created_at'])
        .execute();
      await db.schema.createIndex('problems_ci_idx').on('problems').column('ci_id').execute();
      await db.schema
        .createIndex('problems_group_idx')
        .on('problems')
        .column('assignment_group_id')
        .execute();
      await sql`create index problems_service_ids_idx on problems using gin (service_ids)`.execute(db);

      // Many to many: a problem causes several incidents; an incident may have several causes.
      await db.schema
        .createTable('problem_incidents')
        .addColumn('problem_id', 'uuid', (c) => c.notNull().references('problems.id'))
        .addColumn('incident_id', 'uuid', (c) => c.notNull().references('incidents.id'))
        .addColumn('linked_at', 'timestamptz', (c) => c.notNull())
        .addColumn('linked_by', 'jsonb', (c) => c.notNull())
        .addPrimaryKeyConstraint('problem_incidents_pk', ['problem_id', 'incident_id'])
        .execute();
      await db.schema
        .createIndex('problem_incidents_incident_idx')
        .on('problem_incidents')
        .columns(['incident_id', 'problem_id'])
        .execute();

      await db.schema
        .createTable('problem_notes')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('problem_id', 'uuid', (c) => c.notNull().references('problems.id'))
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('author', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        // Insertion order: notes written in the same millisecond still read back as written.
        .addColumn('seq', 'bigint', (c) => c.notNull().generatedAlwaysAsIdentity())
        .execute();
      await db.schema
        .createIndex('problem_notes_problem_idx')
        .on('problem_notes')
        .columns(['problem_id', 'seq'])
        .execute();

      // The known-error database: one entry per problem, published or retired.
      await db.schema
        .createTable('known_errors')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull().unique())
        .addColumn('problem_id', 'uuid', (c) => c.notNull().unique().references('problems.id'))
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('workaround', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('published', 'retired')`))
        .addColumn('published_at', 'timestamptz', (c) => c.notNull())
        .addColumn('published_by', 'jsonb', (c) => c.notNull())
        .addColumn('retired_at', 'timestamptz')
        .addColumn('retired_by', 'jsonb')
        .addColumn('retired_reason', 'text')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('known_errors_state_idx')
        .on('known_errors')
        .columns(['state', 'published_at'])
        .execute();
    },
  },
};
