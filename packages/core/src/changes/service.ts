import type { ApprovalsSettled } from '../approvals/model.js';
import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  assertCan,
  permissions,
  type ReadOptions,
  systemActor,
  type WriteOptions,
} from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { afterTimeId, pageSize, timeIdPage } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import { type ChangeRequestChange, type FollowChangesOptions, followChanges } from './follow.js';
import {
  type AssignChangeInput,
  type Blackout,
  type BlackoutFilter,
  type BlackoutInput,
  type CancelMaintenanceOptions,
  type ChangeChangeOptions,
  type ChangeConflict,
  type ChangeFilter,
  type ChangePageRequest,
  type ChangeRequest,
  type ChangeTransitionInput,
  type CreateChangeInput,
  type MaintenanceFilter,
  type MaintenancePageRequest,
  type MaintenanceWindow,
  type MaintenanceWindowInput,
  maintenanceFilterInput,
  maintenanceWindowInput,
  type RescheduleChangeInput,
  type ResolvedChangesOptions,
  resolveChangesOptions,
  type UpdateChangeInput,
} from './model.js';
import { ChangeRequests } from './requests.js';
import * as store from './store.js';

const maintenanceSweepActor: Actor = systemActor('maintenance-sweep');

/** Whether `actor` may see `window`: change:read on every CI it names. */
const mayRead = (actor: Actor | undefined, window: MaintenanceWindow): boolean =>
  !actor || CiReach.of(actor, permissions.changeRead).hasAll(window.ciIds);

/**
 * Change management (ITIL); `og.changes`. Change requests (`create`, `update`, `assign`, `reschedule`,
 * `transition`, `conflicts`, `change`, `changes`, `follow`), authorised through `og.approvals` by a
 * policy per type; blackouts (`defineBlackout`, `cancelBlackout`, `blackouts`); and maintenance windows:
 * spans of time on CIs during which event management keeps their alerts but marks them suppressed (a
 * scheduled change holds one).
 */
export class ChangesService {
  readonly #requests: ChangeRequests;

  constructor(
    private readonly kernel: Kernel,
    options: ResolvedChangesOptions = resolveChangesOptions(),
  ) {
    this.#requests = new ChangeRequests(kernel, options);
  }

  /**
   * Opens a change request in `new` (change:write on each of its CIs, or everywhere without CIs). Its
   * business services come from impact analysis of its CIs; its risk, unless given, is assessed from
   * them (none low, one or two medium, three or more high). The requester defaults to the actor's user.
   */
  create(input: CreateChangeInput, options: WriteOptions): Promise<ChangeRequest> {
    return this.#requests.create(input, options);
  }

  /** Changes type, texts, risk (null: assess again) and CIs, while `new` or in `assess` (change:write). */
  update(id: string, patch: UpdateChangeInput, options: ChangeChangeOptions): Promise<ChangeRequest> {
    return this.#requests.update(id, patch, options);
  }

  /** Assigns to a group and optionally one of its members (change:write); null group unassigns. */
  assign(id: string, input: AssignChangeInput, options: ChangeChangeOptions): Promise<ChangeRequest> {
    return this.#requests.assign(id, input, options);
  }

  /**
   * Sets the planned window (change:write). In `authorize` and `scheduled` it is checked for conflicts
   * (`acceptConflicts` to accept overlapping changes; a blackout refuses a normal change regardless), and
   * a scheduled change's maintenance window moves with it.
   */
  reschedule(id: string, input: RescheduleChangeInput, options: ChangeChangeOptions): Promise<ChangeRequest> {
    return this.#requests.reschedule(id, input, options);
  }

  /**
   * Moves the change through its state machine (change:write): a forbidden move is a TransitionError
   * naming the allowed ones, and nothing changes; a stale `version` a ConflictError. See
   * `changeTransitions` and the README for what each move needs and does.
   */
  transition(id: string, input: ChangeTransitionInput, options: ChangeChangeOptions): Promise<ChangeRequest> {
    return this.#requests.transition(id, input, options);
  }

  /** What the change's planned window clashes with: other live changes and blackouts on related CIs. */
  conflicts(id: string, options: ReadOptions = {}): Promise<ChangeConflict[]> {
    return this.#requests.conflicts(id, options);
  }

  /** A change by id or number (change:read on each of its CIs); null when unknown or not visible. */
  change(idOrNumber: string, options: ReadOptions = {}): Promise<ChangeRequest | null> {
    return this.#requests.change(idOrNumber, options);
  }

  /** Several changes by id, those visible (for loaders). */
  changesByIds(ids: readonly string[], options: ReadOptions = {}): Promise<ChangeRequest[]> {
    return this.#requests.changesByIds(ids, options);
  }

  /** A keyset page of changes (change:read), newest first unless `orderBy` (createdAt, plannedStart, number). */
  changes(filter: ChangeFilter = {}, page: ChangePageRequest = {}, options: ReadOptions = {}) {
    return this.#requests.changes(filter, page, options);
  }

  /** Changes of the change requests matching `filter` after `after` (default: from now on), in order, none twice. */
  follow(
    filter: ChangeFilter = {},
    options: FollowChangesOptions = {},
  ): AsyncIterableIterator<ChangeRequestChange> {
    return followChanges(this.kernel, filter, options);
  }

  /** A blackout: no standard or normal change may be scheduled in it on its CI (and related CIs), or on any CI. */
  defineBlackout(input: BlackoutInput, options: WriteOptions): Promise<Blackout> {
    return this.#requests.defineBlackout(input, options);
  }

  cancelBlackout(id: string, options: ChangeChangeOptions): Promise<Blackout> {
    return this.#requests.cancelBlackout(id, options);
  }

  blackouts(filter: BlackoutFilter = {}, options: ReadOptions = {}): Promise<Blackout[]> {
    return this.#requests.blackouts(filter, options);
  }

  /** What `og.approvals` calls, in the deciding transaction, when a change's approvals settle. */
  approvalsSettled(settled: ApprovalsSettled, scope: WriteScope): Promise<void> {
    return this.#requests.approvalsSettled(settled, scope);
  }

  /**
   * Schedules a maintenance window on live CIs (change:write on each). It covers the CIs named and
   * what they contain (`contains`, transitively, as it is when an alert arrives).
   */
  async scheduleMaintenance(
    input: MaintenanceWindowInput,
    { actor }: WriteOptions,
  ): Promise<MaintenanceWindow> {
    const reach = CiReach.of(actor, permissions.changeWrite);
    const w = parseInput(maintenanceWindowInput, input);
    const ciIds = [...new Set(w.ciIds.map((id) => id.toLowerCase()))];
    reach.assertEach(ciIds);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const live = await store.liveCis(db, ciIds);
      const missing = ciIds.flatMap((id) =>
        live.has(id)
          ? []
          : [
              {
                path: `ciIds.${w.ciIds.findIndex((x) => x.toLowerCase() === id)}`,
                message: `no live CI ${id}`,
              },
            ],
      );
      if (missing.length > 0) throw new ValidationError(missing);
      const window = await store.insertWindow(db, {
        id: crypto.randomUUID(),
        name: w.name,
        reason: w.reason,
        ciIds,
        startsAt: w.startsAt,
        endsAt: w.endsAt,
        changeId: w.changeId?.toLowerCase() ?? null,
        createdBy: actorRef(actor),
        createdAt: now,
      });
      emit('maintenance.scheduled', { type: 'maintenance_window', id: window.id }, { window });
      return window;
    });
  }

  /**
   * Announces the windows whose time came, once each: `maintenance.started`, `maintenance.ended`
   * (cancelled windows are not: their cancel said it). Idempotent, exact across replicas; what the
   * scheduler's `maintenance` sweep runs, with `og.events.judgeSuppression`.
   */
  sweepWindows(
    { now }: { now?: Date } = {},
    actor: Actor = maintenanceSweepActor,
  ): Promise<{ started: MaintenanceWindow[]; ended: MaintenanceWindow[] }> {
    assertCan(actor, permissions.changeWrite);
    return this.kernel.write(actor, async (scope) => {
      const edges = await store.noteWindowEdges(scope.db, now ?? scope.now);
      for (const window of edges.started)
        scope.emit('maintenance.started', { type: 'maintenance_window', id: window.id }, { window });
      for (const window of edges.ended)
        scope.emit('maintenance.ended', { type: 'maintenance_window', id: window.id }, { window });
      return edges;
    });
  }

  /** Cancels a window that has not ended (change:write on each CI it names); alerts arriving after are not suppressed by it. */
  async cancelMaintenance(
    id: string,
    { actor, version }: CancelMaintenanceOptions,
  ): Promise<MaintenanceWindow> {
    const reach = CiReach.of(actor, permissions.changeWrite);
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const window = isUuid(id) ? await store.findWindow(db, id.toLowerCase(), true) : undefined;
      if (!window || !mayRead(actor, window)) throw new NotFoundError('maintenance window', id, 'id');
      reach.assertEach(window.ciIds, 'id');
      if (version !== undefined && version !== window.version)
        throw ConflictError.staleVersion('maintenance window', window.id, version, window.version);
      if (window.cancelledAt)
        throw new ConflictError(`maintenance window ${window.id} is cancelled already`, 'id', window.version);
      if (window.endsAt <= now)
        throw new ConflictError(
          `maintenance window ${window.id} has ended; there is nothing to cancel`,
          'id',
          window.version,
        );
      const cancelled = await store.cancelWindow(db, window.id, now, actorRef(actor));
      emit('maintenance.cancelled', { type: 'maintenance_window', id: window.id }, { window: cancelled });
      return cancelled;
    });
  }

  /** A window (change:read on each CI it names); null when unknown or not visible. */
  async maintenanceWindow(id: string, { actor }: ReadOptions = {}): Promise<MaintenanceWindow | null> {
    CiReach.of(actor, permissions.changeRead);
    if (!isUuid(id)) return null;
    const window = await store.findWindow(this.kernel.db, id.toLowerCase());
    return window && mayRead(actor, window) ? window : null;
  }

  /**
   * A keyset page of windows, latest start first (change:read; a scoped reader sees the windows all of
   * whose CIs are in reach). Cancelled ones only with `includeCancelled`.
   */
  async maintenanceWindows(
    filter: MaintenanceFilter = {},
    page: MaintenancePageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<MaintenanceWindow>> {
    const reach = CiReach.of(actor, permissions.changeRead);
    const f = parseInput(maintenanceFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const after = afterTimeId(page.after);
    const rows = await store.listWindows(this.kernel.db, {
      activeAt: f.activeAt,
      ciId: f.ciId?.toLowerCase(),
      includeCancelled: f.includeCancelled ?? false,
      reach: reach.where('m.ci_id'),
      after,
      limit: first + 1,
    });
    return timeIdPage(rows, first, (row) => row.startsAt);
  }
}
