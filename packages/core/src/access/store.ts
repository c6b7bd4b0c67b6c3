import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { ApiToken, ApiTokenTable } from './model.js';

type Db = Kysely<Database>;

const publicColumns = [
  'id',
  'name',
  'prefix',
  'permissions',
  'createdBy',
  'createdAt',
  'expiresAt',
  'lastUsedAt',
  'revokedAt',
] as const;

export async function insertToken(
  db: Db,
  token: Omit<ApiTokenTable, 'permissions' | 'lastUsedAt' | 'revokedAt'> & { permissions: string[] },
): Promise<ApiToken> {
  return db
    .insertInto('apiTokens')
    .values({ ...token, permissions: JSON.stringify(token.permissions) })
    .returning(publicColumns)
    .executeTakeFirstOrThrow();
}

export const findByHash = (db: Db, tokenHash: string): Promise<ApiToken | undefined> =>
  db.selectFrom('apiTokens').select(publicColumns).where('tokenHash', '=', tokenHash).executeTakeFirst();

export const findToken = (db: Db, id: string): Promise<ApiToken | undefined> =>
  db.selectFrom('apiTokens').select(publicColumns).where('id', '=', id).executeTakeFirst();

export const listTokens = (db: Db): Promise<ApiToken[]> =>
  db.selectFrom('apiTokens').select(publicColumns).orderBy('createdAt', 'desc').execute();

export async function touchToken(db: Db, id: string, at: Date): Promise<void> {
  await db.updateTable('apiTokens').set({ lastUsedAt: at }).where('id', '=', id).execute();
}

export async function revokeToken(db: Db, id: string, at: Date): Promise<ApiToken | undefined> {
  return db
    .updateTable('apiTokens')
    .set({ revokedAt: at })
    .where('id', '=', id)
    .where('revokedAt', 'is', null)
    .returning(publicColumns)
    .executeTakeFirst();
}
