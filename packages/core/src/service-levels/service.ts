import type { Page } from '../cmdb/model.js';
import {
  type Actor,
  actorRef,
  assertCan,
  permissions,
  type ReadOptions,
  type WriteOptions,
} from '../kernel/actor.js';
import { ConflictError, NotFoundError, ValidationError } from '../kernel/errors.js';
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
import { budgetOf, outagesOf, uptimePercent } from './outages.js';
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
    { actor }: ReadOptions = {},
  ): Promise<Availability> {
    readGate(actor);
    const w = parseInput(availabilityWindowInput, window, 'window');
    const { slo, serviceId } = await this.#target(target);
    const now = this.kernel.clock.now();
    let span: Span;
    if ('period' in w) {
      if (!slo)
        throw ValidationError.field(
          'window.period',
          'needs an SLO for its calendar period: give from and to',
        );
      span = periodOf(slo.period, slo.timeZone, w.period, now);
    } else span = { from: w.from, to: w.to };
    const from = span.from.getTime();
    const until = Math.max(from, Math.min(span.to.getTime(), now.getTime()));

    const db = this.kernel.db;
    const dependencies = await this.kernel.services.topology.downstream(serviceId);
    const rules = slo ?? DEFAULT_RULES;
    const found =
      until > from
        ? await store.causes(db, {
            serviceId,
            ciIds: [serviceId, ...dependencies.map((d) => d.id)],
            priorities: rules.incidentPriorities,
            severities: rules.alertSeverities,
            from: span.from,
            until: new Date(until),
          })
        : [];
    const causeCis = new Set([serviceId, ...found.flatMap((c) => (c.ciId ? [c.ciId] : []))]);
    const maintenance = found.length
      ? await store.maintenanceOf(db, [...causeCis], span.from, new Date(until))
      : new Map();
    const outages = outagesOf(found, maintenance, serviceId, from, until);
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
  }

  async #target(target: AvailabilityTarget): Promise<{ slo: Slo | null; serviceId: string }> {
    if ('sloId' in target && target.sloId !== undefined) {
      const slo = isUuid(target.sloId)
        ? await store.findSlo(this.kernel.db, target.sloId.toLowerCase())
        : undefined;
      if (!slo) throw new NotFoundError('SLO', String(target.sloId), 'sloId');
      return { slo, serviceId: slo.serviceId };
    }
    const serviceId = 'serviceId' in target ? target.serviceId : undefined;
    if (!isUuid(serviceId)) throw ValidationError.field('serviceId', 'must be a business service id');
    const ci = await store.serviceCi(this.kernel.db, serviceId.toLowerCase());
    if (!ci) throw new NotFoundError('CI', serviceId, 'serviceId');
    if (!ci.isService)
      throw ValidationError.field(
        'serviceId',
        'must be a business service (class business_service or below)',
      );
    return { slo: null, serviceId: serviceId.toLowerCase() };
  }

  async #forChange(scope: WriteScope, id: string, version: number | undefined): Promise<Slo> {
    const found = isUuid(id) ? await store.findSlo(scope.db, id.toLowerCase(), true) : undefined;
    if (!found) throw new NotFoundError('SLO', id, 'id');
    if (version !== undefined && version !== found.version) throw stale(found, version);
    if (found.retiredAt) throw new ConflictError(`SLO ${found.name} is retired`, 'id', found.version);
    return found;
  }
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
