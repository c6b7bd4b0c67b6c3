import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  assertCan,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError, type ValidationIssue } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { afterTimeId, pageSize, timeIdPage } from '../kernel/pagination.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type DefineDrPlanInput,
  type DrPlan,
  type DrPlanChangeOptions,
  type DrPlanFilter,
  type DrPlanPageRequest,
  type DrTest,
  defineDrPlanInput,
  drPlanFilterInput,
  isoDuration,
  MAX_RECOVERY_CIS,
  type RecordDrTestInput,
  type RecoveryOrder,
  type RecoveryOrderQuery,
  type RetireDrPlanInput,
  recordDrTestInput,
  recoveryOrderQuery,
  retireDrPlanInput,
  type StoredRunbookStep,
  type UpdateDrPlanInput,
  updateDrPlanInput,
} from './recovery-model.js';
import { orderRecovery } from './recovery-order.js';
import * as store from './recovery-store.js';

const readGate = (actor: Actor | undefined) => {
  if (actor) assertCan(actor, permissions.operationsRead);
};

/**
 * Disaster recovery, `og.recovery`: one live plan per business service (RTO, RPO, an ordered runbook,
 * an owner group, an optional test schedule), the order to recover what the service depends on,
 * computed from topology, and DR tests recorded against the plan's targets. Reads need
 * operations:read, writes operations:write (everywhere: plans are not scoped to CIs).
 */
export class RecoveryService {
  constructor(private readonly kernel: Kernel) {}

  /** Defines the plan of a business service; a service with a live plan is refused naming `serviceId`. */
  async definePlan(input: DefineDrPlanInput, { actor }: WriteOptions): Promise<DrPlan> {
    const d = parseInput(defineDrPlanInput, input);
    assertCan(actor, permissions.operationsWrite);
    const serviceId = d.serviceId.toLowerCase();
    return this.kernel.write(actor, async (scope) => {
      await store.lockService(scope.db, serviceId);
      const issues = await checkService(scope, serviceId);
      const steps = d.steps.map(storedStep);
      issues.push(...(await checkRefs(scope, d.ownerGroupId ?? null, steps, '')));
      if (issues.length > 0) throw new ValidationError(issues);
      const id = crypto.randomUUID();
      await store.insertPlan(scope.db, {
        id,
        serviceId,
        rtoSeconds: d.rto,
        rpoSeconds: d.rpo,
        testEverySeconds: d.testEvery ?? null,
        ownerGroupId: d.ownerGroupId?.toLowerCase() ?? null,
        steps,
        createdBy: actorRef(actor),
        createdAt: scope.now,
      });
      const plan = await this.#read(scope, id);
      scope.emit('dr_plan.defined', { type: 'dr_plan', id }, { plan });
      return plan;
    });
  }

  /** Changes a live plan's targets, schedule, owner or runbook; `version` must be the one read. */
  async updatePlan(
    id: string,
    patch: UpdateDrPlanInput,
    { actor, version }: DrPlanChangeOptions,
  ): Promise<DrPlan> {
    const p = parseInput(updateDrPlanInput, patch, 'patch');
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const found = await livePlanForUpdate(scope, id, version);
      const steps = p.steps?.map(storedStep);
      const issues = await checkRefs(scope, p.ownerGroupId ?? null, steps ?? [], 'patch.');
      if (issues.length > 0) throw new ValidationError(issues);
      const change = {
        ...(p.rto !== undefined ? { rtoSeconds: p.rto } : {}),
        ...(p.rpo !== undefined ? { rpoSeconds: p.rpo } : {}),
        ...(p.testEvery !== undefined ? { testEverySeconds: p.testEvery } : {}),
        ...(p.ownerGroupId !== undefined ? { ownerGroupId: p.ownerGroupId?.toLowerCase() ?? null } : {}),
        ...(steps ? { steps } : {}),
      };
      const fields = Object.entries(change)
        .filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(found[k as keyof store.PlanRow]))
        .map(([k]) => fieldNames[k] ?? k);
      if (fields.length === 0) return this.#read(scope, found.id);
      await store.updatePlan(scope.db, found.id, change, scope.now);
      const plan = await this.#read(scope, found.id);
      scope.emit('dr_plan.updated', { type: 'dr_plan', id: plan.id }, { plan, fields });
      return plan;
    });
  }

  /** Retires a live plan (kept with its tests); the service may then get a new one. */
  async retirePlan(
    id: string,
    input: RetireDrPlanInput,
    { actor, version }: DrPlanChangeOptions,
  ): Promise<DrPlan> {
    const r = parseInput(retireDrPlanInput, input);
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const found = await livePlanForUpdate(scope, id, version);
      await store.updatePlan(
        scope.db,
        found.id,
        { state: 'retired', retiredAt: scope.now, retiredReason: r.reason },
        scope.now,
      );
      const plan = await this.#read(scope, found.id);
      scope.emit('dr_plan.retired', { type: 'dr_plan', id: plan.id }, { plan });
      return plan;
    });
  }

  /**
   * Records a DR test of a live plan: passed iff the achieved RTO and RPO are within the plan's targets
   * and no failure is declared (`outcome: 'failed'`); claiming `passed` with a target missed is refused.
   * Who recorded it and when are kept, with the plan version tested.
   */
  async recordTest(planId: string, input: RecordDrTestInput, { actor }: WriteOptions): Promise<DrTest> {
    const t = parseInput(recordDrTestInput, input);
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const found = isUuid(planId) ? await store.findPlan(scope.db, planId.toLowerCase(), true) : undefined;
      if (!found) throw new NotFoundError('DR plan', planId, 'planId');
      if (found.state !== 'live')
        throw ValidationError.field('planId', 'is retired: test the service’s live plan');
      if (t.endedAt.getTime() > scope.now.getTime())
        throw ValidationError.field('endedAt', 'must not be in the future');
      const rtoMet = t.achievedRto <= found.rtoSeconds;
      const rpoMet = t.achievedRpo <= found.rpoSeconds;
      if (t.outcome === 'passed' && !(rtoMet && rpoMet)) {
        const missed = !rtoMet
          ? `the achieved RTO ${isoDuration(t.achievedRto)} exceeds the plan's ${isoDuration(found.rtoSeconds)}`
          : `the achieved RPO ${isoDuration(t.achievedRpo)} exceeds the plan's ${isoDuration(found.rpoSeconds)}`;
        throw ValidationError.field('outcome', `cannot be passed: ${missed}`);
      }
      const test = await store.insertTest(scope.db, {
        id: crypto.randomUUID(),
        planId: found.id,
        planVersion: found.version,
        startedAt: t.startedAt,
        endedAt: t.endedAt,
        achievedRtoSeconds: t.achievedRto,
        achievedRpoSeconds: t.achievedRpo,
        targetRtoSeconds: found.rtoSeconds,
        targetRpoSeconds: found.rpoSeconds,
        outcome: rtoMet && rpoMet && t.outcome !== 'failed' ? 'passed' : 'failed',
        notes: t.notes,
        recordedBy: actorRef(actor),
        recordedAt: scope.now,
      });
      const plan = await this.#read(scope, found.id);
      scope.emit('dr_test.recorded', { type: 'dr_plan', id: plan.id }, { test, plan });
      return test;
    });
  }

  /** The plan with this id, live or retired; null when there is none. */
  async plan(id: string, { actor }: ReadOptions = {}): Promise<DrPlan | null> {
    readGate(actor);
    if (!isUuid(id)) return null;
    const row = await store.findPlan(this.kernel.db, id.toLowerCase());
    return row ? (await this.#withTests([row]))[0]! : null;
  }

  /** Plans by id, in the order asked (null for none), in two queries: a DataLoader batch. */
  async plansById(ids: readonly string[], { actor }: ReadOptions = {}): Promise<(DrPlan | null)[]> {
    readGate(actor);
    const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
    const rows = valid.length === 0 ? [] : await store.listPlansById(this.kernel.db, valid);
    const byId = new Map((await this.#withTests(rows)).map((p) => [p.id, p]));
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  /** The live plan of a business service; null when it has none. */
  async planOfService(serviceId: string, { actor }: ReadOptions = {}): Promise<DrPlan | null> {
    readGate(actor);
    if (!isUuid(serviceId)) throw ValidationError.field('serviceId', 'must be a business service id');
    const row = await store.livePlanOf(this.kernel.db, serviceId.toLowerCase());
    return row ? (await this.#withTests([row]))[0]! : null;
  }

  /** A keyset page of plans, newest first; live ones unless `filter.state` says otherwise. */
  async plans(
    filter: DrPlanFilter = {},
    page: DrPlanPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<DrPlan>> {
    readGate(actor);
    const f = parseInput(drPlanFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const rows = await store.listPlans(this.kernel.db, {
      serviceId: f.serviceId?.toLowerCase(),
      ownerGroupId: f.ownerGroupId?.toLowerCase(),
      state: f.state,
      overdue: f.overdue,
      now: this.kernel.clock.now(),
      after: page.after ? store.parsePlanCursor(page.after) : undefined,
      limit: first + 1,
    });
    const plans = await this.#withTests(rows.slice(0, first));
    const edges = plans.map((node) => ({ cursor: store.planCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /** A plan's DR tests, newest first (by start). */
  async tests(
    planId: string,
    page: DrPlanPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<DrTest>> {
    readGate(actor);
    const first = pageSize(page.first);
    const after = afterTimeId(page.after);
    if (!isUuid(planId)) throw new NotFoundError('DR plan', planId, 'planId');
    const rows = await store.listTests(this.kernel.db, planId.toLowerCase(), after, first + 1);
    return timeIdPage(rows, first, (t) => t.startedAt);
  }

  /**
   * The first page of DR tests of each of `planIds` (newest first, `first` each), in one query, in the
   * order asked: a DataLoader batch. An unknown id gets an empty page. There is no `after`: a cursor
   * belongs to one plan's list, so a later page is `tests(planId, { first, after })`.
   */
  async testsOfPlans(
    planIds: readonly string[],
    page: { readonly first?: number } = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<DrTest>[]> {
    readGate(actor);
    const first = pageSize(page.first);
    const ids = planIds.map((id) => (isUuid(id) ? id.toLowerCase() : null));
    const found = await store.firstTestsOf(
      this.kernel.db,
      [...new Set(ids.filter((id): id is string => id !== null))],
      first + 1,
    );
    return ids.map((id) => timeIdPage((id && found.get(id)) || [], first, (t) => t.startedAt));
  }

  /**
   * The order to recover the plan's service in: what it depends on, transitively, in stages (each
   * stage needs only earlier ones; its CIs can be recovered in parallel), cycles reported rather than
   * refused, and warnings for runbook steps that contradict it. Follows relationships by their
   * propagation (see `needsOf` in recovery-store), up to `maxDepth` (default 50) from the service;
   * retired CIs are skipped, and so is what lies only beyond them.
   */
  async recoveryOrder(
    planId: string,
    query: RecoveryOrderQuery = {},
    options: ReadOptions = {},
  ): Promise<RecoveryOrder> {
    const plan = await this.plan(planId, options);
    if (!plan) throw new NotFoundError('DR plan', planId, 'planId');
    return (await this.recoveryOrders([plan], query, options))[0]!;
  }

  /** The recovery order of a business service, with or without a plan (no step warnings then). */
  async recoveryOrderOfService(
    serviceId: string,
    query: RecoveryOrderQuery = {},
    { actor }: ReadOptions = {},
  ): Promise<RecoveryOrder> {
    readGate(actor);
    if (!isUuid(serviceId)) throw ValidationError.field('serviceId', 'must be a business service id');
    const id = serviceId.toLowerCase();
    return (await this.#orders([{ serviceId: id, steps: [] }], query))[0]!;
  }

  /** The recovery orders of several plans in one query (a page of plans), in the order given. */
  async recoveryOrders(
    plans: readonly Pick<DrPlan, 'serviceId' | 'steps'>[],
    query: RecoveryOrderQuery = {},
    { actor }: ReadOptions = {},
  ): Promise<RecoveryOrder[]> {
    readGate(actor);
    return this.#orders(plans, query);
  }

  async #orders(
    plans: readonly Pick<DrPlan, 'serviceId' | 'steps'>[],
    query: RecoveryOrderQuery,
  ): Promise<RecoveryOrder[]> {
    const { maxDepth } = parseInput(recoveryOrderQuery, query);
    const services = [...new Set(plans.map((p) => p.serviceId))];
    const rows = await store.dependencySubgraphs(
      this.kernel.db,
      services,
      maxDepth,
      (MAX_RECOVERY_CIS + 1) * services.length,
    );
    const byService = new Map<string, store.NeedRow[]>();
    for (const row of rows) byService.set(row.origin, [...(byService.get(row.origin) ?? []), row]);
    return plans.map((plan) => {
      const subgraph = byService.get(plan.serviceId) ?? [];
      if (subgraph.length > MAX_RECOVERY_CIS)
        throw ValidationError.field(
          'maxDepth',
          `the recovery order would hold more than ${MAX_RECOVERY_CIS} CIs: ask for less depth`,
        );
      const cis = subgraph.map(({ id, name, class: ciClass, status, depth, needs }) => ({
        id,
        name,
        class: ciClass,
        status,
        depth,
        needs,
      }));
      return orderRecovery(
        plan.serviceId,
        cis,
        subgraph.some((r) => r.beyond),
        plan.steps,
      );
    });
  }

  /** Plan rows with their newest tests (one query for all), as of now. */
  async #withTests(rows: readonly store.PlanRow[], db = this.kernel.db): Promise<DrPlan[]> {
    const latest = await store.latestTests(
      db,
      rows.map((r) => r.id),
    );
    const now = this.kernel.clock.now();
    return rows.map((r) => store.toPlan(r, latest.get(r.id) ?? null, now));
  }

  async #read(scope: WriteScope, id: string): Promise<DrPlan> {
    const row = await store.findPlan(scope.db, id);
    if (!row) throw new NotFoundError('DR plan', id, 'id');
    const [plan] = await this.#withTests([row], scope.db);
    return plan!;
  }
}

/** The model's field names of the stored columns, for `dr_plan.updated`'s `fields`. */
const fieldNames: Record<string, string> = {
  rtoSeconds: 'rto',
  rpoSeconds: 'rpo',
  testEverySeconds: 'testEvery',
};

function storedStep(s: ReturnType<typeof defineDrPlanInput.parse>['steps'][number]): StoredRunbookStep {
  return {
    title: s.title,
    details: s.details,
    ciId: s.ciId?.toLowerCase() ?? null,
    expectedDurationSeconds: s.expectedDuration ?? null,
    ownerGroupId: s.ownerGroupId?.toLowerCase() ?? null,
  };
}

/** The live plan `id` locked for a change at `version`; else NotFoundError, ConflictError or a retired plan refused. */
async function livePlanForUpdate(scope: WriteScope, id: string, version: number) {
  const found = isUuid(id) ? await store.findPlan(scope.db, id.toLowerCase(), true) : undefined;
  if (!found) throw new NotFoundError('DR plan', id, 'id');
  if (version !== found.version)
    throw ConflictError.staleVersion('DR plan', found.id, version, found.version);
  if (found.state !== 'live')
    throw ValidationError.field('id', 'is retired: a retired plan no longer changes');
  return found;
}

/** The service must be a live business service (class or subclass) with no live plan. */
async function checkService(scope: WriteScope, serviceId: string): Promise<ValidationIssue[]> {
  const ci = await store.serviceCi(scope.db, serviceId);
  if (!ci) return [{ path: 'serviceId', message: `no CI ${serviceId}` }];
  if (!ci.isService) return [{ path: 'serviceId', message: `is a ${ci.class}, not a business service` }];
  if (ci.status === 'retired') return [{ path: 'serviceId', message: 'is retired' }];
  const live = await store.livePlanOf(scope.db, serviceId);
  if (live)
    return [
      {
        path: 'serviceId',
        message: `already has a live DR plan (${live.id}): update it, or retire it first`,
      },
    ];
  return [];
}

/** The owner group and each step's CI (live) and group must exist; issues name the field. */
async function checkRefs(
  scope: WriteScope,
  ownerGroupId: string | null,
  steps: readonly StoredRunbookStep[],
  prefix: string,
): Promise<ValidationIssue[]> {
  const groupIds = [ownerGroupId, ...steps.map((s) => s.ownerGroupId)].filter((g): g is string => !!g);
  const ciIds = steps.map((s) => s.ciId).filter((c): c is string => !!c);
  // One after the other: a transaction is one connection.
  const groups = await store.existingGroups(
    scope.db,
    groupIds.map((g) => g.toLowerCase()),
  );
  const cis = await store.liveCis(scope.db, ciIds);
  const issues: ValidationIssue[] = [];
  if (ownerGroupId && !groups.has(ownerGroupId.toLowerCase()))
    issues.push({ path: `${prefix}ownerGroupId`, message: `no group ${ownerGroupId}` });
  steps.forEach((s, i) => {
    if (s.ciId && !cis.has(s.ciId))
      issues.push({ path: `${prefix}steps.${i}.ciId`, message: `no live CI ${s.ciId}` });
    if (s.ownerGroupId && !groups.has(s.ownerGroupId))
      issues.push({ path: `${prefix}steps.${i}.ownerGroupId`, message: `no group ${s.ownerGroupId}` });
  });
  return issues;
}
