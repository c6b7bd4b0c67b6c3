import { type Kysely, sql } from 'kysely';
import type { Migration } from '../db/migrator.js';

export const topologyMigrations: Record<string, Migration> = {
  /**
   * Every step of a walk reads (one end, type) and wants the other end and the relationship id. With
   * both in the index, PostgreSQL can answer a step from the index alone (an index-only scan). These
   * cover the cmdb's (end, type) indexes, which they replace: same leading columns, so every query that
   * used those can use these. (Kysely's index builder has no INCLUDE, hence raw SQL.)
   */
  '0007_topology_walk_indexes': {
    async up(db: Kysely<any>) {
      await sql`create index relationships_walk_source_idx on relationships (source_id, type) include (target_id, id)`.execute(
        db,
      );
      await sql`create index relationships_walk_target_idx on relationships (target_id, type) include (source_id, id)`.execute(
        db,
      );
      await db.schema.dropIndex('relationships_source_idx').execute();
      await db.schema.dropIndex('relationships_target_idx').execute();
    },
  },
};
