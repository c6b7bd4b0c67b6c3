import type { Migration } from '@opsgraph/core';
import { type CreateTableBuilder, type Kysely, sql } from 'kysely';

// Mutable records: a version for optimistic concurrency, and when they were made and changed.
const versioned = (t: CreateTableBuilder<string, any>) =>
  t
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull());

// Frozen once released: a change is a new migration. Each row is keyed by its CI (the CMDB holds the
// name, status and history); tables carry the plugin's prefix and are recorded in its own ledger.
export const migrations: Record<string, Migration> = {
  '0001_facilities_locations_and_racks': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('facilities_locations')
        .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('kind', 'text', (c) =>
          c.notNull().check(sql`kind in ('region', 'site', 'building', 'room')`),
        )
        .addColumn('parent_id', 'uuid', (c) => c.references('facilities_locations.ci_id'))
        .addColumn('address', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('facilities_locations_parent_idx')
        .on('facilities_locations')
        .column('parent_id')
        .execute();
      await versioned(
        db.schema
          .createTable('facilities_racks')
          .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
          .addColumn('room_id', 'uuid', (c) => c.notNull().references('facilities_locations.ci_id'))
          .addColumn('u_height', 'integer', (c) => c.notNull().check(sql`u_height between 1 and 100`)),
      ).execute();
      await db.schema
        .createIndex('facilities_racks_room_idx')
        .on('facilities_racks')
        .column('room_id')
        .execute();
      // One place per device: the primary key refuses a second rack even under concurrent placements.
      await db.schema
        .createTable('facilities_placements')
        .addColumn('device_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('rack_id', 'uuid', (c) => c.notNull().references('facilities_racks.ci_id'))
        .addColumn('position', 'integer', (c) => c.notNull().check(sql`position >= 1`))
        .addColumn('height', 'integer', (c) => c.notNull().check(sql`height >= 1`))
        .addColumn('face', 'text', (c) => c.notNull().check(sql`face in ('front', 'rear')`))
        .addColumn('full_depth', 'boolean', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('facilities_placements_rack_idx')
        .on('facilities_placements')
        .column('rack_id')
        .execute();
    },
  },
  '0002_facilities_power': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('facilities_power_panels')
        .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
        .addColumn('location_id', 'uuid', (c) => c.notNull().references('facilities_locations.ci_id'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await versioned(
        db.schema
          .createTable('facilities_power_feeds')
          .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
          .addColumn('panel_id', 'uuid', (c) => c.notNull().references('facilities_power_panels.ci_id'))
          .addColumn('voltage', 'integer', (c) => c.notNull().check(sql`voltage > 0`))
          .addColumn('amperage', 'integer', (c) => c.notNull().check(sql`amperage > 0`))
          .addColumn('phase', 'text', (c) => c.notNull().check(sql`phase in ('single', 'three')`))
          .addColumn('max_utilization', 'integer', (c) =>
            c.notNull().check(sql`max_utilization between 1 and 100`),
          ),
      ).execute();
      await versioned(
        db.schema
          .createTable('facilities_pdus')
          .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
          .addColumn('rack_id', 'uuid', (c) => c.notNull().references('facilities_racks.ci_id'))
          .addColumn('feed_id', 'uuid', (c) => c.notNull().references('facilities_power_feeds.ci_id'))
          .addColumn('capacity_w', 'integer', (c) => c.notNull().check(sql`capacity_w > 0`)),
      ).execute();
      await db.schema
        .createIndex('facilities_pdus_rack_idx')
        .on('facilities_pdus')
        .column('rack_id')
        .execute();
      await db.schema
        .createIndex('facilities_pdus_feed_idx')
        .on('facilities_pdus')
        .column('feed_id')
        .execute();
      await db.schema
        .createTable('facilities_power_draws')
        .addColumn('pdu_id', 'uuid', (c) => c.notNull().references('facilities_pdus.ci_id'))
        .addColumn('device_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('watts', 'integer', (c) => c.notNull().check(sql`watts > 0`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('facilities_power_draws_pk', ['pdu_id', 'device_id'])
        .execute();
      await db.schema
        .createIndex('facilities_power_draws_device_idx')
        .on('facilities_power_draws')
        .column('device_id')
        .execute();
    },
  },
  '0003_facilities_sensors': {
    async up(db: Kysely<any>) {
      await versioned(
        db.schema
          .createTable('facilities_sensors')
          .addColumn('ci_id', 'uuid', (c) => c.primaryKey().references('cis.id'))
          // A room (facilities_locations) or a rack (facilities_racks): checked by the service.
          .addColumn('location_id', 'uuid', (c) => c.notNull().references('cis.id'))
          .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('temperature', 'humidity')`))
          .addColumn('warning_above', 'double precision')
          .addColumn('critical_above', 'double precision')
          .addColumn('warning_below', 'double precision')
          .addColumn('critical_below', 'double precision')
          .addColumn('last_value', 'double precision')
          .addColumn('last_read_at', 'timestamptz')
          .addColumn('state', 'text', (c) =>
            c.notNull().defaultTo('ok').check(sql`state in ('ok', 'warning', 'critical')`),
          ),
      ).execute();
      await db.schema
        .createIndex('facilities_sensors_location_idx')
        .on('facilities_sensors')
        .column('location_id')
        .execute();
    },
  },
};
