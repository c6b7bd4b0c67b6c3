import { AsyncResource } from 'node:async_hooks';
import type { Alert } from '../events/model.js';
import { abortableIterator } from '../kernel/abortable.js';
import { currentActorOf } from '../kernel/activity.js';
import { listActivity } from '../kernel/activity-store.js';
import {
  type Actor,
  can,
  canOn,
  canSomewhere,
  permissions,
  type ReadOptions,
  systemActor,
} from '../kernel/actor.js';
import { ForbiddenError } from '../kernel/errors.js';
import { type AnyDomainEvent, type DomainEventType, type Jsonified, oncePerEvent } from '../kernel/events.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { CiReach, canSeeEvent } from '../kernel/reach.js';
import { parseInput } from '../kernel/validation.js';
import { MAX_IDS } from '../topology/model.js';
import {
  EVENTS_PER_ROUND,
  type FollowServiceHealthOptions,
  type LiveServiceHealthOptions,
  MAX_CAUSES,
  SERVICE_HEALTH_CHANGED,
  type ServiceHealth,
  type ServiceHealthCause,
  type ServiceHealthChange,
  type ServiceHealthFilter,
  type ServiceHealthRefresh,
  type ServiceHealthRunner,
  type ServiceHealthState,
  serviceHealthFilterInput,
} from './model.js';
import * as store from './store.js';

/** Who publishes health changes, in the activity stream. */
export const serviceHealthActor: Actor = systemActor('service-health');

/** The activity a business service's health can follow from. */
const TRIGGERS = new Set<string>([
  'alert.opened',
  'alert.updated',
  'alert.acknowledged',
  'alert.closed',
  'alert.suppressed',
  'alert.unsuppressed',
  'ci.created',
  'ci.updated',
  'ci.retired',
  'ci.related',
  'ci.unrelated',
  // Which types carry a failure, or which classes are services, changed: every service is judged again.
  'ci.relationship_type_defined',
  'ci.class_defined',
  'maintenance.scheduled',
  'maintenance.cancelled',
  'maintenance.started',
  'maintenance.ended',
]);
const FULL_TRIGGERS = new Set(['ci.relationship_type_defined', 'ci.class_defined']);

/** A change judged in a round, before the commit gives it its seq. */
interface Judged {
  readonly previousState: ServiceHealthState;
  readonly health: ServiceHealth;
  readonly occurredAt: Date;
}

/**
 * Business-service health (`og.serviceHealth`), derived from live alerts and impact analysis and
 * recomputed incrementally: a round reads the activity after its cursor, judges only the services those
 * events can change (the services upstream of the CIs they touch, and touched services), stores what
 * changed and publishes `service.health_changed` in the same transaction. `start()` runs rounds on
 * this process's commits; the scheduler's `serviceHealth` sweep is the backstop for other replicas'.
 */
export class ServiceHealthService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Each business service's health, by name (event:read on the service CI; health is derived from
   * alerts): every one the caller may read, or those of `filter.serviceIds`.
   */
  async list(filter: ServiceHealthFilter = {}, { actor }: ReadOptions = {}): Promise<ServiceHealth[]> {
    const reach = CiReach.of(actor, permissions.eventRead);
    const { serviceIds } = parseInput(serviceHealthFilterInput, filter, 'filter');
    const ids = serviceIds ? [...new Set(serviceIds.map((id) => id.toLowerCase()))] : null;
    const services = (await store.liveServices(this.kernel.db, ids)).filter((s) => reach.has(s.id));
    const stored = await store.storedHealth(
      this.kernel.db,
      services.map((s) => s.id),
    );
    return services.map((s) => stored.get(s.id) ?? up(s));
  }

  /** The seq of the newest health change (0 when none): read `list`, then `follow` after it. */
  async head({ actor }: ReadOptions = {}): Promise<number> {
    CiReach.of(actor, permissions.eventRead);
    return this.kernel.services.activity.latestSeq({ types: [SERVICE_HEALTH_CHANGED] });
  }

  /**
   * Health changes after `after` (default: from now on), resumable by seq, none missed or twice: the
   * backlog, then live ones. Each is checked with the actor as it is then: event:read on the service
   * CI. Losing event:read altogether ends the stream (FORBIDDEN); a dead credential, UNAUTHENTICATED.
   */
  follow(options: FollowServiceHealthOptions = {}): AsyncIterableIterator<ServiceHealthChange> {
    CiReach.of(options.actor, permissions.eventRead);
    const { serviceIds } = parseInput(serviceHealthFilterInput, options.filter ?? {}, 'filter');
    const only = serviceIds ? new Set(serviceIds.map((id) => id.toLowerCase())) : null;
    const start = Promise.resolve(options.after ?? this.head());
    start.catch(() => {}); // reported by the first next()
    const kernel = this.kernel;
    const subscriber = options.actor;
    return abortableIterator(options.signal, async function* (signal) {
      const events = kernel.services.activity.follow({
        after: await start,
        types: [SERVICE_HEALTH_CHANGED],
        signal,
      });
      for await (const event of events) {
        const actor = subscriber && (await currentActorOf(kernel, subscriber));
        if (actor && !canSomewhere(actor, permissions.eventRead))
          throw new ForbiddenError(permissions.eventRead, actor.name);
        // About its service CI only (see eventCiIds): event:read there.
        if (!canSeeEvent(actor, event, permissions.eventRead)) continue;
        const change = toChange(event);
        if (change && (!only || only.has(change.health.serviceId))) yield change;
      }
    });
  }

  /** The alerts causes name, in the order of `ids` (null when unknown or not readable: event:read on its CI). */
  async alertsById(ids: readonly string[], { actor }: ReadOptions = {}): Promise<(Alert | null)[]> {
    CiReach.of(actor, permissions.eventRead);
    const found = new Map(
      (await store.alertsByIds(this.kernel.db, [...new Set(ids.map((id) => id.toLowerCase()))])).map((a) => [
        a.id,
        a,
      ]),
    );
    return ids.map((id) => {
      const alert = found.get(id.toLowerCase());
      if (!alert) return null;
      if (!actor) return alert;
      // As the events process reads: event:read on its CI, or everywhere for an alert on no CI.
      const readable = alert.ciId
        ? canOn(actor, permissions.eventRead, alert.ciId)
        : can(actor, permissions.eventRead);
      return readable ? alert : null;
    });
  }

  /**
   * Runs rounds now until the activity is caught up, and returns the changes they published. When
   * another replica's round holds the lock, returns at once with `locked` (that round publishes).
   * Inside an enclosing transaction the changes' seqs are 0: they are given at its commit.
   */
  async refresh(): Promise<ServiceHealthRefresh> {
    const changes: ServiceHealthChange[] = [];
    const recomputed = new Set<string>();
    let events = 0;
    for (;;) {
      const round = await this.kernel.write(serviceHealthActor, (scope) => this.#round(scope));
      if (!round) return { changes, recomputed: [...recomputed].sort(), events, locked: true };
      for (const id of round.recomputed) recomputed.add(id);
      events += round.events;
      changes.push(...(await this.#withSeqs(round.judged, round.cursor)));
      if (round.events < EVENTS_PER_ROUND || this.kernel.inTransaction) break;
    }
    return { changes, recomputed: [...recomputed].sort(), events, locked: false };
  }

  /**
   * Runs rounds after this process's relevant commits: a burst is gathered for `delayMs`, one round runs
   * at a time and another follows when events arrived meanwhile, and a round that found the lock taken
   * (another replica at work) tries again after `retryMs`. What a server calls; `stop()` on shutdown.
   */
  start(options: LiveServiceHealthOptions = {}): ServiceHealthRunner {
    const delayMs = options.delayMs ?? 25;
    const retryMs = options.retryMs ?? 100;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running: Promise<void> | undefined;
    let rerun = false;
    let stopped = false;
    // Rounds run outside the async context of the write that triggered them (not counted as its work).
    const round = AsyncResource.bind(() => {
      timer = undefined;
      if (running) {
        rerun = true;
        return;
      }
      let again: number | undefined;
      running = this.refresh()
        .then((result) => {
          if (result.locked) again = retryMs;
        })
        .catch((error) => {
          again = 1000;
          this.kernel.logger.warn({ err: error }, 'service health refresh failed; trying again');
        })
        .finally(() => {
          running = undefined;
          if (rerun) {
            rerun = false;
            schedule(delayMs);
          } else if (again !== undefined) schedule(again);
        });
    });
    const schedule = (ms: number) => {
      if (stopped || timer) return;
      timer = setTimeout(round, ms);
      timer.unref?.();
    };
    const off = this.kernel.bus.on('*', (event) => {
      if (!TRIGGERS.has(event.type)) return;
      if (running) rerun = true;
      else schedule(delayMs);
    });
    schedule(0); // catch up with what happened before this process listened
    return {
      stop: async () => {
        stopped = true;
        off();
        if (timer) clearTimeout(timer);
        timer = undefined;
        await running;
      },
    };
  }

  /** One round in `scope`'s transaction; undefined when another holds the lock. */
  async #round(scope: WriteScope) {
    if (!(await store.tryRefreshLock(scope.db))) return undefined;
    const cursor = await store.readCursor(scope.db);
    const events = await listActivity(scope.db, {
      after: cursor.seq,
      types: [...TRIGGERS],
      limit: EVENTS_PER_ROUND,
    });
    const touched = new Set<string>();
    const retired: string[] = [];
    let full = cursor.fullPending;
    let windowCis: string[] = [];
    for (const event of events) {
      if (FULL_TRIGGERS.has(event.type)) full = true;
      const ids = touchedBy(event);
      for (const id of ids) touched.add(id);
      if (event.type === 'ci.retired') retired.push(...ids);
      if (event.type.startsWith('maintenance.')) windowCis = windowCis.concat(ids);
    }
    // A retired CI is walked from no more: its neighbours are. A window covers what its CIs contain.
    for (const id of await store.neighbours(scope.db, retired)) touched.add(id);
    for (const id of await store.containedIn(scope.db, windowCis)) touched.add(id);
    const candidates = full ? null : await this.#servicesReached(scope, [...touched]);
    const services = await store.liveServices(scope.db, candidates);
    // Touched CIs that were services and are no longer (retired, reclassified) lose their stored health.
    const live = new Set(services.map((s) => s.id));
    await store.dropHealth(
      scope.db,
      [...touched].filter((id) => !live.has(id)),
    );
    const judged = await this.#judge(scope, services);
    const last = events.at(-1)?.seq ?? cursor.seq;
    if (last !== cursor.seq || cursor.fullPending) await store.writeCursor(scope.db, last);
    return { judged, recomputed: services.map((s) => s.id), events: events.length, cursor: last };
  }

  /** The business services a change of `touched` can reach: upstream of them, themselves included. */
  async #servicesReached(scope: WriteScope, touched: string[]): Promise<string[]> {
    const live = await store.liveCis(scope.db, touched);
    const found = new Set<string>();
    for (let i = 0; i < live.length; i += MAX_IDS) {
      const { services } = await scope.kernel.services.topology.impactOf(live.slice(i, i + MAX_IDS));
      for (const s of services) found.add(s.id);
    }
    return [...found];
  }

  /** Judges `services` now, saves what changed and emits a change for each new state. */
  async #judge(scope: WriteScope, services: readonly store.ServiceRow[]): Promise<Judged[]> {
    if (services.length === 0) return [];
    const ids = services.map((s) => s.id);
    const topology = scope.kernel.services.topology;
    // What each service depends on, as impact walks it (a failure of these reaches the service).
    const deps = new Map<string, Map<string, string>>();
    const CHUNK = 200;
    for (let i = 0; i < services.length; i += CHUNK) {
      const chunk = services.slice(i, i + CHUNK);
      const reached = await topology.downstreamOf(chunk.map((s) => s.id));
      chunk.forEach((s, j) => {
        deps.set(
          s.id,
          new Map([[s.id, s.name], ...reached[j]!.map((c): [string, string] => [c.id, c.name])]),
        );
      });
    }
    const all = [...new Set([...deps.values()].flatMap((m) => [...m.keys()]))];
    const failing = new Map((await store.failingAlerts(scope.db, all)).map((f) => [f.ciId, f]));
    const critical = [...failing.values()].filter((f) => f.severity === 'critical').map((f) => f.ciId);
    // Quorum-aware: one member of a cluster down leaves it (and what needs it) degraded, not down.
    const impact = new Map<string, 'down' | 'degraded'>();
    if (critical.length > 0) {
      const { services: hit } = await topology.impactOf(critical.slice(0, MAX_IDS));
      for (const s of hit) impact.set(s.id, s.state);
    }
    const maintenance = await store.inMaintenance(scope.db, ids, scope.now);
    const stored = await store.storedHealth(scope.db, ids);
    const judged: Judged[] = [];
    for (const service of services) {
      const names = deps.get(service.id)!;
      const causes: (ServiceHealthCause & { name: string })[] = [];
      for (const [ciId, name] of names) {
        const f = failing.get(ciId);
        if (f)
          causes.push({
            ciId,
            alertId: f.alertId,
            state: f.severity === 'critical' ? 'down' : 'degraded',
            name,
          });
      }
      let state: ServiceHealthState;
      let list: ServiceHealthCause[];
      if (maintenance.has(service.id)) {
        state = 'maintenance';
        list = [{ ciId: service.id, alertId: null, state: 'maintenance' }];
      } else {
        const hit = impact.get(service.id);
        state = hit ?? (causes.length > 0 ? 'degraded' : 'up');
        list = causes
          .sort((a, b) => rank[a.state] - rank[b.state] || compare(a.name, b.name) || compare(a.ciId, b.ciId))
          .slice(0, MAX_CAUSES)
          .map(({ ciId, alertId, state: s }) => ({ ciId, alertId, state: s }));
      }
      const before = stored.get(service.id) ?? up(service);
      const sameCauses = JSON.stringify(before.causes) === JSON.stringify(list);
      if (before.state === state && sameCauses) continue;
      const health: ServiceHealth = {
        serviceId: service.id,
        state,
        since: before.state === state ? before.since : scope.now,
        causes: list,
      };
      await store.saveHealth(scope.db, health, scope.now);
      // Causes alone changing (a second server failing under a down service) updates the record quietly.
      if (before.state === state) continue;
      scope.emit(
        SERVICE_HEALTH_CHANGED,
        { type: 'ci', id: service.id },
        { ...health, causes: [...health.causes], previousState: before.state },
      );
      judged.push({ previousState: before.state, health, occurredAt: scope.now });
    }
    return judged;
  }

  /** The round's changes with the seqs their commit gave them (0 inside an enclosing transaction). */
  async #withSeqs(judged: readonly Judged[], cursor: number): Promise<ServiceHealthChange[]> {
    if (judged.length === 0) return [];
    if (this.kernel.inTransaction) return judged.map((j) => ({ ...j, seq: 0 }));
    // Ours are the first health changes after the cursor: the next round commits only after ours.
    const events = await listActivity(this.kernel.db, {
      after: cursor,
      types: [SERVICE_HEALTH_CHANGED],
      limit: judged.length,
    });
    return judged.map((j, i) => ({ ...j, seq: events[i]?.seq ?? 0 }));
  }
}

const rank: Record<ServiceHealthCause['state'], number> = { down: 0, degraded: 1, maintenance: 2 };
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const up = (service: { id: string; createdAt: Date }): ServiceHealth => ({
  serviceId: service.id,
  state: 'up',
  since: service.createdAt,
  causes: [],
});

/** The CIs an event of the triggers touches (lower-case ids). */
function touchedBy(event: AnyDomainEvent): string[] {
  const p = event.payload as {
    alert?: { ciId?: string | null };
    relationship?: { sourceId?: string; targetId?: string };
    window?: { ciIds?: string[] };
  };
  const ids: (string | null | undefined)[] = [];
  if (event.type.startsWith('alert.')) ids.push(p.alert?.ciId);
  else if (event.type === 'ci.related' || event.type === 'ci.unrelated')
    ids.push(p.relationship?.sourceId, p.relationship?.targetId);
  else if (event.type.startsWith('maintenance.')) ids.push(...(p.window?.ciIds ?? []));
  else if (event.subject?.type === 'ci') ids.push(event.subject.id);
  return ids.filter((id): id is string => typeof id === 'string').map((id) => id.toLowerCase());
}

const toChange = oncePerEvent((event: AnyDomainEvent): ServiceHealthChange | null => {
  if (event.type !== SERVICE_HEALTH_CHANGED) return null;
  // From the activity table as JSON: dates are strings there.
  const p = event.payload as Jsonified<{
    serviceId: string;
    state: ServiceHealthState;
    previousState: ServiceHealthState;
    since: Date;
    causes: ServiceHealthCause[];
  }>;
  return {
    seq: event.seq,
    previousState: p.previousState,
    health: { serviceId: p.serviceId, state: p.state, since: new Date(p.since), causes: p.causes },
    occurredAt: event.occurredAt,
  };
});

export const serviceHealthEventTypes: readonly DomainEventType[] = [SERVICE_HEALTH_CHANGED];
