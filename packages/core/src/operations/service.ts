import type { Page } from '../cmdb/model.js';
import type { EventInput } from '../events/model.js';
import {
  type Actor,
  assertCan,
  permissions,
  type ReadOptions,
  systemActor,
  type WriteOptions,
} from '../kernel/actor.js';
import {
  ConflictError,
  isOpsGraphError,
  NotFoundError,
  ValidationError,
  type ValidationIssue,
} from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { afterTimeId, decodeCursor, encodeCursor, pageSize } from '../kernel/pagination.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type BackupCompliance,
  type BackupComplianceQuery,
  backupComplianceInput,
  type CiBackupCompliance,
  type DefineJobInput,
  defineJobInput,
  type Job,
  type JobChangeOptions,
  type JobFilter,
  type JobPageRequest,
  type JobRef,
  type JobRun,
  jobFilterInput,
  MISSED_LOOKBACK_DAYS,
  MISSED_SLOTS_PER_SWEEP,
  type OperationsSweepOptions,
  type OperationsSweepResult,
  type ReportRunInput,
  reportRunInput,
  type UpdateJobInput,
  updateJobInput,
} from './model.js';
import { nextSlot, slotAtOrBefore, slotsBetween } from './schedule.js';
import * as store from './store.js';

/** Who the sweep acts as, in the activity stream. */
export const operationsSweepActor: Actor = systemActor('operations-sweep');
/**
 * Who raises operations' events in event management: whoever reports a backup needs operations:write,
 * not event:write, for the clear it causes to close its alert.
 */
const eventsActor: Actor = systemActor('operations');
const EVENT_SOURCE = 'opsgraph';
const MIN = 60_000;

const ref = (job: Job): JobRef => ({ id: job.id, name: job.name, kind: job.kind });
const readGate = (actor: Actor | undefined) => {
  if (actor) assertCan(actor, permissions.operationsRead);
};

/**
 * IT operations control: scheduled jobs (backups, batch, patching, DR tests) on a cron schedule, their
 * runs as reported, a sweep that finds missed and overrunning runs and late backups and raises them in
 * event management, and backup compliance against each target's RPO; `og.operations`.
 */
export class OperationsService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Defines a job (operations:write). A backup job needs `rpoMinutes`; other kinds may not have one.
   * Slots before it is defined are never counted as missed.
   */
  async defineJob(input: DefineJobInput, { actor }: WriteOptions): Promise<Job> {
    const d = parseInput(defineJobInput, input);
    assertCan(actor, permissions.operationsWrite);
    checkRpo(d.kind, d.rpoMinutes ?? null, '');
    return this.kernel.write(actor, async (scope) => {
      await store.lockJobNames(scope.db);
      const issues: ValidationIssue[] = [];
      if (await store.findJobByName(scope.db, d.name))
        issues.push({ path: 'name', message: 'another job has this name' });
      await checkTargets(scope, d.targetCiIds, 'targetCiIds', issues);
      await checkGroup(scope, d.ownerGroupId ?? null, 'ownerGroupId', issues);
      if (issues.length > 0) throw new ValidationError(issues);
      const id = crypto.randomUUID();
      await store.insertJob(scope.db, {
        id,
        name: d.name,
        kind: d.kind,
        schedule: d.schedule,
        timeZone: d.timeZone,
        expectedDurationMinutes: d.expectedDurationMinutes,
        startGraceMinutes: d.startGraceMinutes,
        ownerGroupId: d.ownerGroupId?.toLowerCase() ?? null,
        rpoMinutes: d.rpoMinutes ?? null,
        enabled: d.enabled,
        enabledSince: scope.now,
        createdAt: scope.now,
      });
      await store.setTargets(scope.db, id, d.targetCiIds, scope.now);
      const job = (await store.findJob(scope.db, id))!;
      scope.emit('job.defined', { type: 'job', id }, { job });
      return job;
    });
  }

  /**
   * Changes a job (operations:write); `version`, when given, must be current. Re-enabling counts slots
   * from now on; a target kept keeps when it became one.
   */
  async updateJob(id: string, patch: UpdateJobInput, { actor, version }: JobChangeOptions): Promise<Job> {
    const p = parseInput(updateJobInput, patch, 'patch');
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      await store.lockJobNames(scope.db);
      const found = isUuid(id) ? await store.findJob(scope.db, id.toLowerCase(), true) : undefined;
      if (!found) throw new NotFoundError('job', id, 'id');
      if (version !== undefined && version !== found.version)
        throw ConflictError.staleVersion('job', found.name, version, found.version);
      const issues: ValidationIssue[] = [];
      if (p.name !== undefined && p.name.toLowerCase() !== found.name.toLowerCase()) {
        if (await store.findJobByName(scope.db, p.name))
          issues.push({ path: 'patch.name', message: 'another job has this name' });
      }
      if (p.targetCiIds) await checkTargets(scope, p.targetCiIds, 'patch.targetCiIds', issues);
      if (p.ownerGroupId) await checkGroup(scope, p.ownerGroupId, 'patch.ownerGroupId', issues);
      if (issues.length > 0) throw new ValidationError(issues);
      if (p.rpoMinutes !== undefined) checkRpo(found.kind, p.rpoMinutes, 'patch.');
      const change: Record<string, unknown> = {};
      for (const key of [
        'name',
        'schedule',
        'timeZone',
        'expectedDurationMinutes',
        'startGraceMinutes',
        'ownerGroupId',
        'rpoMinutes',
        'enabled',
      ] as const) {
        const value = key === 'ownerGroupId' ? (p.ownerGroupId?.toLowerCase() ?? p.ownerGroupId) : p[key];
        if (value !== undefined && value !== found[key]) change[key] = value;
      }
      if (change.enabled === true) change.enabledSince = scope.now;
      const fields = Object.keys(change).filter((k) => k !== 'enabledSince');
      if (p.targetCiIds && p.targetCiIds.slice().sort().join() !== found.targetCiIds.join())
        fields.push('targetCiIds');
      if (fields.length === 0) return found;
      await store.updateJob(scope.db, found.id, change, scope.now);
      if (p.targetCiIds) await store.setTargets(scope.db, found.id, p.targetCiIds, scope.now);
      const job = (await store.findJob(scope.db, found.id))!;
      scope.emit('job.updated', { type: 'job', id: job.id }, { job, fields });
      return job;
    });
  }

  /** A job (operations:read); null when unknown. */
  async job(id: string, { actor }: ReadOptions = {}): Promise<Job | null> {
    readGate(actor);
    if (!isUuid(id)) return null;
    return (await store.findJob(this.kernel.db, id.toLowerCase())) ?? null;
  }

  /** A job by name, case-insensitively (operations:read); null when none has it. */
  async jobByName(name: string, { actor }: ReadOptions = {}): Promise<Job | null> {
    readGate(actor);
    return (await store.findJobByName(this.kernel.db, name)) ?? null;
  }

  /** Jobs of `ids` in one query (operations:read), for a DataLoader. */
  async jobsById(ids: readonly string[], { actor }: ReadOptions = {}): Promise<Map<string, Job>> {
    readGate(actor);
    const valid = ids.filter((id) => isUuid(id)).map((id) => id.toLowerCase());
    return new Map((await store.findJobs(this.kernel.db, valid)).map((j) => [j.id, j]));
  }

  /** A keyset page of jobs by name (operations:read); continue with `after: endCursor`. */
  async jobs(
    filter: JobFilter = {},
    page: JobPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Job>> {
    readGate(actor);
    const f = parseInput(jobFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const rows = await store.listJobs(this.kernel.db, {
      ...f,
      ciId: f.ciId?.toLowerCase(),
      ownerGroupId: f.ownerGroupId?.toLowerCase(),
      ...(page.after ? { after: afterName(page.after) } : {}),
      limit: first + 1,
    });
    const edges = rows
      .slice(0, first)
      .map((node) => ({ cursor: encodeCursor([node.name.toLowerCase(), node.id]), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /** The job's runs, newest first (operations:read); missed slots are runs of status `missed`. */
  async runs(jobId: string, page: JobPageRequest = {}, { actor }: ReadOptions = {}): Promise<Page<JobRun>> {
    readGate(actor);
    const first = pageSize(page.first);
    if (!isUuid(jobId)) throw new NotFoundError('job', jobId, 'jobId');
    return store.listRuns(this.kernel.db, jobId.toLowerCase(), afterTimeId(page.after), first);
  }

  /** The job's next slot after `after` (default now), in its time zone; null when disabled or none. */
  nextRunAt(job: Job, after: Date = this.kernel.clock.now()): Date | null {
    return job.enabled ? nextSlot(job.schedule, job.timeZone, after) : null;
  }

  /**
   * Records a report of a run (operations:write). `started` opens a run; `succeeded` / `failed` completes
   * the run of `runKey`, else the latest open one, else records a run that was never reported started
   * (its start is `at - durationMs`, or `at`). The same `runKey` reported again records nothing new. A
   * run serves the latest slot at or before its start when it started within the job's grace. A good
   * backup clears the RPO breaches of its targets it ends.
   */
  async reportRun(input: ReportRunInput, { actor }: WriteOptions): Promise<JobRun> {
    const r = parseInput(reportRunInput, input);
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const job = await store.findJob(scope.db, r.jobId.toLowerCase(), true);
      if (!job) throw new NotFoundError('job', r.jobId, 'jobId');
      const at = r.at ?? scope.now;
      const key = r.runKey ?? null;
      const keyed = key ? await store.runByKey(scope.db, job.id, key) : undefined;
      if (r.status === 'started') {
        if (keyed) return keyed;
        const run = await store.insertRun(scope.db, {
          id: crypto.randomUUID(),
          jobId: job.id,
          status: 'started',
          slotAt: slotServed(job, at),
          runKey: key,
          startedAt: at,
          finishedAt: null,
          bytes: r.bytes ?? null,
          durationMs: null,
          message: r.message ?? null,
          createdAt: scope.now,
        });
        scope.emit('job_run.started', { type: 'job_run', id: run.id }, { run, job: ref(job) });
        return run;
      }
      if (keyed && keyed.status !== 'started') {
        if (keyed.status === r.status) return keyed;
        throw new ConflictError(
          `run ${key} of job ${job.name} already ended ${keyed.status}; it cannot end ${r.status} too`,
          'status',
        );
      }
      const open = keyed ?? (await store.latestOpenRun(scope.db, job.id, key !== null));
      let run: JobRun;
      if (open) {
        if (at < open.startedAt!)
          throw ValidationError.field(
            'at',
            `must not be before the run started (${open.startedAt!.toISOString()})`,
          );
        run = await store.completeRun(
          scope.db,
          open.id,
          {
            status: r.status,
            finishedAt: at,
            bytes: r.bytes ?? open.bytes,
            durationMs: r.durationMs ?? at.getTime() - open.startedAt!.getTime(),
            message: r.message ?? open.message,
            runKey: open.runKey ?? key,
          },
          scope.now,
        );
      } else {
        const startedAt = new Date(at.getTime() - (r.durationMs ?? 0));
        run = await store.insertRun(scope.db, {
          id: crypto.randomUUID(),
          jobId: job.id,
          status: r.status,
          slotAt: slotServed(job, startedAt),
          runKey: key,
          startedAt,
          finishedAt: at,
          bytes: r.bytes ?? null,
          durationMs: r.durationMs ?? null,
          message: r.message ?? null,
          createdAt: scope.now,
        });
      }
      scope.emit(
        r.status === 'succeeded' ? 'job_run.succeeded' : 'job_run.failed',
        { type: 'job_run', id: run.id },
        { run, job: ref(job) },
      );
      if (job.kind === 'backup' && r.status === 'succeeded' && job.enabled)
        await settleCompliance(scope, scope.now, job.targetCiIds);
      return run;
    });
  }

  /**
   * Backup compliance at now (operations:read): per CI targeted by an enabled backup job, its strictest
   * RPO, last good backup and its age; with `serviceId`, the targets among the service and what it
   * depends on (topology's downstream walk) and whether all of them comply; with `ciIds`, those of them
   * that are targets. A target never backed up is late once its RPO has passed since it became one.
   */
  async backupCompliance(
    query: BackupComplianceQuery = {},
    { actor }: ReadOptions = {},
  ): Promise<BackupCompliance> {
    readGate(actor);
    const q = parseInput(backupComplianceInput, query);
    const at = this.kernel.clock.now();
    let scopeIds = q.ciIds;
    let serviceId: string | null = null;
    if (q.serviceId) {
      serviceId = q.serviceId.toLowerCase();
      const reached = await this.kernel.services.topology
        .downstream(serviceId, {}, actor ? { actor } : {})
        .catch((error: unknown) => {
          // Named as this call's argument, not topology's.
          if (isOpsGraphError(error) && error.code === 'NOT_FOUND')
            throw new NotFoundError('CI', q.serviceId!, 'serviceId');
          throw error;
        });
      const ids = [serviceId, ...reached.map((c) => c.id)];
      scopeIds = scopeIds ? scopeIds.filter((id) => ids.includes(id)) : ids;
    }
    const cis = (await store.backupTargets(this.kernel.db, scopeIds)).map((row) =>
      store.toCompliance(row, at),
    );
    const nonCompliant = cis.filter((c) => !c.compliant);
    return {
      at,
      cis,
      service: serviceId
        ? { serviceId, compliant: nonCompliant.length === 0, ciIds: cis.map((c) => c.ciId) }
        : null,
      nonCompliant,
    };
  }

  /**
   * The timed work of operations, in one transaction; idempotent, and when replicas sweep at once an
   * advisory try-lock lets one act while the others return zeros:
   * 1. each slot of an enabled job whose grace has passed with no run for it becomes a `missed` run
   *    (`job_run.missed`, and an event in event management); slots since the job was defined or
   *    re-enabled only, at most `MISSED_LOOKBACK_DAYS` back and `MISSED_SLOTS_PER_SWEEP` per job;
   * 2. a started run past its expected duration plus tolerance is marked overran once;
   * 3. backup targets whose compliance changed raise (or clear) their RPO breach event, once each.
   * Events are bound to the job's first live target CI (by name), one per missed slot or overrun.
   */
  async sweep(
    { now }: OperationsSweepOptions = {},
    actor: Actor = operationsSweepActor,
  ): Promise<OperationsSweepResult> {
    return this.kernel.write(actor, async (scope) => {
      if (!(await store.trySweepLock(scope.db))) return { missed: 0, overran: 0, breached: 0, cleared: 0 };
      const at = now ?? scope.now;
      const jobs = await store.enabledJobsLocked(scope.db);
      const cis = new Map(
        (await store.cisOf(scope.db, [...new Set(jobs.flatMap((j) => j.targetCiIds))])).map((c) => [c.id, c]),
      );
      const events: EventInput[] = [];
      // Every job's due slots, then which are served and the missed rows, in one query each.
      const due = jobs.flatMap((job) =>
        slotsBetween(
          job.schedule,
          job.timeZone,
          new Date(Math.max(job.enabledSince.getTime(), at.getTime() - MISSED_LOOKBACK_DAYS * 1440 * MIN)),
          new Date(at.getTime() - job.startGraceMinutes * MIN - 1),
          MISSED_SLOTS_PER_SWEEP,
        ).map((slotAt) => ({ jobId: job.id, slotAt })),
      );
      const served = await store.servedSlots(scope.db, due);
      const missedRuns = await store.insertMissed(
        scope.db,
        due.filter((s) => !served.has(`${s.jobId}|${s.slotAt.getTime()}`)),
        at,
      );
      const jobOf = new Map(jobs.map((j) => [j.id, j]));
      missedRuns.sort(
        (a, b) =>
          jobOf.get(a.jobId)!.name.localeCompare(jobOf.get(b.jobId)!.name) ||
          a.slotAt!.getTime() - b.slotAt!.getTime(),
      );
      for (const run of missedRuns) {
        const job = jobOf.get(run.jobId)!;
        scope.emit('job_run.missed', { type: 'job_run', id: run.id }, { run, job: ref(job) });
        const slot = run.slotAt!.toISOString();
        events.push({
          ...bindTo(job, cis),
          type: 'job_missed',
          severity: job.kind === 'backup' ? 'major' : 'minor',
          message: `${job.name} did not start for its ${slot} slot within ${job.startGraceMinutes} minutes`,
          dedupKey: `opsgraph:job-missed:${job.id}:${slot}`,
          labels: { jobId: job.id, jobKind: job.kind, slotAt: slot },
          occurredAt: at,
        });
      }
      const overran = await store.markOverran(scope.db, at);
      if (overran.length > 0) {
        const byId = new Map(
          (
            await store.findJobs(
              scope.db,
              overran.map((r) => r.jobId),
            )
          ).map((j) => [j.id, j]),
        );
        const extra = await store.cisOf(
          scope.db,
          [...byId.values()].flatMap((j) => j.targetCiIds),
        );
        for (const c of extra) cis.set(c.id, c);
        for (const run of overran) {
          const job = byId.get(run.jobId)!;
          scope.emit('job_run.overran', { type: 'job_run', id: run.id }, { run, job: ref(job) });
          events.push({
            ...bindTo(job, cis),
            type: 'job_overran',
            severity: 'warning',
            message: `${job.name} has run since ${run.startedAt!.toISOString()}, past its expected ${job.expectedDurationMinutes} minutes`,
            dedupKey: `opsgraph:job-overran:${run.id}`,
            labels: { jobId: job.id, jobKind: job.kind, runId: run.id },
            occurredAt: at,
          });
        }
      }
      const settled = await settleCompliance(scope, at, undefined, events);
      return { missed: missedRuns.length, overran: overran.length, ...settled };
    });
  }
}

function afterName(cursor: string): [string, string] {
  const values = decodeCursor(cursor);
  if (values.length !== 2 || typeof values[0] !== 'string' || !isUuid(values[1]))
    throw ValidationError.field('after', 'is not a job cursor this API returned');
  return [values[0], String(values[1]).toLowerCase()];
}

/** The slot a run starting at `startedAt` serves: the latest at or before it, if within the grace. */
function slotServed(job: Job, startedAt: Date): Date | null {
  const slot = slotAtOrBefore(job.schedule, job.timeZone, startedAt);
  return slot && startedAt.getTime() - slot.getTime() <= job.startGraceMinutes * MIN ? slot : null;
}

function checkRpo(kind: string, rpoMinutes: number | null, prefix: string): void {
  if (kind === 'backup' && rpoMinutes === null)
    throw ValidationError.field(`${prefix}rpoMinutes`, 'a backup job needs a recovery point objective');
  if (kind !== 'backup' && rpoMinutes !== null)
    throw ValidationError.field(`${prefix}rpoMinutes`, 'only a backup job has a recovery point objective');
}

async function checkTargets(
  scope: WriteScope,
  ids: readonly string[],
  field: string,
  issues: ValidationIssue[],
) {
  const found = new Map((await store.cisOf(scope.db, ids)).map((c) => [c.id, c]));
  ids.forEach((id, i) => {
    const ci = found.get(id);
    if (!ci) issues.push({ path: `${field}.${i}`, message: `no CI ${id}` });
    else if (ci.retiredAt) issues.push({ path: `${field}.${i}`, message: `CI ${ci.name} is retired` });
  });
}

async function checkGroup(scope: WriteScope, id: string | null, field: string, issues: ValidationIssue[]) {
  if (id && !(await store.groupExists(scope.db, id.toLowerCase())))
    issues.push({ path: field, message: `no group ${id}` });
}

/** Source, node, resource and CI of a job's event: its first live target by name (else the job's name). */
function bindTo(job: Job, cis: Map<string, { id: string; name: string; retiredAt: Date | null }>) {
  const live = job.targetCiIds
    .map((id) => cis.get(id))
    .filter((c) => c && !c.retiredAt)
    .sort((a, b) => a!.name.localeCompare(b!.name))[0];
  return { source: EVENT_SOURCE, node: live?.name ?? job.name, resource: job.name, ciId: live?.id ?? null };
}

/**
 * Brings the recorded compliance of backup targets (all, or `ciIds`) in line with `now`: a target that
 * became late raises its RPO breach event, one that complies again (or stopped being a target) clears
 * it. With `ciIds` (a good backup just reported) only existing records change: a new one is the sweep's
 * to write, so a breach is never recorded twice. `events` are raised with these, in this transaction.
 */
async function settleCompliance(
  scope: WriteScope,
  now: Date,
  ciIds?: readonly string[],
  events: EventInput[] = [],
): Promise<{ breached: number; cleared: number }> {
  const rows = await store.backupTargets(scope.db, ciIds);
  const states = new Map((await store.complianceStates(scope.db, ciIds)).map((s) => [s.ciId, s]));
  let breached = 0;
  let cleared = 0;
  const rpoEvent = (ciId: string, node: string, c: CiBackupCompliance | null): EventInput => ({
    source: EVENT_SOURCE,
    node,
    resource: 'backup',
    type: 'backup_rpo_breached',
    severity: c && !c.compliant ? 'major' : 'clear',
    message:
      c && !c.compliant
        ? `${node}: ${c.lastGoodBackupAt ? `last good backup ${c.lastGoodBackupAt.toISOString()}` : 'never backed up'}, past its RPO of ${c.rpoMinutes} minutes`
        : `${node}: backups within the RPO again`,
    dedupKey: `opsgraph:backup-rpo:${ciId}`,
    labels: c ? { rpoMinutes: String(c.rpoMinutes) } : {},
    ciId,
    occurredAt: now,
  });
  for (const row of rows) {
    const c = store.toCompliance(row, now);
    const before = states.get(row.ciId);
    states.delete(row.ciId);
    // No record yet: only a breach is worth one, and only the sweep writes new ones.
    if (before ? before.compliant === c.compliant : ciIds !== undefined || c.compliant) continue;
    await store.setComplianceState(scope.db, c.ciId, c.compliant, now);
    if (c.compliant) {
      cleared++;
      scope.emit('backup.rpo_restored', { type: 'ci', id: c.ciId }, { ciId: c.ciId, compliance: c });
    } else {
      breached++;
      scope.emit('backup.rpo_breached', { type: 'ci', id: c.ciId }, { compliance: c });
    }
    events.push(rpoEvent(c.ciId, row.ciName, c));
  }
  // Recorded but no longer a (live) target: a breach on record is cleared.
  const gone = [...states.values()];
  const names = new Map(
    (
      await store.cisOf(
        scope.db,
        gone.map((s) => s.ciId),
      )
    ).map((c) => [c.id, c]),
  );
  for (const state of gone) {
    await store.dropComplianceState(scope.db, state.ciId);
    if (state.compliant) continue;
    cleared++;
    scope.emit('backup.rpo_restored', { type: 'ci', id: state.ciId }, { ciId: state.ciId, compliance: null });
    const ci = names.get(state.ciId);
    events.push({
      ...rpoEvent(state.ciId, ci?.name ?? state.ciId, null),
      ciId: ci?.retiredAt ? null : state.ciId,
    });
  }
  if (events.length > 0) await scope.kernel.services.events.ingest(events, { actor: eventsActor });
  return { breached, cleared };
}
