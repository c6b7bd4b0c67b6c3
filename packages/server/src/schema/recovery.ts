import {
  type DrPlan,
  type DrTest,
  drPlanStates,
  drTestOutcomes,
  type Page,
  permissions,
  type RecoveryCycle,
  type RecoveryOrder,
  type RecoveryStage,
  type RecoveryWarning,
  type RunbookStep,
  recoveryWarningCodes,
} from '@opsgraph/core';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { OpsGraphBuilder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup } from './people.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> & Pick<ReturnType<typeof addAccessIdentity>, 'Group'>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

// Per request (and per subscription event): the recovery orders of every plan an answer shows, one
// query per depth asked, however many plans.
const orderLoaders = createContextCache(
  (_context: GraphQLContext) => new Map<number | undefined, DataLoader<DrPlan, RecoveryOrder, string>>(),
);
function loadOrder(context: GraphQLContext, plan: DrPlan, maxDepth: number | undefined) {
  const loaders = orderLoaders(context);
  let loader = loaders.get(maxDepth);
  if (!loader) {
    loader = new DataLoader(
      (plans: readonly DrPlan[]) =>
        context.og.recovery.recoveryOrders(plans, maxDepth === undefined ? {} : { maxDepth }, {
          actor: context.actor,
        }),
      { cacheKeyFn: (p) => p.id },
    );
    loaders.set(maxDepth, loader);
  }
  return loader.load(plan);
}

// Per request: the first page of tests of every plan an answer shows, one query per page size asked.
// A page after a cursor belongs to one plan's list, so it is read on its own (`tests(planId, page)`).
const testLoaders = createContextCache(
  (_context: GraphQLContext) => new Map<number | undefined, DataLoader<string, Page<DrTest>>>(),
);
function loadTests(context: GraphQLContext, planId: string, page: { first?: number; after: string | null }) {
  const { og, actor } = context;
  if (page.after) return og.recovery.tests(planId, page, { actor });
  const loaders = testLoaders(context);
  let loader = loaders.get(page.first);
  if (!loader) {
    loader = new DataLoader((ids: readonly string[]) =>
      og.recovery.testsOfPlans(ids, page.first === undefined ? {} : { first: page.first }, { actor }),
    );
    loaders.set(page.first, loader);
  }
  return loader.load(planId);
}

/** Disaster-recovery plans per business service, their recovery order and DR tests (operations:read/write). */
export function addRecovery(builder: OpsGraphBuilder, { CI, Group }: Refs) {
  const ActorRef = actorRefType(builder);
  const read = { permission: permissions.operationsRead };
  const write = { permission: permissions.operationsWrite };
  const State = builder.enumType('DrPlanState', { values: upper(drPlanStates) });
  const Outcome = builder.enumType('DrTestOutcome', { values: upper(drTestOutcomes) });
  const WarningCode = builder.enumType('RecoveryWarningCode', { values: upper(recoveryWarningCodes) });

  const Step = builder.objectRef<RunbookStep>('RunbookStep').implement({
    description: 'One step of a DR runbook, in the order it is followed.',
    authScopes: read,
    fields: (t) => ({
      position: t.exposeInt('position', { description: '1-based.' }),
      title: t.exposeString('title'),
      details: t.exposeString('details'),
      ciId: t.exposeID('ciId', { nullable: true, description: 'The CI this step recovers.' }),
      ci: t.field({ type: CI, nullable: true, resolve: (s) => s.ciId }),
      expectedDuration: t.exposeString('expectedDuration', { nullable: true, description: 'ISO 8601.' }),
      expectedDurationSeconds: t.exposeInt('expectedDurationSeconds', { nullable: true }),
      ownerGroupId: t.exposeID('ownerGroupId', { nullable: true }),
      ownerGroup: t.field({
        type: Group,
        nullable: true,
        resolve: (s, _args, context) => loadGroup(context, s.ownerGroupId),
      }),
    }),
  });

  const Test = builder.objectRef<DrTest>('DrTest').implement({
    description:
      'A DR test of a plan: passed iff the achieved RTO and RPO met its targets and no failure was declared.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      planId: t.exposeID('planId'),
      planVersion: t.exposeInt('planVersion', { description: 'The plan version the test exercised.' }),
      startedAt: t.field({ type: 'DateTime', resolve: (x) => x.startedAt }),
      endedAt: t.field({ type: 'DateTime', resolve: (x) => x.endedAt }),
      achievedRto: t.exposeString('achievedRto', { description: 'ISO 8601 duration.' }),
      achievedRtoSeconds: t.exposeInt('achievedRtoSeconds'),
      achievedRpo: t.exposeString('achievedRpo', { description: 'ISO 8601 duration.' }),
      achievedRpoSeconds: t.exposeInt('achievedRpoSeconds'),
      targetRtoSeconds: t.exposeInt('targetRtoSeconds', { description: 'The plan’s RTO when recorded.' }),
      targetRpoSeconds: t.exposeInt('targetRpoSeconds', { description: 'The plan’s RPO when recorded.' }),
      rtoMet: t.exposeBoolean('rtoMet'),
      rpoMet: t.exposeBoolean('rpoMet'),
      outcome: t.field({ type: Outcome, resolve: (x) => x.outcome }),
      passed: t.exposeBoolean('passed'),
      notes: t.exposeString('notes'),
      recordedBy: t.field({ type: ActorRef, resolve: (x) => x.recordedBy }),
      recordedAt: t.field({ type: 'DateTime', resolve: (x) => x.recordedAt }),
    }),
  });

  const Stage = builder.objectRef<RecoveryStage>('RecoveryStage').implement({
    description: 'CIs recoverable in parallel once every earlier stage is up.',
    authScopes: read,
    fields: (t) => ({
      position: t.exposeInt('position', { description: '1-based: stage 1 first.' }),
      cycle: t.exposeBoolean('cycle', {
        description: 'A dependency cycle: its CIs need each other, so no order among them exists.',
      }),
      ciIds: t.idList({ resolve: (s) => s.cis.map((c) => c.id) }),
      cis: t.field({
        type: [CI],
        description: 'By name; a cycle’s CIs in cycle order first. Needs cmdb:read on each (ciIds does not).',
        resolve: (s) => s.cis.map((c) => c.id),
      }),
    }),
  });

  const Cycle = builder.objectRef<RecoveryCycle>('RecoveryCycle').implement({
    description: 'CIs that need each other: each needs the next, the last the first.',
    authScopes: read,
    fields: (t) => ({
      stage: t.exposeInt('stage', { description: 'The position of the stage that holds it.' }),
      ciIds: t.idList({ resolve: (c) => c.cis.map((x) => x.id) }),
      cis: t.field({ type: [CI], resolve: (c) => c.cis.map((x) => x.id) }),
    }),
  });

  const Warning = builder.objectRef<RecoveryWarning>('RecoveryWarning').implement({
    description: 'A runbook step that contradicts the recovery order.',
    authScopes: read,
    fields: (t) => ({
      code: t.field({ type: WarningCode, resolve: (w) => w.code }),
      step: t.exposeInt('step'),
      otherStep: t.exposeInt('otherStep', { nullable: true }),
      ciId: t.exposeID('ciId'),
      message: t.exposeString('message'),
    }),
  });

  const Order = builder.objectRef<RecoveryOrder>('RecoveryOrder').implement({
    description:
      'What a business service depends on, transitively, in the order to recover it: from topology, following each relationship type’s propagation; retired CIs skipped.',
    authScopes: read,
    fields: (t) => ({
      stages: t.field({ type: [Stage], resolve: (o) => [...o.stages] }),
      cycles: t.field({ type: [Cycle], resolve: (o) => [...o.cycles] }),
      truncated: t.exposeBoolean('truncated', {
        description: 'A CI at the depth limit needs more: ask with a larger maxDepth.',
      }),
      warnings: t.field({ type: [Warning], resolve: (o) => [...o.warnings] }),
    }),
  });

  const Plan = builder.objectRef<DrPlan>('DrPlan');
  Plan.implement({
    description:
      'The disaster-recovery plan of a business service: RTO, RPO, the runbook, its owner and its DR tests.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      serviceId: t.exposeID('serviceId'),
      service: t.field({ type: CI, description: 'The business service.', resolve: (p) => p.serviceId }),
      rto: t.exposeString('rto', { description: 'Recovery time objective, ISO 8601 (e.g. PT4H).' }),
      rtoSeconds: t.exposeInt('rtoSeconds'),
      rpo: t.exposeString('rpo', { description: 'Recovery point objective, ISO 8601 (PT0S: no data loss).' }),
      rpoSeconds: t.exposeInt('rpoSeconds'),
      testEvery: t.exposeString('testEvery', {
        nullable: true,
        description: 'How often a passing DR test is due, ISO 8601; null: no schedule.',
      }),
      testEverySeconds: t.exposeInt('testEverySeconds', { nullable: true }),
      ownerGroupId: t.exposeID('ownerGroupId', { nullable: true }),
      ownerGroup: t.field({
        type: Group,
        nullable: true,
        resolve: (p, _args, context) => loadGroup(context, p.ownerGroupId),
      }),
      steps: t.field({ type: [Step], resolve: (p) => [...p.steps] }),
      state: t.field({ type: State, resolve: (p) => p.state }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdBy: t.field({ type: ActorRef, resolve: (p) => p.createdBy }),
      createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (p) => p.updatedAt }),
      retiredAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.retiredAt }),
      retiredReason: t.exposeString('retiredReason', { nullable: true }),
      lastTest: t.field({
        type: Test,
        nullable: true,
        description: 'The newest DR test (by start), passed or not.',
        resolve: (p) => p.lastTest,
      }),
      lastPassedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the newest passing test ended.',
        resolve: (p) => p.lastPassedAt,
      }),
      nextTestDue: t.field({
        type: 'DateTime',
        nullable: true,
        description: '(lastPassedAt, or creation) + testEvery, for a live plan with a schedule.',
        resolve: (p) => p.nextTestDue,
      }),
      testOverdue: t.exposeBoolean('testOverdue'),
      recoveryOrder: t.field({
        type: Order,
        description:
          'The order to recover the service in, with warnings for runbook steps that contradict it; a page of plans computes them in one query.',
        args: {
          maxDepth: t.arg.int({ description: 'Relationships from the service; default and maximum 50.' }),
        },
        resolve: (p, { maxDepth }, context) => loadOrder(context, p, maxDepth ?? undefined),
      }),
      tests: t.connection(
        {
          type: Test,
          description: 'Its DR tests, newest first (by start).',
          // Batched across a page of plans (see loadTests); with `after`, one query for this plan.
          resolve: async (p, args, context) =>
            connectionOf(await loadTests(context, p.id, forwardPage(args)), args.after),
        },
        { name: 'DrTestConnection', authScopes: read },
        { name: 'DrTestEdge', authScopes: read },
      ),
    }),
  });

  const Filter = builder.inputType('DrPlanFilter', {
    fields: (t) => ({
      serviceId: t.id(),
      ownerGroupId: t.id(),
      state: t.field({ type: [State], description: 'Default [LIVE].' }),
      overdue: t.boolean({ description: 'Plans whose test schedule has lapsed (true) or not (false).' }),
    }),
  });

  builder.queryFields((t) => ({
    drPlans: t.connection({
      type: Plan,
      description: 'DR plans, newest first (operations:read).',
      authScopes: read,
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter, ...args }, { og, actor }) =>
        connectionOf(
          await og.recovery.plans(
            filter
              ? defined({
                  ...filter,
                  serviceId: filter.serviceId == null ? null : String(filter.serviceId),
                  ownerGroupId: filter.ownerGroupId == null ? null : String(filter.ownerGroupId),
                })
              : {},
            forwardPage(args),
            { actor },
          ),
          args.after,
        ),
    }),
    drPlan: t.field({
      type: Plan,
      nullable: true,
      description: 'A DR plan by id, live or retired (operations:read).',
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.recovery.plan(String(id), { actor }),
    }),
  }));

  const StepInput = builder.inputType('RunbookStepInput', {
    fields: (t) => ({
      title: t.string({ required: true }),
      details: t.string(),
      ciId: t.id({ description: 'The CI this step recovers.' }),
      expectedDuration: t.string({ description: 'ISO 8601 duration, e.g. PT30M.' }),
      ownerGroupId: t.id(),
    }),
  });
  const DefineInput = builder.inputType('DefineDrPlanInput', {
    fields: (t) => ({
      serviceId: t.id({ required: true, description: 'A business service with no live plan.' }),
      rto: t.string({ required: true, description: 'ISO 8601 duration, e.g. PT4H (no months or years).' }),
      rpo: t.string({ required: true, description: 'ISO 8601 duration; PT0S for no data loss.' }),
      testEvery: t.string({ description: 'ISO 8601 duration, at least PT1H, e.g. P90D.' }),
      ownerGroupId: t.id(),
      steps: t.field({ type: [StepInput] }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateDrPlanInput', {
    fields: (t) => ({
      rto: t.string(),
      rpo: t.string(),
      testEvery: t.string({ description: 'null: no schedule from now on.' }),
      ownerGroupId: t.id({ description: 'null: no owner group.' }),
      steps: t.field({ type: [StepInput], description: 'Replaces the whole runbook.' }),
    }),
  });
  const TestInput = builder.inputType('RecordDrTestInput', {
    fields: (t) => ({
      startedAt: t.field({ type: 'DateTime', required: true }),
      endedAt: t.field({ type: 'DateTime', required: true }),
      achievedRto: t.string({ required: true, description: 'How long recovery took, ISO 8601.' }),
      achievedRpo: t.string({ required: true, description: 'How much data was lost, as time, ISO 8601.' }),
      notes: t.string(),
      outcome: t.field({
        type: Outcome,
        description: 'FAILED fails it whatever the times; PASSED is refused when a target was missed.',
      }),
    }),
  });

  const steps = (list: readonly Record<string, unknown>[] | null | undefined) =>
    list?.map((s) => defined({ ...s, ciId: idOrNull(s.ciId), ownerGroupId: idOrNull(s.ownerGroupId) }));
  const idOrNull = (v: unknown) => (v == null ? null : String(v));

  builder.mutationFields((t) => ({
    defineDrPlan: t.field({
      type: Plan,
      description: 'Defines the DR plan of a business service (operations:write).',
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: DefineInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.recovery.definePlan(
          defined({
            ...input,
            serviceId: String(input.serviceId),
            ownerGroupId: idOrNull(input.ownerGroupId),
            steps: steps(input.steps) as never,
          }),
          { actor },
        ),
    }),
    updateDrPlan: t.field({
      type: Plan,
      description: 'Changes a live plan (operations:write); a stale version is refused.',
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.recovery.updatePlan(
          String(id),
          {
            ...defined({ rto: input.rto, rpo: input.rpo, steps: steps(input.steps) as never }),
            // An explicit null clears; absent leaves.
            ...(input.testEvery !== undefined ? { testEvery: input.testEvery } : {}),
            ...(input.ownerGroupId !== undefined ? { ownerGroupId: idOrNull(input.ownerGroupId) } : {}),
          },
          { actor, version },
        ),
    }),
    retireDrPlan: t.field({
      type: Plan,
      description: 'Retires a live plan, kept with its tests (operations:write).',
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        reason: t.arg.string({ required: true }),
      },
      resolve: (_root, { id, version, reason }, { og, actor }) =>
        og.recovery.retirePlan(String(id), { reason }, { actor, version }),
    }),
    recordDrTest: t.field({
      type: Test,
      description: 'Records a DR test of a live plan (operations:write).',
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        planId: t.arg.id({ required: true }),
        input: t.arg({ type: TestInput, required: true }),
      },
      resolve: (_root, { planId, input }, { og, actor }) =>
        og.recovery.recordTest(String(planId), defined(input), { actor }),
    }),
  }));

  return { DrPlan: Plan };
}
