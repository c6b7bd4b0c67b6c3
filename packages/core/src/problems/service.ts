import { assignmentIssues } from '../access/assignment.js';
import type { Page } from '../cmdb/model.js';
import type { Incident } from '../incidents/model.js';
import {
  type Actor,
  actorRef,
  can,
  canOn,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '../kernel/actor.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TransitionError,
  ValidationError,
  type ValidationIssue,
} from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import { servicesOfLiveCi } from '../topology/services-of.js';
import { type FollowProblemsOptions, followProblems, type ProblemChange } from './changes.js';
import {
  type AssignProblemInput,
  assignProblemInput,
  type CreateProblemInput,
  createProblemInput,
  type KnownError,
  type KnownErrorFilter,
  type KnownErrorMatch,
  type KnownErrorMatchKind,
  knownErrorFilterInput,
  type LinkedIncidentOutcome,
  type MatchKnownErrorsQuery,
  matchKnownErrorsInput,
  openProblemStates,
  type Problem,
  type ProblemChangeOptions,
  type ProblemFilter,
  type ProblemIncidentLink,
  type ProblemNote,
  type ProblemNoteInput,
  type ProblemPageRequest,
  type ProblemTransitionInput,
  type PublishKnownErrorInput,
  problemFilterInput,
  problemNoteInput,
  problemOrderInput,
  problemTransitionInput,
  problemTransitions,
  publishKnownErrorInput,
  type RetireKnownErrorInput,
  retireKnownErrorInput,
  type UpdateProblemInput,
  updateProblemInput,
} from './model.js';
import * as store from './store.js';

const NUMBER = /^PRB\d{7,}$/;
const KE_NUMBER = /^KE\d{7,}$/;
const MAX_TEXT = 20_000;

/** `permission` on the problem's CI, or everywhere for a problem on no CI. */
const holds = (actor: Actor, permission: string, on: { ciId: string | null }) =>
  on.ciId ? canOn(actor, permission, on.ciId) : can(actor, permission);

const mayRead = (actor: Actor | undefined, on: { ciId: string | null }) =>
  !actor || holds(actor, permissions.problemRead, on);

const isOpen = (p: Problem) => (openProblemStates as readonly string[]).includes(p.state);

const clip = (text: string) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text);

/** Where each kind of match ranks: the closest first. */
const matchRank: Record<KnownErrorMatchKind, number> = { same_ci: 0, dependency: 1, business_service: 2 };

/** The part of an incident matching needs: its CI and business services. */
export type IncidentRef = Pick<Incident, 'id' | 'ciId' | 'serviceIds'>;

/**
 * Problem management (ITIL): the causes of incidents, human-numbered, on the CI at fault, assigned,
 * worked through an enforced state machine to a root cause and a fix, linked to the incidents they
 * cause; and the known-error database, where a problem's root cause and workaround are published for
 * the service desk and offered to new incidents on the same CIs and services; `og.problems`.
 */
export class ProblemsService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Logs a problem (problem:write on its CI, or everywhere without one). Its business services come
   * from impact analysis of the CI; its priority from impact × urgency by the incidents' matrix;
   * incidents named are linked (each must be readable: incident:read).
   */
  async create(input: CreateProblemInput, { actor }: WriteOptions): Promise<Problem> {
    const i = parseInput(createProblemInput, input);
    const ciId = i.ciId?.toLowerCase() ?? null;
    this.#assertHolds(actor, permissions.problemWrite, { ciId }, 'ciId');
    const incidentIds = i.incidentIds.map((id) => id.toLowerCase());
    return this.kernel.write(actor, async (scope) => {
      const issues = [
        ...(await this.#checkPeople(scope, { groupId: i.assignmentGroupId, assigneeId: i.assigneeId })),
        ...(await this.#checkIncidents(scope, incidentIds)),
      ];
      const serviceIds = await servicesOfLiveCi(scope, ciId, issues);
      if (issues.length > 0) throw new ValidationError(issues);
      const problem = await store.insertProblem(scope.db, {
        id: crypto.randomUUID(),
        title: i.title,
        description: i.description,
        ciId,
        serviceIds,
        impact: i.impact,
        urgency: i.urgency,
        priority: scope.kernel.services.incidents.priorityOf(i.impact, i.urgency),
        category: i.category,
        assignmentGroupId: i.assignmentGroupId?.toLowerCase() ?? null,
        assigneeId: i.assigneeId?.toLowerCase() ?? null,
        openedBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('problem.created', { type: 'problem', id: problem.id }, { problem });
      if (incidentIds.length > 0) {
        const linked = await store.linkIncidents(
          scope.db,
          problem.id,
          incidentIds,
          scope.now,
          actorRef(actor),
        );
        scope.emit(
          'problem.incidents_linked',
          { type: 'problem', id: problem.id },
          { problem, incidentIds: linked },
        );
      }
      return problem;
    });
  }

  /**
   * Changes descriptive fields, the root cause and the workaround (problem:write). A new CI re-derives
   * the business services; priority follows impact × urgency. Closed and cancelled problems are final.
   */
  async update(id: string, patch: UpdateProblemInput, options: ProblemChangeOptions): Promise<Problem> {
    const p = parseInput(updateProblemInput, patch, 'patch');
    return this.#write(id, options, async (scope, problem) => {
      this.#assertOpen(problem, 'change');
      const change: Record<string, unknown> = {};
      const issues: ValidationIssue[] = [];
      if (p.title !== undefined) change.title = p.title;
      if (p.description !== undefined) change.description = p.description;
      if (p.category !== undefined) change.category = p.category;
      if (p.rootCause !== undefined) change.rootCause = p.rootCause || null;
      if (p.workaround !== undefined) change.workaround = p.workaround || null;
      if (p.ciId !== undefined) {
        const ciId = p.ciId?.toLowerCase() ?? null;
        // Moving a problem onto a CI needs the permission there as well.
        this.#assertHolds(scope.actor, permissions.problemWrite, { ciId }, 'patch.ciId');
        change.ciId = ciId;
        change.serviceIds = JSON.stringify(await servicesOfLiveCi(scope, ciId, issues, 'patch.ciId'));
      }
      if (
        change.rootCause === null &&
        ['fix_in_progress', 'resolved'].includes(problem.state) &&
        problem.rootCause
      )
        issues.push({
          path: 'patch.rootCause',
          message: `a ${problem.state} problem keeps its root cause: correct it instead`,
        });
      if (issues.length > 0) throw new ValidationError(issues);
      const impact = p.impact ?? problem.impact;
      const urgency = p.urgency ?? problem.urgency;
      if (p.impact !== undefined || p.urgency !== undefined)
        Object.assign(change, {
          impact,
          urgency,
          priority: scope.kernel.services.incidents.priorityOf(impact, urgency),
        });
      const fields = Object.keys(change);
      if (fields.length === 0) return problem;
      const updated = await store.updateProblem(scope.db, problem.id, change, scope.now);
      scope.emit('problem.updated', { type: 'problem', id: problem.id }, { problem: updated, fields });
      return updated;
    });
  }

  /** Assigns to a group and, optionally, one of its members (problem:write); null group unassigns. */
  async assign(id: string, input: AssignProblemInput, options: ProblemChangeOptions): Promise<Problem> {
    const a = parseInput(assignProblemInput, input);
    if (!a.assignmentGroupId && a.assigneeId)
      throw ValidationError.field('assignmentGroupId', 'an assignee needs an assignment group it belongs to');
    return this.#write(id, options, async (scope, problem) => {
      this.#assertOpen(problem, 'be reassigned');
      const issues = await this.#checkPeople(scope, {
        groupId: a.assignmentGroupId,
        assigneeId: a.assigneeId,
      });
      if (issues.length > 0) throw new ValidationError(issues);
      const updated = await store.updateProblem(
        scope.db,
        problem.id,
        {
          assignmentGroupId: a.assignmentGroupId?.toLowerCase() ?? null,
          assigneeId: a.assigneeId?.toLowerCase() ?? null,
        },
        scope.now,
      );
      scope.emit('problem.assigned', { type: 'problem', id: problem.id }, { problem: updated });
      return updated;
    });
  }

  /**
   * Moves the problem through its state machine (problem:write); a move the machine does not allow is a
   * TransitionError naming the allowed ones, and changes nothing. Root cause analysis needs an
   * assignment group; a fix and a resolution need the root cause (given here or set before);
   * resolving needs `resolutionCode` and `resolutionNotes`; cancelling and going back to analysis
   * need a `reason`, kept as a work note.
   *
   * Resolving acts on the linked incidents the actor may work (incident:write): with a fix applied,
   * those on hold awaiting the problem are resolved with its resolution, other open ones get a work
   * note (their callers confirm, they may have other causes); with the risk accepted, open ones get a
   * work note pointing at the workaround. Closing with a fix applied, or cancelling, retires the
   * problem's published known error.
   */
  async transition(
    id: string,
    input: ProblemTransitionInput,
    options: ProblemChangeOptions,
  ): Promise<Problem> {
    const t = parseInput(problemTransitionInput, input);
    return this.#write(id, options, async (scope, problem) => {
      const from = problem.state;
      const allowed = problemTransitions[from];
      if (!allowed.includes(t.to)) throw new TransitionError('problem', problem.number, from, t.to, allowed);
      const back = t.to === 'root_cause_analysis' && (from === 'resolved' || from === 'fix_in_progress');
      const rootCause = t.rootCause || problem.rootCause;
      const issues: ValidationIssue[] = [];
      const need = (field: string, value: unknown, when: string) => {
        if (!value) issues.push({ path: field, message: `is required to ${when}` });
      };
      const refuse = (field: keyof typeof t, only: string) => {
        if (t[field] !== undefined) issues.push({ path: field, message: `only applies ${only}` });
      };
      if (t.to === 'root_cause_analysis' && from === 'assess')
        need(
          'assignmentGroupId',
          problem.assignmentGroupId,
          'analyse the root cause: assign the problem first',
        );
      if (t.to === 'fix_in_progress') need('rootCause', rootCause, 'work on a fix');
      if (t.to === 'resolved') {
        need('rootCause', rootCause, 'resolve');
        need('resolutionCode', t.resolutionCode, 'resolve');
        need('resolutionNotes', t.resolutionNotes, 'resolve');
      } else {
        refuse('resolutionCode', 'when resolving');
        refuse('resolutionNotes', 'when resolving');
      }
      if (!['root_cause_analysis', 'fix_in_progress', 'resolved'].includes(t.to))
        refuse('rootCause', 'when analysing, fixing or resolving');
      if (t.to === 'cancelled') need('reason', t.reason, 'cancel');
      else if (back) need('reason', t.reason, 'send it back to root cause analysis');
      else refuse('reason', 'when cancelling or going back to root cause analysis');
      if (issues.length > 0) throw new ValidationError(issues);

      const change: Record<string, unknown> = { state: t.to };
      if (t.rootCause) change.rootCause = t.rootCause;
      if (t.to === 'resolved')
        Object.assign(change, {
          resolutionCode: t.resolutionCode,
          resolutionNotes: t.resolutionNotes,
          resolvedAt: scope.now,
          resolvedBy: JSON.stringify(actorRef(scope.actor)),
        });
      if (back && from === 'resolved')
        Object.assign(change, {
          resolutionCode: null,
          resolutionNotes: null,
          resolvedAt: null,
          resolvedBy: null,
          reopenCount: problem.reopenCount + 1,
        });
      if (t.to === 'closed') change.closedAt = scope.now;
      if (t.to === 'cancelled') change.cancelledAt = scope.now;
      const updated = await store.updateProblem(scope.db, problem.id, change, scope.now);
      const incidents = t.to === 'resolved' ? await this.#actOnIncidents(scope, updated) : undefined;
      scope.emit(
        'problem.state_changed',
        { type: 'problem', id: problem.id },
        { problem: updated, from, ...(incidents ? { incidents } : {}) },
      );
      if (t.reason) {
        const body = `${t.to === 'cancelled' ? 'Cancelled' : 'Back to root cause analysis'}: ${t.reason}`;
        await this.#note(scope, updated, body);
      }
      if (t.to === 'cancelled')
        await this.#retireQuietly(scope, updated, `Problem ${updated.number} was cancelled: ${t.reason}`);
      if (t.to === 'closed' && updated.resolutionCode === 'fix_applied')
        await this.#retireQuietly(
          scope,
          updated,
          `Problem ${updated.number} was closed with a permanent fix applied`,
        );
      return updated;
    });
  }

  /** Adds a work note (problem:write). */
  async addNote(id: string, input: ProblemNoteInput, options: WriteOptions): Promise<ProblemNote> {
    const n = parseInput(problemNoteInput, input);
    let note: ProblemNote | undefined;
    await this.#write(id, options, async (scope, problem) => {
      note = await this.#note(scope, problem, n.body);
      return problem;
    });
    return note!;
  }

  /**
   * Links incidents this problem causes (problem:write on the problem, incident:read on each incident);
   * links already there are kept. Returns the incidents linked now. Closed and cancelled problems take none.
   */
  async linkIncidents(
    id: string,
    incidentIds: readonly string[],
    options: ProblemChangeOptions,
  ): Promise<string[]> {
    const ids = parseInput(createProblemInput.shape.incidentIds, incidentIds, 'incidentIds').map((i) =>
      i.toLowerCase(),
    );
    let linked: string[] = [];
    await this.#write(id, options, async (scope, problem) => {
      this.#assertOpen(problem, 'take incidents');
      const issues = await this.#checkIncidents(scope, ids);
      if (issues.length > 0) throw new ValidationError(issues);
      linked = await store.linkIncidents(scope.db, problem.id, ids, scope.now, actorRef(scope.actor));
      if (linked.length > 0)
        scope.emit(
          'problem.incidents_linked',
          { type: 'problem', id: problem.id },
          { problem, incidentIds: linked },
        );
      return problem;
    });
    return linked;
  }

  /** Unlinks incidents (problem:write). Returns those that were linked. */
  async unlinkIncidents(
    id: string,
    incidentIds: readonly string[],
    options: ProblemChangeOptions,
  ): Promise<string[]> {
    const ids = parseInput(createProblemInput.shape.incidentIds, incidentIds, 'incidentIds').map((i) =>
      i.toLowerCase(),
    );
    let unlinked: string[] = [];
    await this.#write(id, options, async (scope, problem) => {
      this.#assertOpen(problem, 'change its incidents');
      unlinked = await store.unlinkIncidents(scope.db, problem.id, ids);
      if (unlinked.length > 0)
        scope.emit(
          'problem.incidents_unlinked',
          { type: 'problem', id: problem.id },
          { problem, incidentIds: unlinked },
        );
      return problem;
    });
    return unlinked;
  }

  /** A problem by id or number (problem:read on its CI); null when unknown or not visible. */
  async problem(idOrNumber: string, { actor }: ReadOptions = {}): Promise<Problem | null> {
    CiReach.of(actor, permissions.problemRead);
    const found = await this.#find(this.kernel, idOrNumber);
    return found && mayRead(actor, found) ? found : null;
  }

  /**
   * A keyset page of problems by `orderBy` (default: newest first); problem:read, scoped readers see
   * those on their CIs.
   */
  async problems(
    filter: ProblemFilter = {},
    page: ProblemPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Problem>> {
    const reach = CiReach.of(actor, permissions.problemRead);
    const f = parseInput(problemFilterInput, filter, 'filter');
    const order = page.orderBy
      ? parseInput(problemOrderInput, page.orderBy, 'orderBy')
      : ({ field: 'createdAt', direction: 'desc' } as const);
    const first = pageSize(page.first);
    const lower = (v: string | undefined) => v?.toLowerCase();
    const rows = await store.listProblems(this.kernel.db, {
      ...f,
      ciId: lower(f.ciId),
      serviceId: lower(f.serviceId),
      assignmentGroupId: lower(f.assignmentGroupId),
      assigneeId: lower(f.assigneeId),
      incidentId: lower(f.incidentId),
      reach: reach.where('problems.ci_id'),
      order,
      ...(page.after ? { after: store.parseProblemCursor(page.after, order) } : {}),
      limit: first + 1,
    });
    const edges = rows.slice(0, first).map((node) => ({ cursor: store.problemCursor(order, node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /** The work notes, oldest first (problem:read). */
  async notesOf(id: string, options: ReadOptions = {}): Promise<ProblemNote[]> {
    const problem = await this.problem(id, options);
    if (!problem) throw new NotFoundError('problem', id, 'id');
    return store.listNotes(this.kernel.db, [problem.id]);
  }

  /** The incidents linked to the problem, oldest link first (their ids; read each as incidents allow). */
  async incidentLinksOf(id: string, options: ReadOptions = {}): Promise<ProblemIncidentLink[]> {
    const problem = await this.problem(id, options);
    if (!problem) throw new NotFoundError('problem', id, 'id');
    return store.incidentLinksOf(this.kernel.db, [problem.id]);
  }

  /** Several problems by id in one query (a DataLoader batch): those the actor may read, keyed by id. */
  async problemsById(ids: readonly string[], { actor }: ReadOptions = {}): Promise<Map<string, Problem>> {
    CiReach.of(actor, permissions.problemRead);
    const wanted = [...new Set(ids.filter((id) => isUuid(id)).map((id) => id.toLowerCase()))];
    const found = await store.findProblems(this.kernel.db, wanted);
    return new Map(found.filter((p) => mayRead(actor, p)).map((p) => [p.id, p]));
  }

  /**
   * The work notes of several problems the caller already read, in one query (a DataLoader batch):
   * it checks problem:read somewhere, not each problem's CI. Keyed by problem id, oldest first.
   */
  async notesOfProblems(
    problemIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, ProblemNote[]>> {
    CiReach.of(actor, permissions.problemRead);
    const ids = problemIds.filter((id) => isUuid(id)).map((id) => id.toLowerCase());
    const byProblem = new Map<string, ProblemNote[]>(ids.map((id) => [id, []]));
    for (const note of await store.listNotes(this.kernel.db, ids)) byProblem.get(note.problemId)?.push(note);
    return byProblem;
  }

  /**
   * The incidents linked to several problems the caller already read, in two queries (a DataLoader
   * batch), oldest link first: those the actor may read (incident:read on their CI).
   */
  async incidentsOfProblems(
    problemIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, Incident[]>> {
    CiReach.of(actor, permissions.problemRead);
    const ids = problemIds.filter((id) => isUuid(id)).map((id) => id.toLowerCase());
    const byProblem = new Map<string, Incident[]>(ids.map((id) => [id, []]));
    const links = await store.incidentLinksOf(this.kernel.db, ids);
    if (links.length === 0) return byProblem;
    const incidents = await this.kernel.services.incidents.incidentsById(
      links.map((l) => l.incidentId),
      { actor },
    );
    for (const link of links) {
      const incident = incidents.get(link.incidentId);
      if (incident) byProblem.get(link.problemId)?.push(incident);
    }
    return byProblem;
  }

  /** The known errors of several problems the caller already read, in one query, keyed by problem id. */
  async knownErrorsOfProblems(
    problemIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, KnownError>> {
    CiReach.of(actor, permissions.problemRead);
    const ids = problemIds.filter((id) => isUuid(id)).map((id) => id.toLowerCase());
    const found = await store.knownErrorsOfProblems(this.kernel.db, ids);
    return new Map(found.map((k) => [k.problemId, k]));
  }

  /**
   * The problems linked to each of these incidents, in one query (a DataLoader batch), as the actor may
   * read them (problem:read on their CI). For incidents the caller already read.
   */
  async problemsOfIncidents(
    incidentIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, Problem[]>> {
    const reach = CiReach.of(actor, permissions.problemRead);
    const ids = incidentIds.filter((i) => isUuid(i)).map((i) => i.toLowerCase());
    const byIncident = new Map<string, Problem[]>(ids.map((i) => [i, []]));
    for (const { incidentId, problem } of await store.problemsOfIncidents(
      this.kernel.db,
      ids,
      reach.where('problems.ci_id'),
    ))
      byIncident.get(incidentId)?.push(problem);
    return byIncident;
  }

  /** The problems linked to an incident the actor may read (incident:read), as it may read them. */
  async problemsOfIncident(incidentId: string, options: ReadOptions = {}): Promise<Problem[]> {
    const incident = await this.kernel.services.incidents.incident(incidentId, options);
    if (!incident) throw new NotFoundError('incident', incidentId, 'incidentId');
    return (await this.problemsOfIncidents([incident.id], options)).get(incident.id) ?? [];
  }

  // Known errors ------------------------------------------------------------------------------------

  /**
   * Publishes the problem as a known error (problem:write): its root cause (which it must have) and a
   * workaround (given, else the one published before, else the problem's), under `title` (default the
   * problem's). Publishing again updates the entry, or republishes a retired one; `version` is then the
   * known error's. Closed and cancelled problems publish nothing.
   */
  async publishKnownError(
    problemId: string,
    input: PublishKnownErrorInput,
    { actor, version }: ProblemChangeOptions,
  ): Promise<KnownError> {
    const k = parseInput(publishKnownErrorInput, input);
    let result: KnownError | undefined;
    await this.#write(problemId, { actor }, async (scope, problem) => {
      this.#assertOpen(problem, 'be published as a known error');
      await store.lockKnownError(scope.db, problem.id);
      const existing = await store.findKnownError(scope.db, { problemId: problem.id });
      if (existing && version !== undefined && version !== existing.version)
        throw ConflictError.staleVersion('known error', existing.number, version, existing.version);
      const workaround = k.workaround || existing?.workaround || problem.workaround;
      const issues: ValidationIssue[] = [];
      if (!problem.rootCause)
        issues.push({ path: 'rootCause', message: 'the problem needs a root cause to be a known error' });
      if (!workaround)
        issues.push({ path: 'workaround', message: 'is required: the problem has none to publish' });
      if (issues.length > 0) throw new ValidationError(issues);
      const title = k.title ?? existing?.title ?? problem.title;
      const subject = { type: 'problem', id: problem.id };
      if (!existing) {
        await store.insertKnownError(scope.db, {
          id: crypto.randomUUID(),
          problemId: problem.id,
          title,
          workaround: workaround!,
          by: actorRef(scope.actor),
          now: scope.now,
        });
        result = (await store.findKnownError(scope.db, { problemId: problem.id }))!;
        scope.emit('known_error.published', subject, { problem, knownError: result, republished: false });
      } else if (existing.state === 'retired') {
        await store.updateKnownError(
          scope.db,
          existing.id,
          {
            title,
            workaround,
            state: 'published',
            publishedAt: scope.now,
            publishedBy: JSON.stringify(actorRef(scope.actor)),
            retiredAt: null,
            retiredBy: null,
            retiredReason: null,
          },
          scope.now,
        );
        result = (await store.findKnownError(scope.db, { id: existing.id }))!;
        scope.emit('known_error.published', subject, { problem, knownError: result, republished: true });
      } else {
        const fields = [
          ...(title !== existing.title ? ['title'] : []),
          ...(workaround !== existing.workaround ? ['workaround'] : []),
        ];
        if (fields.length === 0) {
          result = existing;
          return problem;
        }
        await store.updateKnownError(scope.db, existing.id, { title, workaround }, scope.now);
        result = (await store.findKnownError(scope.db, { id: existing.id }))!;
        scope.emit('known_error.updated', subject, { problem, knownError: result, fields });
      }
      return problem;
    });
    return result!;
  }

  /**
   * Retires a published known error (problem:write on its problem's CI), by its id, its number
   * (KE0001001) or its problem's: it leaves the database the service desk searches and is no longer
   * offered to incidents. Closing its problem with a fix applied, or cancelling it, retires it too.
   */
  async retireKnownError(
    id: string,
    input: RetireKnownErrorInput,
    { actor, version }: ProblemChangeOptions,
  ): Promise<KnownError> {
    const r = parseInput(retireKnownErrorInput, input);
    const found = await this.#findKnownError(this.kernel, id);
    if (!found || !mayRead(actor, found)) throw new NotFoundError('known error', id, 'id');
    let result: KnownError | undefined;
    await this.#write(found.problemId, { actor }, async (scope, problem) => {
      await store.lockKnownError(scope.db, problem.id);
      const current = (await store.findKnownError(scope.db, { problemId: problem.id }))!;
      if (version !== undefined && version !== current.version)
        throw ConflictError.staleVersion('known error', current.number, version, current.version);
      if (current.state === 'retired')
        throw new ConflictError(`known error ${current.number} is already retired`, 'id', current.version);
      result = await this.#retire(scope, problem, current, r.reason);
      return problem;
    });
    return result!;
  }

  /** A known error by id, number (KE0001001) or its problem's id or number; null when unknown or not visible. */
  async knownError(id: string, { actor }: ReadOptions = {}): Promise<KnownError | null> {
    CiReach.of(actor, permissions.problemRead);
    const found = await this.#findKnownError(this.kernel, id);
    return found && mayRead(actor, found) ? found : null;
  }

  /**
   * The known-error database (problem:read; scoped readers see those on their CIs): by CI, business
   * service and words in the title, workaround or root cause; published ones unless `state` says
   * otherwise; newest publication first.
   */
  async knownErrors(filter: KnownErrorFilter = {}, { actor }: ReadOptions = {}): Promise<KnownError[]> {
    const reach = CiReach.of(actor, permissions.problemRead);
    const f = parseInput(knownErrorFilterInput, filter, 'filter');
    return store.listKnownErrors(this.kernel.db, {
      ...(f.ciId ? { ciId: f.ciId.toLowerCase() } : {}),
      ...(f.serviceId ? { serviceId: f.serviceId.toLowerCase() } : {}),
      ...(f.text ? { text: f.text } : {}),
      state: f.state,
      reach: reach.where('p.ci_id'),
      limit: f.first,
    });
  }

  /**
   * The published known errors to offer an incident (incident:read on it; problem:read for the known
   * errors, as their CIs allow): those on its CI, on a CI its CI depends on or is contained in (within
   * `maxDepth` relationships, default 3), and on a CI of one of its business services. Closest first:
   * same CI, then by depth, then by business service; newest publication first within each.
   */
  async matchingKnownErrors(
    incidentId: string,
    query: MatchKnownErrorsQuery = {},
    options: ReadOptions = {},
  ): Promise<KnownErrorMatch[]> {
    CiReach.of(options.actor, permissions.problemRead);
    const incident = await this.kernel.services.incidents.incident(incidentId, options);
    if (!incident) throw new NotFoundError('incident', incidentId, 'incidentId');
    return (await this.matchingKnownErrorsFor([incident], query, options)).get(incident.id) ?? [];
  }

  /**
   * `matchingKnownErrors` for several incidents the caller already read (a page of incidents), in a
   * constant number of queries: a DataLoader batch. Keyed by incident id.
   */
  async matchingKnownErrorsFor(
    incidents: readonly IncidentRef[],
    query: MatchKnownErrorsQuery = {},
    { actor }: ReadOptions = {},
  ): Promise<Map<string, KnownErrorMatch[]>> {
    const reach = CiReach.of(actor, permissions.problemRead);
    const { maxDepth } = parseInput(matchKnownErrorsInput, query, 'query');
    const result = new Map<string, KnownErrorMatch[]>(incidents.map((i) => [i.id, []]));
    const withCi = [...new Set(incidents.flatMap((i) => (i.ciId ? [i.ciId] : [])))];
    // What each incident CI depends on or is contained in: the CIs whose failure reaches it.
    const below =
      withCi.length > 0 && maxDepth > 0
        ? await this.kernel.services.topology.downstreamOf(withCi, { maxDepth })
        : withCi.map(() => []);
    const depthsOf = new Map(
      withCi.map((ciId, i) => [
        ciId,
        new Map<string, number>([[ciId, 0], ...below[i]!.map((c) => [c.id, c.depth] as [string, number])]),
      ]),
    );
    const ciIds = [...new Set([...depthsOf.values()].flatMap((m) => [...m.keys()]))];
    const serviceIds = [...new Set(incidents.flatMap((i) => i.serviceIds))];
    if (ciIds.length === 0 && serviceIds.length === 0) return result;
    const known = await store.listKnownErrors(this.kernel.db, {
      match: { ciIds, serviceIds },
      state: ['published'],
      reach: reach.where('p.ci_id'),
      limit: 1000,
    });
    for (const incident of incidents) {
      const depths = incident.ciId ? depthsOf.get(incident.ciId) : undefined;
      const matches: KnownErrorMatch[] = [];
      for (const knownError of known) {
        const depth = knownError.ciId ? depths?.get(knownError.ciId) : undefined;
        if (depth !== undefined)
          matches.push({ knownError, match: depth === 0 ? 'same_ci' : 'dependency', depth });
        else if (knownError.serviceIds.some((s) => incident.serviceIds.includes(s)))
          matches.push({ knownError, match: 'business_service', depth: null });
      }
      // `known` is newest first; a stable sort keeps that within each rank.
      matches.sort((a, b) => matchRank[a.match] - matchRank[b.match] || (a.depth ?? 0) - (b.depth ?? 0));
      result.set(incident.id, matches);
    }
    return result;
  }

  /**
   * Changes of the problems (and their known errors) matching `filter` after `after` (default: from now
   * on), as the actor may read them at each change: missed ones first, then live ones, in order.
   */
  follow(
    filter: ProblemFilter = {},
    options: FollowProblemsOptions = {},
  ): AsyncIterableIterator<ProblemChange> {
    return followProblems(this.kernel, filter, options);
  }

  // ---------------------------------------------------------------------------------------------------

  #assertHolds(actor: Actor, permission: string, on: { ciId: string | null }, field: string): void {
    if (!holds(actor, permission, on))
      throw new ForbiddenError(permission, actor.name, field, { on: on.ciId ? `CI ${on.ciId}` : undefined });
  }

  #assertOpen(problem: Problem, what: string): void {
    if (!isOpen(problem))
      throw new ConflictError(
        `problem ${problem.number} is ${problem.state}: it cannot ${what}`,
        'id',
        problem.version,
      );
  }

  async #find(kernel: Kernel, idOrNumber: string, db = kernel.db): Promise<Problem | undefined> {
    if (isUuid(idOrNumber)) return store.findProblem(db, idOrNumber.toLowerCase());
    if (NUMBER.test(idOrNumber)) return store.findProblemByNumber(db, idOrNumber);
    return undefined;
  }

  async #findKnownError(kernel: Kernel, id: string): Promise<KnownError | undefined> {
    if (KE_NUMBER.test(id)) return store.findKnownError(kernel.db, { number: id });
    if (NUMBER.test(id)) {
      const problem = await store.findProblemByNumber(kernel.db, id);
      return problem ? store.findKnownError(kernel.db, { problemId: problem.id }) : undefined;
    }
    if (!isUuid(id)) return undefined;
    const lower = id.toLowerCase();
    return (
      (await store.findKnownError(kernel.db, { id: lower })) ??
      (await store.findKnownError(kernel.db, { problemId: lower }))
    );
  }

  /** Loads the problem for update, checks visibility, problem:write and version, then runs `fn`. */
  #write(
    id: string,
    { actor, version }: ProblemChangeOptions,
    fn: (scope: WriteScope, problem: Problem) => Promise<Problem>,
  ): Promise<Problem> {
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#find(this.kernel, id, scope.db);
      const problem = found ? await store.findProblem(scope.db, found.id, true) : undefined;
      if (!problem || !mayRead(actor, problem)) throw new NotFoundError('problem', id, 'id');
      this.#assertHolds(actor, permissions.problemWrite, problem, 'id');
      if (version !== undefined && version !== problem.version)
        throw ConflictError.staleVersion('problem', problem.number, version, problem.version);
      return fn(scope, problem);
    });
  }

  async #note(scope: WriteScope, problem: Problem, body: string): Promise<ProblemNote> {
    const note = await store.insertNote(scope.db, {
      id: crypto.randomUUID(),
      problemId: problem.id,
      body: clip(body),
      author: actorRef(scope.actor),
      createdAt: scope.now,
    });
    const { body: _, ...withoutBody } = note;
    scope.emit('problem.noted', { type: 'problem', id: problem.id }, { problem, note: withoutBody });
    return note;
  }

  async #retire(scope: WriteScope, problem: Problem, knownError: KnownError, reason: string) {
    await store.updateKnownError(
      scope.db,
      knownError.id,
      {
        state: 'retired',
        retiredAt: scope.now,
        retiredBy: JSON.stringify(actorRef(scope.actor)),
        retiredReason: clip(reason),
      },
      scope.now,
    );
    const retired = (await store.findKnownError(scope.db, { id: knownError.id }))!;
    scope.emit('known_error.retired', { type: 'problem', id: problem.id }, { problem, knownError: retired });
    return retired;
  }

  /** Retires the problem's known error if it is published. */
  async #retireQuietly(scope: WriteScope, problem: Problem, reason: string): Promise<void> {
    await store.lockKnownError(scope.db, problem.id);
    const current = await store.findKnownError(scope.db, { problemId: problem.id });
    if (current?.state === 'published') await this.#retire(scope, problem, current, reason);
  }

  /** What resolving a problem does to its linked incidents (see `transition`). */
  async #actOnIncidents(scope: WriteScope, problem: Problem): Promise<LinkedIncidentOutcome> {
    const outcome = { resolved: [] as string[], noted: [] as string[], skipped: [] as string[] };
    const incidents = scope.kernel.services.incidents;
    const fixed = problem.resolutionCode === 'fix_applied';
    for (const link of await store.incidentLinksOf(scope.db, [problem.id])) {
      const incident = await incidents.incident(link.incidentId);
      if (!incident || !['new', 'in_progress', 'on_hold'].includes(incident.state)) continue;
      const target = incident.ciId
        ? canOn(scope.actor, permissions.incidentWrite, incident.ciId)
        : can(scope.actor, permissions.incidentWrite);
      if (!target) {
        outcome.skipped.push(incident.id);
        continue;
      }
      if (fixed && incident.state === 'on_hold' && incident.holdReason === 'awaiting_problem') {
        await incidents.transition(
          incident.id,
          {
            to: 'resolved',
            resolutionCode: 'solved_permanently',
            resolutionNotes: clip(`Resolved by problem ${problem.number}: ${problem.resolutionNotes}`),
          },
          { actor: scope.actor },
        );
        outcome.resolved.push(incident.id);
      } else {
        const body = fixed
          ? `Problem ${problem.number} was resolved with a fix applied: ${problem.resolutionNotes}\nCheck with the caller whether this incident is solved too.`
          : `Problem ${problem.number} was resolved with its risk accepted: no permanent fix will come. ${problem.workaround ? `Workaround: ${problem.workaround}` : problem.resolutionNotes}`;
        await incidents.addNote(incident.id, { kind: 'work_note', body: clip(body) }, { actor: scope.actor });
        outcome.noted.push(incident.id);
      }
    }
    return outcome;
  }

  /** The group must exist; the assignee must be an active member of it. */
  async #checkPeople(
    scope: WriteScope,
    p: { groupId?: string | null | undefined; assigneeId?: string | null | undefined },
  ): Promise<ValidationIssue[]> {
    return assignmentIssues(scope.db, p);
  }

  /** Each incident must exist and be readable by the actor (incident:read on its CI). */
  async #checkIncidents(scope: WriteScope, incidentIds: readonly string[]): Promise<ValidationIssue[]> {
    const issues: ValidationIssue[] = [];
    for (const [i, id] of incidentIds.entries()) {
      const incident = await scope.kernel.services.incidents
        .incident(id, { actor: scope.actor })
        .catch(() => null);
      if (!incident) issues.push({ path: `incidentIds.${i}`, message: `no incident ${id} you may read` });
    }
    return issues;
  }
}
