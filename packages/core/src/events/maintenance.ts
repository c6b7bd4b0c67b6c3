import { sql } from 'kysely';
import { maintenanceCoverage } from '../changes/store.js';
import { incidentIdsOfAlerts } from '../incidents/store.js';
import type { WriteScope } from '../kernel/kernel.js';
import { incidentsForAlerts } from './incident-rules-service.js';
import type { Alert } from './model.js';
import * as store from './store.js';

export interface SuppressionJudged {
  /** Live alerts a window now covers, marked suppressed (or moved to the window that lasts longer). */
  readonly suppressed: readonly Alert[];
  /** Live alerts whose window ended or was cancelled, with no other window covering their CI. */
  readonly unsuppressed: readonly Alert[];
  /** Of those, how many incident rules linked to an incident (opened one, or joined one). */
  readonly linkedToIncidents: number;
}

/**
 * Judges the suppression of live alerts again at `now`, so it follows the windows' times rather than
 * only the events' arrival: an alert open when a window starts is suppressed from then on, and one
 * still open when its window ends is no longer suppressed and, unless an incident already holds it,
 * goes through the incident rules as a newly opened one would (a fault that outlives the maintenance is
 * news). Idempotent.
 */
export async function judgeSuppression(scope: WriteScope, now: Date): Promise<SuppressionJudged> {
  const { db } = scope;
  // Alerts under a window that ended or was cancelled, or under none while one covers their CI.
  const { rows } = await sql<{ id: string; windowId: string | null }>`
    with recursive ${maintenanceCoverage(now)}
    select a.id, b.window_id
      from alerts a left join covering b on b.ci_id = a.ci_id
     where a.status in ('open', 'acknowledged')
       and (a.maintenance_window_id is null and b.window_id is not null
            or a.maintenance_window_id is not null
               and a.maintenance_window_id is distinct from b.window_id
               and not exists (select 1 from active x where x.id = a.maintenance_window_id))
     order by a.id`.execute(db);
  if (rows.length === 0) return { suppressed: [], unsuppressed: [], linkedToIncidents: 0 };

  const live = new Map(
    (
      await store.liveByIds(
        db,
        rows.map((r) => r.id),
      )
    ).map((a) => [a.id, a]),
  );
  const changes = rows.flatMap((r) => {
    const a = live.get(r.id);
    return a
      ? [{ id: a.id, flapping: a.flapping, maintenanceWindowId: r.windowId, rootAlertId: a.rootAlertId }]
      : [];
  });
  const updated = await store.setAlertStates(db, changes, now);
  const suppressed = updated.filter((a) => a.maintenanceWindowId !== null);
  const unsuppressed = updated.filter((a) => a.maintenanceWindowId === null);
  for (const alert of suppressed) scope.emit('alert.suppressed', { type: 'alert', id: alert.id }, { alert });
  for (const alert of unsuppressed)
    scope.emit('alert.unsuppressed', { type: 'alert', id: alert.id }, { alert });
  // Only alerts no incident holds yet: one opened before the window already has its incident (an
  // alert belongs to one incident), open or not.
  const held = await incidentIdsOfAlerts(
    db,
    unsuppressed.map((a) => a.id),
  );
  const linked = await incidentsForAlerts(
    scope,
    unsuppressed.filter((a) => !held.has(a.id)),
  );
  return { suppressed, unsuppressed, linkedToIncidents: linked.size };
}
