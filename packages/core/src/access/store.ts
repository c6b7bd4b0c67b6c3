import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../db/database.js';
import type { AccessScope, ApiToken, ApiTokenTable } from './model.js';

type Db = Kysely<Database>;

/** Everything but the hash. */
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
  'ownerUserId',
  'scopeCiId',
  'scopeMode',
] as const;

type TokenRow = Omit<Selectable<ApiTokenTable>, 'tokenHash'>;

const toToken = ({ scopeCiId, scopeMode, ...row }: TokenRow): ApiToken => ({
  ...row,
  scope: scopeCiId && scopeMode ? { ciId: scopeCiId, mode: scopeMode } : null,
});

export async function insertToken(
  db: Db,
  token: {
    id: string;
    name: string;
    tokenHash: string;
    prefix: string;
    permissions: string[];
    createdBy: string;
    createdAt: Date;
    expiresAt: Date | null;
    ownerUserId: string | null;
    scope: AccessScope | null;
  },
): Promise<ApiToken> {
  const { scope, ...rest } = token;
  return toToken(
    await db
      .insertInto('apiTokens')
      .values({
        ...rest,
        permissions: JSON.stringify(token.permissions),
        scopeCiId: scope?.ciId ?? null,
        scopeMode: scope?.mode ?? null,
      })
      .returning(publicColumns)
      .executeTakeFirstOrThrow(),
  );
}

const maybe = (row: TokenRow | undefined) => (row ? toToken(row) : undefined);

export const findByHash = async (db: Db, tokenHash: string): Promise<ApiToken | undefined> =>
  maybe(
    await db
      .selectFrom('apiTokens')
      .select(publicColumns)
      .where('tokenHash', '=', tokenHash)
      .executeTakeFirst(),
  );

export const findToken = async (db: Db, id: string): Promise<ApiToken | undefined> =>
  maybe(await db.selectFrom('apiTokens').select(publicColumns).where('id', '=', id).executeTakeFirst());

/** Every token, or (with `mine`) those a user owns or an actor created. */
export async function listTokens(
  db: Db,
  mine?: { readonly ownerUserId: string | null; readonly createdBy: string },
): Promise<ApiToken[]> {
  let q = db.selectFrom('apiTokens').select(publicColumns).orderBy('createdAt', 'desc').orderBy('id');
  if (mine) {
    q = q.where((eb) =>
      mine.ownerUserId
        ? eb.or([eb('ownerUserId', '=', mine.ownerUserId), eb('createdBy', '=', mine.createdBy)])
        : eb('createdBy', '=', mine.createdBy),
    );
  }
  return (await q.execute()).map(toToken);
}

export async function touchToken(db: Db, id: string, at: Date): Promise<void> {
  await db.updateTable('apiTokens').set({ lastUsedAt: at }).where('id', '=', id).execute();
}

export async function revokeToken(db: Db, id: string, at: Date): Promise<ApiToken | undefined> {
  return maybe(
    await db
      .updateTable('apiTokens')
      .set({ revokedAt: at })
      .where('id', '=', id)
      .where('revokedAt', 'is', null)
      .returning(publicColumns)
      .executeTakeFirst(),
  );
}
