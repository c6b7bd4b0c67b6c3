import {
  type Actor,
  allowedChangeTransitions,
  type Blackout,
  type ChangeConflict,
  type ChangeRequest,
  type ChangeRequestChange,
  changeApprovalStates,
  changeOutcomes,
  changeRisks,
  changeStates,
  changeTypes,
  permissions,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import type { addApprovals } from './approvals.js';
import type { addCiListing } from './ci-listing.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup, loadUser } from './people.js';
import { liveStream, unwrap } from './streams.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> &
  Pick<ReturnType<typeof addAccessIdentity>, 'User' | 'Group'> &
  Pick<ReturnType<typeof addApprovals>, 'Approval'> &
  Pick<ReturnType<typeof addCiListing>, 'OrderDirection'>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

/** change:read on each of the change's CIs, or everywhere for a change on none: what the SDK checks. */
const onChange = (permission: string) => (c: { ciIds: readonly string[] }) =>
  c.ciIds.length > 0 ? { ciPermission: { permission, ciId: c.ciIds } } : { permission };

/** Change requests, blackouts, conflicts, and `changeChanged`. */
export function addChanges(builder: OpsGraphBuilder, { CI, User, Group, Approval, OrderDirection }: Refs) {
  const ActorRef = actorRefType(builder);
  const State = builder.enumType('ChangeState', { values: upper(changeStates) });
  const Type = builder.enumType('ChangeType', {
    description: 'STANDARD: pre-approved routine; NORMAL: assessed and authorised; EMERGENCY: expedited.',
    values: upper(changeTypes),
  });
  const Risk = builder.enumType('ChangeRisk', { values: upper(changeRisks) });
  const ApprovalState = builder.enumType('ChangeApprovalState', { values: upper(changeApprovalStates) });
  const Outcome = builder.enumType('ChangeOutcome', { values: upper(changeOutcomes) });
  const OrderField = builder.enumType('ChangeOrderField', {
    values: {
      CREATED_AT: { value: 'createdAt' },
      PLANNED_START: { value: 'plannedStart' },
      NUMBER: { value: 'number' },
    } as const,
  });

  const Conflict = builder.objectRef<ChangeConflict>('ChangeConflict').implement({
    description:
      'A clash of a change’s planned window with another live change or a blackout, on its CI, a CI containing it or one it contains.',
    authScopes: { permissionSomewhere: permissions.changeRead },
    fields: (t) => ({
      kind: t.string({ description: '`change` or `blackout`.', resolve: (c) => c.kind }),
      severity: t.string({
        description:
          '`blocking` (a blackout for a standard or normal change), `needs_acceptance` (an overlapping change), `flag` (a blackout for an emergency change: allowed).',
        resolve: (c) => c.severity,
      }),
      ciId: t.exposeID('ciId'),
      otherCiId: t.exposeID('otherCiId', { nullable: true }),
      relation: t.string({
        description: '`same`, `contains`, `contained_by` or `everything`.',
        resolve: (c) => c.relation,
      }),
      changeId: t.exposeID('changeId', { nullable: true }),
      changeNumber: t.exposeString('changeNumber', { nullable: true }),
      blackoutId: t.exposeID('blackoutId', { nullable: true }),
      blackoutName: t.exposeString('blackoutName', { nullable: true }),
      startsAt: t.field({ type: 'DateTime', resolve: (c) => c.startsAt }),
      endsAt: t.field({ type: 'DateTime', resolve: (c) => c.endsAt }),
      message: t.exposeString('message'),
    }),
  });

  const ChangeRef = builder.objectRef<ChangeRequest>('Change').implement({
    description: 'A change request (ITIL change enablement), numbered CHG0001001 on.',
    authScopes: onChange(permissions.changeRead),
    fields: (t) => ({
      id: t.exposeID('id'),
      number: t.exposeString('number'),
      type: t.field({ type: Type, resolve: (c) => c.type }),
      title: t.exposeString('title'),
      description: t.exposeString('description'),
      justification: t.exposeString('justification'),
      risk: t.field({ type: Risk, resolve: (c) => c.risk }),
      riskGiven: t.exposeBoolean('riskGiven', {
        description: 'Given by a person; else assessed from the business services its CIs reach.',
      }),
      ciIds: t.exposeIDList('ciIds'),
      cis: t.field({ type: [CI], description: 'The CIs it affects.', resolve: (c) => [...c.ciIds] }),
      serviceIds: t.exposeIDList('serviceIds'),
      services: t.field({
        type: [CI],
        description: 'The business services its CIs reach (impact analysis).',
        resolve: (c) => [...c.serviceIds],
      }),
      plannedStart: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.plannedStart }),
      plannedEnd: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.plannedEnd }),
      state: t.field({ type: State, resolve: (c) => c.state }),
      allowedTransitions: t.field({
        type: [State],
        description: 'Where `transitionChange` may take it (AUTHORIZE -> SCHEDULED once approved).',
        resolve: (c) => allowedChangeTransitions(c.type, c.state),
      }),
      approval: t.field({ type: ApprovalState, resolve: (c) => c.approval }),
      approvals: t.loadableList({
        type: Approval,
        description: 'Its approval steps, every round; a page of changes loads them in one query.',
        load: async (ids: string[], { og, actor }) => {
          const bySubject = await og.approvals.forSubjects('change', ids, { actor });
          return ids.map((id) => bySubject.get(id.toLowerCase()) ?? []);
        },
        resolve: (c) => c.id,
      }),
      conflicts: t.field({
        type: [Conflict],
        description: 'What its planned window clashes with now (one query per change: ask it of one change).',
        resolve: (c, _args, { og, actor }) => og.changes.conflicts(c.id, { actor }),
      }),
      assignmentGroupId: t.exposeID('assignmentGroupId', { nullable: true }),
      assignmentGroup: t.field({
        type: Group,
        nullable: true,
        resolve: (c, _args, context) => loadGroup(context, c.assignmentGroupId),
      }),
      assigneeId: t.exposeID('assigneeId', { nullable: true }),
      assignee: t.field({
        type: User,
        nullable: true,
        resolve: (c, _args, context) => loadUser(context, c.assigneeId),
      }),
      requestedById: t.exposeID('requestedById', { nullable: true }),
      requestedBy: t.field({
        type: User,
        nullable: true,
        resolve: (c, _args, context) => loadUser(context, c.requestedById),
      }),
      outcome: t.field({ type: Outcome, nullable: true, resolve: (c) => c.outcome }),
      reviewNotes: t.exposeString('reviewNotes', { nullable: true }),
      closeNotes: t.exposeString('closeNotes', { nullable: true }),
      cancelReason: t.exposeString('cancelReason', { nullable: true }),
      maintenanceWindowId: t.exposeID('maintenanceWindowId', {
        nullable: true,
        description:
          'The maintenance window it holds while scheduled: alerts on its CIs are suppressed in it.',
      }),
      acceptedConflicts: t.field({
        type: 'JSON',
        nullable: true,
        description:
          'What was accepted or flagged when it was authorised or scheduled: { by, at, conflicts }.',
        resolve: (c) => c.acceptedConflicts,
      }),
      openedBy: t.field({ type: ActorRef, resolve: (c) => c.openedBy }),
      implementedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.implementedAt }),
      reviewedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.reviewedAt }),
      closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.closedAt }),
      cancelledAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.cancelledAt }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (c) => c.updatedAt }),
    }),
  });

  const BlackoutRef = builder.objectRef<Blackout>('ChangeBlackout').implement({
    description:
      'A span of time in which no standard or normal change may be scheduled (on a CI and related CIs, or everywhere).',
    authScopes: (b) =>
      b.ciId
        ? { ciPermission: { permission: permissions.changeRead, ciId: b.ciId } }
        : { permissionSomewhere: permissions.changeRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      reason: t.exposeString('reason'),
      startsAt: t.field({ type: 'DateTime', resolve: (b) => b.startsAt }),
      endsAt: t.field({ type: 'DateTime', resolve: (b) => b.endsAt }),
      ciId: t.exposeID('ciId', { nullable: true, description: 'null: every CI.' }),
      createdBy: t.field({ type: ActorRef, resolve: (b) => b.createdBy }),
      cancelledAt: t.field({ type: 'DateTime', nullable: true, resolve: (b) => b.cancelledAt }),
      version: t.exposeInt('version'),
    }),
  });

  const Filter = builder.inputType('ChangeFilter', {
    fields: (t) => ({
      state: t.field({ type: [State] }),
      type: t.field({ type: [Type] }),
      risk: t.field({ type: [Risk] }),
      ciId: t.id(),
      assignmentGroupId: t.id(),
      assigneeId: t.id(),
      requestedById: t.id(),
      plannedFrom: t.field({
        type: 'DateTime',
        description: 'Planned window overlapping [plannedFrom, plannedTo).',
      }),
      plannedTo: t.field({ type: 'DateTime' }),
    }),
  });
  const Order = builder.inputType('ChangeOrder', {
    description: 'Ties broken by id. A cursor continues only the order it came from.',
    fields: (t) => ({
      field: t.field({ type: OrderField, required: true }),
      direction: t.field({ type: OrderDirection, required: true }),
    }),
  });
  const str = (v: string | number | null | undefined) => (v == null ? undefined : String(v));
  const filterOf = (f: typeof Filter.$inferInput | null | undefined) =>
    defined({
      state: f?.state ?? undefined,
      type: f?.type ?? undefined,
      risk: f?.risk ?? undefined,
      ciId: str(f?.ciId),
      assignmentGroupId: str(f?.assignmentGroupId),
      assigneeId: str(f?.assigneeId),
      requestedById: str(f?.requestedById),
      plannedFrom: f?.plannedFrom ?? undefined,
      plannedTo: f?.plannedTo ?? undefined,
    });

  builder.queryFields((t) => ({
    changes: t.connection({
      type: ChangeRef,
      description: 'Change requests you may read (change:read on their CIs), newest first unless `orderBy`.',
      authScopes: { permissionSomewhere: permissions.changeRead },
      args: { filter: t.arg({ type: Filter }), orderBy: t.arg({ type: Order }) },
      resolve: async (_root, { filter, orderBy, first, after, last, before }, { og, actor }) =>
        connectionOf(
          await og.changes.changes(
            filterOf(filter),
            { ...forwardPage({ first, after, last, before }), ...(orderBy ? { orderBy } : {}) },
            { actor },
          ),
          after,
        ),
    }),
    change: t.field({
      type: ChangeRef,
      nullable: true,
      description: 'By id or by number (CHG0001001).',
      authScopes: { permissionSomewhere: permissions.changeRead },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.changes.change(String(id), { actor }),
    }),
    changeBlackouts: t.field({
      type: [BlackoutRef],
      description: 'Blackouts, latest start first (cancelled ones with `includeCancelled`).',
      authScopes: { permissionSomewhere: permissions.changeRead },
      args: { activeAt: t.arg({ type: 'DateTime' }), ciId: t.arg.id(), includeCancelled: t.arg.boolean() },
      resolve: (_root, args, { og, actor }) =>
        og.changes.blackouts(
          defined({ activeAt: args.activeAt, ciId: str(args.ciId), includeCancelled: args.includeCancelled }),
          { actor },
        ),
    }),
  }));

  const CreateInput = builder.inputType('CreateChangeInput', {
    fields: (t) => ({
      type: t.field({ type: Type, description: 'Default NORMAL.' }),
      title: t.string({ required: true }),
      description: t.string(),
      justification: t.string(),
      risk: t.field({
        type: Risk,
        description: 'Omit to have it assessed from the business services its CIs reach.',
      }),
      ciIds: t.idList(),
      plannedStart: t.field({ type: 'DateTime' }),
      plannedEnd: t.field({ type: 'DateTime' }),
      assignmentGroupId: t.id(),
      assigneeId: t.id({ description: 'Must be in the assignment group.' }),
      requestedById: t.id({ description: 'Default: you.' }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateChangeInput', {
    fields: (t) => ({
      type: t.field({ type: Type }),
      title: t.string(),
      description: t.string(),
      justification: t.string(),
      risk: t.field({ type: Risk, description: 'null: assess it again.' }),
      ciIds: t.idList(),
    }),
  });
  const TransitionInput = builder.inputType('ChangeTransitionInput', {
    fields: (t) => ({
      to: t.field({ type: State, required: true }),
      outcome: t.field({ type: Outcome, description: 'Required to go to REVIEW.' }),
      reviewNotes: t.string(),
      closeNotes: t.string(),
      reason: t.string({ description: 'Required to cancel and to send back (to NEW or ASSESS).' }),
      acceptConflicts: t.boolean({
        description: 'Authorise or schedule despite overlapping changes (recorded).',
      }),
    }),
  });
  const versioned = (actor: Actor, version: number | null | undefined) => ({
    actor,
    ...(version != null ? { version } : {}),
  });

  builder.mutationFields((t) => ({
    createChange: t.field({
      type: ChangeRef,
      errors: { types: mutationErrors },
      description: 'Opens a change request in NEW (change:write on its CIs).',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: (_root, { input: i }, { og, actor }) =>
        og.changes.create(
          {
            title: i.title,
            ...defined({
              type: i.type,
              description: i.description,
              justification: i.justification,
              risk: i.risk,
              ciIds: i.ciIds?.map(String),
              plannedStart: i.plannedStart,
              plannedEnd: i.plannedEnd,
              assignmentGroupId: str(i.assignmentGroupId),
              assigneeId: str(i.assigneeId),
              requestedById: str(i.requestedById),
            }),
          },
          { actor },
        ),
    }),
    updateChange: t.field({
      type: ChangeRef,
      errors: { types: mutationErrors },
      description: 'Changes type, texts, risk and CIs while NEW or in ASSESS.',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id, version, input: p }, { og, actor }) =>
        og.changes.update(
          String(id),
          {
            ...defined({
              type: p.type,
              title: p.title,
              description: p.description,
              justification: p.justification,
              ciIds: p.ciIds?.map(String),
            }),
            ...(p.risk !== undefined ? { risk: p.risk } : {}),
          },
          versioned(actor, version),
        ),
    }),
    assignChange: t.field({
      type: ChangeRef,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        assignmentGroupId: t.arg.id(),
        assigneeId: t.arg.id(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.changes.assign(
          String(args.id),
          {
            assignmentGroupId: str(args.assignmentGroupId) ?? null,
            ...defined({ assigneeId: str(args.assigneeId) }),
          },
          versioned(actor, args.version),
        ),
    }),
    rescheduleChange: t.field({
      type: ChangeRef,
      errors: { types: mutationErrors },
      description:
        'Sets the planned window; in AUTHORIZE and SCHEDULED it is checked for conflicts and moves the maintenance window.',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        plannedStart: t.arg({ type: 'DateTime', required: true }),
        plannedEnd: t.arg({ type: 'DateTime', required: true }),
        acceptConflicts: t.arg.boolean(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.changes.reschedule(
          String(args.id),
          {
            plannedStart: args.plannedStart,
            plannedEnd: args.plannedEnd,
            ...defined({ acceptConflicts: args.acceptConflicts }),
          },
          versioned(actor, args.version),
        ),
    }),
    transitionChange: t.field({
      type: ChangeRef,
      errors: { types: mutationErrors },
      description:
        'Moves it through the state machine (`allowedTransitions`); another move is a ConflictError on `to` naming the allowed ones, and nothing changes.',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: TransitionInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.changes.transition(
          String(id),
          {
            to: input.to,
            ...defined({
              outcome: input.outcome,
              reviewNotes: input.reviewNotes,
              closeNotes: input.closeNotes,
              reason: input.reason,
              acceptConflicts: input.acceptConflicts,
            }),
          },
          versioned(actor, version),
        ),
    }),
    defineChangeBlackout: t.field({
      type: BlackoutRef,
      errors: { types: mutationErrors },
      description:
        'A blackout on a CI (and related CIs) or, without `ciId`, on every CI (change:write there).',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: {
        name: t.arg.string({ required: true }),
        reason: t.arg.string(),
        startsAt: t.arg({ type: 'DateTime', required: true }),
        endsAt: t.arg({ type: 'DateTime', required: true }),
        ciId: t.arg.id(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.changes.defineBlackout(
          {
            name: args.name,
            startsAt: args.startsAt,
            endsAt: args.endsAt,
            ...defined({ reason: args.reason, ciId: str(args.ciId) }),
          },
          { actor },
        ),
    }),
    cancelChangeBlackout: t.field({
      type: BlackoutRef,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: { id: t.arg.id({ required: true }), version: t.arg.int() },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.changes.cancelBlackout(String(id), versioned(actor, version)),
    }),
  }));

  const Kind = builder.enumType('ChangeChangeKind', {
    values: {
      CREATED: { value: 'change.created' },
      UPDATED: { value: 'change.updated' },
      ASSIGNED: { value: 'change.assigned' },
      STATE_CHANGED: { value: 'change.state_changed' },
      RESCHEDULED: { value: 'change.rescheduled' },
    } as const,
  });
  const Event = builder.objectRef<ChangeRequestChange>('ChangeChangedEvent').implement({
    description:
      'A change of a change request, with it as it is now. Resume with `changeChanged(after: seq)`.',
    authScopes: (e) => onChange(permissions.changeRead)(e.change),
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (e) => e.seq }),
      kind: t.field({ type: Kind, resolve: (e) => e.type }),
      actor: t.field({ type: ActorRef, resolve: (e) => e.actor }),
      occurredAt: t.field({ type: 'DateTime', resolve: (e) => e.occurredAt }),
      change: t.field({ type: ChangeRef, resolve: (e) => e.change }),
    }),
  });

  builder.subscriptionField('changeChanged', (t) =>
    t.field({
      type: Event,
      description:
        'Changes of the change requests matching `filter` that you may read, after `after` (default: from now on): missed ones first, then live ones, in order.',
      authScopes: { permissionSomewhere: permissions.changeRead },
      args: { filter: t.arg({ type: Filter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        const from = after ?? (await og.activity.latestSeq());
        return liveStream(context, og.changes.follow(filterOf(filter), { after: from, actor }));
      },
      resolve: unwrap,
    }),
  );

  return { Change: ChangeRef };
}
