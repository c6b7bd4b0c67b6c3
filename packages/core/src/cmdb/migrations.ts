import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Classes every installation has; plugins and operators add more. Frozen: later changes are new migrations. */
const coreClasses = [
  ['hardware', 'Hardware', null],
  ['server', 'Server', 'hardware'],
  ['linux_server', 'Linux server', 'server'],
  ['windows_server', 'Windows server', 'server'],
  ['application', 'Application', null],
  ['database', 'Database', null],
  ['cluster', 'Cluster', null],
  ['business_service', 'Business service', null],
] as const;

export const cmdbMigrations: Record<string, Migration> = {
  '0002_cmdb_classes_and_cis': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('ci_classes')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('parent', 'text', (c) => c.references('ci_classes.name'))
        .addColumn('owner', 'text', (c) => c.notNull().defaultTo('core'))
        .execute();
      await db
        .insertInto('ci_classes')
        .values(coreClasses.map(([name, label, parent]) => ({ name, label, parent })))
        .execute();
      await db.schema
        .createTable('cis')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('class', 'text', (c) => c.notNull().references('ci_classes.name'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('planned', 'installed', 'operational', 'maintenance', 'retired')`),
        )
        .addColumn('environment', 'text')
        .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('retired_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('cis_name_idx').on('cis').columns(['name', 'id']).execute();
      await db.schema.createIndex('cis_class_idx').on('cis').column('class').execute();
    },
  },
};
