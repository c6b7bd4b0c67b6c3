import type { ColumnType, Selectable } from 'kysely';
import { z } from 'zod';

export interface ApiTokenTable {
  id: string;
  name: string;
  tokenHash: string;
  prefix: string;
  permissions: ColumnType<string[], string, string>;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** A token as listed: everything but its hash. */
export type ApiToken = Omit<Selectable<ApiTokenTable>, 'tokenHash'>;

export interface CreatedApiToken {
  /** The secret, shown this once: only its hash is kept. */
  readonly secret: string;
  readonly token: ApiToken;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'token.created': { token: ApiToken };
    'token.revoked': { token: ApiToken };
  }
}

export const createTokenInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  permissions: z
    .array(
      z.string().regex(/^(\*|[a-z][a-z0-9_-]*:[a-z*][a-z0-9_*-]*)$/, 'must look like "cmdb:write" or "*"'),
    )
    .min(1, 'must grant at least one permission')
    .max(100),
  expiresAt: z.coerce.date().nullish(),
});
export type CreateTokenInput = z.input<typeof createTokenInput>;
