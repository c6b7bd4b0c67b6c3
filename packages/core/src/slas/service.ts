import type { Incident, IncidentState } from '../incidents/model.js';
import {
  type Actor,
  assertCan,
  canSomewhere,
  permissions,
  type ReadOptions,
  systemActor,
  type WriteOptions,
} from '../kernel/actor.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  type ValidationIssue,
} from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type BusinessCalendar,
  type DefineCalendarInput,
  type DefineSlaInput,
  defineCalendarInput,
  defineSlaInput,
  type SlaChangeOptions,
  type SlaDefinition,
  type SlaFilter,
  type SlaTimer,
  type SlaTimerKind,
  type SweepOptions,
  type SweepResult,
  slaFilterInput,
  slaTimerKinds,
  type UpdateCalendarInput,
  type UpdateSlaInput,
  updateCalendarInput,
  updateSlaInput,
} from './model.js';
import * as store from './store.js';

/** Who the sweep acts as, in the activity stream. */
export const slaSweepActor: Actor = systemActor('sla-sweep');

type Wanted = 'running' | 'paused' | 'met' | 'cancelled';

/**
 * What each timer should be in each incident state. Response is met once the incident leaves `new`;
 * resolution pauses on hold and is met at resolved (a reopen runs it again from its elapsed time).
 */
const wanted: Record<IncidentState, Record<SlaTimerKind, Wanted>> = {
  new: { response: 'running', resolution: 'running' },
  in_progress: { response: 'met', resolution: 'running' },
  on_hold: { response: 'met', resolution: 'paused' },
  resolved: { response: 'met', resolution: 'met' },
  closed: { response: 'met', resolution: 'met' },
  cancelled: { response: 'cancelled', resolution: 'cancelled' },
};

const readGate = (actor: Actor | undefined) => {
  if (actor && !canSomewhere(actor, permissions.incidentRead))
    throw new ForbiddenError(permissions.incidentRead, actor.name);
};

/**
 * Service level agreements on incidents: response and resolution targets by priority, timers attached
 * to each incident (paused on hold), and a sweep that warns at 75% and breaches at 100%; `og.slas`.
 */
export class SlasService {
  constructor(private readonly kernel: Kernel) {}

  /** Defines an SLA for a priority (operations:write); at most one active definition per priority. */
  async defineSla(input: DefineSlaInput, { actor }: WriteOptions): Promise<SlaDefinition> {
    const d = parseInput(defineSlaInput, input);
    assertCan(actor, permissions.operationsWrite);
    checkTargets(d.responseMinutes, d.resolutionMinutes, '');
    return this.kernel.write(actor, async (scope) => {
      await store.lockDefinitions(scope.db);
      await checkUnique(scope, { name: d.name, priority: d.active ? d.priority : null }, null);
      const calendarId = await checkCalendar(scope, d.calendarId, 'calendarId');
      const definition = await store.insertDefinition(scope.db, {
        id: crypto.randomUUID(),
        ...d,
        calendarId,
        priority: d.priority as SlaDefinition['priority'],
        createdAt: scope.now,
      });
      scope.emit('sla.defined', { type: 'sla', id: definition.id }, { definition });
      return definition;
    });
  }

  /**
   * Changes a definition (operations:write). Timers already attached keep the targets they started
   * with; incidents created (or re-prioritised) from now on get the new ones.
   */
  async updateSla(
    id: string,
    patch: UpdateSlaInput,
    { actor, version }: SlaChangeOptions,
  ): Promise<SlaDefinition> {
    const p = parseInput(updateSlaInput, patch, 'patch');
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      await store.lockDefinitions(scope.db);
      const found = isUuid(id) ? await store.findDefinition(scope.db, id.toLowerCase(), true) : undefined;
      if (!found) throw new NotFoundError('SLA definition', id, 'id');
      if (version !== undefined && version !== found.version)
        throw ConflictError.staleVersion('SLA definition', found.name, version, found.version);
      const next = { ...found, ...definedOnly(p) };
      checkTargets(next.responseMinutes, next.resolutionMinutes, 'patch.');
      await checkUnique(
        scope,
        {
          name: p.name !== undefined ? next.name : null,
          priority: next.active && !found.active ? next.priority : null,
        },
        found.id,
        'patch.',
      );
      if (p.calendarId) await checkCalendar(scope, p.calendarId, 'patch.calendarId');
      const change = definedOnly(p);
      const fields = Object.keys(change);
      if (fields.length === 0) return found;
      const definition = await store.updateDefinition(scope.db, found.id, change, scope.now);
      scope.emit('sla.updated', { type: 'sla', id: definition.id }, { definition, fields });
      return definition;
    });
  }

  /**
   * Defines a business calendar (operations:write): working hours per weekday in a time zone, and
   * holidays. An SLA definition on it counts only working time; without one, round the clock.
   */
  async defineCalendar(input: DefineCalendarInput, { actor }: WriteOptions): Promise<BusinessCalendar> {
    const c = parseInput(defineCalendarInput, input);
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      await store.lockDefinitions(scope.db);
      if (await store.findCalendarByName(scope.db, c.name))
        throw ValidationError.field('name', 'another business calendar has this name');
      const calendar = await store.insertCalendar(scope.db, {
        id: crypto.randomUUID(),
        ...c,
        createdAt: scope.now,
      });
      scope.emit('business_calendar.defined', { type: 'business_calendar', id: calendar.id }, { calendar });
      return calendar;
    });
  }

  /**
   * Changes a calendar (operations:write). Timers running on it keep the working time they counted under
   * the old hours and are due by the new hours from now on.
   */
  async updateCalendar(
    id: string,
    patch: UpdateCalendarInput,
    { actor, version }: SlaChangeOptions,
  ): Promise<BusinessCalendar> {
    const p = parseInput(updateCalendarInput, patch, 'patch');
    assertCan(actor, permissions.operationsWrite);
    return this.kernel.write(actor, async (scope) => {
      await store.lockDefinitions(scope.db);
      const found = isUuid(id) ? await store.findCalendar(scope.db, id.toLowerCase(), true) : undefined;
      if (!found) throw new NotFoundError('business calendar', id, 'id');
      if (version !== undefined && version !== found.version)
        throw ConflictError.staleVersion('business calendar', found.name, version, found.version);
      if (p.name !== undefined && p.name.toLowerCase() !== found.name.toLowerCase()) {
        const other = await store.findCalendarByName(scope.db, p.name);
        if (other) throw ValidationError.field('patch.name', 'another business calendar has this name');
      }
      const change = definedOnly(p);
      const fields = Object.keys(change).filter(
        (k) =>
          JSON.stringify((change as Record<string, unknown>)[k]) !==
          JSON.stringify((found as unknown as Record<string, unknown>)[k]),
      );
      if (fields.length === 0) return found;
      const calendar = await store.updateCalendar(scope.db, found.id, change, scope.now);
      await store.retimeRunning(scope.db, found, calendar, scope.now);
      scope.emit(
        'business_calendar.updated',
        { type: 'business_calendar', id: calendar.id },
        { calendar, fields },
      );
      return calendar;
    });
  }

  /** The business calendars, by name (incident:read). */
  async calendars({ actor }: ReadOptions = {}): Promise<BusinessCalendar[]> {
    readGate(actor);
    return store.listCalendars(this.kernel.db);
  }

  /** The definitions, by priority then name (incident:read). */
  async slas(filter: SlaFilter = {}, { actor }: ReadOptions = {}): Promise<SlaDefinition[]> {
    readGate(actor);
    return store.listDefinitions(this.kernel.db, parseInput(slaFilterInput, filter, 'filter'));
  }

  /** The incident's timers, oldest first, as of now (incident:read on the incident's CI). */
  async timersOf(incidentId: string, { actor }: ReadOptions = {}): Promise<SlaTimer[]> {
    const incident = await this.kernel.services.incidents.incident(incidentId, { actor });
    if (!incident) throw new NotFoundError('incident', incidentId, 'incidentId');
    return (await this.timersOfIncidents([incident.id], { actor })).get(incident.id) ?? [];
  }

  /**
   * Timers of several incidents in one query, for incidents the caller already read (a page of
   * incidents): it checks incident:read somewhere, not each incident's CI.
   */
  async timersOfIncidents(
    incidentIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, SlaTimer[]>> {
    readGate(actor);
    const ids = incidentIds.filter((id) => isUuid(id)).map((id) => id.toLowerCase());
    const now = this.kernel.clock.now();
    const byIncident = new Map<string, SlaTimer[]>(ids.map((id) => [id, []]));
    for (const row of await store.timersOfIncidents(this.kernel.db, ids))
      byIncident.get(row.incidentId)?.push(store.toTimer(row as unknown as Record<string, unknown>, now));
    return byIncident;
  }

  /**
   * Marks running timers at 75% of their target as warned (`sla.warning`) and at 100% as breached
   * (`sla.breached`), each once per timer; one transaction. What a timer calls: idempotent, and when
   * replicas sweep at once an advisory try-lock lets one act while the others return empty-handed.
   * A timer already past its target when swept is only breached (no late warning).
   */
  async sweep({ now }: SweepOptions = {}, actor: Actor = slaSweepActor): Promise<SweepResult> {
    return this.kernel.write(actor, async (scope) => {
      if (!(await store.trySweepLock(scope.db))) return { warned: [], breached: [] };
      const at = now ?? scope.now;
      const due = await store.markDue(scope.db, at);
      const result = {
        warned: due.warned.map(({ row }) => store.toTimer(row, at)),
        breached: due.breached.map(({ row }) => store.toTimer(row, at)),
      };
      due.warned.forEach(({ incident }, i) => {
        scope.emit(
          'sla.warning',
          { type: 'incident', id: incident.id },
          { timer: result.warned[i]!, incident },
        );
      });
      due.breached.forEach(({ incident }, i) => {
        scope.emit(
          'sla.breached',
          { type: 'incident', id: incident.id },
          { timer: result.breached[i]!, incident },
        );
      });
      return result;
    });
  }

  /**
   * Brings the incident's timers in line with its state and priority, inside the incident's own write
   * (the incidents service calls it after create, transition and a priority change). A timer attached
   * for another priority is cancelled and replaced by one for the current priority's definition that
   * carries its elapsed time over; with no active definition for the priority, no timer runs.
   */
  async track(scope: WriteScope, incident: Incident): Promise<void> {
    const rows = await store.liveTimersOf(scope.db, incident.id);
    let definition: Promise<SlaDefinition | undefined> | undefined;
    let calendar: Promise<BusinessCalendar | undefined> | undefined;
    for (const kind of slaTimerKinds) {
      const want = wanted[incident.state][kind];
      const ofKind = rows.filter((r) => r.kind === kind);
      let current = ofKind.at(-1);
      let carried = 0;
      let replace = ofKind.length === 0 && want === 'running';
      const live = want === 'running' || want === 'paused';
      if (current && current.state !== 'breached' && live && Number(current.priority) !== incident.priority) {
        carried = store.toTimer(current as unknown as Record<string, unknown>, scope.now).elapsedMs;
        await store.setTimerState(scope.db, current, 'cancelled', scope.now);
        current = undefined;
        replace = true;
      }
      if (!current) {
        if (!replace || !live) continue;
        definition ??= store.activeDefinitionFor(scope.db, incident.priority);
        const d = await definition;
        if (!d) continue;
        calendar ??= d.calendarId ? store.findCalendar(scope.db, d.calendarId) : Promise.resolve(undefined);
        await store.insertTimer(scope.db, {
          incidentId: incident.id,
          definitionId: d.id,
          kind,
          priority: incident.priority,
          targetMinutes: kind === 'response' ? d.responseMinutes : d.resolutionMinutes,
          calendar: (await calendar) ?? null,
          state: want,
          elapsedMs: carried,
          now: scope.now,
        });
        continue;
      }
      // Breached is final; met only runs again when a reopen wants it running.
      if (current.state === 'breached' || current.state === want) continue;
      if (current.state === 'met' && want !== 'running') continue;
      await store.setTimerState(scope.db, current, want, scope.now);
    }
  }
}

function definedOnly<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

function checkTargets(response: number, resolution: number, prefix: string): void {
  if (resolution < response)
    throw ValidationError.field(
      `${prefix}resolutionMinutes`,
      `must be at least the response target (${response} minutes)`,
    );
}

/** The calendar id if it names a calendar (null when none is asked for); else names the field. */
async function checkCalendar(scope: WriteScope, id: string | null | undefined, field: string) {
  if (!id) return null;
  const found = await store.findCalendar(scope.db, id.toLowerCase());
  if (!found) throw ValidationError.field(field, `no business calendar has id ${id}`);
  return found.id;
}

/** Names are unique; a priority has at most one active definition (null: not to check). */
async function checkUnique(
  scope: WriteScope,
  want: { name: string | null; priority: number | null },
  except: string | null,
  prefix = '',
): Promise<void> {
  const issues: ValidationIssue[] = [];
  const all = await store.listDefinitions(scope.db, {});
  const other = all.filter((d) => d.id !== except);
  if (want.name !== null && other.some((d) => d.name.toLowerCase() === want.name!.toLowerCase()))
    issues.push({ path: `${prefix}name`, message: 'another SLA definition has this name' });
  const holder = want.priority !== null && other.find((d) => d.active && d.priority === want.priority);
  if (holder)
    issues.push({
      path: prefix ? `${prefix}active` : 'priority',
      message: `P${want.priority} already has an active SLA definition (${holder.name}): deactivate it first`,
    });
  if (issues.length > 0) throw new ValidationError(issues);
}
