import { activeUserIssues, assignmentIssues } from '../access/assignment.js';
import type { Page } from '../cmdb/model.js';
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
import { afterTimeId, pageSize, timeIdPage } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type MajorInput,
  type MajorUpdateInput,
  majorInput,
  majorUpdateInput,
} from '../notifications/model.js';
import { servicesOfLiveCi } from '../topology/services-of.js';
import { type FollowIncidentsOptions, followIncidents, type IncidentChange } from './changes.js';
import {
  type AssignIncidentInput,
  assignIncidentInput,
  type CreateIncidentInput,
  createIncidentInput,
  type Incident,
  type IncidentChangeOptions,
  type IncidentFilter,
  type IncidentNote,
  type IncidentPageRequest,
  incidentFilterInput,
  incidentTransitions,
  type Level,
  type NoteInput,
  noteInput,
  type Priority,
  type ResolvedIncidentsOptions,
  resolveIncidentsOptions,
  type TransitionInput,
  transitionInput,
  type UpdateIncidentInput,
  updateIncidentInput,
} from './model.js';
import * as store from './store.js';

const NUMBER = /^INC\d{7,}$/;

/** `permission` on the incident's CI, or everywhere for an incident on no CI. */
const holds = (actor: Actor, permission: string, incident: { ciId: string | null }) =>
  incident.ciId ? canOn(actor, permission, incident.ciId) : can(actor, permission);

const mayRead = (actor: Actor | undefined, incident: Incident) =>
  !actor || holds(actor, permissions.incidentRead, incident);

/**
 * Incident management (ITIL): human-numbered incidents on CIs, prioritised by impact × urgency, assigned
 * to a group and one of its members, worked through an enforced state machine, with notes and the
 * alerts they are about; `og.incidents`.
 */
export class IncidentsService {
  constructor(
    private readonly kernel: Kernel,
    private readonly options: ResolvedIncidentsOptions = resolveIncidentsOptions(),
  ) {}

  /** The priority the configured matrix gives to an impact and an urgency (each 1 high … 3 low). */
  priorityOf(impact: Level, urgency: Level): Priority {
    return this.options.priorityMatrix[impact - 1]![urgency - 1]!;
  }

  /**
   * Opens an incident (incident:write on its CI, or everywhere without one; naming an assignee needs
   * incident:assign too). Its business services come from impact analysis of the CI; alerts named are
   * linked (each may belong to one incident only).
   */
  async create(input: CreateIncidentInput, { actor }: WriteOptions): Promise<Incident> {
    const i = parseInput(createIncidentInput, input);
    const ciId = i.ciId?.toLowerCase() ?? null;
    this.#assertHolds(actor, permissions.incidentWrite, { ciId }, 'ciId');
    if (i.assignmentGroupId || i.assigneeId)
      this.#assertHolds(actor, permissions.incidentAssign, { ciId }, 'assignmentGroupId');
    return this.kernel.write(actor, async (scope) => {
      const issues = [
        ...(await this.#checkPeople(scope, {
          callerId: i.callerId,
          groupId: i.assignmentGroupId,
          assigneeId: i.assigneeId,
        })),
        ...(await this.#checkAlerts(scope, i.alertIds)),
      ];
      const serviceIds = await servicesOfLiveCi(scope, ciId, issues);
      if (issues.length > 0) throw new ValidationError(issues);
      const incident = await store.insertIncident(scope.db, {
        id: crypto.randomUUID(),
        shortDescription: i.shortDescription,
        description: i.description,
        callerId: i.callerId?.toLowerCase() ?? null,
        ciId,
        serviceIds,
        impact: i.impact,
        urgency: i.urgency,
        priority: this.priorityOf(i.impact, i.urgency),
        category: i.category,
        assignmentGroupId: i.assignmentGroupId?.toLowerCase() ?? null,
        assigneeId: i.assigneeId?.toLowerCase() ?? null,
        openedBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('incident.created', { type: 'incident', id: incident.id }, { incident });
      await scope.kernel.services.slas.track(scope, incident);
      const alertIds = i.alertIds.map((id) => id.toLowerCase());
      if (alertIds.length > 0) {
        await store.linkAlerts(scope.db, incident.id, alertIds, scope.now, actorRef(actor));
        scope.emit('incident.alerts_linked', { type: 'incident', id: incident.id }, { incident, alertIds });
      }
      return incident;
    });
  }

  /** Changes descriptive fields (incident:write); a new CI re-derives the business services and priority follows impact × urgency. */
  async update(id: string, patch: UpdateIncidentInput, options: IncidentChangeOptions): Promise<Incident> {
    const p = parseInput(updateIncidentInput, patch, 'patch');
    return this.#write(id, options, permissions.incidentWrite, async (scope, incident) => {
      if (incident.state === 'closed' || incident.state === 'cancelled')
        throw new ConflictError(
          `incident ${incident.number} is ${incident.state}: it cannot change`,
          'id',
          incident.version,
        );
      const change: Record<string, unknown> = {};
      const issues: ValidationIssue[] = [];
      if (p.shortDescription !== undefined) change.shortDescription = p.shortDescription;
      if (p.description !== undefined) change.description = p.description;
      if (p.category !== undefined) change.category = p.category;
      if (p.callerId !== undefined) {
        issues.push(...(await this.#checkPeople(scope, { callerId: p.callerId }, 'patch.')));
        change.callerId = p.callerId?.toLowerCase() ?? null;
      }
      if (p.ciId !== undefined) {
        const ciId = p.ciId?.toLowerCase() ?? null;
        // Moving an incident onto a CI needs the permission there as well.
        this.#assertHolds(scope.actor, permissions.incidentWrite, { ciId }, 'patch.ciId');
        change.ciId = ciId;
        change.serviceIds = JSON.stringify(await servicesOfLiveCi(scope, ciId, issues, 'patch.ciId'));
      }
      if (issues.length > 0) throw new ValidationError(issues);
      const impact = p.impact ?? incident.impact;
      const urgency = p.urgency ?? incident.urgency;
      if (p.impact !== undefined || p.urgency !== undefined)
        Object.assign(change, { impact, urgency, priority: this.priorityOf(impact, urgency) });
      const fields = Object.keys(change);
      if (fields.length === 0) return incident;
      const updated = await store.updateIncident(scope.db, incident.id, change, scope.now);
      scope.emit('incident.updated', { type: 'incident', id: incident.id }, { incident: updated, fields });
      // A new priority re-targets the SLA timers.
      if (updated.priority !== incident.priority) await scope.kernel.services.slas.track(scope, updated);
      return updated;
    });
  }

  /** Assigns to a group and, optionally, one of its members (incident:assign); null group unassigns. */
  async assign(id: string, input: AssignIncidentInput, options: IncidentChangeOptions): Promise<Incident> {
    const a = parseInput(assignIncidentInput, input);
    if (!a.assignmentGroupId && a.assigneeId)
      throw ValidationError.field('assignmentGroupId', 'an assignee needs an assignment group it belongs to');
    return this.#write(id, options, permissions.incidentAssign, async (scope, incident) => {
      if (!['new', 'in_progress', 'on_hold'].includes(incident.state))
        throw new ConflictError(
          `incident ${incident.number} is ${incident.state}: reopen it to reassign`,
          'id',
          incident.version,
        );
      const issues = await this.#checkPeople(scope, {
        groupId: a.assignmentGroupId,
        assigneeId: a.assigneeId,
      });
      if (issues.length > 0) throw new ValidationError(issues);
      const updated = await store.updateIncident(
        scope.db,
        incident.id,
        {
          assignmentGroupId: a.assignmentGroupId?.toLowerCase() ?? null,
          assigneeId: a.assigneeId?.toLowerCase() ?? null,
        },
        scope.now,
      );
      scope.emit('incident.assigned', { type: 'incident', id: incident.id }, { incident: updated });
      return updated;
    });
  }

  /**
   * Moves the incident through its state machine (incident:write). A move the machine does not allow is
   * a TransitionError naming the allowed ones. Putting on hold needs `holdReason`; resolving needs
   * `resolutionCode` and `resolutionNotes`; cancelling and reopening (resolved -> in_progress, within
   * the reopen window) need a `reason`, kept as a work note.
   */
  async transition(id: string, input: TransitionInput, options: IncidentChangeOptions): Promise<Incident> {
    const t = parseInput(transitionInput, input);
    return this.#write(id, options, permissions.incidentWrite, async (scope, incident) => {
      const from = incident.state;
      const allowed = incidentTransitions[from];
      if (!allowed.includes(t.to))
        throw new TransitionError('incident', incident.number, from, t.to, allowed);
      const reopening = from === 'resolved' && t.to === 'in_progress';
      const issues: ValidationIssue[] = [];
      const need = (field: keyof typeof t, when: string) => {
        if (!t[field]) issues.push({ path: field, message: `is required to ${when}` });
      };
      const refuse = (field: keyof typeof t, only: string) => {
        if (t[field] !== undefined) issues.push({ path: field, message: `only applies ${only}` });
      };
      if (t.to === 'on_hold') need('holdReason', 'put an incident on hold');
      else refuse('holdReason', 'when putting on hold');
      if (t.to === 'resolved') {
        need('resolutionCode', 'resolve');
        need('resolutionNotes', 'resolve');
      } else {
        refuse('resolutionCode', 'when resolving');
        refuse('resolutionNotes', 'when resolving');
      }
      if (t.to === 'cancelled') need('reason', 'cancel');
      else if (reopening) need('reason', 'reopen');
      else refuse('reason', 'when cancelling or reopening');
      if (issues.length > 0) throw new ValidationError(issues);
      if (
        reopening &&
        incident.resolvedAt &&
        scope.now.getTime() - incident.resolvedAt.getTime() > this.options.reopenWindowMs
      )
        throw new TransitionError(
          'incident',
          incident.number,
          from,
          t.to,
          ['closed'],
          `incident ${incident.number} was resolved too long ago to reopen (the window is ${Math.round(this.options.reopenWindowMs / 3_600_000)} h): open a new incident and mention it`,
        );

      const by = actorRef(scope.actor);
      const change: Record<string, unknown> = {
        state: t.to,
        holdReason: t.to === 'on_hold' ? t.holdReason : null,
      };
      if (t.to === 'resolved')
        Object.assign(change, {
          resolutionCode: t.resolutionCode,
          resolutionNotes: t.resolutionNotes,
          resolvedAt: scope.now,
          resolvedBy: JSON.stringify(by),
        });
      if (reopening)
        Object.assign(change, {
          resolutionCode: null,
          resolutionNotes: null,
          resolvedAt: null,
          resolvedBy: null,
          reopenCount: incident.reopenCount + 1,
        });
      if (t.to === 'closed') change.closedAt = scope.now;
      if (t.to === 'cancelled') change.cancelledAt = scope.now;
      const updated = await store.updateIncident(scope.db, incident.id, change, scope.now);
      scope.emit(
        'incident.state_changed',
        { type: 'incident', id: incident.id },
        { incident: updated, from },
      );
      // Leaving `new` meets the response SLA; on hold pauses, resolved meets, cancelled cancels.
      await scope.kernel.services.slas.track(scope, updated);
      // Who was told of a major incident hears of its end too.
      if (updated.major && (t.to === 'resolved' || t.to === 'closed'))
        await scope.kernel.services.notifications.enqueue(
          scope,
          updated,
          t.to === 'resolved' ? 'major_resolved' : 'major_closed',
          null,
        );
      if (t.reason) {
        const body = `${reopening ? 'Reopened' : 'Cancelled'}: ${t.reason}`;
        await this.#note(scope, updated, { kind: 'work_note', body });
      }
      return updated;
    });
  }

  /**
   * Declares the incident major (incident:major on its CI), with why: records who and when, and writes
   * the outage notifications for its watchers and the subscribers of its business services, delivered
   * after commit. Only an active incident that is not major already.
   */
  async declareMajor(id: string, input: MajorInput, options: IncidentChangeOptions): Promise<Incident> {
    const m = parseInput(majorInput, input);
    return this.#write(id, options, permissions.incidentMajor, async (scope, incident) => {
      if (!['new', 'in_progress', 'on_hold'].includes(incident.state))
        throw new TransitionError(
          'incident',
          incident.number,
          incident.state,
          incident.state,
          [],
          `incident ${incident.number} is ${incident.state}: only an active incident can be declared major`,
        );
      if (incident.major)
        throw new ConflictError(`incident ${incident.number} is major already`, 'id', incident.version);
      const updated = await store.updateIncident(scope.db, incident.id, { major: true }, scope.now);
      const declaration = await scope.kernel.services.notifications.openMajorPeriod(scope, updated, m.reason);
      const notified = await scope.kernel.services.notifications.enqueue(
        scope,
        updated,
        'major_declared',
        m.reason,
      );
      scope.emit(
        'incident.major_declared',
        { type: 'incident', id: incident.id },
        { incident: updated, declaration, notified },
      );
      await this.#note(scope, updated, { kind: 'work_note', body: `Declared a major incident: ${m.reason}` });
      return updated;
    });
  }

  /**
   * Ends the incident's major status (incident:major on its CI), with why; who was told hears of it
   * (unless it is already resolved, closed or cancelled: then they heard of that).
   */
  async clearMajor(id: string, input: MajorInput, options: IncidentChangeOptions): Promise<Incident> {
    const m = parseInput(majorInput, input);
    return this.#write(id, options, permissions.incidentMajor, async (scope, incident) => {
      if (!incident.major)
        throw new ConflictError(`incident ${incident.number} is not major`, 'id', incident.version);
      const updated = await store.updateIncident(scope.db, incident.id, { major: false }, scope.now);
      const declaration = await scope.kernel.services.notifications.closeMajorPeriod(
        scope,
        updated,
        m.reason,
      );
      const active = ['new', 'in_progress', 'on_hold'].includes(incident.state);
      const notified = active
        ? await scope.kernel.services.notifications.enqueue(scope, updated, 'major_cleared', m.reason)
        : 0;
      scope.emit(
        'incident.major_cleared',
        { type: 'incident', id: incident.id },
        { incident: updated, declaration, notified },
      );
      await this.#note(scope, updated, {
        kind: 'work_note',
        body: `No longer a major incident: ${m.reason}`,
      });
      return updated;
    });
  }

  /**
   * Posts a status update on a major incident (incident:major on its CI): kept as a comment (visible to
   * whoever may read the incident) and sent to its watchers and the subscribers of its services.
   */
  async postMajorUpdate(
    id: string,
    input: MajorUpdateInput,
    options: IncidentChangeOptions,
  ): Promise<IncidentNote> {
    const u = parseInput(majorUpdateInput, input);
    let note: IncidentNote | undefined;
    await this.#write(id, options, permissions.incidentMajor, async (scope, incident) => {
      if (!incident.major)
        throw new ConflictError(
          `incident ${incident.number} is not major: declare it major first`,
          'id',
          incident.version,
        );
      note = await this.#note(scope, incident, { kind: 'comment', body: u.message });
      const notified = await scope.kernel.services.notifications.enqueue(
        scope,
        incident,
        'major_update',
        u.message,
      );
      scope.emit(
        'incident.major_update',
        { type: 'incident', id: incident.id },
        { incident, message: u.message, notified },
      );
      return incident;
    });
    return note!;
  }

  /** Adds a work note (internal) or a comment (visible to the caller); incident:write. */
  async addNote(id: string, input: NoteInput, options: WriteOptions): Promise<IncidentNote> {
    const n = parseInput(noteInput, input);
    let note: IncidentNote | undefined;
    await this.#write(id, options, permissions.incidentWrite, async (scope, incident) => {
      note = await this.#note(scope, incident, n);
      return incident;
    });
    return note!;
  }

  /** Links alerts to the incident (incident:write); each alert belongs to one incident at most. */
  async linkAlerts(
    id: string,
    alertIds: readonly string[],
    options: IncidentChangeOptions,
  ): Promise<string[]> {
    const ids = parseInput(createIncidentInput.shape.alertIds, alertIds, 'alertIds').map((a) =>
      a.toLowerCase(),
    );
    let linked: string[] = [];
    await this.#write(id, options, permissions.incidentWrite, async (scope, incident) => {
      const issues = await this.#checkAlerts(scope, ids);
      if (issues.length > 0) throw new ValidationError(issues);
      linked = await store.linkAlerts(scope.db, incident.id, ids, scope.now, actorRef(scope.actor));
      if (linked.length > 0)
        scope.emit(
          'incident.alerts_linked',
          { type: 'incident', id: incident.id },
          { incident, alertIds: linked },
        );
      return incident;
    });
    return linked;
  }

  /** An incident by id or number (incident:read on its CI); null when unknown or not visible. */
  async incident(idOrNumber: string, { actor }: ReadOptions = {}): Promise<Incident | null> {
    CiReach.of(actor, permissions.incidentRead);
    const found = isUuid(idOrNumber)
      ? await store.findIncident(this.kernel.db, idOrNumber.toLowerCase())
      : NUMBER.test(idOrNumber)
        ? await store.findIncidentByNumber(this.kernel.db, idOrNumber)
        : undefined;
    return found && mayRead(actor, found) ? found : null;
  }

  /**
   * Several incidents by id in one query (a DataLoader batch), keyed by id: those the actor may read
   * (incident:read on their CI); unknown and hidden ones are left out.
   */
  async incidentsById(ids: readonly string[], { actor }: ReadOptions = {}): Promise<Map<string, Incident>> {
    CiReach.of(actor, permissions.incidentRead);
    const wanted = [...new Set(ids.filter((id) => isUuid(id)).map((id) => id.toLowerCase()))];
    const found = await store.findIncidents(this.kernel.db, wanted);
    return new Map(found.filter((i) => mayRead(actor, i)).map((i) => [i.id, i]));
  }

  /** A keyset page of incidents, newest first (incident:read; scoped readers see those on their CIs). */
  async incidents(
    filter: IncidentFilter = {},
    page: IncidentPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Incident>> {
    const reach = CiReach.of(actor, permissions.incidentRead);
    const f = parseInput(incidentFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const after = afterTimeId(page.after);
    const lower = (v: string | undefined) => v?.toLowerCase();
    const rows = await store.listIncidents(this.kernel.db, {
      ...f,
      ciId: lower(f.ciId),
      assignmentGroupId: lower(f.assignmentGroupId),
      assigneeId: lower(f.assigneeId),
      callerId: lower(f.callerId),
      serviceId: lower(f.serviceId),
      reach: reach.where('ci_id'),
      after,
      limit: first + 1,
    });
    return timeIdPage(rows, first, (row) => row.createdAt);
  }

  /** The notes, oldest first: comments for who may read the incident, work notes only for who may work it. */
  async notesOf(id: string, { actor }: ReadOptions = {}): Promise<IncidentNote[]> {
    const incident = await this.incident(id, { actor });
    if (!incident) throw new NotFoundError('incident', id, 'id');
    const internal = !actor || holds(actor, permissions.incidentWrite, incident);
    return store.listNotes(this.kernel.db, incident.id, internal ? ['work_note', 'comment'] : ['comment']);
  }

  /** The ids of the alerts linked to the incident, in the order they were linked. */
  async alertIdsOf(id: string, options: ReadOptions = {}): Promise<string[]> {
    const incident = await this.incident(id, options);
    if (!incident) throw new NotFoundError('incident', id, 'id');
    return store.alertIdsOf(this.kernel.db, incident.id);
  }

  /** The incident an alert is linked to, if any and visible. */
  async incidentOfAlert(alertId: string, options: ReadOptions = {}): Promise<Incident | null> {
    if (!isUuid(alertId)) return null;
    const id = (await store.incidentIdsOfAlerts(this.kernel.db, [alertId.toLowerCase()])).get(
      alertId.toLowerCase(),
    );
    return id ? this.incident(id, options) : null;
  }

  /**
   * Changes of the incidents matching `filter` after `after` (default: from now on), as the actor may
   * read them at each change: missed ones first, then live ones, in order, none twice.
   */
  follow(
    filter: IncidentFilter = {},
    options: FollowIncidentsOptions = {},
  ): AsyncIterableIterator<IncidentChange> {
    return followIncidents(this.kernel, filter, options);
  }

  // ---------------------------------------------------------------------------------------------------

  #assertHolds(actor: Actor, permission: string, on: { ciId: string | null }, field: string): void {
    if (!holds(actor, permission, on))
      throw new ForbiddenError(permission, actor.name, field, { on: on.ciId ? `CI ${on.ciId}` : undefined });
  }

  /** Loads the incident for update, checks visibility, `permission` and version, then runs `fn`. */
  #write(
    id: string,
    { actor, version }: IncidentChangeOptions,
    permission: string,
    fn: (scope: WriteScope, incident: Incident) => Promise<Incident>,
  ): Promise<Incident> {
    return this.kernel.write(actor, async (scope) => {
      const found = isUuid(id)
        ? await store.findIncident(scope.db, id.toLowerCase(), true)
        : NUMBER.test(id)
          ? await store.findIncidentByNumber(scope.db, id)
          : undefined;
      const incident = found && NUMBER.test(id) ? await store.findIncident(scope.db, found.id, true) : found;
      if (!incident || !mayRead(actor, incident)) throw new NotFoundError('incident', id, 'id');
      this.#assertHolds(actor, permission, incident, 'id');
      if (version !== undefined && version !== incident.version)
        throw ConflictError.staleVersion('incident', incident.number, version, incident.version);
      return fn(scope, incident);
    });
  }

  async #note(
    scope: WriteScope,
    incident: Incident,
    n: { kind: IncidentNote['kind']; body: string },
  ): Promise<IncidentNote> {
    const note = await store.insertNote(scope.db, {
      id: crypto.randomUUID(),
      incidentId: incident.id,
      kind: n.kind,
      body: n.body,
      author: actorRef(scope.actor),
      createdAt: scope.now,
    });
    const { body: _, ...withoutBody } = note;
    scope.emit('incident.noted', { type: 'incident', id: incident.id }, { incident, note: withoutBody });
    return note;
  }

  /** The caller must be an active user; the group must exist; the assignee must be an active member of it. */
  async #checkPeople(
    scope: WriteScope,
    p: {
      callerId?: string | null | undefined;
      groupId?: string | null | undefined;
      assigneeId?: string | null | undefined;
    },
    prefix = '',
  ): Promise<ValidationIssue[]> {
    return [
      ...(await activeUserIssues(scope.db, p.callerId, `${prefix}callerId`)),
      ...(await assignmentIssues(scope.db, p)),
    ];
  }

  /** Each alert must exist and belong to no incident yet. */
  async #checkAlerts(scope: WriteScope, alertIds: readonly string[]): Promise<ValidationIssue[]> {
    if (alertIds.length === 0) return [];
    const ids = alertIds.map((id) => id.toLowerCase());
    const existing = new Set(
      (await scope.db.selectFrom('alerts').select('id').where('id', 'in', ids).execute()).map((r) => r.id),
    );
    const linked = await store.incidentIdsOfAlerts(scope.db, ids);
    return ids.flatMap((id, i) =>
      !existing.has(id)
        ? [{ path: `alertIds.${i}`, message: `no alert ${id}` }]
        : linked.has(id)
          ? [{ path: `alertIds.${i}`, message: `alert ${id} already belongs to incident ${linked.get(id)}` }]
          : [],
    );
  }
}
