import type { ColumnType, Generated, GeneratedAlways } from 'kysely';
import { z } from 'zod';
import { type OrderDirection, orderDirections, type PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';

export const problemStates = [
  'new',
  'assess',
  'root_cause_analysis',
  'fix_in_progress',
  'resolved',
  'closed',
  'cancelled',
] as const;
export type ProblemState = (typeof problemStates)[number];

/**
 * The state machine (ITIL problem management): a logged problem is assessed, its root cause analysed,
 * a fix worked on, then it is resolved (fix applied, or the risk accepted) and closed; a fix that did not
 * hold sends it back to analysis. Cancelled and closed are final.
 */
export const problemTransitions: Readonly<Record<ProblemState, readonly ProblemState[]>> = {
  new: ['assess', 'cancelled'],
  assess: ['root_cause_analysis', 'cancelled'],
  // Resolving straight from analysis: the risk is accepted, or the cause went away with a change.
  root_cause_analysis: ['fix_in_progress', 'resolved', 'cancelled'],
  fix_in_progress: ['root_cause_analysis', 'resolved', 'cancelled'],
  resolved: ['closed', 'root_cause_analysis'],
  closed: [],
  cancelled: [],
};

/** States in which a problem is still worked: it can change, take incidents, publish a known error. */
export const openProblemStates = [
  'new',
  'assess',
  'root_cause_analysis',
  'fix_in_progress',
  'resolved',
] as const satisfies readonly ProblemState[];

/** How a problem was resolved: a permanent fix, or the risk of living with it (and its workaround) accepted. */
export const problemResolutionCodes = ['fix_applied', 'risk_accepted'] as const;
export type ProblemResolutionCode = (typeof problemResolutionCodes)[number];

export const knownErrorStates = ['published', 'retired'] as const;
export type KnownErrorState = (typeof knownErrorStates)[number];

/** 1 high … 3 low, as incidents; priority 1 (critical) … 5 from the same matrix. */
export type Level = 1 | 2 | 3;
export type Priority = 1 | 2 | 3 | 4 | 5;

const level = z.union([z.literal(1), z.literal(2), z.literal(3)], {
  error: 'must be 1 (high), 2 (medium) or 3 (low)',
});
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

export const createProblemInput = z.strictObject({
  title: text(300),
  description: z.string().max(20_000).default(''),
  /** The CI at fault (suspected when logged, confirmed by analysis); business services derive from it. */
  ciId: z.uuid().nullish(),
  impact: level.default(3),
  urgency: level.default(3),
  category: z.string().trim().max(100).default(''),
  assignmentGroupId: z.uuid().nullish(),
  /** Must be in the assignment group (directly or through nested groups). */
  assigneeId: z.uuid().nullish(),
  /** Incidents this problem is the cause of. */
  incidentIds: z.array(z.uuid()).max(1000).default([]),
});
export type CreateProblemInput = z.input<typeof createProblemInput>;

export const updateProblemInput = z.strictObject({
  title: text(300).optional(),
  description: z.string().max(20_000).optional(),
  ciId: z.uuid().nullish(),
  impact: level.optional(),
  urgency: level.optional(),
  category: z.string().trim().max(100).optional(),
  /** What causes it, as found by analysis. */
  rootCause: z.string().trim().max(20_000).nullish(),
  /** How to restore service meanwhile; published with the known error. */
  workaround: z.string().trim().max(20_000).nullish(),
});
export type UpdateProblemInput = z.input<typeof updateProblemInput>;

export const assignProblemInput = z.strictObject({
  assignmentGroupId: z.uuid().nullable(),
  assigneeId: z.uuid().nullish(),
});
export type AssignProblemInput = z.input<typeof assignProblemInput>;

export const problemTransitionInput = z.strictObject({
  to: z.enum(problemStates),
  /** Sets the root cause on the way (required, here or before, to fix and to resolve). */
  rootCause: z.string().trim().max(20_000).optional(),
  /** Required to resolve. */
  resolutionCode: z.enum(problemResolutionCodes).optional(),
  /** Required to resolve: what was done. */
  resolutionNotes: z.string().trim().max(20_000).optional(),
  /** Required to cancel and to reopen (resolved -> root_cause_analysis, or a fix sent back): why. */
  reason: z.string().trim().max(4000).optional(),
});
export type ProblemTransitionInput = z.input<typeof problemTransitionInput>;

export const problemNoteInput = z.strictObject({ body: text(20_000) });
export type ProblemNoteInput = z.input<typeof problemNoteInput>;

export const publishKnownErrorInput = z.strictObject({
  /** What users see in the known-error database; default: the problem's title. */
  title: text(300).optional(),
  /** How to restore service until the fix: default the problem's workaround; one is required. */
  workaround: z.string().trim().max(20_000).optional(),
});
export type PublishKnownErrorInput = z.input<typeof publishKnownErrorInput>;

export const retireKnownErrorInput = z.strictObject({ reason: text(4000) });
export type RetireKnownErrorInput = z.input<typeof retireKnownErrorInput>;

export const problemFilterInput = z.strictObject({
  state: z.array(z.enum(problemStates)).min(1).optional(),
  priority: z.array(z.int().min(1).max(5)).min(1).optional(),
  ciId: z.uuid().optional(),
  /** Problems whose derived business services include this one. */
  serviceId: z.uuid().optional(),
  assignmentGroupId: z.uuid().optional(),
  assigneeId: z.uuid().optional(),
  /** Problems linked to this incident. */
  incidentId: z.uuid().optional(),
  /** Problems with (true) or without (false) a published known error. */
  knownError: z.boolean().optional(),
  /** Words in the title, description, root cause or workaround (case-insensitive). */
  text: z.string().trim().min(1).max(200).optional(),
});
export type ProblemFilter = z.input<typeof problemFilterInput>;

export const problemOrderFields = ['createdAt', 'updatedAt', 'priority', 'number'] as const;
export type ProblemOrderField = (typeof problemOrderFields)[number];
export const problemOrderInput = z.strictObject({
  field: z.enum(problemOrderFields),
  direction: z.enum(orderDirections).default('desc'),
});
export interface ProblemOrder {
  readonly field: ProblemOrderField;
  /** Default `desc`. `priority asc` lists P1 first. */
  readonly direction?: OrderDirection;
}

/** A page of problems, by `orderBy` (default: newest first); a cursor continues only its order. */
export interface ProblemPageRequest extends PageRequest {
  readonly orderBy?: ProblemOrder;
}

export const knownErrorFilterInput = z.strictObject({
  /** Known errors whose problem is on this CI. */
  ciId: z.uuid().optional(),
  /** Known errors whose problem reaches this business service. */
  serviceId: z.uuid().optional(),
  /** Words in the title, workaround or root cause (case-insensitive). */
  text: z.string().trim().min(1).max(200).optional(),
  /** Default `['published']`: the known-error database as the service desk sees it. */
  state: z.array(z.enum(knownErrorStates)).min(1).default(['published']),
  first: z.int().min(1).max(500).default(50),
});
export type KnownErrorFilter = z.input<typeof knownErrorFilterInput>;

export const matchKnownErrorsInput = z.strictObject({
  /** How far down the incident CI's dependencies (and what contains it) a known error's CI may be. */
  maxDepth: z.int().min(0).max(10).default(3),
});
export type MatchKnownErrorsQuery = z.input<typeof matchKnownErrorsInput>;

// Tables --------------------------------------------------------------------------------------------

export interface ProblemTable {
  id: string;
  number: string;
  title: string;
  description: string;
  ciId: string | null;
  serviceIds: ColumnType<string[], string, string>;
  impact: Level;
  urgency: Level;
  priority: Priority;
  category: string;
  assignmentGroupId: string | null;
  assigneeId: string | null;
  state: ProblemState;
  rootCause: string | null;
  workaround: string | null;
  resolutionCode: ProblemResolutionCode | null;
  resolutionNotes: string | null;
  resolvedAt: Date | null;
  resolvedBy: ColumnType<ActorRef | null, string | null, string | null>;
  closedAt: Date | null;
  cancelledAt: Date | null;
  reopenCount: Generated<number>;
  openedBy: ColumnType<ActorRef, string, string>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProblemIncidentTable {
  problemId: string;
  incidentId: string;
  linkedAt: Date;
  linkedBy: ColumnType<ActorRef, string, string>;
}

export interface ProblemNoteTable {
  id: string;
  problemId: string;
  body: string;
  author: ColumnType<ActorRef, string, string>;
  createdAt: Date;
  seq: GeneratedAlways<number>;
}

export interface KnownErrorTable {
  id: string;
  number: string;
  problemId: string;
  title: string;
  workaround: string;
  state: KnownErrorState;
  publishedAt: Date;
  publishedBy: ColumnType<ActorRef, string, string>;
  retiredAt: Date | null;
  retiredBy: ColumnType<ActorRef | null, string | null, string | null>;
  retiredReason: string | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

// Records ---------------------------------------------------------------------------------------------

export interface Problem {
  readonly id: string;
  /** `PRB0001001`. */
  readonly number: string;
  readonly title: string;
  readonly description: string;
  /** The CI at fault: suspected when logged, the root-cause CI once analysed. */
  readonly ciId: string | null;
  /** The business services a failure of the CI reaches (impact analysis when the CI was set). */
  readonly serviceIds: readonly string[];
  readonly impact: Level;
  readonly urgency: Level;
  /** From impact and urgency by the incidents' priority matrix. */
  readonly priority: Priority;
  readonly category: string;
  readonly assignmentGroupId: string | null;
  readonly assigneeId: string | null;
  readonly state: ProblemState;
  readonly rootCause: string | null;
  readonly workaround: string | null;
  readonly resolutionCode: ProblemResolutionCode | null;
  readonly resolutionNotes: string | null;
  readonly resolvedAt: Date | null;
  readonly resolvedBy: ActorRef | null;
  readonly closedAt: Date | null;
  readonly cancelledAt: Date | null;
  readonly reopenCount: number;
  readonly openedBy: ActorRef;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ProblemNote {
  readonly id: string;
  readonly problemId: string;
  readonly body: string;
  readonly author: ActorRef;
  readonly createdAt: Date;
}

/** A problem's link to an incident it causes. */
export interface ProblemIncidentLink {
  readonly problemId: string;
  readonly incidentId: string;
  readonly linkedAt: Date;
  readonly linkedBy: ActorRef;
}

/**
 * A problem's documented root cause and workaround, published to the known-error database so the
 * service desk can restore service fast when it strikes again.
 */
export interface KnownError {
  readonly id: string;
  /** `KE0001001`. */
  readonly number: string;
  readonly problemId: string;
  readonly problemNumber: string;
  readonly title: string;
  readonly workaround: string;
  /** The problem's root cause, as it is now. */
  readonly rootCause: string | null;
  /** The problem's CI and business services, as they are now: what matching uses. */
  readonly ciId: string | null;
  readonly serviceIds: readonly string[];
  readonly state: KnownErrorState;
  readonly publishedAt: Date;
  readonly publishedBy: ActorRef;
  readonly retiredAt: Date | null;
  readonly retiredBy: ActorRef | null;
  readonly retiredReason: string | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Why a known error is offered for an incident, closest first. */
export const knownErrorMatchKinds = ['same_ci', 'dependency', 'business_service'] as const;
export type KnownErrorMatchKind = (typeof knownErrorMatchKinds)[number];

export interface KnownErrorMatch {
  readonly knownError: KnownError;
  /**
   * `same_ci`: the known error is on the incident's CI; `dependency`: on a CI the incident's CI depends
   * on or is contained in (`depth` relationships away); `business_service`: on a CI of one of the
   * incident's business services.
   */
  readonly match: KnownErrorMatchKind;
  /** For `dependency`: relationships from the incident's CI; 0 for `same_ci`; null otherwise. */
  readonly depth: number | null;
}

/** Changes name the version read (optional: without it, no conflict check). */
export interface ProblemChangeOptions extends WriteOptions {
  readonly version?: number;
}

/** What resolving a problem did to its linked incidents. */
export interface LinkedIncidentOutcome {
  /** Incidents on hold awaiting the problem, resolved with the problem's resolution. */
  readonly resolved: readonly string[];
  /** Other open incidents, told by a work note. */
  readonly noted: readonly string[];
  /** Open incidents the actor may not work (incident:write on their CI): left alone. */
  readonly skipped: readonly string[];
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'problem.created': { problem: Problem };
    'problem.updated': { problem: Problem; fields: readonly string[] };
    'problem.assigned': { problem: Problem };
    'problem.state_changed': {
      problem: Problem;
      from: ProblemState;
      /** When resolved: what happened to the linked incidents. */
      incidents?: LinkedIncidentOutcome;
    };
    /** The note without its body: the activity stream is read more widely than the problem. */
    'problem.noted': { problem: Problem; note: Omit<ProblemNote, 'body'> };
    'problem.incidents_linked': { problem: Problem; incidentIds: readonly string[] };
    'problem.incidents_unlinked': { problem: Problem; incidentIds: readonly string[] };
    'known_error.published': { problem: Problem; knownError: KnownError; republished: boolean };
    'known_error.updated': { problem: Problem; knownError: KnownError; fields: readonly string[] };
    'known_error.retired': { problem: Problem; knownError: KnownError };
  }
}
