import {
  permissions,
  type SweepReport,
  type SweepStatus,
  type SweepSummary,
  ValidationError,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { mutationErrors } from './errors.js';

const counts = (summary: SweepSummary | null) =>
  Object.entries(summary ?? {}).map(([name, count]) => ({ name, count }));

/** The scheduler's sweeps: `scheduledSweeps` (their last runs) and `runSweeps` (run now). */
export function addScheduler(builder: OpsGraphBuilder) {
  const Count = builder.objectRef<{ name: string; count: number }>('SweepCount').implement({
    description: 'One count of what a sweep did, e.g. `breached: 2`.',
    authScopes: { permission: permissions.operationsRead },
    fields: (t) => ({ name: t.exposeString('name'), count: t.exposeInt('count') }),
  });

  const Status = builder.objectRef<SweepStatus>('SweepStatus').implement({
    description: 'A scheduled sweep: its cadence and its last run, whichever replica ran it.',
    authScopes: { permission: permissions.operationsRead },
    fields: (t) => ({
      name: t.exposeString('name'),
      everyMs: t.exposeInt('everyMs'),
      guarded: t.exposeBoolean('guarded', {
        description: 'Runs under its own advisory lock, one replica at a time.',
      }),
      lastRunAt: t.expose('lastRunAt', { type: 'DateTime', nullable: true }),
      lastDurationMs: t.exposeInt('lastDurationMs', { nullable: true }),
      lastSummary: t.field({ type: [Count], resolve: (s) => counts(s.lastSummary) }),
      lastErrorAt: t.expose('lastErrorAt', { type: 'DateTime', nullable: true }),
      lastError: t.exposeString('lastError', { nullable: true }),
      runs: t.exposeInt('runs'),
      failures: t.exposeInt('failures', { description: 'Failures since the last success.' }),
    }),
  });

  const Outcome = builder.enumType('SweepOutcome', {
    values: {
      RAN: { value: 'ran' },
      LOCKED: { value: 'locked', description: 'Another replica is running it.' },
      NOT_DUE: { value: 'not-due' },
      FAILED: { value: 'failed', description: 'Nothing it did was kept; see `error`.' },
    } as const,
  });

  const Report = builder.objectRef<SweepReport>('SweepReport').implement({
    description: 'What one sweep did when run.',
    authScopes: { permission: permissions.operationsRead },
    fields: (t) => ({
      name: t.exposeString('name'),
      outcome: t.field({ type: Outcome, resolve: (r) => r.outcome }),
      summary: t.field({ type: [Count], resolve: (r) => counts(r.summary) }),
      durationMs: t.exposeInt('durationMs'),
      error: t.exposeString('error', { nullable: true }),
    }),
  });

  builder.queryField('scheduledSweeps', (t) =>
    t.field({
      type: [Status],
      description:
        'The timed work (SLA breaches, expiring access, maintenance windows, …) and its last runs (operations:read).',
      authScopes: { permission: permissions.operationsRead },
      resolve: (_root, _args, { og }) => og.scheduler.status(),
    }),
  );

  builder.mutationField('runSweeps', (t) =>
    t.field({
      type: [Report],
      description:
        'Runs sweeps now, due or not (operations:write): all, or those named in `only`. Each is still skipped while another replica runs it.',
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.operationsWrite },
      args: { only: t.arg.stringList() },
      resolve: async (_root, { only }, { og }) => {
        const names = only ?? undefined;
        const unknown = names?.filter((n) => !og.scheduler.names.includes(n)) ?? [];
        if (unknown.length > 0)
          throw new ValidationError(
            unknown.map((n) => ({
              path: 'only',
              message: `no sweep is named "${n}"; known: ${og.scheduler.names.join(', ')}`,
            })),
          );
        return og.scheduler.run(names ? { only: names } : {});
      },
    }),
  );
}
