import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';

/*
 * Request fulfilment (ITIL): a service catalog of items people may ask for, each with a typed form, an
 * approval policy and fulfilment task templates; requests (REQ0001001) for an item, approved then
 * fulfilled through tasks (TASK0001001) worked by assignment groups.
 */

// ---------------------------------------------------------------------------------------------------
// Forms

export const formFieldTypes = [
  'string',
  'text',
  'integer',
  'number',
  'boolean',
  'date',
  'enum',
  'user',
  'ci',
] as const;
export type FormFieldType = (typeof formFieldTypes)[number];

/** One question of a catalog item's form. */
export interface FormField {
  /** The key of the answer (`answers.<name>`). */
  readonly name: string;
  readonly label: string;
  readonly type: FormFieldType;
  readonly help?: string | undefined;
  readonly required?: boolean | undefined;
  /** Used when the requester gives no answer. */
  readonly default?: unknown;
  /** integer, number: the least value; string, text: the least length. */
  readonly min?: number | undefined;
  /** integer, number: the greatest value; string, text: the greatest length. */
  readonly max?: number | undefined;
  /** string, text: a regular expression the whole answer must match. */
  readonly pattern?: string | undefined;
  /** enum: the allowed values. */
  readonly options?: readonly string[] | undefined;
  /** ci: the CI must be of this class (or one below it). */
  readonly ciClass?: string | undefined;
}

const fieldName = z
  .string()
  .regex(/^[a-zA-Z][a-zA-Z0-9_]{0,62}$/, 'must start with a letter, then letters, digits or _');

export const formFieldInput = z.strictObject({
  name: fieldName,
  label: z.string().trim().min(1, 'must not be empty').max(200),
  type: z.enum(formFieldTypes),
  help: z.string().max(2000).optional(),
  required: z.boolean().optional(),
  default: z.json().optional(),
  min: z.number().finite().optional(),
  max: z.number().finite().optional(),
  pattern: z.string().min(1).max(500).optional(),
  options: z.array(z.string().trim().min(1).max(200)).min(1).max(500).optional(),
  ciClass: z.string().min(1).max(63).optional(),
});

// ---------------------------------------------------------------------------------------------------
// Approval policies and fulfilment templates

export const approvalStepKinds = ['manager', 'group', 'role'] as const;
export type ApprovalStepKind = (typeof approvalStepKinds)[number];

/**
 * One step of an item's approval policy, decided in order: the manager of the user the request is for,
 * the members of a group, or the holders of a role; `quorum` approvals carry the step (one rejection
 * rejects the request).
 */
export interface ApprovalStep {
  readonly kind: ApprovalStepKind;
  /** group: the group whose members (transitively) decide. */
  readonly groupId?: string | undefined;
  /** role: the role whose holders decide. */
  readonly role?: string | undefined;
  /** How many approvals carry the step (default 1; a manager step is always 1). */
  readonly quorum?: number | undefined;
}

export const approvalStepInput = z
  .strictObject({
    kind: z.enum(approvalStepKinds),
    groupId: z.uuid().optional(),
    role: z.string().min(1).max(63).optional(),
    quorum: z.int('must be a whole number').min(1, 'must be at least 1').max(50).optional(),
  })
  .superRefine((s, ctx) => {
    const need = (key: 'groupId' | 'role', kind: ApprovalStepKind) => {
      if (s.kind === kind && !s[key])
        ctx.addIssue({ code: 'custom', path: [key], message: `is required for a ${kind} step` });
      if (s.kind !== kind && s[key] !== undefined)
        ctx.addIssue({ code: 'custom', path: [key], message: `only applies to a ${kind} step` });
    };
    need('groupId', 'group');
    need('role', 'role');
    if (s.kind === 'manager' && s.quorum !== undefined && s.quorum !== 1)
      ctx.addIssue({ code: 'custom', path: ['quorum'], message: 'a manager step has one approver' });
  });

export const taskActionKinds = ['assign_device'] as const;
export type TaskActionKind = (typeof taskActionKinds)[number];

/**
 * What completing a task does by itself. `assign_device`: the task's completion assigns a device CI
 * (of `ciClass`, default `hardware`) to the user the request is for, recorded in the CMDB.
 */
export interface TaskAction {
  readonly kind: TaskActionKind;
  readonly ciClass?: string | undefined;
}

/** A task each request for the item gets. Tasks of one stage run in parallel; stage 2 opens when 1 is done. */
export interface TaskTemplate {
  readonly title: string;
  readonly description?: string | undefined;
  readonly assignmentGroupId?: string | null | undefined;
  /** 1 or more (default 1). */
  readonly stage?: number | undefined;
  readonly action?: TaskAction | null | undefined;
}

export const taskTemplateInput = z.strictObject({
  title: z.string().trim().min(1, 'must not be empty').max(300),
  description: z.string().max(20_000).optional(),
  assignmentGroupId: z.uuid().nullish(),
  stage: z.int('must be a whole number').min(1, 'must be at least 1').max(20).optional(),
  action: z
    .strictObject({
      kind: z.enum(taskActionKinds),
      ciClass: z.string().min(1).max(63).optional(),
    })
    .nullish(),
});

// ---------------------------------------------------------------------------------------------------
// Catalog items

const itemName = z.string().trim().min(1, 'must not be empty').max(200);

export const createCatalogItemInput = z.strictObject({
  name: itemName,
  category: z.string().trim().max(100).default(''),
  description: z.string().max(20_000).default(''),
  active: z.boolean().default(true),
  form: z.array(formFieldInput).max(100).default([]),
  approvalSteps: z.array(approvalStepInput).max(10).default([]),
  tasks: z.array(taskTemplateInput).max(50).default([]),
});
export type CreateCatalogItemInput = z.input<typeof createCatalogItemInput>;

export const updateCatalogItemInput = z.strictObject({
  name: itemName.optional(),
  category: z.string().trim().max(100).optional(),
  description: z.string().max(20_000).optional(),
  /** false retires the item from the catalog: no new requests; running ones go on. */
  active: z.boolean().optional(),
  form: z.array(formFieldInput).max(100).optional(),
  approvalSteps: z.array(approvalStepInput).max(10).optional(),
  tasks: z.array(taskTemplateInput).max(50).optional(),
});
export type UpdateCatalogItemInput = z.input<typeof updateCatalogItemInput>;

export const catalogFilterInput = z.strictObject({
  category: z.string().max(100).optional(),
  /** true: active items only; false: retired ones only (request:admin); default both for request:admin, active for others. */
  active: z.boolean().optional(),
  /** Case-insensitive part of the name. */
  search: z.string().max(200).optional(),
});
export type CatalogFilter = z.input<typeof catalogFilterInput>;

export interface CatalogItemTable {
  id: string;
  name: string;
  category: string;
  description: string;
  active: boolean;
  form: ColumnType<FormField[], string, string>;
  approvalSteps: ColumnType<ApprovalStep[], string, string>;
  tasks: ColumnType<TaskTemplate[], string, string>;
  createdBy: ColumnType<ActorRef, string, string>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface CatalogItem {
  readonly id: string;
  readonly name: string;
  readonly category: string;
  readonly description: string;
  readonly active: boolean;
  readonly form: readonly FormField[];
  readonly approvalSteps: readonly ApprovalStep[];
  readonly tasks: readonly TaskTemplate[];
  readonly createdBy: ActorRef;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

// ---------------------------------------------------------------------------------------------------
// Requests

export const requestStates = [
  'submitted',
  'awaiting_approval',
  'approved',
  'rejected',
  'in_fulfilment',
  'fulfilled',
  'closed',
  'cancelled',
] as const;
export type RequestState = (typeof requestStates)[number];

/**
 * The request's state machine. Submission moves on at once: to awaiting_approval when the item has
 * approval steps, else approved; approval (or rejection) settles it; approval opens the fulfilment
 * tasks (in_fulfilment), or fulfils at once an item without tasks; the last task done fulfils it.
 * People ask only for `cancelled` (before fulfilment) and `closed` (after it): see
 * `manualRequestTransitions`. Rejected, closed and cancelled are final.
 */
export const requestTransitions: Readonly<Record<RequestState, readonly RequestState[]>> = {
  submitted: ['awaiting_approval', 'approved', 'cancelled'],
  awaiting_approval: ['approved', 'rejected', 'cancelled'],
  approved: ['in_fulfilment', 'fulfilled', 'cancelled'],
  rejected: [],
  in_fulfilment: ['fulfilled', 'cancelled'],
  fulfilled: ['closed'],
  closed: [],
  cancelled: [],
};

/** The moves a person may ask for through `transition`; the others follow from approvals and tasks. */
export const manualRequestTransitions: Readonly<Record<RequestState, readonly RequestState[]>> = {
  submitted: ['cancelled'],
  awaiting_approval: ['cancelled'],
  approved: ['cancelled'],
  rejected: [],
  in_fulfilment: ['cancelled'],
  fulfilled: ['closed'],
  closed: [],
  cancelled: [],
};

/** States in which a request is still open (not yet fulfilled, rejected, closed or cancelled). */
export const openRequestStates = [
  'submitted',
  'awaiting_approval',
  'approved',
  'in_fulfilment',
] as const satisfies readonly RequestState[];

export const submitRequestInput = z.strictObject({
  /** The catalog item asked for (id). */
  itemId: z.uuid(),
  /** The user it is for; default the user who asks (an actor acting for no user must name one). */
  requestedForId: z.uuid().nullish(),
  /** The answers to the item's form, by field name. */
  answers: z.record(z.string(), z.unknown()).default({}),
  /** Why, in the requester's words. */
  justification: z.string().max(4000).default(''),
});
export type SubmitRequestInput = z.input<typeof submitRequestInput>;

export const requestTransitionInput = z.strictObject({
  to: z.enum(requestStates),
  /** Required to cancel: why. */
  reason: z.string().trim().max(4000).optional(),
});
export type RequestTransitionInput = z.input<typeof requestTransitionInput>;

export const requestFilterInput = z.strictObject({
  state: z.array(z.enum(requestStates)).min(1).optional(),
  itemId: z.uuid().optional(),
  requestedForId: z.uuid().optional(),
  requestedById: z.uuid().optional(),
});
export type RequestFilter = z.input<typeof requestFilterInput>;

export const requestOrderFields = ['createdAt', 'updatedAt', 'number'] as const;
export type RequestOrderField = (typeof requestOrderFields)[number];

export interface RequestOrder {
  readonly field: RequestOrderField;
  /** Default `desc` (newest first). */
  readonly direction?: 'asc' | 'desc';
}

export interface RequestPageRequest extends PageRequest {
  readonly orderBy?: RequestOrder;
}

/** What a request was submitted against: the item as it was then (later edits do not change it). */
export interface RequestPlan {
  readonly itemName: string;
  readonly form: readonly FormField[];
  readonly approvalSteps: readonly ApprovalStep[];
  readonly tasks: readonly TaskTemplate[];
}

export interface RequestTable {
  id: string;
  number: string;
  itemId: string;
  plan: ColumnType<RequestPlan, string, string>;
  answers: ColumnType<Record<string, unknown>, string, string>;
  justification: string;
  requestedById: string | null;
  requestedForId: string;
  state: RequestState;
  /** The highest fulfilment stage opened so far (0: none yet). */
  stage: Generated<number>;
  cancelReason: string | null;
  submittedBy: ColumnType<ActorRef, string, string>;
  approvedAt: Date | null;
  rejectedAt: Date | null;
  fulfilledAt: Date | null;
  closedAt: Date | null;
  cancelledAt: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ServiceRequest {
  readonly id: string;
  /** `REQ0001001`. */
  readonly number: string;
  readonly itemId: string;
  readonly itemName: string;
  readonly answers: Readonly<Record<string, unknown>>;
  readonly justification: string;
  /** The user who asked (null: asked by a system or a token acting for no user). */
  readonly requestedById: string | null;
  /** The user it is for. */
  readonly requestedForId: string;
  readonly state: RequestState;
  readonly stage: number;
  readonly cancelReason: string | null;
  readonly submittedBy: ActorRef;
  readonly approvedAt: Date | null;
  readonly rejectedAt: Date | null;
  readonly fulfilledAt: Date | null;
  readonly closedAt: Date | null;
  readonly cancelledAt: Date | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

// ---------------------------------------------------------------------------------------------------
// Fulfilment tasks

export const taskStates = ['open', 'in_progress', 'done', 'cancelled'] as const;
export type TaskState = (typeof taskStates)[number];

export const taskTransitions: Readonly<Record<TaskState, readonly TaskState[]>> = {
  open: ['in_progress', 'done', 'cancelled'],
  in_progress: ['open', 'done', 'cancelled'],
  done: [],
  cancelled: [],
};

export const taskTransitionInput = z.strictObject({
  to: z.enum(taskStates),
  /** What was done (kept on the task); required to cancel (why). */
  notes: z.string().trim().max(20_000).optional(),
  /** assign_device tasks, when done: the device CI to assign (default: a free one of the class). */
  deviceCiId: z.uuid().optional(),
});
export type TaskTransitionInput = z.input<typeof taskTransitionInput>;

export const assignTaskInput = z.strictObject({
  assignmentGroupId: z.uuid().nullable(),
  assigneeId: z.uuid().nullish(),
});
export type AssignTaskInput = z.input<typeof assignTaskInput>;

export const taskFilterInput = z.strictObject({
  state: z.array(z.enum(taskStates)).min(1).optional(),
  requestId: z.uuid().optional(),
  assignmentGroupId: z.uuid().optional(),
  assigneeId: z.uuid().optional(),
});
export type TaskFilter = z.input<typeof taskFilterInput>;

export interface RequestTaskTable {
  id: string;
  number: string;
  requestId: string;
  stage: number;
  position: number;
  title: string;
  description: string;
  assignmentGroupId: string | null;
  assigneeId: string | null;
  action: ColumnType<TaskAction | null, string | null, string | null>;
  state: TaskState;
  notes: string | null;
  /** The device an assign_device task assigned. */
  deviceCiId: string | null;
  doneAt: Date | null;
  doneBy: ColumnType<ActorRef | null, string | null, string | null>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface RequestTask {
  readonly id: string;
  /** `TASK0001001`. */
  readonly number: string;
  readonly requestId: string;
  readonly stage: number;
  readonly position: number;
  readonly title: string;
  readonly description: string;
  readonly assignmentGroupId: string | null;
  readonly assigneeId: string | null;
  readonly action: TaskAction | null;
  readonly state: TaskState;
  readonly notes: string | null;
  readonly deviceCiId: string | null;
  readonly doneAt: Date | null;
  readonly doneBy: ActorRef | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Changes name the version read (optional: without it, no conflict check). */
export interface RequestChangeOptions extends WriteOptions {
  readonly version?: number;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'catalog_item.created': { item: CatalogItem };
    'catalog_item.updated': { item: CatalogItem; fields: readonly string[] };
    'request.submitted': { request: ServiceRequest };
    'request.state_changed': { request: ServiceRequest; from: RequestState };
    'request_task.opened': { task: RequestTask; request: ServiceRequest };
    'request_task.assigned': { task: RequestTask; request: ServiceRequest };
    'request_task.state_changed': { task: RequestTask; request: ServiceRequest; from: TaskState };
    'request.device_assigned': { request: ServiceRequest; task: RequestTask; ciId: string; userId: string };
  }
}
