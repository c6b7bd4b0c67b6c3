import {
  CiReach,
  type Kernel,
  NotFoundError,
  parseInput,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '@opsgraph/core';
import { type AttachRunbookInput, attachRunbookInput, type Runbook, type RunbookTables } from './model.js';

export class RunbookService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Attaches a runbook to a CI; the CI must exist. One transaction: the row and its event. Needs
   * cmdb:write on that CI (everywhere, or through a scope covering it): records that hang on a CI are
   * authorized as the CI is.
   */
  async attach(input: AttachRunbookInput, { actor }: WriteOptions): Promise<Runbook> {
    const writable = CiReach.of(actor, permissions.cmdbWrite);
    const data = parseInput(attachRunbookInput, input);
    writable.assert(data.ciId, 'ciId');
    return this.kernel.write(actor, async ({ db, now, emit, kernel }) => {
      const ci = await kernel.services.cmdb.get(data.ciId);
      if (!ci) throw new NotFoundError('CI', data.ciId, 'ciId');
      const runbook = await db
        .withTables<RunbookTables>()
        .insertInto('runbooksRunbooks')
        .values({
          id: crypto.randomUUID(),
          ciId: data.ciId,
          title: data.title,
          url: data.url,
          createdAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      emit('runbooks.attached', { type: 'ci', id: data.ciId }, { runbook });
      return runbook;
    });
  }

  /** The CI's runbooks, oldest first; archived ones only when asked. With an actor: cmdb:read on the CI. */
  async forCi(ciId: string, options: ReadOptions & { includeArchived?: boolean } = {}): Promise<Runbook[]> {
    CiReach.of(options.actor, permissions.cmdbRead).assert(ciId, 'ciId');
    let query = this.kernel.db
      .withTables<RunbookTables>()
      .selectFrom('runbooksRunbooks')
      .selectAll()
      .where('ciId', '=', ciId);
    if (!options.includeArchived) query = query.where('archived', '=', false);
    return query.orderBy('createdAt').orderBy('id').execute();
  }

  /** Archives a CI's runbooks (a retired CI needs none); returns how many. */
  async archiveForCi(ciId: string, { actor }: WriteOptions): Promise<number> {
    return this.kernel.write(actor, async ({ db, emit }) => {
      const rows = await db
        .withTables<RunbookTables>()
        .updateTable('runbooksRunbooks')
        .set({ archived: true })
        .where('ciId', '=', ciId)
        .where('archived', '=', false)
        .returning('id')
        .execute();
      if (rows.length > 0) emit('runbooks.archived', { type: 'ci', id: ciId }, { ciId, count: rows.length });
      return rows.length;
    });
  }
}
