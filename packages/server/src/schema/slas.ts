import {
  type Incident,
  permissions,
  type SlaDefinition,
  type SlaTimer,
  slaTimerKinds,
  slaTimerStates,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { defined, mutationErrors } from './errors.js';
import type { addIncidents } from './incidents.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

/** Incident SLAs: the definitions (`slas`) and each incident's timers (`Incident.slaTimers`). */
export function addSlas(
  builder: OpsGraphBuilder,
  { Incident: IncidentRef }: ReturnType<typeof addIncidents>,
) {
  const Kind = builder.enumType('SlaTimerKind', { values: upper(slaTimerKinds) });
  const State = builder.enumType('SlaTimerState', { values: upper(slaTimerStates) });

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
      warned: t.exposeBoolean('warned'),
      elapsedSeconds: t.int({
        description: 'Counted time as of now, holds excluded.',
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

  builder.queryFields((t) => ({
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
    }),
  });
  const UpdateInput = builder.inputType('UpdateSlaInput', {
    fields: (t) => ({
      name: t.string(),
      responseMinutes: t.int(),
      resolutionMinutes: t.int(),
      active: t.boolean(),
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
      resolve: (_root, { input }, { og, actor }) => og.slas.defineSla(defined(input), { actor }),
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
        og.slas.updateSla(String(id), defined(input), { actor, ...(version != null ? { version } : {}) }),
    }),
  }));
}
