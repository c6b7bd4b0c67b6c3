import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import { approvalStepInput } from '../approvals/model.js';
import type { PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';

/** Most CIs one maintenance window may name (what they contain is covered too, without limit). */
export const MAX_WINDOW_CIS = 1000;
/** Longest maintenance window: beyond a month, it is a retirement, not maintenance. */
export const MAX_WINDOW_DAYS = 31;

export const maintenanceWindowInput = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(200),
    reason: z.string().max(4000).default(''),
    /** The CIs under maintenance; each covers what it contains (`contains`, transitively). */
    ciIds: z.array(z.uuid()).min(1, 'must name at least one CI').max(MAX_WINDOW_CIS),
    startsAt: z.coerce.date(),
    endsAt: z.coerce.date(),
    /** The change request behind it, when there is one. */
    changeId: z.uuid().nullish(),
  })
  .superRefine((w, ctx) => {
    if (w.endsAt <= w.startsAt)
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
    else if (w.endsAt.getTime() - w.startsAt.getTime() > MAX_WINDOW_DAYS * 86_400_000)
      ctx.addIssue({
        code: 'custom',
        path: ['endsAt'],
        message: `must be at most ${MAX_WINDOW_DAYS} days after startsAt`,
      });
  });
export type MaintenanceWindowInput = z.input<typeof maintenanceWindowInput>;

export const maintenanceFilterInput = z.strictObject({
  /** Windows active at this time (started, not ended, not cancelled). */
  activeAt: z.coerce.date().optional(),
  /** Windows naming this CI directly. */
  ciId: z.uuid().optional(),
  /** Include cancelled windows (default: no). */
  includeCancelled: z.boolean().optional(),
});
export type MaintenanceFilter = z.input<typeof maintenanceFilterInput>;

export interface MaintenanceWindowTable {
  id: string;
  name: string;
  reason: string;
  startsAt: Date;
  endsAt: Date;
  changeId: string | null;
  createdBy: ColumnType<ActorRef, string, string>;
  cancelledAt: Date | null;
  cancelledBy: ColumnType<ActorRef | null, string | null, string | null>;
  /** When the scheduler's maintenance sweep announced its start (`maintenance.started`) and end. */
  startedNotedAt: Date | null;
  endedNotedAt: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface MaintenanceWindowCiTable {
  windowId: string;
  ciId: string;
}

export interface MaintenanceWindow {
  readonly id: string;
  readonly name: string;
  readonly reason: string;
  readonly ciIds: readonly string[];
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly changeId: string | null;
  readonly createdBy: ActorRef;
  readonly cancelledAt: Date | null;
  readonly cancelledBy: ActorRef | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Cancel names the version read (optional: without it, no conflict check). */
export interface CancelMaintenanceOptions extends WriteOptions {
  readonly version?: number;
}

/** A page of windows, latest start first. */
export interface MaintenancePageRequest extends PageRequest {}

// ---------------------------------------------------------------------------------------------------
// Change requests

export const changeTypes = ['standard', 'normal', 'emergency'] as const;
/** `standard`: pre-approved, low-risk routine; `normal`: assessed and authorised; `emergency`: expedited. */
export type ChangeType = (typeof changeTypes)[number];

export const changeRisks = ['low', 'medium', 'high'] as const;
export type ChangeRisk = (typeof changeRisks)[number];

export const changeStates = [
  'new',
  'assess',
  'authorize',
  'scheduled',
  'implement',
  'review',
  'closed',
  'cancelled',
  'rejected',
] as const;
export type ChangeState = (typeof changeStates)[number];

/** Where the change's approvals stand. */
export const changeApprovalStates = [
  'not_requested',
  'not_required',
  'requested',
  'approved',
  'rejected',
] as const;
export type ChangeApprovalState = (typeof changeApprovalStates)[number];

export const changeOutcomes = ['successful', 'failed', 'backed_out'] as const;
export type ChangeOutcome = (typeof changeOutcomes)[number];

/** States in which a change holds its planned window: what conflict detection compares against. */
export const liveChangeStates = ['assess', 'authorize', 'scheduled', 'implement'] as const;

/**
 * The state machine (ITIL). `new` -> `assess` -> `authorize` (approvals) -> `scheduled` -> `implement` ->
 * `review` -> `closed`; a standard change (pre-approved) goes from `assess` straight to `scheduled`;
 * `authorize` -> `scheduled` happens when its approvals are all approved (by itself, or by hand once
 * approved); a rejection ends it `rejected`. `cancelled` from any state before `implement`.
 */
export const changeTransitions: Readonly<Record<ChangeState, readonly ChangeState[]>> = {
  new: ['assess', 'cancelled'],
  assess: ['new', 'authorize', 'scheduled', 'cancelled'],
  authorize: ['assess', 'scheduled', 'cancelled'],
  scheduled: ['assess', 'implement', 'cancelled'],
  implement: ['review'],
  review: ['closed'],
  closed: [],
  cancelled: [],
  rejected: [],
};

/** The moves a change of `type` may make from `state` (standard ones skip `authorize`). */
export function allowedChangeTransitions(type: ChangeType, state: ChangeState): ChangeState[] {
  return changeTransitions[state].filter((to) =>
    state === 'assess' ? (type === 'standard' ? to !== 'authorize' : to !== 'scheduled') : true,
  );
}

/** A step of an approval policy: an approval step, or one decided by the change's assignment group. */
export const policyStepInput = z.strictObject({
  name: approvalStepInput.shape.name,
  approvers: z.union([
    approvalStepInput.shape.approvers,
    z.strictObject({ assignmentGroup: z.literal(true) }),
  ]),
  quorum: approvalStepInput.shape.quorum,
});
export type PolicyStepInput = z.input<typeof policyStepInput>;
export type PolicyStep = z.output<typeof policyStepInput>;

/**
 * The default approval policies. Normal: a peer review by the change's assignment group (one member
 * other than the requester), then the change authority (a holder of the `change_manager` role).
 * Emergency: the change authority alone (the emergency CAB), so an urgent fix waits for one person.
 * Standard changes are pre-approved: no approvals.
 */
export const DEFAULT_CHANGE_APPROVALS: { normal: PolicyStep[]; emergency: PolicyStep[] } = {
  normal: [
    { name: 'Peer review', approvers: { assignmentGroup: true }, quorum: 1 },
    { name: 'Change authority', approvers: { role: 'change_manager' }, quorum: 1 },
  ],
  emergency: [{ name: 'Emergency change authority', approvers: { role: 'change_manager' }, quorum: 1 }],
};

export interface ChangesOptions {
  /** Approval steps per change type (default `DEFAULT_CHANGE_APPROVALS`). */
  readonly approvals?: {
    readonly normal?: readonly PolicyStepInput[];
    readonly emergency?: readonly PolicyStepInput[];
  };
}

export interface ResolvedChangesOptions {
  readonly approvals: { readonly normal: readonly PolicyStep[]; readonly emergency: readonly PolicyStep[] };
}

export function resolveChangesOptions(options: ChangesOptions = {}): ResolvedChangesOptions {
  const policy = (type: 'normal' | 'emergency') => {
    const steps = options.approvals?.[type];
    if (steps === undefined) return DEFAULT_CHANGE_APPROVALS[type];
    const parsed = z.array(policyStepInput).min(1).max(20).safeParse(steps);
    if (!parsed.success)
      throw new TypeError(
        `changes.approvals.${type} must be 1 to 20 steps { name, approvers: { group } | { role } | { user } | { assignmentGroup: true }, quorum? }: ${parsed.error.issues[0]?.message}`,
      );
    return parsed.data;
  };
  return { approvals: { normal: policy('normal'), emergency: policy('emergency') } };
}

/** Longest planned window, as for maintenance windows. */
const plannedWindow = {
  plannedStart: z.coerce.date().nullish(),
  plannedEnd: z.coerce.date().nullish(),
};
const checkWindow = (w: { plannedStart?: Date | null; plannedEnd?: Date | null }, ctx: z.RefinementCtx) => {
  if (w.plannedStart && w.plannedEnd) {
    if (w.plannedEnd <= w.plannedStart)
      ctx.addIssue({ code: 'custom', path: ['plannedEnd'], message: 'must be after plannedStart' });
    else if (w.plannedEnd.getTime() - w.plannedStart.getTime() > MAX_WINDOW_DAYS * 86_400_000)
      ctx.addIssue({
        code: 'custom',
        path: ['plannedEnd'],
        message: `must be at most ${MAX_WINDOW_DAYS} days after plannedStart`,
      });
  }
};
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

export const createChangeInput = z
  .strictObject({
    type: z.enum(changeTypes).default('normal'),
    title: text(300),
    description: z.string().max(20_000).default(''),
    justification: z.string().max(20_000).default(''),
    /** Given by a person; otherwise assessed from the business services the CIs reach. */
    risk: z.enum(changeRisks).nullish(),
    ciIds: z.array(z.uuid()).max(MAX_WINDOW_CIS).default([]),
    ...plannedWindow,
    assignmentGroupId: z.uuid().nullish(),
    assigneeId: z.uuid().nullish(),
    /** The user asking for the change (default: the actor's user). Never an approver of it. */
    requestedById: z.uuid().nullish(),
  })
  .superRefine(checkWindow);
export type CreateChangeInput = z.input<typeof createChangeInput>;

export const updateChangeInput = z.strictObject({
  type: z.enum(changeTypes).optional(),
  title: text(300).optional(),
  description: z.string().max(20_000).optional(),
  justification: z.string().max(20_000).optional(),
  /** null: assess it again from the CIs. */
  risk: z.enum(changeRisks).nullish(),
  ciIds: z.array(z.uuid()).max(MAX_WINDOW_CIS).optional(),
});
export type UpdateChangeInput = z.input<typeof updateChangeInput>;

export const assignChangeInput = z.strictObject({
  assignmentGroupId: z.uuid().nullable(),
  assigneeId: z.uuid().nullish(),
});
export type AssignChangeInput = z.input<typeof assignChangeInput>;

export const rescheduleChangeInput = z
  .strictObject({
    plannedStart: z.coerce.date(),
    plannedEnd: z.coerce.date(),
    /** Schedule despite overlapping changes (recorded). Blackouts refuse a normal change regardless. */
    acceptConflicts: z.boolean().default(false),
  })
  .superRefine(checkWindow);
export type RescheduleChangeInput = z.input<typeof rescheduleChangeInput>;

export const changeTransitionInput = z.strictObject({
  to: z.enum(changeStates),
  /** Required to go to review: how the implementation went. */
  outcome: z.enum(changeOutcomes).optional(),
  /** Notes of the review (with the outcome). */
  reviewNotes: z.string().trim().max(20_000).optional(),
  /** Notes on closing. */
  closeNotes: z.string().trim().max(20_000).optional(),
  /** Required to cancel, and to send a change back (to new or to assess): why. */
  reason: z.string().trim().max(4000).optional(),
  /** To authorize or schedule despite overlapping changes (recorded with who and when). */
  acceptConflicts: z.boolean().optional(),
});
export type ChangeTransitionInput = z.input<typeof changeTransitionInput>;

export const changeFilterInput = z.strictObject({
  state: z.array(z.enum(changeStates)).min(1).optional(),
  type: z.array(z.enum(changeTypes)).min(1).optional(),
  risk: z.array(z.enum(changeRisks)).min(1).optional(),
  ciId: z.uuid().optional(),
  assignmentGroupId: z.uuid().optional(),
  assigneeId: z.uuid().optional(),
  requestedById: z.uuid().optional(),
  /** Changes whose planned window overlaps [from, to). */
  plannedFrom: z.coerce.date().optional(),
  plannedTo: z.coerce.date().optional(),
});
export type ChangeFilter = z.input<typeof changeFilterInput>;

export const changeOrderFields = ['createdAt', 'plannedStart', 'number'] as const;
export type ChangeOrderField = (typeof changeOrderFields)[number];
export interface ChangeOrder {
  readonly field: ChangeOrderField;
  readonly direction: 'asc' | 'desc';
}

export interface ChangePageRequest extends PageRequest {
  /** Default: newest first. */
  readonly orderBy?: ChangeOrder;
}

export const blackoutInput = z
  .strictObject({
    name: text(200),
    reason: z.string().max(4000).default(''),
    startsAt: z.coerce.date(),
    endsAt: z.coerce.date(),
    /** The CI it covers, with what contains it and what it contains; none: every CI. */
    ciId: z.uuid().nullish(),
  })
  .superRefine((b, ctx) => {
    if (b.endsAt <= b.startsAt)
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
  });
export type BlackoutInput = z.input<typeof blackoutInput>;

export interface ChangeRequestTable {
  id: string;
  number: string;
  type: ChangeType;
  title: string;
  description: string;
  justification: string;
  risk: ChangeRisk;
  riskGiven: boolean;
  serviceIds: ColumnType<string[], string, string>;
  plannedStart: Date | null;
  plannedEnd: Date | null;
  state: ChangeState;
  approval: ChangeApprovalState;
  assignmentGroupId: string | null;
  assigneeId: string | null;
  requestedById: string | null;
  outcome: ChangeOutcome | null;
  reviewNotes: string | null;
  closeNotes: string | null;
  cancelReason: string | null;
  maintenanceWindowId: string | null;
  acceptedConflicts: ColumnType<AcceptedConflicts | null, string | null, string | null>;
  openedBy: ColumnType<ActorRef, string, string>;
  implementedAt: Date | null;
  reviewedAt: Date | null;
  closedAt: Date | null;
  cancelledAt: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChangeRequestCiTable {
  changeId: string;
  ciId: string;
}

export interface ChangeBlackoutTable {
  id: string;
  name: string;
  reason: string;
  startsAt: Date;
  endsAt: Date;
  ciId: string | null;
  createdBy: ColumnType<ActorRef, string, string>;
  cancelledAt: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

/** How a CI of the change relates to the CI of what it conflicts with. */
export type ConflictRelation = 'same' | 'contains' | 'contained_by' | 'everything';

/**
 * A clash of the change's planned window: another live change (`kind: 'change'`) or a blackout on one
 * of its CIs, on a CI that contains it or one it contains (`contains`, transitively). `severity`:
 * `blocking` (a blackout, for a standard or normal change: never scheduled), `needs_acceptance` (an
 * overlapping change: scheduled only when accepted), `flag` (a blackout, for an emergency change:
 * allowed, and recorded).
 */
export interface ChangeConflict {
  readonly kind: 'change' | 'blackout';
  readonly severity: 'blocking' | 'needs_acceptance' | 'flag';
  /** The change's CI concerned. */
  readonly ciId: string;
  /** The other change's (or the blackout's) CI; null for a blackout on every CI. */
  readonly otherCiId: string | null;
  readonly relation: ConflictRelation;
  readonly changeId: string | null;
  readonly changeNumber: string | null;
  readonly blackoutId: string | null;
  readonly blackoutName: string | null;
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly message: string;
}

export interface AcceptedConflicts {
  readonly by: ActorRef;
  readonly at: string;
  readonly conflicts: readonly {
    readonly kind: 'change' | 'blackout';
    readonly severity: ChangeConflict['severity'];
    readonly ciId: string;
    readonly changeId: string | null;
    readonly blackoutId: string | null;
    readonly message: string;
  }[];
}

export interface ChangeRequest {
  readonly id: string;
  /** `CHG0001001`. */
  readonly number: string;
  readonly type: ChangeType;
  readonly title: string;
  readonly description: string;
  readonly justification: string;
  readonly risk: ChangeRisk;
  /** The risk was given by a person (else assessed from `serviceIds`). */
  readonly riskGiven: boolean;
  /** The business services its CIs reach (impact analysis). */
  readonly serviceIds: readonly string[];
  readonly ciIds: readonly string[];
  readonly plannedStart: Date | null;
  readonly plannedEnd: Date | null;
  readonly state: ChangeState;
  readonly approval: ChangeApprovalState;
  readonly assignmentGroupId: string | null;
  readonly assigneeId: string | null;
  readonly requestedById: string | null;
  readonly outcome: ChangeOutcome | null;
  readonly reviewNotes: string | null;
  readonly closeNotes: string | null;
  readonly cancelReason: string | null;
  /** The maintenance window it holds while scheduled (alerts on its CIs are suppressed in it). */
  readonly maintenanceWindowId: string | null;
  readonly acceptedConflicts: AcceptedConflicts | null;
  readonly openedBy: ActorRef;
  readonly implementedAt: Date | null;
  readonly reviewedAt: Date | null;
  readonly closedAt: Date | null;
  readonly cancelledAt: Date | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface Blackout {
  readonly id: string;
  readonly name: string;
  readonly reason: string;
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly ciId: string | null;
  readonly createdBy: ActorRef;
  readonly cancelledAt: Date | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Changes name the version read (optional: without it, no conflict check). */
export interface ChangeChangeOptions extends WriteOptions {
  readonly version?: number;
}

export const blackoutFilterInput = z.strictObject({
  activeAt: z.coerce.date().optional(),
  ciId: z.uuid().optional(),
  includeCancelled: z.boolean().optional(),
});
export type BlackoutFilter = z.input<typeof blackoutFilterInput>;

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'maintenance.scheduled': { window: MaintenanceWindow };
    'maintenance.cancelled': { window: MaintenanceWindow };
    /** Announced by the scheduler's maintenance sweep, once per window, when its time comes. */
    'maintenance.started': { window: MaintenanceWindow };
    'maintenance.ended': { window: MaintenanceWindow };
    'change.created': { change: ChangeRequest };
    'change.updated': { change: ChangeRequest; fields: readonly string[] };
    'change.assigned': { change: ChangeRequest };
    'change.state_changed': { change: ChangeRequest; from: ChangeState; reason?: string };
    'change.rescheduled': { change: ChangeRequest };
    'change.blackout_defined': { blackout: Blackout };
    'change.blackout_cancelled': { blackout: Blackout };
  }
}
