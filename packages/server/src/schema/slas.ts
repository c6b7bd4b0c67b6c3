import {
  type BusinessCalendar,
  type Incident,
  permissions,
  type SlaDefinition,
  type SlaTimer,
  slaTimerKinds,
  slaTimerStates,
  type WorkingHours,
} from '@opsgraph/core';
import { createContextCache } from '@pothos/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { defined, mutationErrors } from './errors.js';
import type { addIncidents } from './incidents.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

// Per request (and per subscription event): the business calendars, read once.
const calendarsOf = createContextCache(({ og, actor }: GraphQLContext) => og.slas.calendars({ actor }));

/** Incident SLAs: the definitions (`slas`) and each incident's timers (`Incident.slaTimers`). */
export function addSlas(
  builder: OpsGraphBuilder,
  { Incident: IncidentRef }: ReturnType<typeof addIncidents>,
) {
  const Kind = builder.enumType('SlaTimerKind', { values: upper(slaTimerKinds) });
  const State = builder.enumType('SlaTimerState', { values: upper(slaTimerStates) });

  const Hours = builder.objectRef<WorkingHours>('WorkingHours').implement({
    description: 'Working hours on one weekday, wall-clock time in the calendar’s zone.',
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      day: t.exposeInt('day', { description: 'ISO weekday: 1 Monday … 7 Sunday.' }),
      start: t.exposeString('start', { description: 'HH:MM.' }),
      end: t.exposeString('end', { description: 'HH:MM, exclusive; 24:00 for the end of the day.' }),
    }),
  });

  const Calendar = builder.objectRef<BusinessCalendar>('BusinessCalendar').implement({
    description:
      'When SLA time counts: working hours in a time zone (daylight saving followed), minus holidays.',
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      timeZone: t.exposeString('timeZone', { description: 'IANA zone, e.g. Europe/Paris.' }),
      hours: t.field({ type: [Hours], resolve: (c) => [...c.hours] }),
      holidays: t.stringList({ description: 'Local dates, YYYY-MM-DD.', resolve: (c) => [...c.holidays] }),
      version: t.exposeInt('version'),
    }),
  });

  const Definition = builder.objectRef<SlaDefinition>('SlaDefinition').implement({
    description: 'Response and resolution targets for incidents of one priority.',
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      priority: t.exposeInt('priority'),
      responseMinutes: t.exposeInt('responseMinutes'),
      resolutionMinutes: t.exposeInt('resolutionMinutes'),
      active: t.exposeBoolean('active', { description: 'At most one active definition per priority.' }),
      calendarId: t.exposeID('calendarId', {
        nullable: true,
        description: 'Null: the targets count round the clock.',
      }),
      calendar: t.field({
        type: Calendar,
        nullable: true,
        // Few calendars: one read of them all per request serves every definition in the answer.
        resolve: async (d, _args, context) =>
          d.calendarId ? ((await calendarsOf(context)).find((c) => c.id === d.calendarId) ?? null) : null,
      }),
      version: t.exposeInt('version'),
    }),
  });

  const Timer = builder.objectRef<SlaTimer>('SlaTimer').implement({
    description: 'One SLA target running on an incident: paused on hold, warned at 75%, breached at 100%.',
    // Reached only through its Incident, which is checked on the incident's CI.
    authScopes: { permissionSomewhere: permissions.incidentRead },
    fields: (t) => ({
      id: t.exposeID('id'),
      kind: t.field({ type: Kind, resolve: (s) => s.kind }),
      state: t.field({ type: State, resolve: (s) => s.state }),
      priority: t.exposeInt('priority'),
      targetMinutes: t.exposeInt('targetMinutes'),
      calendarId: t.exposeID('calendarId', {
        nullable: true,
        description: 'Null: counts round the clock; else only that calendar’s working hours count.',
      }),
      warned: t.exposeBoolean('warned'),
      elapsedSeconds: t.int({
        description:
          'Counted time as of now, holds (and time outside working hours, with a calendar) excluded.',
        resolve: (s) => Math.floor(s.elapsedMs / 1000),
      }),
      dueAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When it breaches if nothing changes; null unless running.',
        resolve: (s) => s.dueAt,
      }),
      breachedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.breachedAt }),
      stoppedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.stoppedAt }),
    }),
  });

  builder.objectField(IncidentRef, 'slaTimers', (t) =>
    t.loadableList({
      type: Timer,
      description:
        'Its SLA timers, oldest first (cancelled ones too); a page of incidents loads them in one query.',
      load: async (ids: string[], { og, actor }) => {
        const byIncident = await og.slas.timersOfIncidents(ids, { actor });
        return ids.map((id) => byIncident.get(id.toLowerCase()) ?? []);
      },
      resolve: (i: Incident) => i.id,
    }),
  );

  // An explicit null clears the calendar; absent leaves it.
  const idOf = (id: string | number | null | undefined) =>
    id === undefined ? {} : { calendarId: id === null ? null : String(id) };

  builder.queryFields((t) => ({
    businessCalendars: t.field({
      type: [Calendar],
      description: 'Business calendars by name (incident:read).',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      resolve: (_root, _args, { og, actor }) => og.slas.calendars({ actor }),
    }),
    slas: t.field({
      type: [Definition],
      description: 'SLA definitions by priority (incident:read).',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { priority: t.arg.int(), active: t.arg.boolean() },
      resolve: (_root, { priority, active }, { og, actor }) =>
        og.slas.slas(defined({ priority, active }), { actor }),
    }),
  }));

  const DefineInput = builder.inputType('DefineSlaInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      priority: t.int({ required: true, description: 'The incident priority it applies to, 1 (P1) to 5.' }),
      responseMinutes: t.int({ required: true }),
      resolutionMinutes: t.int({ required: true, description: 'At least the response target.' }),
      active: t.boolean({ description: 'Default true; at most one active definition per priority.' }),
      calendarId: t.id({
        description: 'A business calendar: only its working hours count. Absent: round the clock.',
      }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateSlaInput', {
    fields: (t) => ({
      name: t.string(),
      responseMinutes: t.int(),
      resolutionMinutes: t.int(),
      active: t.boolean(),
      calendarId: t.id({ description: 'null: round the clock from now on.' }),
    }),
  });
  const HoursInput = builder.inputType('WorkingHoursInput', {
    fields: (t) => ({
      day: t.int({ required: true, description: 'ISO weekday: 1 Monday … 7 Sunday.' }),
      start: t.string({ required: true, description: 'HH:MM.' }),
      end: t.string({ required: true, description: 'HH:MM, exclusive; 24:00 for the end of the day.' }),
    }),
  });
  const DefineCalendarInput = builder.inputType('DefineBusinessCalendarInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      timeZone: t.string({ required: true, description: 'IANA zone, e.g. Europe/Paris.' }),
      hours: t.field({ type: [HoursInput], required: true }),
      holidays: t.stringList({ description: 'Local dates, YYYY-MM-DD.' }),
    }),
  });
  const UpdateCalendarInput = builder.inputType('UpdateBusinessCalendarInput', {
    fields: (t) => ({
      name: t.string(),
      timeZone: t.string(),
      hours: t.field({ type: [HoursInput] }),
      holidays: t.stringList(),
    }),
  });
  const operationsWrite = { permission: permissions.operationsWrite };

  builder.mutationFields((t) => ({
    defineSla: t.field({
      type: Definition,
      description: 'Defines the SLA of a priority (operations:write).',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: { input: t.arg({ type: DefineInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.slas.defineSla({ ...defined(input), ...idOf(input.calendarId) }, { actor }),
    }),
    defineBusinessCalendar: t.field({
      type: Calendar,
      description: 'Defines working hours and holidays for SLA definitions to count by (operations:write).',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: { input: t.arg({ type: DefineCalendarInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) => og.slas.defineCalendar(defined(input), { actor }),
    }),
    updateBusinessCalendar: t.field({
      type: Calendar,
      description:
        'Changes a calendar (operations:write): running timers keep the time they counted and are due by the new hours.',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateCalendarInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.slas.updateCalendar(String(id), defined(input), {
          actor,
          ...(version != null ? { version } : {}),
        }),
    }),
    updateSla: t.field({
      type: Definition,
      description:
        'Changes an SLA definition (operations:write): timers already running keep their targets; a stale version is refused.',
      errors: { types: mutationErrors },
      authScopes: operationsWrite,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.slas.updateSla(
          String(id),
          { ...defined(input), ...idOf(input.calendarId) },
          { actor, ...(version != null ? { version } : {}) },
        ),
    }),
  }));
}
