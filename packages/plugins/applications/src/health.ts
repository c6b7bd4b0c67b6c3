import {
  CiReach,
  type Kernel,
  NotFoundError,
  parseInput,
  pluginActor,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import { sql } from 'kysely';
import { distinct, readableIds, stale } from './applications.js';
import {
  type ApplicationChangeOptions,
  type CheckResult,
  type DefineHealthCheckInput,
  defineHealthCheckInput,
  type HealthCheck,
  applicationsPermissions as perms,
  type SweepResult,
  type UpdateHealthCheckInput,
  updateHealthCheckInput,
} from './model.js';
import { type ProbeOutcome, probe } from './probe.js';
import * as store from './store.js';

const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const actor = pluginActor('applications');

/** The event-management dedup key of a check's alert: one live alert per check. */
export const checkDedupKey = (checkId: string) => `applications.health_check.${checkId}`;

export interface HealthChecksOptions {
  /** Most checks one sweep claims (default 200); the rest wait for the next round. */
  readonly batch?: number;
  /** Probes in flight at once (default 16). */
  readonly concurrency?: number;
}

/**
 * HTTP health checks (`og.plugins.applications.healthChecks`): probe definitions per application (and
 * environment), run by the scheduler's `applications.probes` sweep. Each result is stored; a failure
 * raises an alert on the application's CI through event management (dedup key per check) and a success
 * after failures clears it.
 */
export class HealthChecksService {
  constructor(
    private readonly kernel: Kernel,
    private readonly options: HealthChecksOptions = {},
  ) {}

  /** Defines a check (`applications:write`); it is due at once. Names are unique per application. */
  async define(input: DefineHealthCheckInput, { actor: who }: WriteOptions): Promise<HealthCheck> {
    const d = parseInput(defineHealthCheckInput, input);
    const appId = d.applicationId.toLowerCase();
    CiReach.of(who, perms.write).assert(appId, 'applicationId');
    return this.kernel.write(who, async (scope) => {
      const app = await store.findApplication(scope.db, appId);
      if (!app) throw new NotFoundError('Application', appId, 'applicationId');
      const db = store.view(scope.db);
      let environmentId: string | null = null;
      if (d.environment) {
        const env = await db
          .selectFrom('applicationsEnvironments')
          .select('id')
          .where('applicationId', '=', appId)
          .where('name', '=', d.environment)
          .executeTakeFirst();
        if (!env)
          throw ValidationError.field(
            'environment',
            `application ${app.name} has no environment named ${d.environment}`,
          );
        environmentId = env.id;
      }
      const taken = await db
        .selectFrom('applicationsHealthChecks')
        .select('id')
        .where('applicationId', '=', appId)
        .where('name', '=', d.name)
        .executeTakeFirst();
      if (taken)
        throw ValidationError.field('name', 'this application already has a health check of this name');
      const check = await db
        .insertInto('applicationsHealthChecks')
        .values({
          id: crypto.randomUUID(),
          applicationId: appId,
          environmentId,
          name: d.name,
          url: d.url,
          method: d.method,
          expectedStatus: d.expectedStatus,
          timeoutMs: d.timeoutMs,
          intervalMs: d.intervalMs,
          severity: d.severity,
          enabled: d.enabled,
          nextDueAt: scope.now,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      scope.emit('applications.health_check_defined', { type: 'ci', id: appId }, { check });
      return check;
    });
  }

  /**
   * Changes a check's definition (`applications:write`); a stale `version` gets ConflictError. Results do
   * not change `version`. Disabling a failing check clears its alert: nobody watches that condition now.
   */
  async update(
    checkId: string,
    patch: UpdateHealthCheckInput,
    { actor: who, version }: ApplicationChangeOptions,
  ): Promise<HealthCheck> {
    const p = parseInput(updateHealthCheckInput, patch, 'patch');
    const reach = CiReach.of(who, perms.write);
    return this.kernel.write(who, async (scope) => {
      const found = await this.#find(scope.db, checkId, true);
      reach.assert(found.applicationId, 'id');
      if (version !== undefined && version !== found.version)
        throw stale('Health check', found.name, version, found.version);
      const change = Object.fromEntries(
        Object.entries(p).filter(([k, v]) => v !== undefined && v !== found[k as keyof HealthCheck]),
      ) as Partial<HealthCheck>;
      const fields = Object.keys(change);
      if (fields.length === 0) return found;
      const runtime: Partial<HealthCheck> = {};
      if (change.enabled === true) runtime.nextDueAt = scope.now;
      if (change.enabled === false) Object.assign(runtime, { state: 'unknown', consecutiveFailures: 0 });
      const check = await store
        .view(scope.db)
        .updateTable('applicationsHealthChecks')
        .set({ ...change, ...runtime, version: found.version + 1, updatedAt: scope.now })
        .where('id', '=', found.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (change.enabled === false && found.state === 'down') {
        const ci = await store.ciOfClass(scope.db, found.applicationId, 'application');
        await clearAlert(scope, found, 'health check disabled', scope.now, !ci?.retired);
      }
      scope.emit(
        'applications.health_check_updated',
        { type: 'ci', id: found.applicationId },
        { check, fields },
      );
      return check;
    });
  }

  /**
   * Disables every enabled check of the application in one transaction, as `update(…, { enabled: false })`
   * would (a failing one's alert is cleared): run by the plugin's `ci.retired` handler, since nobody
   * watches a retired application. Returns the checks it disabled.
   */
  async disableForApplication(
    applicationId: string,
    { actor: who, reason = 'application retired' }: WriteOptions & { reason?: string },
  ): Promise<HealthCheck[]> {
    if (!uuidLike.test(applicationId))
      throw ValidationError.field('applicationId', 'must be an application id');
    const appId = applicationId.toLowerCase();
    CiReach.of(who, perms.write).assert(appId, 'applicationId');
    return this.kernel.write(who, async (scope) => {
      const db = store.view(scope.db);
      const ci = await store.ciOfClass(scope.db, appId, 'application');
      const found = await db
        .selectFrom('applicationsHealthChecks')
        .selectAll()
        .where('applicationId', '=', appId)
        .where('enabled', '=', true)
        .orderBy('name')
        .orderBy('id')
        .forUpdate()
        .execute();
      const disabled: HealthCheck[] = [];
      for (const check of found) {
        const updated = await db
          .updateTable('applicationsHealthChecks')
          .set({
            enabled: false,
            state: 'unknown',
            consecutiveFailures: 0,
            version: check.version + 1,
            updatedAt: scope.now,
          })
          .where('id', '=', check.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        if (check.state === 'down')
          await clearAlert(scope, check, `health check disabled: ${reason}`, scope.now, !ci?.retired);
        scope.emit(
          'applications.health_check_updated',
          { type: 'ci', id: appId },
          { check: updated, fields: ['enabled'] },
        );
        disabled.push(updated);
      }
      return disabled;
    });
  }

  async get(checkId: string, { actor: who }: ReadOptions = {}): Promise<HealthCheck | null> {
    const reach = CiReach.of(who, perms.read);
    const found = await this.#find(this.kernel.db, checkId, false).catch((e) => {
      if (e instanceof NotFoundError) return null;
      throw e;
    });
    if (found) reach.assert(found.applicationId, 'id');
    return found;
  }

  /** The application's checks, by name. */
  async list(applicationId: string, { actor: who }: ReadOptions = {}): Promise<HealthCheck[]> {
    const reach = CiReach.of(who, perms.read);
    if (!uuidLike.test(applicationId))
      throw ValidationError.field('applicationId', 'must be an application id');
    reach.assert(applicationId.toLowerCase(), 'applicationId');
    return store
      .view(this.kernel.db)
      .selectFrom('applicationsHealthChecks')
      .selectAll()
      .where('applicationId', '=', applicationId.toLowerCase())
      .orderBy('name')
      .execute();
  }

  /** The checks of several applications (a DataLoader batch: one query), in the order asked; [] where out of reach. */
  async listByApplicationIds(
    applicationIds: readonly string[],
    { actor: who }: ReadOptions = {},
  ): Promise<HealthCheck[][]> {
    const ids = readableIds(who, applicationIds);
    const wanted = distinct(ids);
    const rows =
      wanted.length === 0
        ? []
        : await store
            .view(this.kernel.db)
            .selectFrom('applicationsHealthChecks')
            .selectAll()
            .where('applicationId', 'in', wanted)
            .orderBy('name')
            .orderBy('id')
            .execute();
    return store.groupBy(ids, rows, (c) => c.applicationId);
  }

  /** A check's latest results, newest first (default 20, at most 500). */
  async results(
    checkId: string,
    { actor: who, limit = 20 }: ReadOptions & { limit?: number } = {},
  ): Promise<CheckResult[]> {
    const reach = CiReach.of(who, perms.read);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw ValidationError.field('limit', 'must be an integer from 1 to 500');
    const check = await this.#find(this.kernel.db, checkId, false);
    reach.assert(check.applicationId, 'checkId');
    return store
      .view(this.kernel.db)
      .selectFrom('applicationsCheckResults')
      .selectAll()
      .where('checkId', '=', check.id)
      .orderBy('checkedAt', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  /**
   * The latest `limit` results of each of several checks (a DataLoader batch: one query, a lateral read
   * of each check's newest results along its index), newest first, in the order asked; [] where the id is
   * no check or its application is out of the actor's reach.
   */
  async resultsByCheckIds(
    checkIds: readonly string[],
    { actor: who, limit = 20 }: ReadOptions & { limit?: number } = {},
  ): Promise<CheckResult[][]> {
    const reach = CiReach.of(who, perms.read);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw ValidationError.field('limit', 'must be an integer from 1 to 500');
    const ids = checkIds.map((i) => (uuidLike.test(i) ? i.toLowerCase() : null));
    const wanted = distinct(ids);
    if (wanted.length === 0) return ids.map(() => []);
    const { rows } = await sql<CheckResult & { applicationId: string }>`
      select r.*, c.application_id
      from applications_health_checks c
      cross join lateral (
        select * from applications_check_results r
        where r.check_id = c.id
        order by r.checked_at desc, r.id desc
        limit ${limit}
      ) r
      where c.id = any(${wanted}::uuid[])
      order by r.check_id, r.checked_at desc, r.id desc`.execute(this.kernel.db);
    const byCheck = new Map<string, CheckResult[]>();
    for (const { applicationId, ...result } of rows) {
      if (!reach.has(applicationId)) continue;
      const group = byCheck.get(result.checkId);
      if (group) group.push(result);
      else byCheck.set(result.checkId, [result]);
    }
    return ids.map((i) => (i ? [...(byCheck.get(i) ?? [])] : []));
  }

  /**
   * Runs the checks due at `now` (default the clock's): claims them (their next due time moves on by
   * their interval, in one statement, so two replicas never probe the same check in a round), probes
   * them with no transaction open, then writes each result in its own transaction with its alert.
   */
  async sweep({ now = this.kernel.clock.now() }: { now?: Date } = {}): Promise<SweepResult> {
    const batch = this.options.batch ?? 200;
    const { rows: claimed } = await sql<HealthCheck>`
      update applications_health_checks c
      set next_due_at = ${now}::timestamptz + c.interval_ms * interval '1 millisecond'
      where c.id in (
        select id from applications_health_checks
        where enabled and next_due_at <= ${now}::timestamptz
        order by next_due_at, id
        limit ${batch}
        for update skip locked
      )
      returning c.*`.execute(this.kernel.db);
    const outcomes = await pool(claimed, this.options.concurrency ?? 16, (check) => probe(check));
    let failed = 0;
    let recovered = 0;
    for (const [i, check] of claimed.entries()) {
      const outcome = outcomes[i]!;
      const change = await this.kernel.write(actor, (scope) => record(scope, check.id, outcome, now));
      if (change === 'failed') failed++;
      if (change === 'recovered') recovered++;
    }
    return { probed: claimed.length, failed, recovered };
  }

  async #find(db: Kernel['db'], checkId: string, lock: boolean): Promise<HealthCheck> {
    let query = store
      .view(db)
      .selectFrom('applicationsHealthChecks')
      .selectAll()
      .where(
        'id',
        '=',
        uuidLike.test(checkId) ? checkId.toLowerCase() : '00000000-0000-0000-0000-000000000000',
      );
    if (lock) query = query.forUpdate();
    const found = await query.executeTakeFirst();
    if (!found) throw new NotFoundError('Health check', checkId, 'id');
    return found;
  }
}

/** Stores one result and moves the check's state; failures trigger its alert, a recovery clears it. */
async function record(
  scope: WriteScope,
  checkId: string,
  outcome: ProbeOutcome,
  now: Date,
): Promise<'failed' | 'recovered' | 'up' | 'down' | 'gone'> {
  const db = store.view(scope.db);
  const check = await db
    .selectFrom('applicationsHealthChecks')
    .selectAll()
    .where('id', '=', checkId)
    .forUpdate()
    .executeTakeFirst();
  if (!check) return 'gone';
  const result = await db
    .insertInto('applicationsCheckResults')
    .values({ id: crypto.randomUUID(), checkId, checkedAt: now, ...outcome })
    .returningAll()
    .executeTakeFirstOrThrow();
  // A check disabled while it was probed keeps the result, but no longer raises anything.
  const watching = check.enabled;
  const state = watching ? (outcome.ok ? 'up' : 'down') : 'unknown';
  const updated = await db
    .updateTable('applicationsHealthChecks')
    .set({
      state,
      lastCheckedAt: now,
      consecutiveFailures: outcome.ok || !watching ? 0 : check.consecutiveFailures + 1,
    })
    .where('id', '=', checkId)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (!watching) return 'gone';
  const subject = { type: 'ci', id: check.applicationId };
  if (!outcome.ok) {
    const app = await store.findApplication(scope.db, check.applicationId);
    // Every failure goes to event management (the alert's count grows); the domain event marks the change.
    await scope.kernel.services.events.ingest(
      {
        source: 'applications',
        node: app?.name ?? check.applicationId,
        resource: check.name,
        type: 'health_check',
        severity: check.severity,
        message: `${check.method} ${check.url}: ${outcome.error}`,
        dedupKey: checkDedupKey(check.id),
        labels: { check: check.name, url: check.url },
        occurredAt: now,
        ciId: check.applicationId,
      },
      { actor: scope.actor },
    );
    if (check.state === 'down') return 'down';
    scope.emit('applications.check_failed', subject, { check: updated, result });
    return 'failed';
  }
  if (check.state !== 'down') return 'up';
  await clearAlert(scope, check, `${check.method} ${check.url}: HTTP ${outcome.statusCode}`, now);
  scope.emit('applications.check_recovered', subject, { check: updated, result });
  return 'recovered';
}

/**
 * Clears the check's alert (event management closes it by its dedup key). A retired CI takes no new
 * events, so the clear of a retired application's alert names no CI (`live: false`).
 */
async function clearAlert(
  scope: WriteScope,
  check: HealthCheck,
  message: string,
  at = scope.now,
  live = true,
): Promise<void> {
  const app = await store.findApplication(scope.db, check.applicationId);
  await scope.kernel.services.events.ingest(
    {
      source: 'applications',
      node: app?.name ?? check.applicationId,
      resource: check.name,
      type: 'health_check',
      severity: 'clear',
      message,
      dedupKey: checkDedupKey(check.id),
      labels: { check: check.name, url: check.url },
      occurredAt: at,
      ...(live ? { ciId: check.applicationId } : {}),
    },
    // As the plugin: the alert is the plugin's, whoever disabled the check.
    { actor },
  );
}

/** Runs `fn` over `items` with at most `limit` in flight; results in the items' order. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
