import { coveringWindows } from '../changes/store.js';
import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  assertCan,
  can,
  canOn,
  permissions,
  type ReadOptions,
  systemActor,
  type WriteOptions,
} from '../kernel/actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { trySweepLock } from '../kernel/scheduler-store.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import { type AlertChange, type FollowAlertsOptions, followAlerts } from './alert-changes.js';
import { parseAlertCursor, parseAlertOrder } from './alert-order.js';
import { adoptable, type CorrelatedAlert, rootsFor } from './correlation.js';
import type {
  IncidentRule,
  IncidentRuleChangeOptions,
  IncidentRuleInput,
  IncidentRulePatch,
} from './incident-rules.js';
import * as incidentRules from './incident-rules-service.js';
import { incidentsForAlerts } from './incident-rules-service.js';
import { judgeSuppression, type SuppressionJudged } from './maintenance.js';
import {
  type Alert,
  type AlertChangeOptions,
  type AlertFilter,
  type AlertPageRequest,
  alertFilterInput,
  type EventAction,
  type EventInput,
  type EventOccurrence,
  type IngestOptions,
  type IngestResult,
  type NormalizedEvent,
  OCCURRENCES_KEPT_PER_ALERT,
  OCCURRENCES_TRIM_STEP,
  type ResolvedEventsOptions,
  resolveEventsOptions,
} from './model.js';
import { normalizeGeneric } from './normalize.js';
import {
  applyRules,
  compileRule,
  type EventRule,
  type EventRuleInput,
  type EventRulePatch,
  type RuleChangeOptions,
  type RuledEvent,
} from './rules.js';
import * as rules from './rules-service.js';
import * as rulesStore from './rules-store.js';
import * as store from './store.js';

/** Who judges suppression when maintenance windows begin and end. */
export const maintenanceSweepActor: Actor = systemActor('maintenance-sweep');

/** How many times an ingest that lost a deadlock is tried in all. */
const INGEST_ATTEMPTS = 3;

/** Whether `actor` (none: trusted code) may see `alert`: on its CI, or everywhere for an alert on no CI. */
function mayRead(actor: Actor | undefined, alert: Alert): boolean {
  if (!actor) return true;
  return alert.ciId ? canOn(actor, permissions.eventRead, alert.ciId) : can(actor, permissions.eventRead);
}

/**
 * Event management (ITIL): events from monitoring (normalised by `normalizeGeneric`,
 * `normalizeAlertmanager`, `normalizePagerDuty`) become alerts, one live (open or acknowledged) alert
 * per dedup key, bound to the CI they are about; `og.events`.
 */
export class EventsService {
  constructor(
    private readonly kernel: Kernel,
    private readonly options: ResolvedEventsOptions = resolveEventsOptions(),
  ) {}

  /**
   * Ingests one event or many (event:write), in one transaction; a bad event is a ValidationError
   * naming it (`3.severity`) and nothing is written. Per event, in input order: a trigger opens an
   * alert or repeats the live one of its dedup key (count and lastSeen grow in SQL, so concurrent
   * ingests lose no increment); a clear/resolve closes it; an acknowledge acknowledges it; an event
   * after a close opens a new alert. Events without a `ciId` are bound by node (host name, name, IP).
   */
  async ingest(
    events: EventInput | readonly EventInput[],
    { actor }: IngestOptions,
  ): Promise<IngestResult[]> {
    assertCan(actor, permissions.eventWrite);
    const list = normalizeGeneric(events);
    if (list.length === 0) return [];
    const run = () =>
      this.kernel.write(actor, (scope) => ingestEvents(scope, list, Array.isArray(events), this.options));
    // Correlation and regrouping update alerts other batches may hold: two concurrent batches can
    // deadlock, and PostgreSQL then aborts one. Its transaction left nothing behind, so it runs again
    // (not inside a caller's transaction, which is the caller's to retry).
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const code = (error as { code?: string } | null)?.code;
        if (this.kernel.inTransaction || attempt >= INGEST_ATTEMPTS || (code !== '40P01' && code !== '40001'))
          throw error;
        this.kernel.logger.warn({ attempt, code }, 'event ingest lost a deadlock; running it again');
      }
    }
  }

  /**
   * Judges live alerts' maintenance suppression again by the windows' times (see `judgeSuppression`);
   * what the scheduler's `maintenance` sweep runs after `og.changes.sweepWindows`. Idempotent.
   */
  judgeSuppression(
    { now }: { now?: Date } = {},
    actor: Actor = maintenanceSweepActor,
  ): Promise<SuppressionJudged> {
    assertCan(actor, permissions.eventAdmin);
    return this.kernel.write(actor, async (scope) =>
      // One judge at a time (re-entrant inside the scheduler's own hold of it).
      (await trySweepLock(scope.db, 'maintenance'))
        ? judgeSuppression(scope, now ?? scope.now)
        : { suppressed: [], unsuppressed: [], linkedToIncidents: 0 },
    );
  }

  /** Acknowledges an open alert (event:write on its CI); `version`, when given, must be current. */
  acknowledge(id: string, options: AlertChangeOptions): Promise<Alert> {
    return this.#change(id, 'acknowledged', options);
  }

  /** Closes an open or acknowledged alert (event:write on its CI); a later event opens a new one. */
  close(id: string, options: AlertChangeOptions): Promise<Alert> {
    return this.#change(id, 'closed', options);
  }

  /** An alert (event:read on its CI, or everywhere for an alert on no CI); null when unknown or unseen. */
  async alert(id: string, { actor }: ReadOptions = {}): Promise<Alert | null> {
    CiReach.of(actor, permissions.eventRead);
    if (!isUuid(id)) return null;
    const alert = await store.findAlert(this.kernel.db, id.toLowerCase());
    return alert && mayRead(actor, alert) ? alert : null;
  }

  /**
   * A keyset page of alerts (event:read), by `page.orderBy` (default: most recently seen first);
   * continue with `after: endCursor` under the same order. A reader holding event:read on some CIs
   * only sees the alerts bound to those; alerts on no CI need it everywhere.
   */
  async alerts(
    filter: AlertFilter = {},
    page: AlertPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Alert>> {
    const reach = CiReach.of(actor, permissions.eventRead);
    const f = parseInput(alertFilterInput, filter, 'filter');
    const order = parseAlertOrder(page.orderBy);
    const first = pageSize(page.first);
    const rows = await store.listAlerts(this.kernel.db, {
      ...f,
      ciId: f.ciId?.toLowerCase(),
      rootAlertId: f.rootAlertId?.toLowerCase(),
      reach: reach.where('ci_id'),
      order,
      ...(page.after ? { after: parseAlertCursor(page.after, order) } : {}),
      limit: first + 1,
    });
    const edges = rows.slice(0, first).map(({ alert, cursor }) => ({ cursor, node: alert }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /**
   * The events stored for an alert, newest first (the latest OCCURRENCES_KEPT_PER_ALERT are kept);
   * visible as the alert is.
   */
  async eventsOf(
    alertId: string,
    { actor, first }: ReadOptions & { readonly first?: number } = {},
  ): Promise<EventOccurrence[]> {
    const limit = occurrenceLimit(first);
    const alert = await this.alert(alertId, { actor });
    if (!alert) throw new NotFoundError('alert', alertId, 'alertId');
    return store.listOccurrences(this.kernel.db, alert.id, limit);
  }

  /** The event rules in the order they apply (event:read). */
  rules(options: ReadOptions = {}): Promise<EventRule[]> {
    return rules.listRules(this.kernel, options);
  }

  /** An event rule (event:read); null when unknown. */
  rule(id: string, options: ReadOptions = {}): Promise<EventRule | null> {
    return rules.findRule(this.kernel, id, options);
  }

  /**
   * Adds an event rule (event:admin). Rules apply to every later ingest in ascending `position` (then
   * name); a bad pattern, an unknown template placeholder or a CI that is not live is refused naming
   * the field (`match.node.regex`, `actions.message`, `actions.ciId`).
   */
  createRule(input: EventRuleInput, { actor }: WriteOptions): Promise<EventRule> {
    return rules.createRule(this.kernel, input, actor);
  }

  /** Changes an event rule (event:admin): the fields given replace the rule's. */
  updateRule(id: string, patch: EventRulePatch, options: RuleChangeOptions): Promise<EventRule> {
    return rules.updateRule(this.kernel, id, patch, options);
  }

  /** Deletes an event rule (event:admin); alerts it shaped stay as they are. */
  deleteRule(id: string, options: RuleChangeOptions): Promise<EventRule> {
    return rules.deleteRule(this.kernel, id, options);
  }

  /** The alert -> incident rules in the order they apply (event:read). */
  incidentRules(options: ReadOptions = {}): Promise<IncidentRule[]> {
    return incidentRules.listIncidentRules(this.kernel, options);
  }

  /**
   * Adds an alert -> incident rule (event:admin): new alerts matching it (severity, source, labels, CI
   * class, tier of the business services the CI affects) open an incident with its impact, urgency and
   * assignment group, unless flapping or suppressed, or their root alert or an earlier alert of their
   * dedup key already has an active incident, which they join instead.
   */
  createIncidentRule(input: IncidentRuleInput, { actor }: WriteOptions): Promise<IncidentRule> {
    return incidentRules.createIncidentRule(this.kernel, input, actor);
  }

  updateIncidentRule(
    id: string,
    patch: IncidentRulePatch,
    options: IncidentRuleChangeOptions,
  ): Promise<IncidentRule> {
    return incidentRules.updateIncidentRule(this.kernel, id, patch, options);
  }

  deleteIncidentRule(id: string, options: IncidentRuleChangeOptions): Promise<IncidentRule> {
    return incidentRules.deleteIncidentRule(this.kernel, id, options);
  }

  /**
   * `eventsOf` for many alerts in one query (a DataLoader batch), in the order of `alertIds`: an
   * alert unknown or not visible has none.
   */
  async eventsOfAlerts(
    alertIds: readonly string[],
    { actor, first }: ReadOptions & { readonly first?: number } = {},
  ): Promise<EventOccurrence[][]> {
    const reach = CiReach.of(actor, permissions.eventRead);
    const limit = occurrenceLimit(first);
    const ids = [...new Set(alertIds.filter((id) => isUuid(id)).map((id) => id.toLowerCase()))];
    const byAlert = new Map<string, EventOccurrence[]>();
    for (const o of await store.listOccurrencesOf(this.kernel.db, ids, limit, reach.where('alerts.ci_id'))) {
      const list = byAlert.get(o.alertId);
      if (list) list.push(o);
      else byAlert.set(o.alertId, [o]);
    }
    return alertIds.map((id) => byAlert.get(id.toLowerCase()) ?? []);
  }

  /**
   * Changes of alerts matching `filter` after `after` (default: from now on), in commit order: the
   * backlog first, then live ones. With an actor, each is judged as it comes (event:read on the
   * alert's CI, or everywhere for one on no CI); losing event:read altogether ends it with FORBIDDEN.
   */
  followAlerts(options: FollowAlertsOptions = {}): AsyncIterableIterator<AlertChange> {
    CiReach.of(options.actor, permissions.eventRead);
    return followAlerts(this.kernel, options);
  }

  #change(id: string, to: 'acknowledged' | 'closed', { actor, version }: AlertChangeOptions): Promise<Alert> {
    return this.kernel.write(actor, async (scope) => {
      const { db, now, emit } = scope;
      const alert = isUuid(id) ? await store.findAlert(db, id.toLowerCase(), true) : undefined;
      if (!alert || !mayRead(actor, alert)) throw new NotFoundError('alert', id, 'id');
      const allowed = alert.ciId
        ? canOn(actor, permissions.eventWrite, alert.ciId)
        : can(actor, permissions.eventWrite);
      if (!allowed)
        throw new ForbiddenError(permissions.eventWrite, actor.name, 'id', {
          on: alert.ciId ? `CI ${alert.ciId}` : undefined,
        });
      if (version !== undefined && version !== alert.version)
        throw ConflictError.staleVersion('alert', alert.id, version, alert.version);
      if (alert.status === 'closed' || (to === 'acknowledged' && alert.status === 'acknowledged'))
        throw new ConflictError(`alert ${alert.id} is ${alert.status} already`, 'id', alert.version);
      const changed = await store.setStatus(db, alert.id, to, now, actorRef(actor));
      emit(
        to === 'closed' ? 'alert.closed' : 'alert.acknowledged',
        { type: 'alert', id: alert.id },
        { alert: changed },
      );
      if (to === 'closed')
        for (const change of await regroupAfterClose(scope, [changed.id], this.options))
          emit('alert.grouped', { type: 'alert', id: change.alert.id }, change);
      return changed;
    });
  }
}

/**
 * How many occurrences a read returns: `first` (validated), never more than the kept number, since an
 * alert may store a few more until its next trim and a reader should not see that vary.
 */
const occurrenceLimit = (first: number | undefined) =>
  Math.min(OCCURRENCES_KEPT_PER_ALERT, first === undefined ? OCCURRENCES_KEPT_PER_ALERT : pageSize(first));

/**
 * The alerts whose older occurrences this call should remove. An alert never stored more occurrences
 * than its triggers plus lifecycle changes (`count + version`), so one below the kept number needs
 * nothing. Above it, an alert is trimmed when that bound crosses a multiple of OCCURRENCES_TRIM_STEP
 * during the call (or the call stores a step's worth for it): once per step, not on every event,
 * which at steady state (every alert full) would cost a trim of each alert touched, every call.
 */
function alertsToTrim(
  occurrences: readonly store.OccurrenceRow[],
  latest: ReadonlyMap<string, Alert>,
): string[] {
  const stored = new Map<string, number>();
  for (const o of occurrences) stored.set(o.alertId, (stored.get(o.alertId) ?? 0) + 1);
  return [...stored].flatMap(([id, added]) => {
    const alert = latest.get(id);
    if (!alert) return [id];
    const bound = alert.count + alert.version;
    if (bound <= OCCURRENCES_KEPT_PER_ALERT) return [];
    const crossed =
      added >= OCCURRENCES_TRIM_STEP ||
      Math.floor(bound / OCCURRENCES_TRIM_STEP) !== Math.floor((bound - added) / OCCURRENCES_TRIM_STEP);
    return crossed ? [id] : [];
  });
}

/** A run of events of one dedup key with the same action, in input order. */
interface Segment {
  readonly action: EventAction;
  readonly indices: number[];
}

/**
 * The ingest itself. Rules run first (in memory, compiled once per call). Each dedup key's events then
 * split into runs of one action (trigger×n, resolve, trigger×m …); round r applies every key's r-th run
 * in a few set-based statements (upsert triggers, judge what opened or repeated, close, acknowledge), so
 * a batch costs a few statements whatever its size, and the usual batch (each key one run) is one round.
 */
async function ingestEvents(
  scope: WriteScope,
  original: NormalizedEvent[],
  isList: boolean,
  options: ResolvedEventsOptions,
): Promise<IngestResult[]> {
  const { db, now, emit } = scope;
  const by = actorRef(scope.actor);
  const compiled = (await rulesStore.listRules(db, true)).map(compileRule);
  const ruled = original.map((event) => applyRules(compiled, event));
  const events = ruled.map((r) => r.event);
  const bindingOf = await bindEvents(scope, ruled, isList);

  const segments = new Map<string, Segment[]>();
  events.forEach((event, i) => {
    if (ruled[i]!.ignoredBy) return;
    const runs = segments.get(event.dedupKey) ?? [];
    const last = runs.at(-1);
    if (last && last.action === event.action) last.indices.push(i);
    else runs.push({ action: event.action, indices: [i] });
    segments.set(event.dedupKey, runs);
  });
  const rounds = Math.max(0, ...[...segments.values()].map((runs) => runs.length));

  const results: IngestResult[] = events.map((e, i) => ({
    dedupKey: e.dedupKey,
    alertId: null,
    outcome: 'ignored',
    ignoredBy: ruled[i]!.ignoredBy,
  }));
  const latest = new Map<string, Alert>();
  /** Repeats per alert not yet announced: one `alert.updated` per alert per call. */
  const repeats = new Map<string, number>();
  const occurrences: store.OccurrenceRow[] = [];
  const announce = (alertId: string) => {
    const n = repeats.get(alertId);
    if (n === undefined) return;
    repeats.delete(alertId);
    emit('alert.updated', { type: 'alert', id: alertId }, { alert: latest.get(alertId)!, repeats: n });
  };
  const keep = (alertId: string, indices: readonly number[]) => {
    for (const i of indices.slice(-OCCURRENCES_KEPT_PER_ALERT))
      occurrences.push({ alertId, event: events[i]!, ciId: bindingOf(i) });
  };
  const grouped = (changes: readonly { alert: Alert; previousRootAlertId: string | null }[]) => {
    for (const change of changes) {
      latest.set(change.alert.id, change.alert);
      emit('alert.grouped', { type: 'alert', id: change.alert.id }, change);
    }
  };

  for (let round = 0; round < rounds; round++) {
    const triggers = new Map<string, store.TriggerRow>();
    const closing = new Map<string, Segment>();
    const acking = new Map<string, Segment>();
    const runOf = new Map<string, Segment>();
    for (const [key, runs] of segments) {
      const run = runs[round];
      if (!run) continue;
      runOf.set(key, run);
      if (run.action === 'resolve') closing.set(key, run);
      else if (run.action === 'acknowledge') acking.set(key, run);
      else {
        const lastIndex = run.indices.at(-1)!;
        const last = events[lastIndex]!;
        const bound = run.indices.map(bindingOf).findLast((id) => id !== null) ?? null;
        triggers.set(key, {
          id: crypto.randomUUID(),
          dedupKey: key,
          severity: last.severity === 'clear' ? 'info' : last.severity,
          source: last.source,
          node: last.node,
          resource: last.resource,
          type: last.type,
          message: last.message,
          labels: { ...last.labels },
          ciId: bound,
          count: run.indices.length,
          seen: now.toISOString(),
          groupKey: ruled[lastIndex]!.groupKey,
        });
      }
    }

    const { alerts: upserted, opened } = await store.upsertTriggers(db, [...triggers.values()], now);
    const judged = await judgeTriggered(scope, upserted, opened, options);
    grouped(judged.adopted);
    for (const row of judged.alerts) {
      const run = runOf.get(row.dedupKey)!;
      const inserted = opened.has(row.id);
      latest.set(row.id, row);
      run.indices.forEach((i, n) => {
        results[i] = {
          dedupKey: row.dedupKey,
          alertId: row.id,
          outcome: inserted && n === 0 ? 'opened' : 'repeated',
          ignoredBy: null,
        };
      });
      if (inserted) emit('alert.opened', { type: 'alert', id: row.id }, { alert: row });
      const repeated = run.indices.length - (inserted ? 1 : 0);
      if (repeated > 0) repeats.set(row.id, (repeats.get(row.id) ?? 0) + repeated);
      keep(row.id, run.indices);
    }

    const closed = await store.closeByKeys(db, [...closing.keys()], now, by);
    for (const alert of closed) {
      const run = closing.get(alert.dedupKey)!;
      const first = run.indices[0]!;
      results[first] = { dedupKey: alert.dedupKey, alertId: alert.id, outcome: 'closed', ignoredBy: null };
      announce(alert.id);
      latest.set(alert.id, alert);
      emit('alert.closed', { type: 'alert', id: alert.id }, { alert });
      keep(alert.id, [first]);
    }
    grouped(
      await regroupAfterClose(
        scope,
        closed.map((a) => a.id),
        options,
      ),
    );

    for (const alert of await store.acknowledgeByKeys(db, [...acking.keys()], now, by)) {
      const run = acking.get(alert.dedupKey)!;
      const first = run.indices[0]!;
      results[first] = {
        dedupKey: alert.dedupKey,
        alertId: alert.id,
        outcome: 'acknowledged',
        ignoredBy: null,
      };
      latest.set(alert.id, alert);
      emit('alert.acknowledged', { type: 'alert', id: alert.id }, { alert });
      keep(alert.id, [first]);
    }
  }
  for (const alertId of [...repeats.keys()]) announce(alertId);
  const trim = alertsToTrim(occurrences, latest);
  await store.storeOccurrences(db, occurrences, now, trim);
  // Alerts this call opened and left live, as they ended up: some may open or join incidents.
  const openedLive = [
    ...new Set(results.flatMap((r) => (r.outcome === 'opened' && r.alertId ? [r.alertId] : []))),
  ]
    .map((id) => latest.get(id)!)
    .filter((a) => a.status !== 'closed');
  await incidentsForAlerts(scope, openedLive);
  return results;
}

const toCorrelated = (a: Alert): CorrelatedAlert => ({
  id: a.id,
  ciId: a.ciId!,
  firstSeen: a.firstSeen,
  rootAlertId: a.rootAlertId,
});

/**
 * What the alerts a round opened or repeated are, beyond their counts: flapping (those it opened, by
 * how often their key closed within the flapping window), suppressed (any of them whose CI is in an
 * active maintenance window now, directly or inside a CI under maintenance; a repeat after the window
 * is no longer suppressed), and grouped (those it opened, by topology correlation, which may also
 * adopt live alerts the new ones explain). One UPDATE writes what changed.
 */
async function judgeTriggered(
  scope: WriteScope,
  upserted: readonly Alert[],
  opened: ReadonlySet<string>,
  options: ResolvedEventsOptions,
): Promise<{ alerts: Alert[]; adopted: { alert: Alert; previousRootAlertId: string | null }[] }> {
  const { db, now } = scope;
  if (upserted.length === 0) return { alerts: [], adopted: [] };
  const fresh = upserted.filter((a) => opened.has(a.id));
  const closes = await store.closesSince(
    db,
    fresh.map((a) => a.dedupKey),
    new Date(now.getTime() - options.flapping.windowMs),
  );
  const windows = await coveringWindows(
    db,
    [...new Set(upserted.flatMap((a) => (a.ciId ? [a.ciId] : [])))],
    now,
  );
  const correlation = options.correlation;
  const bound = fresh.filter((a) => a.ciId !== null).map(toCorrelated);
  const decided = correlation && bound.length > 0 ? await rootsFor(db, bound, correlation) : null;

  const changes = upserted.flatMap((a) => {
    const flapping = opened.has(a.id) ? (closes.get(a.dedupKey) ?? 0) > options.flapping.cycles : a.flapping;
    const maintenanceWindowId = a.ciId ? (windows.get(a.ciId) ?? null) : null;
    const rootAlertId = decided?.roots.get(a.id) ?? a.rootAlertId;
    return flapping !== a.flapping ||
      maintenanceWindowId !== a.maintenanceWindowId ||
      rootAlertId !== a.rootAlertId
      ? [{ id: a.id, flapping, maintenanceWindowId, rootAlertId }]
      : [];
  });
  const updated = new Map((await store.setAlertStates(db, changes, now)).map((a) => [a.id, a]));
  const alerts = upserted.map((a) => updated.get(a.id) ?? a);

  // New roots (new alerts in no group) take in the live, ungrouped alerts they explain, with their groups.
  const adopted: { alert: Alert; previousRootAlertId: string | null }[] = [];
  if (correlation && decided) {
    const tops = bound.filter((a) => !decided.roots.get(a.id));
    const taken = await adoptable(db, tops, opened, correlation, decided.carrying);
    if (taken.size > 0) {
      const adoptedIds = [...taken.keys()];
      const members = await store.liveMembersOf(db, adoptedIds);
      const moves = [
        ...(await store.liveByIds(db, adoptedIds)).map((a) => ({ a, root: taken.get(a.id)!.id })),
        ...members.map((a) => ({ a, root: taken.get(a.rootAlertId!)!.id })),
      ];
      const moved = await store.setAlertStates(
        db,
        moves.map(({ a, root }) => ({
          id: a.id,
          flapping: a.flapping,
          maintenanceWindowId: a.maintenanceWindowId,
          rootAlertId: root,
        })),
        now,
      );
      const before = new Map(moves.map(({ a }) => [a.id, a.rootAlertId]));
      for (const alert of moved) adopted.push({ alert, previousRootAlertId: before.get(alert.id) ?? null });
    }
  }
  // An alert repeated in this round may have been adopted just now: report it as it ends.
  const after = new Map(adopted.map(({ alert }) => [alert.id, alert]));
  return { alerts: alerts.map((a) => after.get(a.id) ?? a), adopted };
}

/**
 * After roots close, their groups' live members are judged again: each joins the root of another live
 * alert that explains it (possibly another former member), or stands alone.
 */
async function regroupAfterClose(
  scope: WriteScope,
  closedIds: readonly string[],
  options: ResolvedEventsOptions,
): Promise<{ alert: Alert; previousRootAlertId: string | null }[]> {
  const { db, now } = scope;
  if (closedIds.length === 0) return [];
  const detached = await store.detachMembers(db, closedIds, now);
  if (detached.length === 0) return [];
  const members = detached.map((d) => d.alert);
  const bound = members.filter((a) => a.ciId !== null).map(toCorrelated);
  const decided =
    options.correlation && bound.length > 0 ? await rootsFor(db, bound, options.correlation) : null;
  const rooted = members.flatMap((a) => {
    const root = decided?.roots.get(a.id) ?? null;
    return root
      ? [{ id: a.id, flapping: a.flapping, maintenanceWindowId: a.maintenanceWindowId, rootAlertId: root }]
      : [];
  });
  const regrouped = new Map((await store.setAlertStates(db, rooted, now)).map((a) => [a.id, a]));
  return detached.map(({ alert, previousRootAlertId }) => ({
    alert: regrouped.get(alert.id) ?? alert,
    previousRootAlertId,
  }));
}

/**
 * Binds each event to a CI, in one or two queries for the whole batch. In order: the CI a rule set (if
 * live), the one CI a rule's `bindBy` lookup finds, the sender's `ciId` (which must be a live CI),
 * else the CI whose `hostname` attribute, else name, else an `ip`-typed attribute equals its node (any
 * case). A node or lookup several CIs answer to at the strongest level stays unbound rather than guessed.
 */
async function bindEvents(
  scope: WriteScope,
  ruled: readonly RuledEvent[],
  isList: boolean,
): Promise<(index: number) => string | null> {
  const kept = ruled.filter((r) => !r.ignoredBy);
  const explicit = [
    ...new Set(kept.flatMap((r) => [r.event.ciId, r.ciId].filter((id): id is string => id !== null))),
  ];
  const nodes = [
    ...new Set(kept.flatMap((r) => (r.event.ciId || r.ciId ? [] : [r.event.node.toLowerCase()]))),
  ];
  const lookupKey = (l: { attribute: string; value: string }) =>
    `${l.attribute}\u0000${l.value.toLowerCase()}`;
  const wanted = [
    ...new Map(kept.flatMap((r) => (r.bindBy ? [[lookupKey(r.bindBy), r.bindBy] as const] : []))).values(),
  ];
  const [matches, found] = await Promise.all([
    store.matchCis(scope.db, explicit, nodes),
    store.lookupCis(scope.db, wanted),
  ]);
  const live = new Set(matches.filter((m) => m.rank === 0).map((m) => m.id));
  const missing = ruled.flatMap((r, i) =>
    !r.ignoredBy && r.event.ciId && !live.has(r.event.ciId)
      ? [{ path: isList ? `${i}.ciId` : 'ciId', message: `no live CI ${r.event.ciId}` }]
      : [],
  );
  if (missing.length > 0) throw new ValidationError(missing);

  const looked = new Map<string, Set<string>>();
  for (const f of found) {
    const key = lookupKey(f);
    looked.set(key, (looked.get(key) ?? new Set()).add(f.id));
  }
  const best = new Map<string, { rank: number; ids: Set<string> }>();
  for (const m of matches) {
    if (m.rank === 0 || m.node === null) continue;
    const seen = best.get(m.node);
    if (!seen || m.rank < seen.rank) best.set(m.node, { rank: m.rank, ids: new Set([m.id]) });
    else if (m.rank === seen.rank) seen.ids.add(m.id);
  }
  const byNode = new Map<string, string | null>();
  for (const [node, { ids }] of best) byNode.set(node, ids.size === 1 ? [...ids][0]! : null);
  return (i) => {
    const r = ruled[i]!;
    if (r.ciId && live.has(r.ciId)) return r.ciId;
    const lookedUp = r.bindBy ? looked.get(lookupKey(r.bindBy)) : undefined;
    if (lookedUp?.size === 1) return [...lookedUp][0]!;
    return r.event.ciId ?? byNode.get(r.event.node.toLowerCase()) ?? null;
  };
}
