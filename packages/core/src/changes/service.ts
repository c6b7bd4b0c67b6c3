import type { Page } from '../cmdb/model.js';
import { type Actor, actorRef, permissions, type ReadOptions, type WriteOptions } from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { afterTimeId, pageSize, timeIdPage } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type CancelMaintenanceOptions,
  type MaintenanceFilter,
  type MaintenancePageRequest,
  type MaintenanceWindow,
  type MaintenanceWindowInput,
  maintenanceFilterInput,
  maintenanceWindowInput,
} from './model.js';
import * as store from './store.js';

/** Whether `actor` may see `window`: change:read on every CI it names. */
const mayRead = (actor: Actor | undefined, window: MaintenanceWindow): boolean =>
  !actor || CiReach.of(actor, permissions.changeRead).hasAll(window.ciIds);

/**
 * Change management (ITIL), so far its maintenance windows: spans of time on CIs during which event
 * management keeps their alerts but marks them suppressed; `og.changes`.
 */
export class ChangesService {
  constructor(private readonly kernel: Kernel) {}

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
