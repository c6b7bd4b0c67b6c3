import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, systemActor } from '../kernel/actor.js';
import { ManualClock } from '../kernel/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, type ValidationError } from '../kernel/errors.js';
import type { DomainEventType } from '../kernel/events.js';
import { createTestOpsGraph, type TestOpsGraph, testBackends } from '../testing/index.js';
import type { DefineJobInput, Job } from './model.js';

const admin = systemActor('test');
const MIN = 60_000;
const HOUR = 60 * MIN;

const fieldsOf = async (p: Promise<unknown>) => {
  const error = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as ValidationError | null;
  expect(error?.code).toBe('VALIDATION');
  return error!.issues.map((i) => i.path);
};

describe.each(testBackends())('operations: jobs, runs and backup compliance on %s', (backend) => {
  let og: TestOpsGraph;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  const ci: Record<string, string> = {};
  let group: string;

  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, clock });
    for (const name of ['db-01', 'db-02', 'db-03', 'app-01', 'old-01', 'batch-01'])
      ci[name] = (await og.cmdb.create({ class: 'linux_server', name }, { actor: admin })).id;
    ci.shop = (await og.cmdb.create({ class: 'business_service', name: 'shop' }, { actor: admin })).id;
    await og.cmdb.relate(
      { type: 'depends_on', sourceId: ci.shop, targetId: ci['app-01']! },
      { actor: admin },
    );
    await og.cmdb.relate(
      { type: 'depends_on', sourceId: ci['app-01']!, targetId: ci['db-02']! },
      { actor: admin },
    );
    await og.cmdb.retire(ci['old-01']!, 1, { actor: admin });
    group = (await og.access.createGroup({ name: 'DBAs' }, { actor: admin })).id;
  });
  afterAll(() => og?.close());

  const define = (input: Partial<DefineJobInput> & Pick<DefineJobInput, 'name'>) =>
    og.operations.defineJob(
      {
        kind: 'backup',
        schedule: '0 2 * * *',
        targetCiIds: [ci['db-01']!],
        rpoMinutes: 1440,
        ...input,
      } as DefineJobInput,
      { actor: admin },
    );
  const runsOf = async (job: Job) =>
    (await og.operations.runs(job.id, { first: 100 })).edges.map((e) => e.node);
  const eventsOf = async (type: DomainEventType, subjectIds: readonly string[]) =>
    (await og.activity.list({ types: [type], limit: 1000 })).filter((e) =>
      subjectIds.includes(e.subject?.id ?? ''),
    );
  const alertsOf = async (dedupKey: string) =>
    (await og.events.alerts({ dedupKey }, { first: 10 })).edges.map((e) => e.node);
  const disable = (job: Job) => og.operations.updateJob(job.id, { enabled: false }, { actor: admin });

  it('names the field of each bad input', async () => {
    expect(await fieldsOf(define({ name: 'x', schedule: '61 * * * *' }))).toEqual(['schedule']);
    expect(await fieldsOf(define({ name: 'x', timeZone: 'Mars/Olympus' }))).toEqual(['timeZone']);
    expect(await fieldsOf(define({ name: 'x', rpoMinutes: null }))).toEqual(['rpoMinutes']);
    expect(await fieldsOf(define({ name: 'x', kind: 'batch' }))).toEqual(['rpoMinutes']);
    expect(await fieldsOf(define({ name: 'x', targetCiIds: [] }))).toEqual(['targetCiIds']);
    expect(
      await fieldsOf(
        define({
          name: 'x',
          targetCiIds: [ci['db-01']!, ci['old-01']!, '00000000-0000-4000-8000-000000000000'],
          ownerGroupId: '00000000-0000-4000-8000-000000000001',
        }),
      ),
    ).toEqual(['targetCiIds.1', 'targetCiIds.2', 'ownerGroupId']);
    const job = await define({ name: 'Unique name', enabled: false });
    expect(await fieldsOf(define({ name: 'UNIQUE NAME' }))).toEqual(['name']);
    expect(await fieldsOf(og.operations.updateJob(job.id, { schedule: 'nope' }, { actor: admin }))).toEqual([
      'patch.schedule',
    ]);
    expect(await fieldsOf(og.operations.updateJob(job.id, { rpoMinutes: null }, { actor: admin }))).toEqual([
      'patch.rpoMinutes',
    ]);
    expect(
      await fieldsOf(
        og.operations.reportRun({ jobId: job.id, status: 'done' as 'started' }, { actor: admin }),
      ),
    ).toEqual(['status']);
    const missing = await og.operations
      .reportRun({ jobId: '00000000-0000-4000-8000-000000000002', status: 'started' }, { actor: admin })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).field).toBe('jobId');
    const noService = await og.operations
      .backupCompliance({ serviceId: '00000000-0000-4000-8000-000000000003' })
      .catch((e: unknown) => e);
    expect((noService as NotFoundError).field).toBe('serviceId');
    expect(await fieldsOf(og.operations.backupCompliance({ ciIds: ['nope'] }))).toEqual(['ciIds.0']);
  });

  it('defines and updates jobs with versions, lists them by name and tells the next run in its time zone', async () => {
    const job = await define({
      name: 'Orders nightly',
      timeZone: 'America/New_York',
      targetCiIds: [ci['db-02']!, ci['db-01']!],
      ownerGroupId: group,
      enabled: false,
    });
    expect(job).toMatchObject({
      kind: 'backup',
      version: 1,
      expectedDurationMinutes: 60,
      startGraceMinutes: 30,
      ownerGroupId: group,
      targetCiIds: [ci['db-01'], ci['db-02']].sort(),
      enabled: false,
    });
    expect(og.operations.nextRunAt(job)).toBeNull();
    const enabled = await og.operations.updateJob(
      job.id,
      { enabled: true, startGraceMinutes: 45 },
      { actor: admin, version: 1 },
    );
    expect(enabled).toMatchObject({ version: 2, enabled: true, startGraceMinutes: 45 });
    // 02:00 in New York on 2026-03-03 (EST, UTC-5).
    expect(og.operations.nextRunAt(enabled)?.toISOString()).toBe('2026-03-03T07:00:00.000Z');
    const stale = await og.operations
      .updateJob(job.id, { name: 'Orders nightly (v2)' }, { actor: admin, version: 1 })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect((await og.operations.job(job.id))?.name).toBe('Orders nightly');
    const updated = await eventsOf('job.updated', [job.id]);
    expect(updated.map((e) => (e.payload as { fields: string[] }).fields)).toEqual([
      ['startGraceMinutes', 'enabled'],
    ]);
    await disable(enabled);

    const first = await og.operations.jobs({ kind: ['backup'] }, { first: 1 });
    const second = await og.operations.jobs({ kind: ['backup'] }, { first: 1, after: first.endCursor });
    expect([first.edges[0]?.node.name, second.edges[0]?.node.name]).toEqual([
      'Orders nightly',
      'Unique name',
    ]);
    expect((await og.operations.jobs({ ciId: ci['db-02']! })).edges.map((e) => e.node.name)).toEqual([
      'Orders nightly',
    ]);
  });

  it('raises exactly one event for a missed nightly backup, also when two sweeps run at once; a late start within grace is not missed', async () => {
    clock.set('2026-03-02T10:00:00.000Z');
    const nightly = await define({
      name: 'Nightly db-03',
      targetCiIds: [ci['db-03']!],
      rpoMinutes: 7 * 1440,
    });
    // Night 1: nobody runs it; the grace ends at 02:30.
    clock.set('2026-03-03T02:30:00.000Z');
    await og.operations.sweep();
    expect(await runsOf(nightly)).toEqual([]);
    clock.set('2026-03-03T02:31:00.000Z');
    await Promise.all([og.operations.sweep(), og.operations.sweep()]);
    await og.operations.sweep();
    const missed = await runsOf(nightly);
    expect(missed.map((r) => [r.status, r.slotAt?.toISOString()])).toEqual([
      ['missed', '2026-03-03T02:00:00.000Z'],
    ]);
    expect(
      await eventsOf(
        'job_run.missed',
        missed.map((r) => r.id),
      ),
    ).toHaveLength(1);
    const [alert, ...more] = await alertsOf(`opsgraph:job-missed:${nightly.id}:2026-03-03T02:00:00.000Z`);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      status: 'open',
      count: 1,
      severity: 'major',
      ciId: ci['db-03'],
      type: 'job_missed',
    });

    // Night 2: it starts 20 minutes late, within the grace, and succeeds.
    clock.set('2026-03-04T02:21:00.000Z');
    await og.operations.reportRun(
      { jobId: nightly.id, status: 'started', runKey: 'n2', at: new Date('2026-03-04T02:20:00.000Z') },
      { actor: admin },
    );
    clock.set('2026-03-04T02:40:00.000Z');
    await og.operations.reportRun({ jobId: nightly.id, status: 'succeeded', runKey: 'n2' }, { actor: admin });
    clock.set('2026-03-04T12:00:00.000Z');
    await og.operations.sweep();
    const runs = await runsOf(nightly);
    expect(runs.map((r) => [r.status, r.slotAt?.toISOString(), r.durationMs])).toEqual([
      ['succeeded', '2026-03-04T02:00:00.000Z', 20 * MIN],
      ['missed', '2026-03-03T02:00:00.000Z', null],
    ]);
    expect(await alertsOf(`opsgraph:job-missed:${nightly.id}:2026-03-04T02:00:00.000Z`)).toEqual([]);
    await disable(nightly);
  });

  it('records a run once per runKey and completes the open run', async () => {
    clock.set('2026-03-05T01:00:00.000Z');
    const job = await define({
      name: 'Hourly batch',
      kind: 'batch',
      schedule: '0 * * * *',
      rpoMinutes: null,
      targetCiIds: [ci['batch-01']!],
    });
    clock.set('2026-03-05T02:05:00.000Z');
    const started = await og.operations.reportRun(
      { jobId: job.id, status: 'started', runKey: 'r1' },
      { actor: admin },
    );
    const again = await og.operations.reportRun(
      { jobId: job.id, status: 'started', runKey: 'r1' },
      { actor: admin },
    );
    expect(again.id).toBe(started.id);
    expect(started.slotAt?.toISOString()).toBe('2026-03-05T02:00:00.000Z');
    clock.set('2026-03-05T02:15:00.000Z');
    const done = { jobId: job.id, status: 'succeeded' as const, runKey: 'r1', bytes: 1024 };
    const ended = await og.operations.reportRun(done, { actor: admin });
    const retried = await og.operations.reportRun(done, { actor: admin });
    expect(retried).toEqual(ended);
    expect(ended).toMatchObject({ id: started.id, status: 'succeeded', durationMs: 10 * MIN, bytes: 1024 });
    const clash = await og.operations
      .reportRun({ ...done, status: 'failed' }, { actor: admin })
      .catch((e: unknown) => e);
    expect(clash).toBeInstanceOf(ConflictError);
    // A failure reported without a start: a completed run, started `durationMs` before.
    const failed = await og.operations.reportRun(
      { jobId: job.id, status: 'failed', durationMs: 5 * MIN, message: 'disk full' },
      { actor: admin },
    );
    // It started at 02:10, within the 02:00 slot's grace: it serves that slot too.
    expect(failed).toMatchObject({ status: 'failed', message: 'disk full' });
    expect(failed.slotAt?.toISOString()).toBe('2026-03-05T02:00:00.000Z');
    expect(failed.startedAt?.toISOString()).toBe('2026-03-05T02:10:00.000Z');
    const page = await og.operations.runs(job.id, { first: 1 });
    const rest = await og.operations.runs(job.id, { first: 5, after: page.endCursor });
    expect([...page.edges, ...rest.edges].map((e) => e.node.id)).toEqual([failed.id, started.id]);
    expect(await eventsOf('job_run.succeeded', [started.id])).toHaveLength(1);
    await disable(job);
  });

  it('marks an overrunning run once', async () => {
    clock.set('2026-03-06T00:00:00.000Z');
    const job = await define({
      name: 'Patch window',
      kind: 'patching',
      schedule: '0 1 * * *',
      rpoMinutes: null,
      expectedDurationMinutes: 60,
      targetCiIds: [ci['app-01']!],
    });
    clock.set('2026-03-06T01:00:00.000Z');
    const run = await og.operations.reportRun({ jobId: job.id, status: 'started' }, { actor: admin });
    // Tolerance: 20% of 60 minutes = 12 minutes.
    clock.set('2026-03-06T02:12:00.000Z');
    await og.operations.sweep();
    expect((await runsOf(job))[0]?.overranAt).toBeNull();
    clock.set('2026-03-06T02:12:01.000Z');
    await og.operations.sweep();
    await og.operations.sweep();
    expect((await runsOf(job))[0]).toMatchObject({ id: run.id, status: 'started' });
    expect((await runsOf(job))[0]?.overranAt?.toISOString()).toBe('2026-03-06T02:12:01.000Z');
    expect(await eventsOf('job_run.overran', [run.id])).toHaveLength(1);
    expect(await alertsOf(`opsgraph:job-overran:${run.id}`)).toMatchObject([
      { status: 'open', count: 1, severity: 'warning', ciId: ci['app-01'] },
    ]);
    await disable(job);
  });

  it('shows an RPO breach per CI and per service, raises it once, and clears it when a good backup arrives', async () => {
    clock.set('2026-03-10T00:00:00.000Z');
    const job = await define({
      name: 'db-02 backup',
      schedule: '0 3 * * *',
      targetCiIds: [ci['db-02']!],
      rpoMinutes: 1440,
    });
    const key = `opsgraph:backup-rpo:${ci['db-02']}`;
    // Never backed up: late once the RPO has passed since it became a target.
    clock.set('2026-03-11T00:00:00.000Z');
    await og.operations.sweep();
    expect((await og.operations.backupCompliance({ ciIds: [ci['db-02']!] })).cis).toEqual([
      {
        ciId: ci['db-02'],
        rpoMinutes: 1440,
        lastGoodBackupAt: null,
        ageMs: null,
        targetSince: new Date('2026-03-10T00:00:00.000Z'),
        compliant: true,
      },
    ]);
    await og.operations.reportRun(
      { jobId: job.id, status: 'succeeded', at: new Date('2026-03-11T00:00:00.000Z'), durationMs: 10 * MIN },
      { actor: admin },
    );
    expect(await alertsOf(key)).toEqual([]);
    // Last good backup started 2026-03-10T23:50; 24 hours later plus a minute, it is late.
    clock.set('2026-03-11T23:51:00.000Z');
    const [first, second] = await Promise.all([og.operations.sweep(), og.operations.sweep()]);
    await og.operations.sweep();
    expect((first?.breached ?? 0) + (second?.breached ?? 0)).toBe(1);
    const late = await og.operations.backupCompliance({ serviceId: ci.shop! });
    expect(late.service).toEqual({ serviceId: ci.shop, compliant: false, ciIds: [ci['db-02']] });
    expect(late.nonCompliant.map((c) => [c.ciId, c.ageMs, c.compliant])).toEqual([
      [ci['db-02'], 24 * HOUR + MIN, false],
    ]);
    expect(await alertsOf(key)).toMatchObject([
      { status: 'open', count: 1, severity: 'major', ciId: ci['db-02'] },
    ]);
    expect(await eventsOf('backup.rpo_breached', [ci['db-02']!])).toHaveLength(1);

    await og.operations.reportRun(
      { jobId: job.id, status: 'succeeded', durationMs: 5 * MIN },
      { actor: admin },
    );
    const ok = await og.operations.backupCompliance({ serviceId: ci.shop! });
    expect(ok.service?.compliant).toBe(true);
    expect(ok.cis.map((c) => [c.ciId, c.ageMs])).toEqual([[ci['db-02'], 5 * MIN]]);
    expect(await alertsOf(key)).toMatchObject([{ status: 'closed', closeReason: 'cleared' }]);
    expect(await eventsOf('backup.rpo_restored', [ci['db-02']!])).toHaveLength(1);
    // The next sweep finds nothing new to say.
    const after = await og.operations.sweep();
    expect([after.breached, after.cleared]).toEqual([0, 0]);
    await disable(job);
  });

  it('counts missed slots only since a job was (re-)enabled, and at most 50 per job per sweep', async () => {
    clock.set('2026-04-01T00:00:00.000Z');
    const hourly = await define({
      name: 'Hourly export',
      kind: 'batch',
      schedule: '0 * * * *',
      rpoMinutes: null,
      targetCiIds: [ci['batch-01']!],
      enabled: false,
    });
    clock.set('2026-04-10T00:10:00.000Z');
    await og.operations.updateJob(hourly.id, { enabled: true }, { actor: admin });
    clock.set('2026-04-10T03:00:00.000Z');
    await og.operations.sweep();
    expect((await runsOf(hourly)).map((r) => [r.status, r.slotAt?.toISOString()])).toEqual([
      ['missed', '2026-04-10T02:00:00.000Z'],
      ['missed', '2026-04-10T01:00:00.000Z'],
    ]);
    await disable(hourly);

    const everyMinute = await define({
      name: 'Every minute',
      kind: 'batch',
      schedule: '* * * * *',
      startGraceMinutes: 1,
      rpoMinutes: null,
      targetCiIds: [ci['batch-01']!],
    });
    clock.set('2026-04-10T06:00:00.000Z');
    await og.operations.sweep();
    const runs = await runsOf(everyMinute);
    expect(runs).toHaveLength(50);
    // The latest 50 slots whose minute of grace is over: 05:09 to 05:58.
    expect([runs.at(-1)?.slotAt?.toISOString(), runs[0]?.slotAt?.toISOString()]).toEqual([
      '2026-04-10T05:09:00.000Z',
      '2026-04-10T05:58:00.000Z',
    ]);
    await disable(everyMinute);
  });

  it('lets only operations readers read and operations writers write', async () => {
    const reader: Actor = { kind: 'user', id: 'r', name: 'reader', permissions: ['operations:read'] };
    const stranger: Actor = { kind: 'user', id: 's', name: 'stranger', permissions: ['cmdb:read'] };
    await expect(
      og.operations.defineJob(
        { name: 'nope', kind: 'batch', schedule: '0 * * * *', targetCiIds: [ci['db-01']!] },
        { actor: reader },
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(og.operations.jobs({}, {}, { actor: stranger })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(og.operations.backupCompliance({}, { actor: stranger })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect((await og.operations.jobs({ text: 'nightly' }, {}, { actor: reader })).edges.length).toBe(2);
  });
});
