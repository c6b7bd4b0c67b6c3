import type { ColumnType, Generated, GeneratedAlways } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';

export const incidentStates = ['new', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'] as const;
export type IncidentState = (typeof incidentStates)[number];

/**
 * The state machine (ITIL): work starts, pauses and resumes, ends resolved (then closed, or reopened
 * within the reopen window) or cancelled. Closed and cancelled are final.
 */
export const incidentTransitions: Readonly<Record<IncidentState, readonly IncidentState[]>> = {
  new: ['in_progress', 'on_hold', 'resolved', 'cancelled'],
  in_progress: ['on_hold', 'resolved', 'cancelled'],
  on_hold: ['in_progress', 'resolved', 'cancelled'],
  resolved: ['closed', 'in_progress'],
  closed: [],
  cancelled: [],
};

/** States in which an incident is still being worked (its SLA clock runs, duplicates link to it). */
export const activeIncidentStates = [
  'new',
  'in_progress',
  'on_hold',
] as const satisfies readonly IncidentState[];

export const holdReasons = [
  'awaiting_caller',
  'awaiting_change',
  'awaiting_problem',
  'awaiting_vendor',
] as const;
export type HoldReason = (typeof holdReasons)[number];

export const resolutionCodes = [
  'solved_permanently',
  'solved_workaround',
  'not_reproducible',
  'duplicate',
  'resolved_by_caller',
  'resolved_by_change',
] as const;
export type ResolutionCode = (typeof resolutionCodes)[number];

export const noteKinds = ['work_note', 'comment'] as const;
/** `work_note`: internal, for who works incidents; `comment`: visible to the caller too. */
export type NoteKind = (typeof noteKinds)[number];

/** 1 high, 2 medium, 3 low: the ITIL scale of impact and urgency. */
export type Level = 1 | 2 | 3;
/** P1 (critical) … P5 (planning). */
export type Priority = 1 | 2 | 3 | 4 | 5;

/** priorityMatrix[impact - 1][urgency - 1]: the ITIL default. */
export const DEFAULT_PRIORITY_MATRIX: readonly (readonly Priority[])[] = [
  [1, 2, 3],
  [2, 3, 4],
  [3, 4, 5],
];

export interface IncidentsOptions {
  /** Priority by impact (rows) and urgency (columns), each 1..3; values 1..5. Default: the ITIL matrix. */
  readonly priorityMatrix?: readonly (readonly number[])[];
  /** How long after resolution an incident may be reopened. Default: 7 days. */
  readonly reopenWindowMs?: number;
}

export interface ResolvedIncidentsOptions {
  readonly priorityMatrix: readonly (readonly Priority[])[];
  readonly reopenWindowMs: number;
}

export function resolveIncidentsOptions(options: IncidentsOptions = {}): ResolvedIncidentsOptions {
  const matrix = options.priorityMatrix ?? DEFAULT_PRIORITY_MATRIX;
  const ok =
    matrix.length === 3 &&
    matrix.every((row) => row.length === 3 && row.every((p) => Number.isInteger(p) && p >= 1 && p <= 5));
  if (!ok) throw new TypeError('incidents.priorityMatrix must be 3 rows of 3 priorities from 1 to 5');
  const reopenWindowMs = options.reopenWindowMs ?? 7 * 86_400_000;
  if (!Number.isFinite(reopenWindowMs) || reopenWindowMs < 0)
    throw new TypeError('incidents.reopenWindowMs must be a number of milliseconds, 0 or more');
  return { priorityMatrix: matrix as readonly (readonly Priority[])[], reopenWindowMs };
}

/** Impact or urgency: 1 high, 2 medium, 3 low. */
export const levelInput = z.union([z.literal(1), z.literal(2), z.literal(3)], {
  error: 'must be 1 (high), 2 (medium) or 3 (low)',
});
const level = levelInput;
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

export const createIncidentInput = z.strictObject({
  shortDescription: text(300),
  description: z.string().max(20_000).default(''),
  /** The user who reported it. */
  callerId: z.uuid().nullish(),
  /** The CI affected; its business services are derived by impact analysis. */
  ciId: z.uuid().nullish(),
  impact: level.default(3),
  urgency: level.default(3),
  category: z.string().trim().max(100).default(''),
  assignmentGroupId: z.uuid().nullish(),
  /** Must be in the assignment group (directly or through nested groups). */
  assigneeId: z.uuid().nullish(),
  /** Alerts this incident is about. */
  alertIds: z.array(z.uuid()).max(1000).default([]),
});
export type CreateIncidentInput = z.input<typeof createIncidentInput>;

export const updateIncidentInput = z.strictObject({
  shortDescription: text(300).optional(),
  description: z.string().max(20_000).optional(),
  callerId: z.uuid().nullish(),
  ciId: z.uuid().nullish(),
  impact: level.optional(),
  urgency: level.optional(),
  category: z.string().trim().max(100).optional(),
});
export type UpdateIncidentInput = z.input<typeof updateIncidentInput>;

export const assignIncidentInput = z.strictObject({
  assignmentGroupId: z.uuid().nullable(),
  assigneeId: z.uuid().nullish(),
});
export type AssignIncidentInput = z.input<typeof assignIncidentInput>;

export const transitionInput = z.strictObject({
  to: z.enum(incidentStates),
  /** Required to put on hold. */
  holdReason: z.enum(holdReasons).optional(),
  /** Required to resolve. */
  resolutionCode: z.enum(resolutionCodes).optional(),
  /** Required to resolve. */
  resolutionNotes: z.string().trim().max(20_000).optional(),
  /** Required to cancel and to reopen: why. */
  reason: z.string().trim().max(4000).optional(),
});
export type TransitionInput = z.input<typeof transitionInput>;

export const noteInput = z.strictObject({
  kind: z.enum(noteKinds),
  body: text(20_000),
});
export type NoteInput = z.input<typeof noteInput>;

export const incidentFilterInput = z.strictObject({
  state: z.array(z.enum(incidentStates)).min(1).optional(),
  priority: z.array(z.int().min(1).max(5)).min(1).optional(),
  ciId: z.uuid().optional(),
  assignmentGroupId: z.uuid().optional(),
  assigneeId: z.uuid().optional(),
  callerId: z.uuid().optional(),
  /** Incidents whose derived business services include this one. */
  serviceId: z.uuid().optional(),
  major: z.boolean().optional(),
});
export type IncidentFilter = z.input<typeof incidentFilterInput>;

export interface IncidentTable {
  id: string;
  number: string;
  shortDescription: string;
  description: string;
  callerId: string | null;
  ciId: string | null;
  serviceIds: ColumnType<string[], string, string>;
  impact: Level;
  urgency: Level;
  priority: Priority;
  category: string;
  assignmentGroupId: string | null;
  assigneeId: string | null;
  state: IncidentState;
  holdReason: HoldReason | null;
  resolutionCode: ResolutionCode | null;
  resolutionNotes: string | null;
  resolvedAt: Date | null;
  resolvedBy: ColumnType<ActorRef | null, string | null, string | null>;
  closedAt: Date | null;
  cancelledAt: Date | null;
  reopenCount: Generated<number>;
  major: Generated<boolean>;
  openedBy: ColumnType<ActorRef, string, string>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface IncidentAlertTable {
  incidentId: string;
  alertId: string;
  linkedAt: Date;
  linkedBy: ColumnType<ActorRef, string, string>;
}

export interface IncidentNoteTable {
  id: string;
  incidentId: string;
  kind: NoteKind;
  body: string;
  author: ColumnType<ActorRef, string, string>;
  createdAt: Date;
  seq: GeneratedAlways<number>;
}

export interface Incident {
  readonly id: string;
  /** `INC0001001`: what people say on the phone. */
  readonly number: string;
  readonly shortDescription: string;
  readonly description: string;
  readonly callerId: string | null;
  readonly ciId: string | null;
  /** The business services the CI's failure reaches (impact analysis when the CI was set). */
  readonly serviceIds: readonly string[];
  readonly impact: Level;
  readonly urgency: Level;
  /** From impact and urgency by the priority matrix. */
  readonly priority: Priority;
  readonly category: string;
  readonly assignmentGroupId: string | null;
  readonly assigneeId: string | null;
  readonly state: IncidentState;
  readonly holdReason: HoldReason | null;
  readonly resolutionCode: ResolutionCode | null;
  readonly resolutionNotes: string | null;
  readonly resolvedAt: Date | null;
  readonly resolvedBy: ActorRef | null;
  readonly closedAt: Date | null;
  readonly cancelledAt: Date | null;
  readonly reopenCount: number;
  readonly major: boolean;
  readonly openedBy: ActorRef;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface IncidentNote {
  readonly id: string;
  readonly incidentId: string;
  readonly kind: NoteKind;
  readonly body: string;
  readonly author: ActorRef;
  readonly createdAt: Date;
}

/** Changes name the version read (optional: without it, no conflict check). */
export interface IncidentChangeOptions extends WriteOptions {
  readonly version?: number;
}

/** A page of incidents, newest first. */
export interface IncidentPageRequest extends PageRequest {}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'incident.created': { incident: Incident };
    'incident.updated': { incident: Incident; fields: readonly string[] };
    'incident.assigned': { incident: Incident };
    'incident.state_changed': { incident: Incident; from: IncidentState };
    /** The note without its body: work notes are internal, and the activity stream is read more widely. */
    'incident.noted': { incident: Incident; note: Omit<IncidentNote, 'body'> };
    'incident.alerts_linked': { incident: Incident; alertIds: readonly string[] };
  }
}
