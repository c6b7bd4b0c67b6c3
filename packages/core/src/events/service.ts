import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  assertCan,
  can,
  canOn,
  permissions,
  type ReadOptions,
} from '../kernel/actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { parseInput } from '../kernel/validation.js';
import { type AlertChange, type FollowAlertsOptions, followAlerts } from './alert-changes.js';
import { parseAlertCursor, parseAlertOrder } from './alert-order.js';
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
} from './model.js';
import { normalizeGeneric } from './normalize.js';
import * as store from './store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  constructor(private readonly kernel: Kernel) {}

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
    return this.kernel.write(actor, (scope) => ingestEvents(scope, list, Array.isArray(events)));
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
    if (!UUID.test(id)) return null;
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
    const limit = first === undefined ? OCCURRENCES_KEPT_PER_ALERT : pageSize(first);
    const alert = await this.alert(alertId, { actor });
    if (!alert) throw new NotFoundError('alert', alertId, 'alertId');
    return store.listOccurrences(this.kernel.db, alert.id, limit);
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
    const limit = first === undefined ? OCCURRENCES_KEPT_PER_ALERT : pageSize(first);
    const ids = [...new Set(alertIds.filter((id) => UUID.test(id)).map((id) => id.toLowerCase()))];
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
    return this.kernel.write(actor, async ({ db, now, emit }) => {
      const alert = UUID.test(id) ? await store.findAlert(db, id.toLowerCase(), true) : undefined;
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
      return changed;
    });
  }
}

/** A run of events of one dedup key with the same action, in input order. */
interface Segment {
  readonly action: EventAction;
  readonly indices: number[];
}

/**
 * The ingest itself. Each dedup key's events split into runs of one action (trigger×n, resolve,
 * trigger×m …); round r applies every key's r-th run in three set-based statements (upsert triggers,
 * close, acknowledge), so a batch costs a few statements whatever its size, and the usual batch (each
 * key one run) is a single round.
 */
async function ingestEvents(
  scope: WriteScope,
  events: NormalizedEvent[],
  isList: boolean,
): Promise<IngestResult[]> {
  const { db, now, emit } = scope;
  const by = actorRef(scope.actor);
  const bindingOf = await bindEvents(scope, events, isList);

  const segments = new Map<string, Segment[]>();
  events.forEach((event, i) => {
    const runs = segments.get(event.dedupKey) ?? [];
    const last = runs.at(-1);
    if (last && last.action === event.action) last.indices.push(i);
    else runs.push({ action: event.action, indices: [i] });
    segments.set(event.dedupKey, runs);
  });
  const rounds = Math.max(...[...segments.values()].map((runs) => runs.length));

  const results: IngestResult[] = events.map((e) => ({
    dedupKey: e.dedupKey,
    alertId: null,
    outcome: 'ignored',
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
        const last = events[run.indices.at(-1)!]!;
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
        });
      }
    }

    for (const alert of await store.upsertTriggers(db, [...triggers.values()], now)) {
      const { inserted, ...row } = alert;
      const run = runOf.get(row.dedupKey)!;
      latest.set(row.id, row);
      run.indices.forEach((i, n) => {
        results[i] = {
          dedupKey: row.dedupKey,
          alertId: row.id,
          outcome: inserted && n === 0 ? 'opened' : 'repeated',
        };
      });
      if (inserted) emit('alert.opened', { type: 'alert', id: row.id }, { alert: row });
      const repeated = run.indices.length - (inserted ? 1 : 0);
      if (repeated > 0) repeats.set(row.id, (repeats.get(row.id) ?? 0) + repeated);
      keep(row.id, run.indices);
    }

    for (const alert of await store.closeByKeys(db, [...closing.keys()], now, by)) {
      const run = closing.get(alert.dedupKey)!;
      const first = run.indices[0]!;
      results[first] = { dedupKey: alert.dedupKey, alertId: alert.id, outcome: 'closed' };
      announce(alert.id);
      latest.set(alert.id, alert);
      emit('alert.closed', { type: 'alert', id: alert.id }, { alert });
      keep(alert.id, [first]);
    }

    for (const alert of await store.acknowledgeByKeys(db, [...acking.keys()], now, by)) {
      const run = acking.get(alert.dedupKey)!;
      const first = run.indices[0]!;
      results[first] = { dedupKey: alert.dedupKey, alertId: alert.id, outcome: 'acknowledged' };
      latest.set(alert.id, alert);
      emit('alert.acknowledged', { type: 'alert', id: alert.id }, { alert });
      keep(alert.id, [first]);
    }
  }
  for (const alertId of [...repeats.keys()]) announce(alertId);
  await store.storeOccurrences(db, occurrences, now);
  return results;
}

/**
 * Binds each event to a CI in one query for the whole batch: its explicit `ciId` (which must be a live
 * CI), else the CI whose `hostname` attribute, else name, else an `ip`-typed attribute equals its node
 * (any case). A node several CIs answer to at the strongest level stays unbound rather than guessed.
 */
async function bindEvents(
  scope: WriteScope,
  events: readonly NormalizedEvent[],
  isList: boolean,
): Promise<(index: number) => string | null> {
  const explicit = [...new Set(events.flatMap((e) => (e.ciId ? [e.ciId] : [])))];
  const nodes = [...new Set(events.flatMap((e) => (e.ciId ? [] : [e.node.toLowerCase()])))];
  const matches = await store.matchCis(scope.db, explicit, nodes);
  const live = new Set(matches.filter((m) => m.rank === 0).map((m) => m.id));
  const missing = events.flatMap((e, i) =>
    e.ciId && !live.has(e.ciId)
      ? [{ path: isList ? `${i}.ciId` : 'ciId', message: `no live CI ${e.ciId}` }]
      : [],
  );
  if (missing.length > 0) throw new ValidationError(missing);

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
    const e = events[i]!;
    return e.ciId ?? byNode.get(e.node.toLowerCase()) ?? null;
  };
}
