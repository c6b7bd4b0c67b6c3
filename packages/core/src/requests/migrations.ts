import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Request fulfilment's tables. Frozen: later changes are new migrations. */
export const requestsMigrations: Record<string, Migration> = {
  /**
   * Users' managers (manager approval), the service catalog, requests and their fulfilment tasks, and
   * what the CMDB records of a device assigned to a user (the `laptop` class; `assigned_to` and friends
   * on every hardware CI).
   */
  '0021_requests_catalog': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('access_users')
        .addColumn('manager_id', 'uuid', (c) => c.references('access_users.id'))
        .execute();
      await db.schema
        .createIndex('access_users_manager_idx')
        .on('access_users')
        .column('manager_id')
        .where(sql.ref('manager_id'), 'is not', null)
        .execute();

      await db.schema
        .createTable('catalog_items')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('category', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('form', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('approval_steps', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('tasks', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('created_by', 'jsonb', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // One item of a name, case-insensitively: people pick items by name.
      await sql`create unique index catalog_items_name_idx on catalog_items (lower(name))`.execute(db);

      // Human numbers REQ0001001 … and TASK0001001 …: sequences, so concurrent writes never share one.
      await sql`create sequence request_number_seq start with 1001`.execute(db);
      await sql`create sequence request_task_number_seq start with 1001`.execute(db);
      await db.schema
        .createTable('requests')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull().unique())
        .addColumn('item_id', 'uuid', (c) => c.notNull().references('catalog_items.id'))
        .addColumn('plan', 'jsonb', (c) => c.notNull())
        .addColumn('answers', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('justification', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('requested_by_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('requested_for_id', 'uuid', (c) => c.notNull().references('access_users.id'))
        .addColumn('state', 'text', (c) =>
          c
            .notNull()
            .check(
              sql`state in ('submitted', 'awaiting_approval', 'approved', 'rejected', 'in_fulfilment', 'fulfilled', 'closed', 'cancelled')`,
            ),
        )
        .addColumn('stage', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cancel_reason', 'text')
        .addColumn('submitted_by', 'jsonb', (c) => c.notNull())
        .addColumn('approved_at', 'timestamptz')
        .addColumn('rejected_at', 'timestamptz')
        .addColumn('fulfilled_at', 'timestamptz')
        .addColumn('closed_at', 'timestamptz')
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('requests_created_idx')
        .on('requests')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('requests_updated_idx')
        .on('requests')
        .columns(['updated_at', 'id'])
        .execute();
      await db.schema
        .createIndex('requests_state_idx')
        .on('requests')
        .columns(['state', 'created_at'])
        .execute();
      await db.schema.createIndex('requests_for_idx').on('requests').column('requested_for_id').execute();
      await db.schema.createIndex('requests_by_idx').on('requests').column('requested_by_id').execute();
      await db.schema.createIndex('requests_item_idx').on('requests').column('item_id').execute();

      await db.schema
        .createTable('request_tasks')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull().unique())
        .addColumn('request_id', 'uuid', (c) => c.notNull().references('requests.id'))
        .addColumn('stage', 'integer', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('assignment_group_id', 'uuid', (c) => c.references('access_groups.id'))
        .addColumn('assignee_id', 'uuid', (c) => c.references('access_users.id'))
        .addColumn('action', 'jsonb')
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('open', 'in_progress', 'done', 'cancelled')`),
        )
        .addColumn('notes', 'text')
        .addColumn('device_ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('done_at', 'timestamptz')
        .addColumn('done_by', 'jsonb')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addUniqueConstraint('request_tasks_position_unique', ['request_id', 'position'])
        .execute();
      await db.schema
        .createIndex('request_tasks_request_idx')
        .on('request_tasks')
        .columns(['request_id', 'position'])
        .execute();
      await db.schema
        .createIndex('request_tasks_created_idx')
        .on('request_tasks')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('request_tasks_group_idx')
        .on('request_tasks')
        .columns(['assignment_group_id', 'state'])
        .execute();

      // Devices handed to people: every hardware CI may record to whom, since when, by which request.
      const assignment = [
        {
          name: 'assigned_to',
          type: 'string',
          label: 'Assigned to',
          description: 'The id of the user the device is assigned to.',
        },
        { name: 'assigned_at', type: 'datetime', label: 'Assigned at' },
        {
          name: 'assigned_by_request',
          type: 'string',
          label: 'Assigned by request',
          description: 'The request (REQ…) whose fulfilment assigned it.',
        },
      ];
      await sql`update ci_classes set attributes = attributes || ${JSON.stringify(assignment)}::jsonb
                 where name = 'hardware'`.execute(db);
      await db
        .insertInto('ci_classes')
        .values({
          name: 'laptop',
          label: 'Laptop',
          parent: 'hardware',
          owner: 'core',
          description: 'A portable computer handed to one person (see the "New laptop" catalog item).',
        })
        .execute();
      // "Which devices does this user have", and the free ones in stock.
      await sql`create index cis_assigned_to_idx on cis ((attributes->>'assigned_to'))
                 where attributes ? 'assigned_to'`.execute(db);
    },
  },
};
