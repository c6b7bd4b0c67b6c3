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

/**
 * Relationship types every installation has. `propagation` says which end a failure reaches: for
 * `source depends_on target`, the target failing hurts the source (`to_source`). Frozen.
 */
const coreRelationshipTypes = [
  {
    name: 'depends_on',
    label: 'depends on',
    inverse_label: 'is needed by',
    propagation: 'to_source',
    acyclic: false,
  },
  { name: 'runs_on', label: 'runs on', inverse_label: 'runs', propagation: 'to_source', acyclic: false },
  {
    name: 'hosted_on',
    label: 'is hosted on',
    inverse_label: 'hosts',
    propagation: 'to_source',
    acyclic: false,
  },
  {
    name: 'connected_to',
    label: 'is connected to',
    inverse_label: 'is connected to',
    propagation: 'both',
    acyclic: false,
  },
  {
    name: 'contains',
    label: 'contains',
    inverse_label: 'is contained in',
    propagation: 'to_target',
    acyclic: true,
  },
  {
    name: 'member_of',
    label: 'is a member of',
    inverse_label: 'has member',
    propagation: 'to_target',
    acyclic: true,
  },
];

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
  '0004_cmdb_relationships': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('relationship_types')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('inverse_label', 'text', (c) => c.notNull())
        .addColumn('propagation', 'text', (c) =>
          c.notNull().check(sql`propagation in ('to_source', 'to_target', 'both', 'none')`),
        )
        .addColumn('acyclic', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('owner', 'text', (c) => c.notNull().defaultTo('core'))
        .execute();
      await db.insertInto('relationship_types').values(coreRelationshipTypes).execute();
      await db.schema
        .createTable('relationships')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull().references('relationship_types.name'))
        .addColumn('source_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('target_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addCheckConstraint('relationships_no_self_loop', sql`source_id <> target_id`)
        .addUniqueConstraint('relationships_unique', ['type', 'source_id', 'target_id'])
        .execute();
      // Traversal walks both ways.
      await db.schema
        .createIndex('relationships_source_idx')
        .on('relationships')
        .columns(['source_id', 'type'])
        .execute();
      await db.schema
        .createIndex('relationships_target_idx')
        .on('relationships')
        .columns(['target_id', 'type'])
        .execute();
    },
  },
};
