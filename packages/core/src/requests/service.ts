import { assignmentIssues } from '../access/assignment.js';
import { findGroup } from '../access/groups-store.js';
import { findRole } from '../access/roles-store.js';
import { findUser } from '../access/users-store.js';
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
import { afterTimeId, decodeCursor, encodeCursor, pageSize, timeIdPage } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import { type FollowRequestsOptions, followRequests, type RequestChange } from './changes.js';
import { classAndDescendants, reviewForm, validateAnswers } from './forms.js';
import {
  type ApprovalStep,
  type AssignTaskInput,
  assignTaskInput,
  type CatalogFilter,
  type CatalogItem,
  type CreateCatalogItemInput,
  catalogFilterInput,
  createCatalogItemInput,
  manualRequestTransitions,
  type RequestChangeOptions,
  type RequestFilter,
  type RequestPageRequest,
  type RequestPlan,
  type RequestState,
  type RequestTask,
  type RequestTransitionInput,
  requestFilterInput,
  requestOrderFields,
  requestTransitionInput,
  requestTransitions,
  type ServiceRequest,
  type SubmitRequestInput,
  submitRequestInput,
  type TaskFilter,
  type TaskTemplate,
  type TaskTransitionInput,
  taskFilterInput,
  taskTransitionInput,
  taskTransitions,
  type UpdateCatalogItemInput,
  updateCatalogItemInput,
} from './model.js';
import * as store from './store.js';

const REQUEST_NUMBER = /^REQ\d{7,}$/;
const TASK_NUMBER = /^TASK\d{7,}$/;
/** The subject type of request approvals in og.approvals. */
export const REQUEST_SUBJECT = 'request';
/** Devices an assign_device task hands out when its action names no class. */
const DEFAULT_DEVICE_CLASS = 'hardware';

/** Fulfillers and catalog administrators see every request; others only theirs (see `visibleTo`). */
const seesAll = (actor: Actor) =>
  can(actor, permissions.requestFulfil) || can(actor, permissions.requestAdmin);

/**
 * The actor, allowed for one call what the request process does on its behalf in another process:
 * opening and cancelling a request's approvals (which og.approvals reserves to request:admin, so nobody
 * tampers with them directly). History still names the actor.
 */
const asRequestProcess = (actor: Actor): Actor => ({
  ...actor,
  permissions: [...actor.permissions, permissions.requestAdmin],
});

/** The fulfiller, allowed to write the one device CI its task assigns (and nothing else in the CMDB). */
const withDeviceWrite = (actor: Actor, ciId: string): Actor => ({
  ...actor,
  scopes: [
    ...(actor.scopes ?? []),
    { ciId, mode: 'contains', permissions: [permissions.cmdbWrite], ciIds: new Set([ciId]) },
  ],
});

/**
 * Request fulfilment (ITIL) with its service catalog; `og.requests`.
 *
 * - Catalog (request:admin to define, request:read or request:create to browse active items): items
 *   with a typed form, an approval policy (ordered steps: the manager of the user the request is for, a
 *   group or a role, with a quorum) and fulfilment task templates (stages run one after another, the
 *   tasks of a stage in parallel; a task may assign a device CI to the user when done).
 * - Requests (request:create; REQ0001001): answers are checked against the form (`answers.<field>`),
 *   approvals run through og.approvals (`approve`/`reject` here decide the step pending for the actor),
 *   approval opens the tasks (TASK0001001; request:fulfil to work them), the last task done fulfils the
 *   request. Cancel (before fulfilment) and close (after) are asked through `transition`.
 * - Reading: request:fulfil or request:admin see every request; request:read alone sees the requests
 *   one asked for, those for oneself, those for one's reports, and those one may approve now.
 */
export class RequestsService {
  constructor(private readonly kernel: Kernel) {}

  // Catalog -------------------------------------------------------------------------------------------

  /** Adds an item to the catalog (request:admin). Bad forms, policies or templates name the field. */
  async createItem(input: CreateCatalogItemInput, { actor }: WriteOptions): Promise<CatalogItem> {
    this.#assert(actor, permissions.requestAdmin);
    const i = parseInput(createCatalogItemInput, input);
    return this.kernel.write(actor, async (scope) => {
      const issues = await this.#reviewItem(scope, i);
      if (await store.findItemByName(scope.db, i.name))
        issues.push({ path: 'name', message: `another catalog item is named ${i.name}` });
      if (issues.length > 0) throw new ValidationError(issues);
      const item = await store.insertItem(scope.db, {
        id: crypto.randomUUID(),
        name: i.name,
        category: i.category,
        description: i.description,
        active: i.active,
        form: i.form,
        approvalSteps: normaliseSteps(i.approvalSteps),
        tasks: normaliseTasks(i.tasks),
        createdBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('catalog_item.created', { type: 'catalog_item', id: item.id }, { item });
      return item;
    });
  }

  /**
   * Changes an item (request:admin); requests already submitted keep the item as it was then. `active:
   * false` takes it out of the catalog.
   */
  async updateItem(
    id: string,
    patch: UpdateCatalogItemInput,
    options: RequestChangeOptions,
  ): Promise<CatalogItem> {
    const { actor, version } = options;
    this.#assert(actor, permissions.requestAdmin);
    const p = parseInput(updateCatalogItemInput, patch, 'patch');
    return this.kernel.write(actor, async (scope) => {
      const item = isUuid(id) ? await store.findItem(scope.db, id.toLowerCase(), true) : undefined;
      if (!item) throw new NotFoundError('catalog item', id, 'id');
      if (version !== undefined && version !== item.version)
        throw ConflictError.staleVersion('catalog item', item.name, version, item.version);
      const issues = await this.#reviewItem(scope, p, 'patch.');
      if (p.name !== undefined) {
        const holder = await store.findItemByName(scope.db, p.name);
        if (holder && holder.id !== item.id)
          issues.push({ path: 'patch.name', message: `another catalog item is named ${p.name}` });
      }
      if (issues.length > 0) throw new ValidationError(issues);
      const change: Record<string, unknown> = {};
      for (const key of ['name', 'category', 'description', 'active', 'form'] as const)
        if (p[key] !== undefined && JSON.stringify(p[key]) !== JSON.stringify(item[key]))
          change[key] = p[key];
      if (p.approvalSteps !== undefined) {
        const steps = normaliseSteps(p.approvalSteps);
        if (JSON.stringify(steps) !== JSON.stringify(item.approvalSteps)) change.approvalSteps = steps;
      }
      if (p.tasks !== undefined) {
        const tasks = normaliseTasks(p.tasks);
        if (JSON.stringify(tasks) !== JSON.stringify(item.tasks)) change.tasks = tasks;
      }
      const fields = Object.keys(change);
      if (fields.length === 0) return item;
      const updated = await store.updateItem(scope.db, item.id, change, scope.now);
      scope.emit('catalog_item.updated', { type: 'catalog_item', id: item.id }, { item: updated, fields });
      return updated;
    });
  }

  /** An item by id (request:read, request:create or request:admin); retired ones only for request:admin. */
  async item(id: string, { actor }: ReadOptions = {}): Promise<CatalogItem | null> {
    this.#assertBrowse(actor);
    const item = isUuid(id) ? await store.findItem(this.kernel.db, id.toLowerCase()) : undefined;
    if (!item) return null;
    return item.active || !actor || can(actor, permissions.requestAdmin) ? item : null;
  }

  /** Items by id, in the order asked, null where unknown or not visible (one query: for DataLoaders). */
  async itemsByIds(ids: readonly string[], { actor }: ReadOptions = {}): Promise<(CatalogItem | null)[]> {
    this.#assertBrowse(actor);
    const found = new Map(
      (
        await store.findItems(
          this.kernel.db,
          ids.filter(isUuid).map((id) => id.toLowerCase()),
        )
      ).map((i) => [i.id, i]),
    );
    const admin = !actor || can(actor, permissions.requestAdmin);
    return ids.map((id) => {
      const item = found.get(String(id).toLowerCase());
      return item && (item.active || admin) ? item : null;
    });
  }

  /** A keyset page of the catalog by name. Only request:admin sees retired items. */
  async items(
    filter: CatalogFilter = {},
    page: { first?: number; after?: string | null } = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<CatalogItem>> {
    this.#assertBrowse(actor);
    const f = parseInput(catalogFilterInput, filter, 'filter');
    const admin = !actor || can(actor, permissions.requestAdmin);
    if (f.active === false && !admin)
      throw new ForbiddenError(permissions.requestAdmin, actor!.name, 'filter.active');
    const first = pageSize(page.first);
    let after: [string, string] | undefined;
    if (page.after) {
      const [name, id, ...rest] = decodeCursor(page.after);
      if (typeof name !== 'string' || !isUuid(id) || rest.length > 0)
        throw ValidationError.field('after', 'is not a cursor this API returned');
      after = [name, id];
    }
    const rows = await store.listItems(this.kernel.db, {
      ...(f.category !== undefined ? { category: f.category } : {}),
      ...(f.search?.trim() ? { search: f.search.trim() } : {}),
      ...(f.active !== undefined ? { active: f.active } : admin ? {} : { active: true }),
      ...(after ? { after } : {}),
      limit: first + 1,
    });
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor([node.name, node.id]), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  // Requests ------------------------------------------------------------------------------------------

  /**
   * Submits a request for an active catalog item (request:create), for the actor's user or on behalf of
   * `requestedForId`. The answers are checked against the item's form (`answers.<field>`). With an
   * approval policy, the request awaits approval (a manager step needs the user to have a manager; a
   * manager step whose manager is the one asking counts as given); without, it is approved and its
   * first tasks open at once.
   */
  async submit(input: SubmitRequestInput, { actor }: WriteOptions): Promise<ServiceRequest> {
    this.#assert(actor, permissions.requestCreate);
    const i = parseInput(submitRequestInput, input);
    const asker = actor.userId?.toLowerCase() ?? null;
    return this.kernel.write(actor, async (scope) => {
      const item = await store.findItem(scope.db, i.itemId.toLowerCase());
      if (!item?.active) throw ValidationError.field('itemId', `no active catalog item ${i.itemId}`);
      const forId = i.requestedForId?.toLowerCase() ?? asker;
      if (!forId)
        throw ValidationError.field('requestedForId', 'is required when the actor acts for no user');
      const forUser = await findUser(scope.db, forId);
      if (!forUser?.active) throw ValidationError.field('requestedForId', `no active user ${forId}`);
      const { answers, issues } = await validateAnswers(scope.db, item.form, i.answers);
      const steps = await this.#approvalsFor(scope, item.approvalSteps, forUser, asker, issues);
      if (issues.length > 0) throw new ValidationError(issues);
      const plan: RequestPlan = {
        itemName: item.name,
        form: item.form,
        approvalSteps: item.approvalSteps,
        tasks: item.tasks,
      };
      let request = await store.insertRequest(scope.db, {
        id: crypto.randomUUID(),
        itemId: item.id,
        plan,
        answers,
        justification: i.justification,
        requestedById: asker,
        requestedForId: forUser.id,
        submittedBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('request.submitted', { type: 'request', id: request.id }, { request });
      if (steps.length > 0) {
        await scope.kernel.services.approvals.open({ type: REQUEST_SUBJECT, id: request.id }, steps, {
          actor: asRequestProcess(actor),
          requesterId: asker,
        });
        return this.#move(scope, request, 'awaiting_approval');
      }
      request = await this.#move(scope, request, 'approved', { approvedAt: scope.now });
      return this.#startFulfilment(scope, request, plan);
    });
  }

  /**
   * Approves the approval step pending on the request that the actor may decide (og.approvals decides
   * whether it may: the manager named by a manager step, a member of the group, a holder of the role;
   * never the one who asked). The last approval approves the request and opens its tasks.
   */
  approve(
    id: string,
    input: { comment?: string } = {},
    options: RequestChangeOptions,
  ): Promise<ServiceRequest> {
    return this.#decide(id, 'approve', input.comment ?? '', options);
  }

  /** Rejects the request's pending approval step as one of its approvers: the request is rejected. */
  reject(
    id: string,
    input: { comment?: string } = {},
    options: RequestChangeOptions,
  ): Promise<ServiceRequest> {
    return this.#decide(id, 'reject', input.comment ?? '', options);
  }

  /**
   * The moves a person asks for: `cancelled` (with a `reason`; before fulfilment; by whoever asked, the
   * user it is for, or a fulfiller) cancels its open approvals and tasks; `closed` (once fulfilled).
   * The other moves follow from approvals and tasks: asking for them is a TransitionError naming what
   * may be asked for.
   */
  async transition(
    id: string,
    input: RequestTransitionInput,
    options: RequestChangeOptions,
  ): Promise<ServiceRequest> {
    const t = parseInput(requestTransitionInput, input);
    const { actor } = options;
    return this.#writeRequest(id, options, async (scope, request, plan) => {
      const from = request.state;
      const manual = manualRequestTransitions[from];
      if (!manual.includes(t.to)) {
        const automatic = requestTransitions[from].includes(t.to);
        throw new TransitionError(
          'request',
          request.number,
          from,
          t.to,
          manual,
          automatic
            ? `request ${request.number} goes from ${from} to ${t.to} by itself (${
                t.to === 'fulfilled' ? 'when its last task is done' : 'through its approvals'
              }); you may ask for ${manual.length > 0 ? manual.join(', ') : 'nothing'}`
            : undefined,
        );
      }
      const own = [request.requestedById, request.requestedForId].includes(actor.userId?.toLowerCase() ?? '');
      if (!seesAll(actor) && !(own && can(actor, permissions.requestCreate)))
        throw new ForbiddenError(permissions.requestFulfil, actor.name, 'id', {
          reason: `only who asked, the user it is for, or a fulfiller may ${t.to === 'closed' ? 'close' : 'cancel'} ${request.number}`,
        });
      if (t.to === 'cancelled') {
        if (!t.reason) throw ValidationError.field('reason', 'is required to cancel');
        if (from === 'awaiting_approval')
          await scope.kernel.services.approvals.cancel(
            { type: REQUEST_SUBJECT, id: request.id },
            { actor: asRequestProcess(scope.actor) },
          );
        const tasks = (await store.tasksOfRequests(scope.db, [request.id])).get(request.id) ?? [];
        for (const task of tasks.filter((x) => x.state === 'open' || x.state === 'in_progress')) {
          const cancelled = await store.updateTask(
            scope.db,
            task.id,
            { state: 'cancelled', notes: `Request cancelled: ${t.reason}` },
            scope.now,
          );
          scope.emit(
            'request_task.state_changed',
            { type: 'request_task', id: task.id },
            { task: cancelled, request, from: task.state },
          );
        }
        return this.#move(scope, request, 'cancelled', { cancelledAt: scope.now, cancelReason: t.reason });
      }
      if (t.reason !== undefined) throw ValidationError.field('reason', 'only applies when cancelling');
      void plan;
      return this.#move(scope, request, 'closed', { closedAt: scope.now });
    });
  }

  /** A request by id or number (REQ0001001); null when unknown or not visible to the actor. */
  async request(idOrNumber: string, { actor }: ReadOptions = {}): Promise<ServiceRequest | null> {
    // A user without request:read may still read the requests it may approve now.
    if (!actor?.userId) this.#assertReader(actor);
    const found = await this.#find(this.kernel.db, idOrNumber);
    return found && (await this.#mayRead(this.kernel, actor, found.request)) ? found.request : null;
  }

  /** Requests by id in one query, in the order asked; null where unknown or not visible (DataLoaders). */
  async requestsByIds(
    ids: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<(ServiceRequest | null)[]> {
    if (actor && !actor.userId) this.#assertReader(actor);
    const rows = await store.findRequests(this.kernel.db, [
      ...new Set(ids.filter(isUuid).map((id) => id.toLowerCase())),
    ]);
    const visible = new Map<string, ServiceRequest>();
    for (const r of rows) if (await this.#mayRead(this.kernel, actor, r)) visible.set(r.id, r);
    return ids.map((id) => visible.get(String(id).toLowerCase()) ?? null);
  }

  /** The answers' form as it was at submission (the item may have changed since). */
  async formOf(id: string, options: ReadOptions = {}): Promise<RequestPlan['form']> {
    const request = await this.request(id, options);
    if (!request) throw new NotFoundError('request', id, 'id');
    return (await store.findRequest(this.kernel.db, { id: request.id }))!.plan.form;
  }

  /**
   * A keyset page of requests (default newest first). Fulfillers see all; others the ones they asked,
   * those for themselves and those for their reports.
   */
  async requests(
    filter: RequestFilter = {},
    page: RequestPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<ServiceRequest>> {
    this.#assertReader(actor);
    const f = parseInput(requestFilterInput, filter, 'filter');
    const orderBy = page.orderBy?.field ?? 'createdAt';
    if (!requestOrderFields.includes(orderBy))
      throw ValidationError.field('orderBy.field', `must be one of ${requestOrderFields.join(', ')}`);
    const direction = page.orderBy?.direction ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc')
      throw ValidationError.field('orderBy.direction', 'must be asc or desc');
    const first = pageSize(page.first);
    let after: [string, string] | undefined;
    if (page.after) {
      const values = decodeCursor(page.after);
      if (values.length !== 3 || values[0] !== orderBy || typeof values[1] !== 'string' || !isUuid(values[2]))
        throw ValidationError.field('after', 'is not a cursor of this order');
      after = [values[1], values[2]];
    }
    const lower = (v: string | undefined) => v?.toLowerCase();
    const rows = await store.listRequests(this.kernel.db, {
      ...defined({
        state: f.state,
        itemId: lower(f.itemId),
        requestedForId: lower(f.requestedForId),
        requestedById: lower(f.requestedById),
        after,
      }),
      visible: !actor || seesAll(actor) ? null : store.visibleTo(actor.userId?.toLowerCase() ?? null),
      orderBy,
      direction,
      limit: first + 1,
    });
    const key = (r: ServiceRequest) =>
      orderBy === 'number' ? r.number : (orderBy === 'createdAt' ? r.createdAt : r.updatedAt).toISOString();
    const edges = rows
      .slice(0, first)
      .map((node) => ({ cursor: encodeCursor([orderBy, key(node), node.id]), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /** The approval steps of a request (every round), for who may read the request. */
  async approvalsOf(id: string, options: ReadOptions = {}) {
    const request = await this.request(id, options);
    if (!request) throw new NotFoundError('request', id, 'id');
    return this.kernel.services.approvals.forSubject({ type: REQUEST_SUBJECT, id: request.id });
  }

  /** The approval steps of many requests in one query, by request id in the order asked (DataLoaders; no visibility check). */
  async approvalsOfRequests(ids: readonly string[]) {
    const byId = await this.kernel.services.approvals.forSubjects(
      REQUEST_SUBJECT,
      ids.filter(isUuid).map((id) => id.toLowerCase()),
    );
    return ids.map((id) => byId.get(String(id).toLowerCase()) ?? []);
  }

  /**
   * Changes of the requests (and their tasks) matching `filter` after `after` (default: from now on),
   * as the actor may read them at each change: missed ones first, then live ones, none twice.
   */
  follow(
    filter: RequestFilter = {},
    options: FollowRequestsOptions = {},
  ): AsyncIterableIterator<RequestChange> {
    return followRequests(this.kernel, filter, options);
  }

  // Tasks -----------------------------------------------------------------------------------------------

  /**
   * The tasks of requests, by request id, in position order (one query): for fulfillers, or for who
   * may read the request (its people follow how it is going); none for a request one may not read.
   */
  async tasksOf(requestIds: readonly string[], { actor }: ReadOptions = {}): Promise<RequestTask[][]> {
    const ids = [...new Set(requestIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const readable =
      !actor || seesAll(actor)
        ? new Set(ids)
        : new Set((await this.requestsByIds(ids, { actor })).flatMap((r) => (r ? [r.id] : [])));
    const byRequest = await store.tasksOfRequests(
      this.kernel.db,
      ids.filter((id) => readable.has(id)),
    );
    return requestIds.map((id) => byRequest.get(String(id).toLowerCase()) ?? []);
  }

  /** A task by id or number (TASK0001001); request:fulfil (or request:admin). */
  async task(idOrNumber: string, { actor }: ReadOptions = {}): Promise<RequestTask | null> {
    if (actor && !seesAll(actor)) throw new ForbiddenError(permissions.requestFulfil, actor.name);
    const key = isUuid(idOrNumber)
      ? { id: idOrNumber.toLowerCase() }
      : TASK_NUMBER.test(idOrNumber)
        ? { number: idOrNumber }
        : undefined;
    return (key && (await store.findTask(this.kernel.db, key))) ?? null;
  }

  /** A keyset page of tasks, newest first (request:fulfil): a group's queue, one's own work. */
  async tasks(
    filter: TaskFilter = {},
    page: { first?: number; after?: string | null } = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<RequestTask>> {
    if (actor && !seesAll(actor)) throw new ForbiddenError(permissions.requestFulfil, actor.name);
    const f = parseInput(taskFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const lower = (v: string | undefined) => v?.toLowerCase();
    const rows = await store.listTasks(this.kernel.db, {
      ...defined({
        state: f.state,
        requestId: lower(f.requestId),
        assignmentGroupId: lower(f.assignmentGroupId),
        assigneeId: lower(f.assigneeId),
        after: afterTimeId(page.after),
      }),
      limit: first + 1,
    });
    return timeIdPage(rows, first, (row) => row.createdAt);
  }

  /** Assigns a task to a group and optionally one of its members (request:fulfil); null group unassigns. */
  async assignTask(id: string, input: AssignTaskInput, options: RequestChangeOptions): Promise<RequestTask> {
    const a = parseInput(assignTaskInput, input);
    if (!a.assignmentGroupId && a.assigneeId)
      throw ValidationError.field('assignmentGroupId', 'an assignee needs an assignment group it belongs to');
    return this.#writeTask(id, options, async (scope, task, request) => {
      if (task.state === 'done' || task.state === 'cancelled')
        throw new ConflictError(
          `task ${task.number} is ${task.state}: it cannot be reassigned`,
          'id',
          task.version,
        );
      const groupId = a.assignmentGroupId?.toLowerCase() ?? null;
      const assigneeId = a.assigneeId?.toLowerCase() ?? null;
      const issues = await assignmentIssues(scope.db, { groupId, assigneeId });
      if (issues.length > 0) throw new ValidationError(issues);
      const updated = await store.updateTask(
        scope.db,
        task.id,
        { assignmentGroupId: groupId, assigneeId },
        scope.now,
      );
      scope.emit('request_task.assigned', { type: 'request_task', id: task.id }, { task: updated, request });
      return updated;
    });
  }

  /**
   * Moves a task (request:fulfil): open -> in_progress -> done, back to open, or cancelled (with `notes`
   * saying why). Completing an assign_device task assigns `deviceCiId` (or a free device of the class
   * in stock) to the user the request is for, recorded on the CI in the CMDB with history; a device
   * assigned to someone else, retired, or of another class is refused naming `deviceCiId`. When every
   * task of a stage is finished the next stage opens; after the last, the request is fulfilled.
   */
  async transitionTask(
    id: string,
    input: TaskTransitionInput,
    options: RequestChangeOptions,
  ): Promise<RequestTask> {
    const t = parseInput(taskTransitionInput, input);
    return this.#writeTask(id, options, async (scope, task, request, plan) => {
      const from = task.state;
      const allowed = taskTransitions[from];
      if (!allowed.includes(t.to)) throw new TransitionError('task', task.number, from, t.to, allowed);
      if (request.state !== 'in_fulfilment')
        throw new TransitionError(
          'task',
          task.number,
          from,
          t.to,
          [],
          `task ${task.number} belongs to ${request.number}, which is ${request.state}: its tasks no longer move`,
        );
      const issues: ValidationIssue[] = [];
      if (t.to === 'cancelled' && !t.notes)
        issues.push({ path: 'notes', message: 'is required to cancel: why' });
      const assigns = t.to === 'done' && task.action?.kind === 'assign_device';
      if (t.deviceCiId !== undefined && !assigns)
        issues.push({
          path: 'deviceCiId',
          message:
            task.action?.kind === 'assign_device'
              ? 'only applies when completing the task'
              : `task ${task.number} assigns no device`,
        });
      if (issues.length > 0) throw new ValidationError(issues);
      const change: Record<string, unknown> = { state: t.to };
      if (t.notes !== undefined) change.notes = t.notes;
      if (t.to === 'done' || t.to === 'cancelled') {
        change.doneAt = scope.now;
        change.doneBy = JSON.stringify(actorRef(scope.actor));
      }
      let deviceCiId: string | null = null;
      if (assigns) {
        deviceCiId = await this.#assignDevice(scope, task, request, t.deviceCiId?.toLowerCase());
        change.deviceCiId = deviceCiId;
      }
      const updated = await store.updateTask(scope.db, task.id, change, scope.now);
      scope.emit(
        'request_task.state_changed',
        { type: 'request_task', id: task.id },
        { task: updated, request, from },
      );
      if (deviceCiId)
        scope.emit(
          'request.device_assigned',
          { type: 'request', id: request.id },
          { request, task: updated, ciId: deviceCiId, userId: request.requestedForId },
        );
      if (t.to === 'done' || t.to === 'cancelled') await this.#advance(scope, request, plan);
      return updated;
    });
  }

  // ---------------------------------------------------------------------------------------------------

  /**
   * Registers what a settled approval does to its request (once per OpsGraph, at start-up): approved
   * opens fulfilment, rejected rejects; in the deciding transaction, as the decider.
   */
  registerApprovals(): void {
    this.kernel.services.approvals.onSettled(
      REQUEST_SUBJECT,
      async (settled, scope) => {
        await (scope.kernel.services.requests as RequestsService).#settled(scope, settled);
      },
      { readPermission: permissions.requestFulfil, writePermission: permissions.requestAdmin },
    );
  }

  async #settled(scope: WriteScope, settled: ApprovalsSettled): Promise<void> {
    const found = await store.findRequest(scope.db, { id: settled.subjectId }, true);
    // Settled twice, or cancelled meanwhile: nothing to do.
    if (found?.request.state !== 'awaiting_approval') return;
    if (settled.outcome === 'rejected') {
      await this.#move(scope, found.request, 'rejected', { rejectedAt: scope.now });
      return;
    }
    const approved = await this.#move(scope, found.request, 'approved', { approvedAt: scope.now });
    await this.#startFulfilment(scope, approved, found.plan);
  }

  async #decide(
    id: string,
    decision: 'approve' | 'reject',
    comment: string,
    options: RequestChangeOptions,
  ): Promise<ServiceRequest> {
    const { actor } = options;
    return this.#writeRequest(
      id,
      options,
      async (scope, request) => {
        const to = decision === 'approve' ? 'approved' : 'rejected';
        if (request.state !== 'awaiting_approval')
          throw new TransitionError(
            'request',
            request.number,
            request.state,
            to,
            manualRequestTransitions[request.state],
            `request ${request.number} is ${request.state}: it has no approval to decide`,
          );
        const approvals = scope.kernel.services.approvals;
        const pending = (await approvals.forSubject({ type: REQUEST_SUBJECT, id: request.id })).filter(
          (a) => a.state === 'pending',
        );
        let mine: (typeof pending)[number] | undefined;
        for (const step of pending) if (await approvals.mayDecide(step, actor)) mine = step;
        if (!mine)
          throw new ForbiddenError(permissions.requestRead, actor.name, 'id', {
            reason: `${actor.name} may not decide the pending approval of ${request.number}${
              pending[0] ? ` ("${pending[0].name}")` : ''
            }`,
          });
        await approvals.decide(mine.id, { decision, comment }, { actor });
        return (await store.findRequest(scope.db, { id: request.id }))!.request;
      },
      { read: 'approver' },
    );
  }

  /** Opens the first stage of tasks, or fulfils at once an item without tasks. */
  async #startFulfilment(
    scope: WriteScope,
    request: ServiceRequest,
    plan: RequestPlan,
  ): Promise<ServiceRequest> {
    return this.#advance(scope, request, plan);
  }

  /**
   * After a task finished (or on approval): when no task of the current stage is open, opens the next
   * stage's tasks; when there is none, the request is fulfilled.
   */
  async #advance(scope: WriteScope, request: ServiceRequest, plan: RequestPlan): Promise<ServiceRequest> {
    const tasks = (await store.tasksOfRequests(scope.db, [request.id])).get(request.id) ?? [];
    if (tasks.some((t) => t.state === 'open' || t.state === 'in_progress')) return request;
    const stages = [...new Set(plan.tasks.map((t) => t.stage ?? 1))].sort((a, b) => a - b);
    const next = stages.find((s) => s > request.stage);
    if (next === undefined) {
      const current = await this.#current(scope, request);
      return this.#move(scope, current, 'fulfilled', { fulfilledAt: scope.now });
    }
    const created = await store.insertTasks(
      scope.db,
      plan.tasks.flatMap((t, position) =>
        (t.stage ?? 1) === next
          ? [
              {
                id: crypto.randomUUID(),
                requestId: request.id,
                stage: next,
                position,
                title: t.title,
                description: t.description ?? '',
                assignmentGroupId: t.assignmentGroupId ?? null,
                action: t.action ?? null,
                createdAt: scope.now,
              },
            ]
          : [],
      ),
    );
    let current = await this.#current(scope, request);
    if (current.state === 'approved')
      current = await this.#move(scope, current, 'in_fulfilment', { stage: next });
    else current = await store.updateRequest(scope.db, current.id, { stage: next }, scope.now);
    for (const task of created)
      scope.emit('request_task.opened', { type: 'request_task', id: task.id }, { task, request: current });
    return current;
  }

  async #current(scope: WriteScope, request: ServiceRequest): Promise<ServiceRequest> {
    return (await store.findRequest(scope.db, { id: request.id }))?.request ?? request;
  }

  /** Moves the request along its machine (a guard: the callers only ask for allowed moves). */
  async #move(
    scope: WriteScope,
    request: ServiceRequest,
    to: RequestState,
    extra: Record<string, unknown> = {},
  ): Promise<ServiceRequest> {
    const from = request.state;
    if (!requestTransitions[from].includes(to))
      throw new TransitionError('request', request.number, from, to, requestTransitions[from]);
    const updated = await store.updateRequest(scope.db, request.id, { ...extra, state: to }, scope.now);
    scope.emit('request.state_changed', { type: 'request', id: request.id }, { request: updated, from });
    return updated;
  }

  /**
   * The device an assign_device task hands out: the one named (live, of the action's class, assigned
   * to nobody else) or the longest-stocked free one; written to the CI (`assigned_to`, `assigned_at`,
   * `assigned_by_request`) through og.cmdb as the fulfiller, so CMDB history shows who did it.
   */
  async #assignDevice(
    scope: WriteScope,
    task: RequestTask,
    request: ServiceRequest,
    chosen: string | undefined,
  ): Promise<string> {
    const ciClass = task.action?.ciClass ?? DEFAULT_DEVICE_CLASS;
    const classes = await classAndDescendants(scope.db, ciClass);
    let ciId = chosen;
    if (ciId) {
      CiReach.of(scope.actor, permissions.cmdbRead).assert(ciId, 'deviceCiId');
      await store.lockCi(scope.db, ciId);
    } else {
      ciId = await store.freeDevice(scope.db, classes);
      if (!ciId)
        throw ValidationError.field('deviceCiId', `no free ${ciClass} in stock: name the device to assign`);
    }
    const ci = await scope.kernel.services.cmdb.get(ciId);
    if (!ci || ci.status === 'retired' || ci.retiredAt)
      throw ValidationError.field('deviceCiId', `no live CI ${ciId}`);
    if (!classes.includes(ci.class))
      throw ValidationError.field('deviceCiId', `${ci.name} is a ${ci.class}, not a ${ciClass}`);
    const holder = ci.attributes.assigned_to;
    if (typeof holder === 'string' && holder !== request.requestedForId) {
      const user = await findUser(scope.db, holder);
      throw ValidationError.field('deviceCiId', `${ci.name} is assigned to ${user?.name ?? holder} already`);
    }
    if (holder === request.requestedForId && ci.attributes.assigned_by_request === request.number)
      return ci.id;
    await scope.kernel.services.cmdb.update(
      ci.id,
      {
        version: ci.version,
        attributes: {
          assigned_to: request.requestedForId,
          assigned_at: scope.now.toISOString(),
          assigned_by_request: request.number,
        },
      },
      { actor: withDeviceWrite(scope.actor, ci.id) },
    );
    return ci.id;
  }

  /** Checks an item's (or a patch's) form, approval steps and task templates against the database. */
  async #reviewItem(
    scope: WriteScope,
    i: {
      form?: CatalogItem['form'];
      approvalSteps?: readonly ApprovalStep[];
      tasks?: readonly TaskTemplate[];
    },
    prefix = '',
  ): Promise<ValidationIssue[]> {
    const issues: ValidationIssue[] = [];
    if (i.form) issues.push(...(await reviewForm(scope.db, i.form, `${prefix}form`)));
    for (const [n, step] of (i.approvalSteps ?? []).entries()) {
      if (step.groupId && !(await findGroup(scope.db, step.groupId.toLowerCase())))
        issues.push({ path: `${prefix}approvalSteps.${n}.groupId`, message: `no group ${step.groupId}` });
      if (step.role && !(await findRole(scope.db, step.role)))
        issues.push({ path: `${prefix}approvalSteps.${n}.role`, message: `no role ${step.role}` });
    }
    for (const [n, task] of (i.tasks ?? []).entries()) {
      if (task.assignmentGroupId && !(await findGroup(scope.db, task.assignmentGroupId.toLowerCase())))
        issues.push({
          path: `${prefix}tasks.${n}.assignmentGroupId`,
          message: `no group ${task.assignmentGroupId}`,
        });
      const ciClass = task.action?.ciClass;
      if (ciClass && (await classAndDescendants(scope.db, ciClass)).length === 0)
        issues.push({ path: `${prefix}tasks.${n}.action.ciClass`, message: `unknown CI class "${ciClass}"` });
    }
    return issues;
  }

  /** The steps og.approvals runs for a request; a manager step the asker would decide counts as given. */
  async #approvalsFor(
    scope: WriteScope,
    policy: readonly ApprovalStep[],
    forUser: { id: string; name: string; managerId: string | null },
    asker: string | null,
    issues: ValidationIssue[],
  ): Promise<ApprovalStepInput[]> {
    const steps: ApprovalStepInput[] = [];
    for (const step of policy) {
      if (step.kind === 'manager') {
        const manager = forUser.managerId ? await findUser(scope.db, forUser.managerId) : undefined;
        if (!manager?.active) {
          issues.push({
            path: 'requestedForId',
            message: `${forUser.name} has no active manager to approve this request: ask an administrator to set one`,
          });
          continue;
        }
        if (manager.id === asker) continue;
        steps.push({
          name: `Manager approval (${manager.name})`,
          approvers: { user: manager.id },
          quorum: 1,
        });
      } else if (step.kind === 'group') {
        const group = await findGroup(scope.db, step.groupId!);
        steps.push({
          name: `Approval by ${group?.name ?? 'group'}`,
          approvers: { group: step.groupId! },
          quorum: step.quorum ?? 1,
        });
      } else {
        steps.push({
          name: `Approval by role ${step.role}`,
          approvers: { role: step.role! },
          quorum: step.quorum ?? 1,
        });
      }
    }
    return steps;
  }

  async #find(
    db: Kernel['db'],
    idOrNumber: string,
    forUpdate = false,
  ): Promise<{ request: ServiceRequest; plan: RequestPlan } | undefined> {
    if (isUuid(idOrNumber)) return store.findRequest(db, { id: idOrNumber.toLowerCase() }, forUpdate);
    if (REQUEST_NUMBER.test(idOrNumber)) return store.findRequest(db, { number: idOrNumber }, forUpdate);
    return undefined;
  }

  /** Whether the actor may read the request (see the class comment); `approver`: also a pending approver. */
  async #mayRead(
    kernel: Kernel,
    actor: Actor | undefined,
    request: ServiceRequest,
    approver = true,
  ): Promise<boolean> {
    if (!actor || seesAll(actor)) return true;
    const me = actor.userId?.toLowerCase();
    if (!me) return false;
    if (can(actor, permissions.requestRead)) {
      if (request.requestedById === me || request.requestedForId === me) return true;
      const forUser = await findUser(kernel.db, request.requestedForId);
      if (forUser?.managerId === me) return true;
    }
    if (!approver || request.state !== 'awaiting_approval') return false;
    const approvals = kernel.services.approvals;
    for (const step of await approvals.forSubject({ type: REQUEST_SUBJECT, id: request.id }))
      if (step.state === 'pending' && (await approvals.mayDecide(step, actor))) return true;
    return false;
  }

  #assert(actor: Actor, permission: string): void {
    if (!can(actor, permission)) throw new ForbiddenError(permission, actor.name);
  }

  /** Browsing the catalog: request:read, request:create or request:admin. */
  #assertBrowse(actor: Actor | undefined): void {
    if (!actor) return;
    if (
      [permissions.requestRead, permissions.requestCreate, permissions.requestAdmin].some((p) =>
        can(actor, p),
      )
    )
      return;
    throw new ForbiddenError(permissions.requestRead, actor.name);
  }

  /** Reading requests: request:read (own ones), or request:fulfil / request:admin (all). */
  #assertReader(actor: Actor | undefined): void {
    if (!actor || seesAll(actor) || can(actor, permissions.requestRead)) return;
    throw new ForbiddenError(permissions.requestRead, actor.name);
  }

  /** Loads the request for update, checks visibility and version, then runs `fn`. */
  #writeRequest(
    id: string,
    { actor, version }: RequestChangeOptions,
    fn: (scope: WriteScope, request: ServiceRequest, plan: RequestPlan) => Promise<ServiceRequest>,
    { read }: { read?: 'approver' } = {},
  ): Promise<ServiceRequest> {
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#find(scope.db, id, true);
      if (!found || !(await this.#mayRead(scope.kernel, actor, found.request, read === 'approver')))
        throw new NotFoundError('request', id, 'id');
      if (version !== undefined && version !== found.request.version)
        throw ConflictError.staleVersion('request', found.request.number, version, found.request.version);
      return fn(scope, found.request, found.plan);
    });
  }

  /** Loads the task and its request for update (request:fulfil), checks the version, then runs `fn`. */
  #writeTask(
    id: string,
    { actor, version }: RequestChangeOptions,
    fn: (
      scope: WriteScope,
      task: RequestTask,
      request: ServiceRequest,
      plan: RequestPlan,
    ) => Promise<RequestTask>,
  ): Promise<RequestTask> {
    if (!seesAll(actor)) throw new ForbiddenError(permissions.requestFulfil, actor.name);
    return this.kernel.write(actor, async (scope) => {
      const key = isUuid(id) ? { id: id.toLowerCase() } : TASK_NUMBER.test(id) ? { number: id } : undefined;
      const task = key && (await store.findTask(scope.db, key));
      if (!task) throw new NotFoundError('task', id, 'id');
      // The request first, then the task: the order every writer of both takes.
      const found = (await store.findRequest(scope.db, { id: task.requestId }, true))!;
      const locked = (await store.findTask(scope.db, { id: task.id }, true))!;
      if (version !== undefined && version !== locked.version)
        throw ConflictError.staleVersion('task', locked.number, version, locked.version);
      return fn(scope, locked, found.request, found.plan);
    });
  }
}

/** Steps as stored: ids in lower case, quorum explicit. */
function normaliseSteps(steps: readonly ApprovalStep[]): ApprovalStep[] {
  return steps.map((s) =>
    s.kind === 'manager'
      ? { kind: 'manager', quorum: 1 }
      : s.kind === 'group'
        ? { kind: 'group', groupId: s.groupId!.toLowerCase(), quorum: s.quorum ?? 1 }
        : { kind: 'role', role: s.role!, quorum: s.quorum ?? 1 },
  );
}

/** Templates as stored: stage explicit, group ids in lower case. */
function normaliseTasks(tasks: readonly TaskTemplate[]): TaskTemplate[] {
  return tasks.map((t) => ({
    title: t.title,
    description: t.description ?? '',
    assignmentGroupId: t.assignmentGroupId?.toLowerCase() ?? null,
    stage: t.stage ?? 1,
    action: t.action ? { kind: t.action.kind, ciClass: t.action.ciClass ?? DEFAULT_DEVICE_CLASS } : null,
  }));
}

const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
