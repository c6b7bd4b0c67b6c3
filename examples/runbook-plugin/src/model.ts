import type { Generated, Selectable } from 'kysely';
import { z } from 'zod';

/** The plugin's own typed view of its table (columns in camelCase, as core's). */
export type RunbookTables = {
  runbooksRunbooks: {
    id: string;
    ciId: string;
    title: string;
    url: string;
    archived: Generated<boolean>;
    createdAt: Date;
  };
};

export type Runbook = Selectable<RunbookTables['runbooksRunbooks']>;

export const attachRunbookInput = z.object({
  ciId: z.uuid(),
  title: z.string().trim().min(1).max(200),
  url: z.url({ protocol: /^https?$/ }),
});
export type AttachRunbookInput = z.input<typeof attachRunbookInput>;

declare module '@opsgraph/core' {
  interface DomainEventMap {
    'runbooks.attached': { runbook: Runbook };
    'runbooks.archived': { ciId: string; count: number };
  }
}
