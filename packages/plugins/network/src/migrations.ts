import type { Migration } from '@opsgraph/core';
import { type Kysely, sql } from 'kysely';

const ts = (c: any) => c.notNull();

// Frozen once released: a change is a new migration. Tables carry the plugin's prefix.
export const migrations: Record<string, Migration> = {
  '0001_network_ipam_interfaces_vlans_firewall': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('network_vrfs')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('rd', 'text', (c) => c.unique())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', ts)
        .addColumn('updated_at', 'timestamptz', ts)
        .execute();

      await db.schema
        .createTable('network_vlan_groups')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'timestamptz', ts)
        .execute();
      await db.schema
        .createTable('network_vlans')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('group_id', 'uuid', (c) => c.references('network_vlan_groups.id'))
        .addColumn('vid', 'integer', (c) => c.notNull().check(sql`vid between 1 and 4094`))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', ts)
        .addColumn('updated_at', 'timestamptz', ts)
        .execute();
      // One VID per group, and one among the VLANs of no group.
      await sql`create unique index network_vlans_vid_key on network_vlans (group_id, vid) nulls not distinct`.execute(
        db,
      );

      await db.schema
        .createTable('network_prefixes')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('vrf_id', 'uuid', (c) => c.references('network_vrfs.id'))
        .addColumn('prefix', sql`cidr`, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('vlan_id', 'uuid', (c) => c.references('network_vlans.id'))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('alert_level', 'text')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', ts)
        .addColumn('updated_at', 'timestamptz', ts)
        .execute();
      await sql`create unique index network_prefixes_vrf_prefix_key on network_prefixes (vrf_id, prefix) nulls not distinct`.execute(
        db,
      );

      await db.schema
        .createTable('network_interfaces')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('device_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('speed_mbps', 'integer')
        .addColumn('mac', 'text')
        .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', ts)
        .addColumn('updated_at', 'timestamptz', ts)
        .addUniqueConstraint('network_interfaces_device_name_key', ['device_id', 'name'])
        .execute();

      await db.schema
        .createTable('network_addresses')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('vrf_id', 'uuid', (c) => c.references('network_vrfs.id'))
        .addColumn('address', sql`inet`, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('interface_id', 'uuid', (c) => c.references('network_interfaces.id').onDelete('set null'))
        .addColumn('dns_name', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', ts)
        .addColumn('updated_at', 'timestamptz', ts)
        .execute();
      // The backstop of allocation: whatever the locking, an address exists once per VRF.
      await sql`create unique index network_addresses_vrf_address_key on network_addresses (vrf_id, address) nulls not distinct`.execute(
        db,
      );
      await db.schema
        .createIndex('network_addresses_interface_idx')
        .on('network_addresses')
        .column('interface_id')
        .execute();

      await db.schema
        .createTable('network_links')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('a_interface_id', 'uuid', (c) => c.notNull().references('network_interfaces.id'))
        .addColumn('b_interface_id', 'uuid', (c) => c.notNull().references('network_interfaces.id'))
        .addColumn('cable_type', 'text', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'timestamptz', ts)
        .addCheckConstraint('network_links_two_ends', sql`a_interface_id <> b_interface_id`)
        .execute();
      await db.schema
        .createTable('network_link_ends')
        .addColumn('interface_id', 'uuid', (c) => c.primaryKey().references('network_interfaces.id'))
        .addColumn('link_id', 'uuid', (c) => c.notNull().references('network_links.id').onDelete('cascade'))
        .execute();

      await db.schema
        .createTable('network_zones')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'timestamptz', ts)
        .execute();
      await db.schema
        .createTable('network_zone_members')
        .addColumn('zone_id', 'uuid', (c) => c.notNull().references('network_zones.id').onDelete('cascade'))
        .addColumn('ci_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addPrimaryKeyConstraint('network_zone_members_pkey', ['zone_id', 'ci_id'])
        .execute();
      await db.schema
        .createTable('network_firewall_rules')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('firewall_id', 'uuid', (c) => c.notNull().references('cis.id'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('source_zone_id', 'uuid', (c) => c.references('network_zones.id'))
        .addColumn('source_ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('destination_zone_id', 'uuid', (c) => c.references('network_zones.id'))
        .addColumn('destination_ci_id', 'uuid', (c) => c.references('cis.id'))
        .addColumn('ports', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', ts)
        .addColumn('updated_at', 'timestamptz', ts)
        .addUniqueConstraint('network_firewall_rules_position_key', ['firewall_id', 'position'])
        .execute();
    },
  },
};
