import type { Sweep } from './scheduler.js';

/**
 * Core's timed work, run by `og.scheduler` (each guarded by its advisory lock unless it says not).
 * Plugins add theirs with `definePlugin({ sweeps })`.
 */
export const coreSweeps: readonly Sweep[] = [
  {
    // Expired grants stop counting at once; this records them (`grant.expired`) for audit and followers.
    name: 'access',
    run: async ({ kernel, now }) => ({
      expired: (await kernel.services.access.sweepExpired({ now })).length,
    }),
  },
  {
    name: 'slas',
    run: async ({ kernel, now }) => {
      const { warned, breached } = await kernel.services.slas.sweep({ now });
      return { warned: warned.length, breached: breached.length };
    },
  },
  {
    // Windows begin and end on the clock, not on an event: announce them and re-judge suppression.
    name: 'maintenance',
    run: async ({ kernel, now }) => {
      const { started, ended } = await kernel.services.changes.sweepWindows({ now });
      const judged = await kernel.services.events.judgeSuppression({ now });
      return {
        started: started.length,
        ended: ended.length,
        suppressed: judged.suppressed.length,
        unsuppressed: judged.unsuppressed.length,
        linkedToIncidents: judged.linkedToIncidents,
      };
    },
  },
  {
    // Missed and overrunning job runs, and backups past their RPO (raised and cleared as events).
    name: 'operations',
    run: async ({ kernel, now }) => ({ ...(await kernel.services.operations.sweep({ now })) }),
  },
  {
    // Backstop of the live refresh (`og.serviceHealth.start()`): other replicas' commits, lost rounds.
    name: 'serviceHealth',
    everyMs: 10_000,
    run: async ({ kernel }) => {
      const { changes, recomputed, events } = await kernel.services.serviceHealth.refresh();
      return { changed: changes.length, recomputed: recomputed.length, events };
    },
  },
  {
    // Sends after commit, so it claims under its own lock and cannot run inside the scheduler's.
    name: 'notifications',
    guarded: false,
    run: async ({ kernel }) => {
      const { sent, failed } = await kernel.services.notifications.sweep();
      return { sent: sent.length, failed: failed.length };
    },
  },
];
