import { findGroup } from '../access/groups-store.js';
import { findRole } from '../access/roles-store.js';
import { findUser } from '../access/users-store.js';
import type { Page } from '../cmdb/model.js';
import { type Actor, actorRef, canSomewhere, type ReadOptions, type WriteOptions } from '../kernel/actor.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  type ValidationIssue,
} from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { afterTimeId, pageSize, timeIdPage } from '../kernel/pagination.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type Approval,
  type ApprovalDecision,
  type ApprovalFilter,
  type ApprovalOutcome,
  type ApprovalPageRequest,
  type ApprovalStepInput,
  type ApprovalSubject,
  approvalFilterInput,
  approvalStepsInput,
  type DecideInput,
  decideInput,
  type OpenApprovalsOptions,
  type SettledHandler,
  type SubjectTypeOptions,
  subjectInput,
} from './model.js';
import * as store from './store.js';

interface SubjectType {
  readonly readPermission: string;
  readonly writePermission: string;
  readonly handlers: SettledHandler[];
}

/**
 * The subject types the owning processes registered, with what they do when a subject's approvals
 * settle. One per OpsGraph instance, shared by the services of every transaction.
 */
export class ApprovalRegistry {
  readonly #types = new Map<string, SubjectType>();

  register(type: string, handler: SettledHandler, options: SubjectTypeOptions = {}): () => void {
    const parsed = subjectInput.shape.type.safeParse(type);
    if (!parsed.success) throw new TypeError(`approvals: "${type}" is not a subject type name`);
    let entry = this.#types.get(type);
    if (!entry) {
      entry = {
        readPermission: options.readPermission ?? `${type}:read`,
        writePermission: options.writePermission ?? `${type}:write`,
        handlers: [],
      };
      this.#types.set(type, entry);
    }
    entry.handlers.push(handler);
    return () => {
      const at = entry.handlers.indexOf(handler);
      if (at >= 0) entry.handlers.splice(at, 1);
    };
  }

  get(type: string): SubjectType | undefined {
    return this.#types.get(type);
  }

  types(): string[] {
    return [...this.#types.keys()];
  }
}

const readPermissionOf = (registry: ApprovalRegistry, type: string) =>
  registry.get(type)?.readPermission ?? `${type}:read`;

/**
 * Generic approvals (ITIL change authorisation, request approvals …); `og.approvals`.
 *
 * A subject (`{ type: 'change', id }`, `{ type: 'request', id }` …) gets an ordered list of steps in its
 * owner's write transaction: `open(subject, steps, { actor, requesterId })`, each step
 * `{ name, approvers: { group } | { role } | { user }, quorum = 1 }`. Steps run one after another: step
 * n+1 becomes `pending` only when step n is `approved`.
 *
 * `decide(approvalId, { decision: 'approve' | 'reject', comment, version }, { actor })`: only an eligible
 * user decides (a member of the group at any depth, a holder of the role through a grant that counts
 * now, or the named user), once per step, never on a subject it requested (segregation of duties).
 * Reaching the quorum approves the step; one rejection rejects the step and the subject, and cancels
 * the steps left. Every decision is kept (who, when, comment); events `approval.*`.
 *
 * The owning process learns the outcome in the deciding transaction: it registers at start-up with
 * `onSettled(type, ({ subjectId, outcome }, scope) => …)`, and may `cancel(subject)` the steps still
 * open (its subject was cancelled). Reads: `forSubject(subject)`, `approval(id)`,
 * `list({ pendingFor: userId, subjectType, state }, page)` ("my approvals to do").
 *
 * Reading a subject type's approvals needs its read permission (`<type>:read` unless registered
 * otherwise); an approver sees the steps it may decide without it.
 */
export class ApprovalsService {
  constructor(
    private readonly kernel: Kernel,
    private readonly registry: ApprovalRegistry = new ApprovalRegistry(),
  ) {}

  /**
   * Registers what happens, in the deciding transaction, when the approvals of a subject of `type`
   * settle (every step approved, or one rejected). A handler that throws rolls the decision back.
   * Returns a function that removes the handler.
   */
  onSettled(type: string, handler: SettledHandler, options: SubjectTypeOptions = {}): () => void {
    return this.registry.register(type, handler, options);
  }

  /**
   * Opens the approvals of a subject: its steps, the first `pending`, the others `waiting` (the type's
   * write permission, `<type>:write` by default). Refused while the subject has steps still open; a
   * subject whose earlier approvals settled or were cancelled gets a new round.
   */
  async open(
    subject: ApprovalSubject,
    steps: readonly ApprovalStepInput[],
    { actor, requesterId }: OpenApprovalsOptions,
  ): Promise<Approval[]> {
    const s = parseInput(subjectInput, subject, 'subject');
    const parsed = parseInput(approvalStepsInput, steps, 'steps');
    const type = this.registry.get(s.type);
    if (!type)
      throw ValidationError.field('subject.type', `no process registered approvals of ${s.type} subjects`);
    if (!canSomewhere(actor, type.writePermission))
      throw new ForbiddenError(type.writePermission, actor.name, 'subject');
    const subjectId = s.id.toLowerCase();
    const requester = requesterId === undefined ? (actor.userId ?? null) : requesterId;
    return this.kernel.write(actor, async (scope) => {
      const issues = await this.#checkSteps(scope, parsed);
      if (requester && !isUuid(requester)) issues.push({ path: 'requesterId', message: 'must be a uuid' });
      else if (requester && !(await findUser(scope.db, requester.toLowerCase())))
        issues.push({ path: 'requesterId', message: `no user ${requester}` });
      if (issues.length > 0) throw new ValidationError(issues);
      await store.lockSubject(scope.db, s.type, subjectId);
      const round = await store.latestRound(scope.db, s.type, subjectId);
      if (round > 0) {
        const open = (await store.approvalsOfSubject(scope.db, s.type, subjectId, round)).filter(
          (a) => a.state === 'pending' || a.state === 'waiting',
        );
        if (open.length > 0)
          throw new ConflictError(
            `${s.type} ${subjectId} has approvals still open: cancel them first`,
            'subject',
          );
      }
      await store.insertSteps(
        scope.db,
        { type: s.type, id: subjectId },
        round + 1,
        parsed.map((step, i) => ({
          id: crypto.randomUUID(),
          step: i + 1,
          name: step.name,
          approverGroupId: 'group' in step.approvers ? step.approvers.group.toLowerCase() : null,
          approverRole: 'role' in step.approvers ? step.approvers.role : null,
          approverUserId: 'user' in step.approvers ? step.approvers.user.toLowerCase() : null,
          quorum: step.quorum,
          state: i === 0 ? 'pending' : 'waiting',
        })),
        requester?.toLowerCase() ?? null,
        actorRef(actor),
        scope.now,
      );
      const approvals = await store.approvalsOfSubject(scope.db, s.type, subjectId, round + 1);
      scope.emit('approval.opened', { type: s.type, id: subjectId }, { approvals });
      scope.emit(
        'approval.requested',
        { type: 'approval', id: approvals[0]!.id },
        { approval: approvals[0]! },
      );
      return approvals;
    });
  }

  /**
   * Records a decision on a pending step by an eligible user (ForbiddenError otherwise, also for the
   * subject's requester), once per user (ConflictError on a second). `version`, when given, must be the
   * step's current one. Quorum approvals approve the step and make the next pending, or settle the
   * subject `approved`; a rejection rejects the step and settles the subject `rejected`, the steps left
   * cancelled. Settling runs the owner's `onSettled` handlers in this transaction.
   */
  async decide(approvalId: string, input: DecideInput, { actor }: WriteOptions): Promise<Approval> {
    const d = parseInput(decideInput, input);
    return this.kernel.write(actor, async (scope) => {
      const found = isUuid(approvalId)
        ? await store.findApproval(scope.db, approvalId.toLowerCase())
        : undefined;
      if (!found) throw new NotFoundError('approval', approvalId, 'id');
      await store.lockSubject(scope.db, found.subject.type, found.subject.id);
      const approval = (await store.findApproval(scope.db, found.id, true))!;
      const userId = actor.userId?.toLowerCase();
      const user = userId && isUuid(userId) ? await findUser(scope.db, userId) : undefined;
      const eligible = !!user?.active && (await store.isEligible(scope.db, approval.id, user.id, scope.now));
      if (!eligible) {
        throw new ForbiddenError(approvalPermission(approval), actor.name, 'id', {
          reason: `only ${describeApprovers(approval)} may decide step "${approval.name}"`,
        });
      }
      if (approval.requesterId && approval.requesterId === user.id)
        throw new ForbiddenError(approvalPermission(approval), actor.name, 'id', {
          reason: `a requester can never decide the approvals of their own ${approval.subject.type}`,
        });
      if (d.version !== undefined && d.version !== approval.version)
        throw ConflictError.staleVersion('approval', approval.id, d.version, approval.version);
      if (approval.state !== 'pending')
        throw new ConflictError(
          `approval step "${approval.name}" is ${approval.state}: only a pending step can be decided`,
          'id',
          approval.version,
        );
      if (approval.decisions.some((x) => x.userId === user.id))
        throw new ConflictError(
          `${user.name} has already decided step "${approval.name}"`,
          'id',
          approval.version,
        );

      const decisionId = crypto.randomUUID();
      await store.insertDecision(scope.db, {
        id: decisionId,
        approvalId: approval.id,
        userId: user.id,
        decision: d.decision,
        comment: d.comment,
        decidedBy: actorRef(actor),
        decidedAt: scope.now,
      });
      const approvals = approval.approvals + (d.decision === 'approve' ? 1 : 0);
      const settlesStep = d.decision === 'reject' || approvals >= approval.quorum;
      if (settlesStep)
        await store.setState(
          scope.db,
          [approval.id],
          d.decision === 'reject' ? 'rejected' : 'approved',
          scope.now,
        );
      else await store.touch(scope.db, approval.id, scope.now);
      const decided = (await store.findApproval(scope.db, approval.id))!;
      const decision = decided.decisions.find((x) => x.id === decisionId) as ApprovalDecision;
      const subject = { type: 'approval', id: approval.id };
      scope.emit('approval.decided', subject, { approval: decided, decision });
      if (!settlesStep) return decided;

      const round = await store.approvalsOfSubject(
        scope.db,
        approval.subject.type,
        approval.subject.id,
        approval.round,
      );
      const later = round.filter((a) => a.step > approval.step);
      let outcome: ApprovalOutcome | null = null;
      if (d.decision === 'reject') {
        scope.emit('approval.rejected', subject, { approval: decided });
        await this.#cancelSteps(scope, later);
        outcome = 'rejected';
      } else {
        scope.emit('approval.approved', subject, { approval: decided });
        const next = later[0];
        if (next) {
          await store.setState(scope.db, [next.id], 'pending', scope.now);
          const pending = (await store.findApproval(scope.db, next.id))!;
          scope.emit('approval.requested', { type: 'approval', id: next.id }, { approval: pending });
        } else outcome = 'approved';
      }
      if (outcome) await this.#settle(scope, approval, outcome);
      return (await store.findApproval(scope.db, approval.id))!;
    });
  }

  /** `decide` with `approve`. */
  approve(approvalId: string, input: Omit<DecideInput, 'decision'> = {}, options: WriteOptions) {
    return this.decide(approvalId, { ...input, decision: 'approve' }, options);
  }

  /** `decide` with `reject`. */
  reject(approvalId: string, input: Omit<DecideInput, 'decision'> = {}, options: WriteOptions) {
    return this.decide(approvalId, { ...input, decision: 'reject' }, options);
  }

  /**
   * Cancels the steps of the subject still open (pending or waiting), e.g. because the subject was
   * cancelled (the type's write permission). Their `onSettled` handlers do not run. Returns the steps
   * cancelled (none when nothing was open).
   */
  async cancel(subject: ApprovalSubject, { actor }: WriteOptions): Promise<Approval[]> {
    const s = parseInput(subjectInput, subject, 'subject');
    const permission = this.registry.get(s.type)?.writePermission ?? `${s.type}:write`;
    if (!canSomewhere(actor, permission)) throw new ForbiddenError(permission, actor.name, 'subject');
    const subjectId = s.id.toLowerCase();
    return this.kernel.write(actor, async (scope) => {
      await store.lockSubject(scope.db, s.type, subjectId);
      const open = (await store.approvalsOfSubject(scope.db, s.type, subjectId)).filter(
        (a) => a.state === 'pending' || a.state === 'waiting',
      );
      return this.#cancelSteps(scope, open);
    });
  }

  /** One step (the subject type's read permission, or being one of its approvers); null when not visible. */
  async approval(id: string, { actor }: ReadOptions = {}): Promise<Approval | null> {
    if (!isUuid(id)) return null;
    const found = await store.findApproval(this.kernel.db, id.toLowerCase());
    if (!found) return null;
    return (await this.#visible(actor, [found]))[0] ?? null;
  }

  /** The steps of a subject, every round, in round and step order (as `approval` for visibility). */
  async forSubject(subject: ApprovalSubject, { actor }: ReadOptions = {}): Promise<Approval[]> {
    const s = parseInput(subjectInput, subject, 'subject');
    return this.#visible(actor, await store.approvalsOfSubject(this.kernel.db, s.type, s.id.toLowerCase()));
  }

  /** `forSubject` for several subjects of one type in one query (a page of changes), by subject id. */
  async forSubjects(
    type: string,
    ids: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, Approval[]>> {
    const wanted = ids.filter((id) => isUuid(id)).map((id) => id.toLowerCase());
    const bySubject = new Map<string, Approval[]>(wanted.map((id) => [id, []]));
    const rows = await this.#visible(actor, await store.approvalsOfSubjects(this.kernel.db, type, wanted));
    for (const a of rows) bySubject.get(a.subject.id)?.push(a);
    return bySubject;
  }

  /**
   * A keyset page of steps, newest first. `pendingFor: userId` lists what that user may decide now
   * ("my approvals to do"): anyone may ask it for itself; for another user it needs the subject types'
   * read permission. Other lists show the subject types whose read permission the actor holds and,
   * besides, the steps it may decide.
   */
  async list(
    filter: ApprovalFilter = {},
    page: ApprovalPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Approval>> {
    const f = parseInput(approvalFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const after = afterTimeId(page.after);
    const pendingFor = f.pendingFor?.toLowerCase();
    let subjectTypes: string[] | undefined = f.subjectType ? [f.subjectType] : undefined;
    let eligibleFor: string | undefined;
    if (actor) {
      const self = !!pendingFor && pendingFor === actor.userId?.toLowerCase();
      const readable = (subjectTypes ?? this.registry.types()).filter((t) => this.#mayRead(actor, t));
      if (self) {
        // One's own to-do list: eligibility is the permission.
      } else if (pendingFor) {
        if (readable.length === 0)
          throw new ForbiddenError(
            readPermissionOf(this.registry, f.subjectType ?? 'change'),
            actor.name,
            'filter.pendingFor',
            { reason: "seeing another user's approvals to do needs the subject type's read permission" },
          );
        subjectTypes = readable;
      } else if (readable.length > 0) subjectTypes = readable;
      else if (actor.userId && isUuid(actor.userId)) eligibleFor = actor.userId.toLowerCase();
      else return { edges: [], hasNextPage: false, endCursor: null };
    }
    const rows = await store.listApprovals(this.kernel.db, {
      pendingFor,
      eligibleFor,
      subjectTypes,
      subjectId: f.subjectId?.toLowerCase(),
      state: f.state,
      now: this.kernel.clock.now(),
      after,
      limit: first + 1,
    });
    return timeIdPage(rows, first, (row) => row.createdAt);
  }

  /** Whether the user may decide the step now (eligible, not the requester, not decided yet, pending). */
  async mayDecide(approval: Approval, actor: Actor): Promise<boolean> {
    const userId = actor.userId?.toLowerCase();
    if (!userId || !isUuid(userId) || approval.state !== 'pending') return false;
    if (approval.requesterId === userId || approval.decisions.some((d) => d.userId === userId)) return false;
    return store.isEligible(this.kernel.db, approval.id, userId, this.kernel.clock.now());
  }

  // ---------------------------------------------------------------------------------------------------

  #mayRead(actor: Actor | undefined, type: string): boolean {
    return !actor || canSomewhere(actor, readPermissionOf(this.registry, type));
  }

  /** What the actor may see of these steps: all of a readable type, else those it may decide. */
  async #visible(actor: Actor | undefined, approvals: readonly Approval[]): Promise<Approval[]> {
    if (!actor) return [...approvals];
    const out: Approval[] = [];
    const userId = actor.userId?.toLowerCase();
    const now = this.kernel.clock.now();
    for (const a of approvals) {
      if (this.#mayRead(actor, a.subject.type)) out.push(a);
      else if (userId && isUuid(userId) && (await store.isEligible(this.kernel.db, a.id, userId, now)))
        out.push(a);
    }
    return out;
  }

  async #cancelSteps(scope: WriteScope, steps: readonly Approval[]): Promise<Approval[]> {
    await store.setState(
      scope.db,
      steps.map((a) => a.id),
      'cancelled',
      scope.now,
    );
    const cancelled: Approval[] = [];
    for (const a of steps) {
      const now = (await store.findApproval(scope.db, a.id))!;
      scope.emit('approval.cancelled', { type: 'approval', id: a.id }, { approval: now });
      cancelled.push(now);
    }
    return cancelled;
  }

  async #settle(scope: WriteScope, approval: Approval, outcome: ApprovalOutcome): Promise<void> {
    const { type, id } = approval.subject;
    scope.emit('approval.settled', { type, id }, { subject: { type, id }, outcome, round: approval.round });
    const approvals = await store.approvalsOfSubject(scope.db, type, id, approval.round);
    for (const handler of this.registry.get(type)?.handlers ?? [])
      await handler({ subject: { type, id }, subjectId: id, outcome, approvals }, scope);
  }

  /** Approvers exist: the group, the role, an active user; a user step has quorum 1. */
  async #checkSteps(
    scope: WriteScope,
    steps: readonly ApprovalStepInputParsed[],
  ): Promise<ValidationIssue[]> {
    const issues: ValidationIssue[] = [];
    for (const [i, step] of steps.entries()) {
      const path = `steps.${i}.approvers`;
      const a = step.approvers;
      if ('group' in a) {
        if (!(await findGroup(scope.db, a.group.toLowerCase())))
          issues.push({ path: `${path}.group`, message: `no group ${a.group}` });
      } else if ('role' in a) {
        if (!(await findRole(scope.db, a.role)))
          issues.push({ path: `${path}.role`, message: `no role ${a.role}` });
      } else {
        const user = await findUser(scope.db, a.user.toLowerCase());
        if (!user?.active) issues.push({ path: `${path}.user`, message: `no active user ${a.user}` });
        if (step.quorum > 1)
          issues.push({ path: `steps.${i}.quorum`, message: 'must be 1 when one user approves' });
      }
    }
    return issues;
  }
}

type ApprovalStepInputParsed = ReturnType<typeof approvalStepsInput.parse>[number];

/** The permission a forbidden decision is reported under: `<type>:approve` (e.g. `change:approve`). */
const approvalPermission = (a: Approval) => `${a.subject.type}:approve`;

function describeApprovers(a: Approval): string {
  if (a.approvers.groupId) return `members of group ${a.approvers.groupId}`;
  if (a.approvers.role) return `holders of role ${a.approvers.role}`;
  return `user ${a.approvers.userId}`;
}
