import { activeUserIssues, assignmentIssues } from '../access/assignment.js';
import type { ApprovalStepInput, ApprovalsSettled } from '../approvals/model.js';
import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  can,
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
import { decodeCursor, encodeCursor, pageSize } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type AcceptedConflicts,
  type AssignChangeInput,
  allowedChangeTransitions,
  assignChangeInput,
  type Blackout,
  type BlackoutFilter,
  type BlackoutInput,
  blackoutFilterInput,
  blackoutInput,
  type ChangeChangeOptions,
  type ChangeConflict,
  type ChangeFilter,
  type ChangeOrder,
  type ChangePageRequest,
  type ChangeRequest,
  type ChangeRisk,
  type ChangeState,
  type ChangeTransitionInput,
  type CreateChangeInput,
  changeFilterInput,
  changeOrderFields,
  changeTransitionInput,
  createChangeInput,
  type PolicyStep,
  type RescheduleChangeInput,
  type ResolvedChangesOptions,
  rescheduleChangeInput,
  type UpdateChangeInput,
  updateChangeInput,
} from './model.js';
import * as store from './store.js';

const NUMBER = /^CHG\d{7,}$/;

/** Risk assessed from the business services the change's CIs reach: none low, one or two medium, more high. */
export function assessRisk(serviceCount: number): ChangeRisk {
  return serviceCount === 0 ? 'low' : serviceCount <= 2 ? 'medium' : 'high';
}

/** `permission` on each of the change's CIs, or everywhere for a change on none. */
const holds = (actor: Actor, permission: string, ciIds: readonly string[]) =>
  ciIds.length === 0 ? can(actor, permission) : CiReach.of(actor, permission).hasAll(ciIds);

const mayRead = (actor: Actor | undefined, change: { ciIds: readonly string[] }) => {
  if (!actor) return true;
  try {
    return holds(actor, permissions.changeRead, change.ciIds);
  } catch {
    return false;
  }
};

/**
 * Change requests (ITIL change enablement), the part of `og.changes` beside maintenance windows: numbered
 * CHG0001001 on, typed standard / normal / emergency, risk given or assessed by impact analysis, planned
 * windows checked for conflicts with other changes and blackouts, authorised through `og.approvals` by a
 * policy per type, and holding a maintenance window while scheduled.
 */
export class ChangeRequests {
  constructor(
    private readonly kernel: Kernel,
    private readonly options: ResolvedChangesOptions,
  ) {}

  async create(input: CreateChangeInput, { actor }: WriteOptions): Promise<ChangeRequest> {
    const c = parseInput(createChangeInput, input);
    const ciIds = [...new Set(c.ciIds.map((id) => id.toLowerCase()))];
    this.#assertOnCis(actor, permissions.changeWrite, ciIds, 'ciIds');
    const requestedById =
      c.requestedById?.toLowerCase() ?? (actor.userId ? actor.userId.toLowerCase() : null);
    return this.kernel.write(actor, async (scope) => {
      const issues = [
        ...(await this.#checkPeople(scope, {
          groupId: c.assignmentGroupId,
          assigneeId: c.assigneeId,
          requestedById: c.requestedById ? requestedById : null,
        })),
        ...(await this.#checkCis(scope, ciIds, c.ciIds)),
      ];
      if (issues.length > 0) throw new ValidationError(issues);
      const serviceIds = await this.#servicesOf(scope, ciIds);
      const change = await store.insertChange(scope.db, {
        id: crypto.randomUUID(),
        type: c.type,
        title: c.title,
        description: c.description,
        justification: c.justification,
        risk: c.risk ?? assessRisk(serviceIds.length),
        riskGiven: !!c.risk,
        serviceIds,
        ciIds,
        plannedStart: c.plannedStart ?? null,
        plannedEnd: c.plannedEnd ?? null,
        assignmentGroupId: c.assignmentGroupId?.toLowerCase() ?? null,
        assigneeId: c.assigneeId?.toLowerCase() ?? null,
        requestedById,
        openedBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('change.created', { type: 'change', id: change.id }, { change });
      return change;
    });
  }

  /** Descriptive fields, type, risk and CIs, while the change is `new` or in `assess` (change:write). */
  async update(id: string, patch: UpdateChangeInput, options: ChangeChangeOptions): Promise<ChangeRequest> {
    const p = parseInput(updateChangeInput, patch, 'patch');
    return this.#write(id, options, async (scope, change) => {
      if (change.state !== 'new' && change.state !== 'assess')
        throw new ConflictError(
          `change ${change.number} is ${change.state}: send it back to assess to change it`,
          'id',
          change.version,
        );
      const set: Record<string, unknown> = {};
      for (const key of ['type', 'title', 'description', 'justification'] as const)
        if (p[key] !== undefined && p[key] !== change[key]) set[key] = p[key];
      if (set.type) set.approval = set.type === 'standard' ? 'not_required' : 'not_requested';
      let ciIds = change.ciIds;
      if (p.ciIds) {
        ciIds = [...new Set(p.ciIds.map((x) => x.toLowerCase()))].sort();
        this.#assertOnCis(scope.actor, permissions.changeWrite, ciIds, 'patch.ciIds');
        const issues = await this.#checkCis(scope, ciIds, p.ciIds, 'patch.ciIds');
        if (issues.length > 0) throw new ValidationError(issues);
      }
      const cisChanged = ciIds.join() !== [...change.ciIds].sort().join();
      const serviceIds = cisChanged ? await this.#servicesOf(scope, ciIds) : change.serviceIds;
      if (cisChanged) set.serviceIds = JSON.stringify(serviceIds);
      if (p.risk !== undefined) {
        set.riskGiven = p.risk !== null;
        set.risk = p.risk ?? assessRisk(serviceIds.length);
      } else if (cisChanged && !change.riskGiven) set.risk = assessRisk(serviceIds.length);
      if (set.risk === change.risk) delete set.risk;
      if (set.riskGiven === change.riskGiven) delete set.riskGiven;
      const fields = [...Object.keys(set).filter((k) => k !== 'approval'), ...(cisChanged ? ['ciIds'] : [])];
      if (fields.length === 0) return change;
      if (cisChanged) await store.setChangeCis(scope.db, change.id, ciIds);
      const updated = await store.updateChange(scope.db, change.id, set, scope.now);
      scope.emit('change.updated', { type: 'change', id: change.id }, { change: updated, fields });
      return updated;
    });
  }

  /** Assigns to a group and optionally one of its members (change:write); null group unassigns. */
  async assign(id: string, input: AssignChangeInput, options: ChangeChangeOptions): Promise<ChangeRequest> {
    const a = parseInput(assignChangeInput, input);
    if (!a.assignmentGroupId && a.assigneeId)
      throw ValidationError.field('assignmentGroupId', 'an assignee needs an assignment group it belongs to');
    return this.#write(id, options, async (scope, change) => {
      if (['closed', 'cancelled', 'rejected'].includes(change.state))
        throw new ConflictError(`change ${change.number} is ${change.state}`, 'id', change.version);
      const issues = await this.#checkPeople(scope, {
        groupId: a.assignmentGroupId,
        assigneeId: a.assigneeId,
      });
      if (issues.length > 0) throw new ValidationError(issues);
      const updated = await store.updateChange(
        scope.db,
        change.id,
        {
          assignmentGroupId: a.assignmentGroupId?.toLowerCase() ?? null,
          assigneeId: a.assigneeId?.toLowerCase() ?? null,
        },
        scope.now,
      );
      scope.emit('change.assigned', { type: 'change', id: change.id }, { change: updated });
      return updated;
    });
  }

  /**
   * Sets the planned window (change:write): freely while `new` or in `assess`; in `authorize` or
   * `scheduled` the new window is checked for conflicts as scheduling is, and a scheduled change's
   * maintenance window moves with it.
   */
  async reschedule(
    id: string,
    input: RescheduleChangeInput,
    options: ChangeChangeOptions,
  ): Promise<ChangeRequest> {
    const r = parseInput(rescheduleChangeInput, input);
    return this.#write(id, options, async (scope, change) => {
      if (!['new', 'assess', 'authorize', 'scheduled'].includes(change.state))
        throw new ConflictError(
          `change ${change.number} is ${change.state}: its planned window can no longer move`,
          'id',
          change.version,
        );
      const moved = { ...change, plannedStart: r.plannedStart, plannedEnd: r.plannedEnd };
      const set: Record<string, unknown> = { plannedStart: r.plannedStart, plannedEnd: r.plannedEnd };
      if (change.state === 'authorize' || change.state === 'scheduled') {
        const accepted = await this.#checkConflicts(scope, moved, r.acceptConflicts);
        set.acceptedConflicts = accepted ? JSON.stringify(accepted) : null;
      }
      if (change.state === 'scheduled') {
        await this.#cancelWindow(scope, change);
        set.maintenanceWindowId = (await this.#openWindow(scope, moved)).id;
      }
      const updated = await store.updateChange(scope.db, change.id, set, scope.now);
      scope.emit('change.rescheduled', { type: 'change', id: change.id }, { change: updated });
      return updated;
    });
  }

  /**
   * Moves the change through its state machine (change:write); a move it does not allow is a
   * TransitionError naming the allowed ones, and nothing changes. Leaving `new` needs CIs and a planned
   * window; `authorize` (normal and emergency changes) needs an assignment group, checks conflicts and
   * opens the approvals of the type's policy; `scheduled` (a standard change from `assess`, or an
   * approved one by hand) checks conflicts and opens its maintenance window; `review` needs an
   * `outcome`; cancelling and sending back (to `new` or `assess`) need a `reason`.
   */
  async transition(
    id: string,
    input: ChangeTransitionInput,
    options: ChangeChangeOptions,
  ): Promise<ChangeRequest> {
    const t = parseInput(changeTransitionInput, input);
    return this.#write(id, options, async (scope, change) => {
      const from = change.state;
      const allowed = allowedChangeTransitions(change.type, from);
      if (!allowed.includes(t.to)) {
        const why =
          from === 'assess' && t.to === 'authorize'
            ? `change ${change.number} is a standard change: it is pre-approved and goes from assess to scheduled`
            : from === 'assess' && t.to === 'scheduled'
              ? `change ${change.number} is a ${change.type} change: it must be authorised first (assess -> authorize)`
              : undefined;
        throw new TransitionError('change', change.number, from, t.to, allowed, why);
      }
      const sendBack = (from === 'assess' && t.to === 'new') || (from !== 'new' && t.to === 'assess');
      const issues: ValidationIssue[] = [];
      const refuse = (field: keyof typeof t, only: string) => {
        if (t[field] !== undefined) issues.push({ path: field, message: `only applies ${only}` });
      };
      if (t.to === 'review') {
        if (!t.outcome) issues.push({ path: 'outcome', message: 'is required to review a change' });
      } else {
        refuse('outcome', 'when moving to review');
        refuse('reviewNotes', 'when moving to review');
      }
      if (t.to !== 'closed') refuse('closeNotes', 'when closing');
      if (t.to === 'cancelled' || sendBack) {
        if (!t.reason)
          issues.push({
            path: 'reason',
            message: `is required to ${sendBack ? 'send a change back' : 'cancel'}`,
          });
      } else refuse('reason', 'when cancelling or sending back');
      if (t.to !== 'authorize' && t.to !== 'scheduled')
        refuse('acceptConflicts', 'when authorising or scheduling');
      if (from === 'new' && t.to === 'assess') {
        if (change.ciIds.length === 0)
          issues.push({ path: 'ciIds', message: 'the change needs at least one affected CI to be assessed' });
        if (!change.plannedStart || !change.plannedEnd)
          issues.push({ path: 'plannedStart', message: 'the change needs a planned window to be assessed' });
      }
      if (t.to === 'authorize' && !change.assignmentGroupId)
        issues.push({
          path: 'assignmentGroupId',
          message: 'the change needs an assignment group to be authorised',
        });
      if (from === 'authorize' && t.to === 'scheduled' && change.approval !== 'approved')
        throw new TransitionError(
          'change',
          change.number,
          from,
          t.to,
          allowed.filter((s) => s !== 'scheduled'),
          `change ${change.number} awaits its approvals (${change.approval}): it is scheduled once they are all approved`,
        );
      if (issues.length > 0) throw new ValidationError(issues);

      const set: Record<string, unknown> = { state: t.to };
      let accepted: AcceptedConflicts | null = change.acceptedConflicts;
      if (t.to === 'authorize' || t.to === 'scheduled') {
        accepted = await this.#checkConflicts(scope, change, t.acceptConflicts ?? false);
        set.acceptedConflicts = accepted ? JSON.stringify(accepted) : null;
      }
      if (t.to === 'authorize') set.approval = 'requested';
      if (t.to === 'scheduled') set.maintenanceWindowId = (await this.#openWindow(scope, change)).id;
      if (sendBack || t.to === 'cancelled') {
        await scope.kernel.services.approvals.cancel(
          { type: 'change', id: change.id },
          { actor: scope.actor },
        );
        if (change.approval !== 'not_required') set.approval = 'not_requested';
        if (change.maintenanceWindowId) {
          await this.#cancelWindow(scope, change);
          set.maintenanceWindowId = null;
        }
        set.acceptedConflicts = null;
      }
      if (t.to === 'implement') set.implementedAt = scope.now;
      if (t.to === 'review')
        Object.assign(set, { outcome: t.outcome, reviewNotes: t.reviewNotes ?? null, reviewedAt: scope.now });
      if (t.to === 'closed') Object.assign(set, { closeNotes: t.closeNotes ?? null, closedAt: scope.now });
      if (t.to === 'cancelled') Object.assign(set, { cancelReason: t.reason, cancelledAt: scope.now });
      let updated = await store.updateChange(scope.db, change.id, set, scope.now);
      scope.emit(
        'change.state_changed',
        { type: 'change', id: change.id },
        { change: updated, from, ...(t.reason ? { reason: t.reason } : {}) },
      );
      if (t.to === 'authorize') {
        await scope.kernel.services.approvals.open({ type: 'change', id: change.id }, this.#policy(updated), {
          actor: scope.actor,
          requesterId: updated.requestedById,
        });
        // Re-read: an approval settled at once cannot happen (nobody decided yet), but keep it exact.
        updated = (await store.findChange(scope.db, change.id))!;
      }
      return updated;
    });
  }

  /**
   * What the change's planned window clashes with now: other live changes and blackouts on its CIs,
   * on CIs containing them or contained by them (change:read). Empty without a planned window.
   */
  async conflicts(id: string, { actor }: ReadOptions = {}): Promise<ChangeConflict[]> {
    const change = await this.change(id, { actor });
    if (!change) throw new NotFoundError('change', id, 'id');
    return this.#conflictsOf(this.kernel.db, change);
  }

  async change(idOrNumber: string, { actor }: ReadOptions = {}): Promise<ChangeRequest | null> {
    CiReach.of(actor, permissions.changeRead);
    const id = isUuid(idOrNumber)
      ? idOrNumber.toLowerCase()
      : NUMBER.test(idOrNumber)
        ? await store.findChangeIdByNumber(this.kernel.db, idOrNumber)
        : undefined;
    const found = id ? await store.findChange(this.kernel.db, id) : undefined;
    return found && mayRead(actor, found) ? found : null;
  }

  /** Several changes by id (for loaders), those visible. */
  async changesByIds(ids: readonly string[], { actor }: ReadOptions = {}): Promise<ChangeRequest[]> {
    CiReach.of(actor, permissions.changeRead);
    const found = await store.findChanges(
      this.kernel.db,
      ids.filter((x) => isUuid(x)).map((x) => x.toLowerCase()),
    );
    return found.filter((c) => mayRead(actor, c));
  }

  /** A keyset page of changes (change:read on each of their CIs), newest first unless `orderBy` says. */
  async changes(
    filter: ChangeFilter = {},
    page: ChangePageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<ChangeRequest>> {
    const reach = CiReach.of(actor, permissions.changeRead);
    const f = parseInput(changeFilterInput, filter, 'filter');
    const order: ChangeOrder = page.orderBy ?? { field: 'createdAt', direction: 'desc' };
    if (!changeOrderFields.includes(order.field) || !['asc', 'desc'].includes(order.direction))
      throw ValidationError.field('orderBy', `must order by ${changeOrderFields.join(', ')}, asc or desc`);
    const first = pageSize(page.first);
    let after: [string, string] | undefined;
    if (page.after) {
      const values = decodeCursor(page.after);
      if (
        values.length !== 4 ||
        values[0] !== order.field ||
        values[1] !== order.direction ||
        !isUuid(values[3])
      )
        throw ValidationError.field('after', 'is not a cursor this list returned under this order');
      after = [String(values[2]), String(values[3])];
    }
    const lower = (v: string | undefined) => v?.toLowerCase();
    const rows = await store.listChanges(this.kernel.db, {
      ...f,
      ciId: lower(f.ciId),
      assignmentGroupId: lower(f.assignmentGroupId),
      assigneeId: lower(f.assigneeId),
      requestedById: lower(f.requestedById),
      reach: reach.where('x.ci_id'),
      everywhere: reach.all,
      order,
      after,
      limit: first + 1,
    });
    const edges = rows.slice(0, first).map((node) => ({
      cursor: encodeCursor([order.field, order.direction, store.orderValue(node, order.field), node.id]),
      node,
    }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  // Blackouts ---------------------------------------------------------------------------------------

  /** Defines a blackout: no normal or standard change may be scheduled in it (change:write on its CI, or everywhere). */
  async defineBlackout(input: BlackoutInput, { actor }: WriteOptions): Promise<Blackout> {
    const b = parseInput(blackoutInput, input);
    const ciId = b.ciId?.toLowerCase() ?? null;
    this.#assertOnCis(actor, permissions.changeWrite, ciId ? [ciId] : [], 'ciId');
    return this.kernel.write(actor, async (scope) => {
      if (ciId) {
        const issues = await this.#checkCis(scope, [ciId], [b.ciId!], 'ciId');
        if (issues.length > 0) throw ValidationError.field('ciId', issues[0]!.message);
      }
      const blackout = await store.insertBlackout(scope.db, {
        id: crypto.randomUUID(),
        name: b.name,
        reason: b.reason,
        startsAt: b.startsAt,
        endsAt: b.endsAt,
        ciId,
        createdBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('change.blackout_defined', { type: 'change_blackout', id: blackout.id }, { blackout });
      return blackout;
    });
  }

  async cancelBlackout(id: string, { actor, version }: ChangeChangeOptions): Promise<Blackout> {
    return this.kernel.write(actor, async (scope) => {
      const found = isUuid(id) ? await store.findBlackout(scope.db, id.toLowerCase(), true) : undefined;
      if (!found) throw new NotFoundError('blackout', id, 'id');
      this.#assertOnCis(actor, permissions.changeWrite, found.ciId ? [found.ciId] : [], 'id');
      if (version !== undefined && version !== found.version)
        throw ConflictError.staleVersion('blackout', found.name, version, found.version);
      if (found.cancelledAt)
        throw new ConflictError(`blackout ${found.name} is cancelled already`, 'id', found.version);
      const blackout = await store.cancelBlackout(scope.db, found.id, scope.now);
      scope.emit('change.blackout_cancelled', { type: 'change_blackout', id: blackout.id }, { blackout });
      return blackout;
    });
  }

  /** Blackouts, latest start first (change:read; a scoped reader sees global ones and those on its CIs). */
  async blackouts(filter: BlackoutFilter = {}, { actor }: ReadOptions = {}): Promise<Blackout[]> {
    const reach = CiReach.of(actor, permissions.changeRead);
    const f = parseInput(blackoutFilterInput, filter, 'filter');
    return store.listBlackouts(this.kernel.db, {
      activeAt: f.activeAt,
      ciId: f.ciId?.toLowerCase(),
      includeCancelled: f.includeCancelled ?? false,
      reach: reach.ids(),
    });
  }

  // Approvals ---------------------------------------------------------------------------------------

  /**
   * What the approvals' outcome does, in the deciding transaction: a rejection ends the change
   * `rejected`; approval moves it to `scheduled` (opening its maintenance window) unless its window now
   * clashes with something not accepted when it was submitted, in which case it stays in `authorize`,
   * approved, for someone to reschedule or schedule it accepting the conflicts.
   */
  async approvalsSettled({ subjectId, outcome }: ApprovalsSettled, scope: WriteScope): Promise<void> {
    const change = await store.findChange(scope.db, subjectId, true);
    if (change?.state !== 'authorize') return;
    if (outcome === 'rejected') {
      const updated = await store.updateChange(
        scope.db,
        change.id,
        { state: 'rejected', approval: 'rejected' },
        scope.now,
      );
      scope.emit(
        'change.state_changed',
        { type: 'change', id: change.id },
        { change: updated, from: change.state },
      );
      return;
    }
    const approved = { ...change, approval: 'approved' as const };
    const conflicts = await this.#conflictsOf(scope.db, change);
    const acceptedKeys = new Set((change.acceptedConflicts?.conflicts ?? []).map(conflictKey));
    const open = conflicts.filter(
      (c) =>
        c.severity === 'blocking' || (c.severity === 'needs_acceptance' && !acceptedKeys.has(conflictKey(c))),
    );
    if (open.length > 0) {
      const updated = await store.updateChange(scope.db, change.id, { approval: 'approved' }, scope.now);
      scope.emit(
        'change.updated',
        { type: 'change', id: change.id },
        { change: updated, fields: ['approval'] },
      );
      return;
    }
    const window = await this.#openWindow(scope, approved);
    const updated = await store.updateChange(
      scope.db,
      change.id,
      { approval: 'approved', state: 'scheduled', maintenanceWindowId: window.id },
      scope.now,
    );
    scope.emit(
      'change.state_changed',
      { type: 'change', id: change.id },
      { change: updated, from: change.state },
    );
  }

  // ---------------------------------------------------------------------------------------------------

  /** The approval steps of the change's type, the assignment group standing in where the policy names it. */
  #policy(change: ChangeRequest): ApprovalStepInput[] {
    const steps: readonly PolicyStep[] =
      change.type === 'emergency' ? this.options.approvals.emergency : this.options.approvals.normal;
    return steps.map((s) => ({
      name: s.name,
      quorum: s.quorum,
      approvers: 'assignmentGroup' in s.approvers ? { group: change.assignmentGroupId! } : s.approvers,
    }));
  }

  async #conflictsOf(db: Kernel['db'], change: ChangeRequest): Promise<ChangeConflict[]> {
    if (!change.plannedStart || !change.plannedEnd || change.ciIds.length === 0) return [];
    const rows = await store.conflictsOf(db, change.id, change.ciIds, change.plannedStart, change.plannedEnd);
    return rows.map((r) => {
      const severity: ChangeConflict['severity'] =
        r.kind === 'change' ? 'needs_acceptance' : change.type === 'emergency' ? 'flag' : 'blocking';
      const where =
        r.relation === 'same'
          ? `CI ${r.ciId}`
          : r.relation === 'everything'
            ? 'every CI'
            : r.relation === 'contains'
              ? `CI ${r.otherCiId}, which CI ${r.ciId} contains`
              : `CI ${r.otherCiId}, which contains CI ${r.ciId}`;
      const span = `${r.startsAt.toISOString()} – ${r.endsAt.toISOString()}`;
      return {
        kind: r.kind,
        severity,
        ciId: r.ciId,
        otherCiId: r.otherCiId,
        relation: r.relation,
        changeId: r.kind === 'change' ? r.otherId : null,
        changeNumber: r.kind === 'change' ? r.otherName : null,
        blackoutId: r.kind === 'blackout' ? r.otherId : null,
        blackoutName: r.kind === 'blackout' ? r.otherName : null,
        startsAt: r.startsAt,
        endsAt: r.endsAt,
        message:
          r.kind === 'change'
            ? `change ${r.otherName} is planned on ${where} (${span})`
            : `blackout "${r.otherName}" covers ${where} (${span})`,
      };
    });
  }

  /**
   * Refuses a schedule that clashes: blackouts for standard and normal changes always; overlapping
   * changes unless `accept`. What was accepted or flagged is returned, to be recorded.
   */
  async #checkConflicts(
    scope: WriteScope,
    change: ChangeRequest,
    accept: boolean,
  ): Promise<AcceptedConflicts | null> {
    const conflicts = await this.#conflictsOf(scope.db, change);
    const blocking = conflicts.filter((c) => c.severity === 'blocking');
    if (blocking.length > 0)
      throw new ConflictError(
        `change ${change.number} may not be scheduled in a blackout: ${blocking.map((c) => c.message).join('; ')}. Move its planned window (only emergency changes may run in a blackout)`,
        'plannedStart',
        change.version,
      );
    const needing = conflicts.filter((c) => c.severity === 'needs_acceptance');
    if (needing.length > 0 && !accept)
      throw new ConflictError(
        `change ${change.number} conflicts with: ${needing.map((c) => c.message).join('; ')}. Move its planned window, or schedule it accepting the conflicts (acceptConflicts)`,
        'acceptConflicts',
        change.version,
      );
    if (conflicts.length === 0) return null;
    return {
      by: actorRef(scope.actor),
      at: scope.now.toISOString(),
      conflicts: conflicts.map((c) => ({
        kind: c.kind,
        severity: c.severity,
        ciId: c.ciId,
        changeId: c.changeId,
        blackoutId: c.blackoutId,
        message: c.message,
      })),
    };
  }

  async #openWindow(scope: WriteScope, change: ChangeRequest) {
    const window = await store.insertWindow(scope.db, {
      id: crypto.randomUUID(),
      name: `${change.number} ${change.title}`.slice(0, 200),
      reason: change.justification || change.description,
      ciIds: change.ciIds,
      startsAt: change.plannedStart!,
      endsAt: change.plannedEnd!,
      changeId: change.id,
      createdBy: actorRef(scope.actor),
      createdAt: scope.now,
    });
    scope.emit('maintenance.scheduled', { type: 'maintenance_window', id: window.id }, { window });
    return window;
  }

  /** Cancels the change's maintenance window unless it has ended (then it is history). */
  async #cancelWindow(scope: WriteScope, change: ChangeRequest): Promise<void> {
    if (!change.maintenanceWindowId) return;
    const window = await store.findWindow(scope.db, change.maintenanceWindowId, true);
    if (!window || window.cancelledAt || window.endsAt <= scope.now) return;
    const cancelled = await store.cancelWindow(scope.db, window.id, scope.now, actorRef(scope.actor));
    scope.emit('maintenance.cancelled', { type: 'maintenance_window', id: window.id }, { window: cancelled });
  }

  #assertOnCis(actor: Actor, permission: string, ciIds: readonly string[], field: string): void {
    if (ciIds.length === 0) {
      if (!can(actor, permission)) throw new ForbiddenError(permission, actor.name, field);
      return;
    }
    CiReach.of(actor, permission).assertEach(ciIds, field);
  }

  /** Loads the change for update, checks visibility, change:write and version, then runs `fn`. */
  #write(
    id: string,
    { actor, version }: ChangeChangeOptions,
    fn: (scope: WriteScope, change: ChangeRequest) => Promise<ChangeRequest>,
  ): Promise<ChangeRequest> {
    return this.kernel.write(actor, async (scope) => {
      const changeId = isUuid(id)
        ? id.toLowerCase()
        : NUMBER.test(id)
          ? await store.findChangeIdByNumber(scope.db, id)
          : undefined;
      const change = changeId ? await store.findChange(scope.db, changeId, true) : undefined;
      if (!change || !mayRead(actor, change)) throw new NotFoundError('change', id, 'id');
      this.#assertOnCis(actor, permissions.changeWrite, change.ciIds, 'id');
      if (version !== undefined && version !== change.version)
        throw ConflictError.staleVersion('change', change.number, version, change.version);
      return fn(scope, change);
    });
  }

  async #checkCis(
    scope: WriteScope,
    ciIds: readonly string[],
    given: readonly string[],
    field = 'ciIds',
  ): Promise<ValidationIssue[]> {
    if (ciIds.length === 0) return [];
    const live = await store.liveCis(scope.db, ciIds);
    return ciIds.flatMap((id) =>
      live.has(id)
        ? []
        : [
            {
              path:
                given.length === 1 && field === 'ciId'
                  ? field
                  : `${field}.${given.findIndex((x) => x.toLowerCase() === id)}`,
              message: `no live CI ${id}`,
            },
          ],
    );
  }

  async #servicesOf(scope: WriteScope, ciIds: readonly string[]): Promise<string[]> {
    if (ciIds.length === 0) return [];
    const { services } = await scope.kernel.services.topology.impactOf(ciIds);
    return services.map((s) => s.id).sort();
  }

  /** The group must exist; the assignee must be an active member of it; the requester an active user. */
  async #checkPeople(
    scope: WriteScope,
    p: {
      groupId?: string | null | undefined;
      assigneeId?: string | null | undefined;
      requestedById?: string | null;
    },
  ): Promise<ValidationIssue[]> {
    return [
      ...(await activeUserIssues(scope.db, p.requestedById, 'requestedById')),
      ...(await assignmentIssues(scope.db, p)),
    ];
  }
}

const conflictKey = (c: { kind: string; ciId: string; changeId: string | null; blackoutId: string | null }) =>
  `${c.kind}:${c.ciId}:${c.changeId ?? c.blackoutId}`;

export type { ChangeState };
