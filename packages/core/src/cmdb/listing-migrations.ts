import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

/** Indexes that serve the CI list's filters and orders. Frozen: later changes are new migrations. */
export const listingMigrations: Record<string, Migration> = {
  '0006_cmdb_listing_indexes': {
    async up(db: Kysely<any>) {
      // Attribute equality is asked as jsonb containment (`@>`), which jsonb_path_ops serves compactly.
      await sql`create index cis_attributes_idx on cis using gin (attributes jsonb_path_ops)`.execute(db);
      // The tag filter is `tags @> array[tag]`, which a GIN index on the array serves.
      await sql`create index cis_tags_idx on cis using gin (tags)`.execute(db);
      // Keyset pages: each order is (key, id) in one direction, which a btree serves either way.
      await db.schema.createIndex('cis_created_at_idx').on('cis').columns(['created_at', 'id']).execute();
      await db.schema.createIndex('cis_updated_at_idx').on('cis').columns(['updated_at', 'id']).execute();
      // (class, id) serves both the class filter and the class order, so the class-only index goes.
      await db.schema.createIndex('cis_class_id_idx').on('cis').columns(['class', 'id']).execute();
      await db.schema.dropIndex('cis_class_idx').execute();
    },
  },
};
