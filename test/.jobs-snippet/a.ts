import { createOpsGraph, ManualClock, systemActor } from '@opsgraph/core';

const clock = new ManualClock('2026-03-02T10:00:00Z');
const og = await createOpsGraph({ database: 'pglite://memory', migrate: true, clock });
const actor = systemActor('readme');
const db = await og.cmdb.create({ class: 'linux_server', name: 'db-01' }, { actor });
const job = await og.operations.defineJob(
  { name: 'Nightly db-01', kind: 'backup', schedule: '0 2 * * *', targetCiIds: [db.id], rpoMinutes: 1440 },
  { actor },
);
console.log(og.operations.nextRunAt(job)?.toISOString()); // 2026-03-03T02:00:00.000Z

clock.set('2026-03-03T02:31:00Z'); // nobody ran it, and its 30 minutes of grace are over
console.log(await og.operations.sweep()); // { missed: 1, overran: 0, breached: 0, cleared: 0 }
if ((await og.operations.sweep()).missed !== 0) throw new Error('a slot is missed once');

clock.set('2026-03-03T10:01:00Z'); // defined 24 h ago, never backed up: past its RPO
if ((await og.operations.sweep()).breached !== 1) throw new Error('expected an RPO breach');
await og.operations.reportRun({ jobId: job.id, status: 'succeeded', durationMs: 600_000 }, { actor });
const { nonCompliant } = await og.operations.backupCompliance();
const alert = (await og.events.alerts({ dedupKey: `opsgraph:backup-rpo:${db.id}` })).edges[0]?.node;
console.log(nonCompliant.length, alert?.status); // 0 closed
if (nonCompliant.length !== 0 || alert?.status !== 'closed') throw new Error('the breach should clear');
await og.close();
