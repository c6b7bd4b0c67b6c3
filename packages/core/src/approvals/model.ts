import type { ColumnType, Generated, GeneratedAlways } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';
import type { WriteScope } from '../kernel/kernel.js';

/**
 * A step's state: `waiting` for the steps before it, `pending` (its approvers may decide), `approved`
 * (its quorum reached), `rejected` (one eligible approver said no), `cancelled` (an earlier step was
 * rejected, or the subject's approvals were cancelled).
 */
export const approvalStates = ['waiting', 'pending', 'approved', 'rejected', 'cancelled'] as const;
export type ApprovalState = (typeof approvalStates)[number];

export const approvalDecisions = ['approve', 'reject'] as const;
export type ApprovalDecisionKind = (typeof approvalDecisions)[number];

/** How a subject's approvals ended: every step approved, or one rejected. */
export type ApprovalOutcome = 'approved' | 'rejected';

/** Most steps one subject may have, and the largest quorum. */
export const MAX_APPROVAL_STEPS = 20;
export const MAX_QUORUM = 50;

/** What is being approved: `{ type: 'change', id }`, `{ type: 'request', id }` … */
export const subjectInput = z.strictObject({
  type: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be a lower-case name such as change or request'),
  id: z.uuid(),
});
export type ApprovalSubject = z.input<typeof subjectInput>;

/** Who may decide a step: the members of a group (at any depth), the holders of a role, or one user. */
export const approversInput = z.union(
  [
    z.strictObject({ group: z.uuid() }),
    z.strictObject({ role: z.string().trim().min(1).max(100) }),
    z.strictObject({ user: z.uuid() }),
  ],
  { error: 'must be { group: groupId }, { role: roleName } or { user: userId }' },
);
export type ApproversInput = z.input<typeof approversInput>;

export const approvalStepInput = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  approvers: approversInput,
  /** How many distinct approvals the step needs (default 1). */
  quorum: z.int('must be a whole number').min(1).max(MAX_QUORUM).default(1),
});
export type ApprovalStepInput = z.input<typeof approvalStepInput>;

export const approvalStepsInput = z
  .array(approvalStepInput)
  .min(1, 'must have at least one step')
  .max(MAX_APPROVAL_STEPS);

export const decideInput = z.strictObject({
  decision: z.enum(approvalDecisions),
  comment: z.string().trim().max(4000).default(''),
  /** The version of the approval read; a stale one is a ConflictError. */
  version: z.int().optional(),
});
export type DecideInput = z.input<typeof decideInput>;

export const approvalFilterInput = z.strictObject({
  /** Steps pending now that this user may decide and has not decided yet ("my approvals to do"). */
  pendingFor: z.uuid().optional(),
  subjectType: subjectInput.shape.type.optional(),
  subjectId: z.uuid().optional(),
  state: z.array(z.enum(approvalStates)).min(1).optional(),
});
export type ApprovalFilter = z.input<typeof approvalFilterInput>;

export interface ApprovalTable {
  id: string;
  subjectType: string;
  subjectId: string;
  round: number;
  step: number;
  name: string;
  approverGroupId: string | null;
  approverRole: string | null;
  approverUserId: string | null;
  quorum: number;
  state: ApprovalState;
  requesterId: string | null;
  openedBy: ColumnType<ActorRef, string, string>;
  pendingSince: Date | null;
  settledAt: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ApprovalDecisionTable {
  id: string;
  approvalId: string;
  userId: string;
  decision: ApprovalDecisionKind;
  comment: string;
  decidedBy: ColumnType<ActorRef, string, string>;
  decidedAt: Date;
  seq: GeneratedAlways<number>;
}

/** Exactly one of the three is set. */
export interface Approvers {
  readonly groupId: string | null;
  readonly role: string | null;
  readonly userId: string | null;
}

export interface ApprovalDecision {
  readonly id: string;
  readonly userId: string;
  readonly decision: ApprovalDecisionKind;
  readonly comment: string;
  readonly decidedBy: ActorRef;
  readonly decidedAt: Date;
}

/** One step of a subject's approvals, with its decisions in the order made. */
export interface Approval {
  readonly id: string;
  readonly subject: { readonly type: string; readonly id: string };
  readonly round: number;
  /** 1, 2, …: step n+1 is pending only once step n is approved. */
  readonly step: number;
  readonly name: string;
  readonly approvers: Approvers;
  readonly quorum: number;
  readonly state: ApprovalState;
  /** The user who asked for the subject: it may not decide. */
  readonly requesterId: string | null;
  readonly openedBy: ActorRef;
  readonly pendingSince: Date | null;
  readonly settledAt: Date | null;
  readonly decisions: readonly ApprovalDecision[];
  /** Approvals given so far (of `quorum`). */
  readonly approvals: number;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface OpenApprovalsOptions extends WriteOptions {
  /** The user who asked for the subject (default: the actor's user); it may not decide its steps. */
  readonly requesterId?: string | null;
}

/** What an owning process learns, in the deciding transaction, when a subject's approvals settle. */
export interface ApprovalsSettled {
  readonly subject: { readonly type: string; readonly id: string };
  readonly subjectId: string;
  readonly outcome: ApprovalOutcome;
  /** Every step of the round, as they are now. */
  readonly approvals: readonly Approval[];
}

export type SettledHandler = (settled: ApprovalsSettled, scope: WriteScope) => Promise<void> | void;

/** How a subject type is registered by the process that owns it. */
export interface SubjectTypeOptions {
  /** Needed to read the subject type's approvals (default `<type>:read`); approvers see their own steps. */
  readonly readPermission?: string;
  /** Needed to open and cancel approvals directly (default `<type>:write`). */
  readonly writePermission?: string;
}

/** A page of approvals, newest first. */
export interface ApprovalPageRequest extends PageRequest {}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    /** A subject's steps were opened (the first one is pending). */
    'approval.opened': { approvals: readonly Approval[] };
    /** A step became pending: its approvers may decide. */
    'approval.requested': { approval: Approval };
    'approval.decided': { approval: Approval; decision: ApprovalDecision };
    'approval.approved': { approval: Approval };
    'approval.rejected': { approval: Approval };
    'approval.cancelled': { approval: Approval };
    /** Every step approved, or one rejected. */
    'approval.settled': {
      subject: { type: string; id: string };
      outcome: ApprovalOutcome;
      round: number;
    };
  }
}
