import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  assertCan,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '../kernel/actor.js';
import { ConflictError, NotFoundError, type OpsGraphError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { pageSize } from '../kernel/pagination.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type Availability,
  type AvailabilityTarget,
  type AvailabilityWindow,
  availabilityWindowInput,
  type DefineSloInput,
  defineSloInput,
  objectivePpm,
  type Slo,
  type SloChangeOptions,
  type SloFilter,
  type SloPageRequest,
  sloFilterInput,
  type UpdateSloInput,
  updateSloInput,
} from './model.js';
import { budgetOf, type Interval, outagesOf, uptimePercent } from './outages.js';
import { periodOf, type Span } from './periods.js';
import * as store from './store.js';

/** Outage rules of a service with no SLO: P1/P2 incidents and critical alerts. */
const DEFAULT_RULES = { incidentPriorities: [1, 2], alertSeverities: ['critical'] } as const;

const readGate = (actor: Actor | undefined) => {
  if (actor) assertCan(actor, permissions.operationsRead);
};

/**
 * Availability of business services: SLOs (objective, calendar period, what counts as an outage),
 * outages derived from incidents and alerts on the service and what it depends on, planned maintenance
 * excluded; uptime, error budget and burn rate; `og.serviceLevels`.
 */
export class ServiceLevelsService {
  constructor(private readonly kernel: Kernel) {}

  /** Defines an SLO on a business service (operations:write); names are unique per service among live SLOs. */
  async defineSlo(input: DefineSloInput, { actor }: WriteOptions): Promise<Slo> {
    const d = parseInput(defineSloInput, input);
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const serviceId = d.serviceId.toLowerCase();
      await checkService(scope, serviceId, 'serviceId');
      if (await store.liveSloNamed(scope.db, serviceId, d.name, null))
        throw ValidationError.field('name', 'another live SLO of this service has this name');
      const slo = await store.insertSlo(scope.db, {
        id: crypto.randomUUID(),
        ...d,
        serviceId,
        createdBy: actorRef(actor),
        createdAt: scope.now,
      });
      scope.emit('slo.defined', { type: 'slo', id: slo.id }, { slo });
      return slo;
    });
  }

  /** Changes an SLO (operations:write); a stale `version` gets ConflictError, a retired SLO cannot change. */
  async updateSlo(id: string, patch: UpdateSloInput, { actor, version }: SloChangeOptions): Promise<Slo> {
    const p = parseInput(updateSloInput, patch, 'patch');
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#forChange(scope, id, version);
      const change = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined));
      const fields = Object.keys(change);
      if (fields.length === 0) return found;
      if (p.name !== undefined && (await store.liveSloNamed(scope.db, found.serviceId, p.name, found.id)))
        throw ValidationError.field('patch.name', 'another live SLO of this service has this name');
      const slo = await store.updateSlo(scope.db, found.id, found.version, change, scope.now);
      if (!slo) throw stale(found, found.version + 1);
      scope.emit('slo.updated', { type: 'slo', id: slo.id }, { slo, fields });
      return slo;
    });
  }

  /** Retires an SLO (operations:write): kept for history, no longer listed by default, never changed again. */
  async retireSlo(id: string, { actor, version }: SloChangeOptions): Promise<Slo> {
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#forChange(scope, id, version);
      const slo = await store.updateSlo(
        scope.db,
        found.id,
        found.version,
        { retiredAt: scope.now },
        scope.now,
      );
      if (!slo) throw stale(found, found.version + 1);
      scope.emit('slo.retired', { type: 'slo', id: slo.id }, { slo });
      return slo;
    });
  }

  /** The SLO, retired or not; null when there is none (operations:read). */
  async slo(id: string, { actor }: ReadOptions = {}): Promise<Slo | null> {
    readGate(actor);
    if (!isUuid(id)) return null;
    return (await store.findSlo(this.kernel.db, id.toLowerCase())) ?? null;
  }

  /** SLOs by id (a DataLoader batch), keyed by lower-case id (operations:read). */
  async slosById(ids: readonly string[], { actor }: ReadOptions = {}): Promise<Map<string, Slo>> {
    readGate(actor);
    const rows = await store.slosById(
      this.kernel.db,
      ids.filter(isUuid).map((i) => i.toLowerCase()),
    );
    return new Map(rows.map((s) => [s.id, s]));
  }

  /**
   * The live SLOs of each of `serviceIds`, by name, in the order asked (a DataLoader batch: one query
   * however many services; operations:read). An id that is no UUID, or no service with SLOs, gets [].
   */
  async slosOfServices(serviceIds: readonly string[], { actor }: ReadOptions = {}): Promise<Slo[][]> {
    readGate(actor);
    const keys = serviceIds.map((i) => (isUuid(i) ? i.toLowerCase() : null));
    const rows = await store.liveSlosOfServices(this.kernel.db, [
      ...new Set(keys.filter((k): k is string => k !== null)),
    ]);
    const byService = new Map<string, Slo[]>();
    for (const slo of rows) {
      const group = byService.get(slo.serviceId);
      if (group) group.push(slo);
      else byService.set(slo.serviceId, [slo]);
    }
    return keys.map((k) => (k ? [...(byService.get(k) ?? [])] : []));
  }

  /** A keyset page of SLOs by name (operations:read); live ones unless `includeRetired`. */
  async slos(
    filter: SloFilter = {},
    page: SloPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Slo>> {
    readGate(actor);
    const f = parseInput(sloFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const rows = await store.listSlos(this.kernel.db, {
      serviceId: f.serviceId?.toLowerCase(),
      period: f.period,
      includeRetired: f.includeRetired,
      after: page.after ? store.parseSloCursor(page.after) : undefined,
      limit: first + 1,
    });
    const edges = rows.slice(0, first).map((node) => ({ cursor: store.sloCursor(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /**
   * Availability of an SLO's service (by its rules, objective and period) or of a business service (P1/P2
   * incidents and critical alerts count; no error budget), over a period of the SLO (`current`,
   * `previous`, or the one holding a local date) or over `[from, to)` (operations:read).
   *
   * Only the elapsed part counts: time after the clock's now is not yet up or down, so uptime and burn
   * rate are over `[from, min(to, now))`, while the allowed downtime is the whole period's share.
   * Outages: incidents that count, from creation to resolution or cancellation, whose business services
   * include the service; alerts that count, from first raise to close, on the service or on a CI it
   * depends on (topology's downstream walk, as relationships stand now); maintenance windows covering
   * the service, or the CI a cause comes from, are cut out of that cause; what is left is merged.
   */
  async availability(
    target: AvailabilityTarget,
    window: AvailabilityWindow,
    options: ReadOptions = {},
  ): Promise<Availability> {
    const [answer] = await this.availabilityMany([target], window, options);
    if (answer instanceof Error) throw answer;
    return answer!;
  }

  /**
   * `availability` of each of `targets` over the same `window`, in the order asked (a DataLoader batch):
   * a constant number of SQL statements however many targets (the SLOs, the services' classes, one
   * dependency walk, one query of incidents and alerts, one of maintenance), the same arithmetic. Each
   * entry is the Availability, or the error `availability` would throw for that target alone (unknown
   * SLO, not a business service, a period without an SLO); a bad window or a reader without
   * operations:read throws for all.
   */
  async availabilityMany(
    targets: readonly AvailabilityTarget[],
    window: AvailabilityWindow,
    { actor }: ReadOptions = {},
  ): Promise<(Availability | OpsGraphError)[]> {
    readGate(actor);
    const w = parseInput(availabilityWindowInput, window, 'window');
    const now = this.kernel.clock.now();
    const asks = (await this.#targets(targets)).map((found): Ask | OpsGraphError => {
      if (found instanceof Error) return found;
      const { slo, serviceId } = found;
      let span: Span;
      if ('period' in w) {
        if (!slo)
          return ValidationError.field(
            'window.period',
            'needs an SLO for its calendar period: give from and to',
          );
        span = periodOf(slo.period, slo.timeZone, w.period, now);
      } else span = { from: w.from, to: w.to };
      const from = span.from.getTime();
      const until = Math.max(from, Math.min(span.to.getTime(), now.getTime()));
      return { slo, serviceId, span, from, until };
    });

    // Only targets with elapsed time can have had outages: walk, and read causes, for those.
    const counted = asks.filter((a): a is Ask => !(a instanceof Error) && a.until > a.from);
    const db = this.kernel.db;
    const services = [...new Set(counted.map((a) => a.serviceId))];
    // One walk for all services (topology's downstream, as relationships stand now).
    const walked = services.length ? await this.kernel.services.topology.downstreamOf(services) : [];
    const dependencies = new Map(services.map((id, i) => [id, walked[i]!]));
    const found = await store.causesOf(
      db,
      counted.map((a) => {
        const rules = a.slo ?? DEFAULT_RULES;
        return {
          serviceId: a.serviceId,
          ciIds: [a.serviceId, ...dependencies.get(a.serviceId)!.map((d) => d.id)],
          priorities: rules.incidentPriorities,
          severities: rules.alertSeverities,
          from: a.span.from,
          until: new Date(a.until),
        };
      }),
    );
    // Maintenance matters only where there is something to cut it out of.
    const maintenance = await store.maintenanceOf(
      db,
      counted.map((a, i) => ({
        ciIds: found[i]!.length
          ? [...new Set([a.serviceId, ...found[i]!.flatMap((c) => (c.ciId ? [c.ciId] : []))])]
          : [],
        from: a.span.from,
        until: new Date(a.until),
      })),
    );
    const perAsk = new Map(counted.map((a, i) => [a, { causes: found[i]!, maintenance: maintenance[i]! }]));

    return asks.map((a) => {
      if (a instanceof Error) return a;
      const { slo, serviceId, span, from, until } = a;
      const c = perAsk.get(a) ?? { causes: [], maintenance: new Map<string, Interval[]>() };
      const outages = outagesOf(c.causes, c.maintenance, serviceId, from, until);
      const elapsedMs = until - from;
      const downtimeMs = outages.reduce((sum, o) => sum + o.durationMs, 0);
      return {
        sloId: slo?.id ?? null,
        serviceId,
        from: span.from,
        to: span.to,
        until: new Date(until),
        elapsedMs,
        downtimeMs,
        uptimePercent: uptimePercent(elapsedMs, downtimeMs),
        outages,
        errorBudget: slo
          ? budgetOf(objectivePpm(slo.objective), span.to.getTime() - from, elapsedMs, downtimeMs)
          : null,
      };
    });
  }

  /** Each target's SLO and service, or its error: at most one query of SLOs and one of CIs for all. */
  async #targets(targets: readonly AvailabilityTarget[]): Promise<(Target | OpsGraphError)[]> {
    const sloIdOf = (t: AvailabilityTarget) => ('sloId' in t && t.sloId !== undefined ? t.sloId : undefined);
    const sloIds = targets.flatMap((t) => {
      const id = sloIdOf(t);
      return id !== undefined && isUuid(id) ? [id.toLowerCase()] : [];
    });
    const serviceIds = targets.flatMap((t) => {
      if (sloIdOf(t) !== undefined) return [];
      const id = 'serviceId' in t ? t.serviceId : undefined;
      return isUuid(id) ? [id.toLowerCase()] : [];
    });
    const [slos, cis] = await Promise.all([
      sloIds.length ? store.slosById(this.kernel.db, [...new Set(sloIds)]) : [],
      store.serviceCis(this.kernel.db, [...new Set(serviceIds)]),
    ]);
    const sloById = new Map(slos.map((s) => [s.id, s]));
    return targets.map((target) => {
      const sloId = sloIdOf(target);
      if (sloId !== undefined) {
        const slo = isUuid(sloId) ? sloById.get(sloId.toLowerCase()) : undefined;
        if (!slo) return new NotFoundError('SLO', String(sloId), 'sloId');
        return { slo, serviceId: slo.serviceId };
      }
      const serviceId = 'serviceId' in target ? target.serviceId : undefined;
      if (!isUuid(serviceId)) return ValidationError.field('serviceId', 'must be a business service id');
      const ci = cis.get(serviceId.toLowerCase());
      if (!ci) return new NotFoundError('CI', serviceId, 'serviceId');
      if (!ci.isService)
        return ValidationError.field(
          'serviceId',
          'must be a business service (class business_service or below)',
        );
      return { slo: null, serviceId: serviceId.toLowerCase() };
    });
  }

  async #forChange(scope: WriteScope, id: string, version: number | undefined): Promise<Slo> {
    const found = isUuid(id) ? await store.findSlo(scope.db, id.toLowerCase(), true) : undefined;
    if (!found) throw new NotFoundError('SLO', id, 'id');
    if (version !== undefined && version !== found.version) throw stale(found, version);
    if (found.retiredAt) throw new ConflictError(`SLO ${found.name} is retired`, 'id', found.version);
    return found;
  }
}

/** A target found: its SLO (null for a service with default rules) and its service. */
interface Target {
  readonly slo: Slo | null;
  readonly serviceId: string;
}

/** A target with the span it is counted over: `[from, until)` in ms, until no later than now. */
interface Ask extends Target {
  readonly span: Span;
  readonly from: number;
  readonly until: number;
}

const stale = (slo: Slo, sent: number) => ConflictError.staleVersion('SLO', slo.name, sent, slo.version);

/** The CI must exist, be live and be a business service. */
async function checkService(scope: WriteScope, serviceId: string, field: string): Promise<void> {
  const ci = await store.serviceCi(scope.db, serviceId);
  if (!ci) throw new NotFoundError('CI', serviceId, field);
  if (!ci.isService)
    throw ValidationError.field(field, 'must be a business service (class business_service or below)');
  const live = await scope.db
    .selectFrom('cis')
    .select('id')
    .where('id', '=', serviceId)
    .where('retiredAt', 'is', null)
    .executeTakeFirst();
  if (!live) throw ValidationError.field(field, 'is retired');
}
