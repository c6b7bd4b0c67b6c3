import {
  type Actor,
  holdReasons,
  type Incident,
  type IncidentChange,
  type IncidentNote,
  incidentStates,
  incidentTransitions,
  noteKinds,
  permissions,
  resolutionCodes,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import type { addAlerts } from './alerts.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup, loadUser } from './people.js';
import { liveStream, unwrap } from './streams.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> &
  Pick<ReturnType<typeof addAccessIdentity>, 'User' | 'Group'> &
  Pick<ReturnType<typeof addAlerts>, 'Alert'>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

/** `permission` on the incident's CI, or everywhere for one on no CI: what the SDK checks. */
const onIncident = (permission: string) => (i: { ciId: string | null }) =>
  i.ciId ? { ciPermission: { permission, ciId: i.ciId } } : { permission };

/** Incidents: numbered, prioritised, assigned, worked through their state machine; and `incidentChanged`. */
export function addIncidents(builder: OpsGraphBuilder, { CI, User, Group, Alert }: Refs) {
  const ActorRef = actorRefType(builder);
  const State = builder.enumType('IncidentState', { values: upper(incidentStates) });
  const HoldReason = builder.enumType('IncidentHoldReason', { values: upper(holdReasons) });
  const ResolutionCode = builder.enumType('IncidentResolutionCode', { values: upper(resolutionCodes) });
  const NoteKind = builder.enumType('IncidentNoteKind', { values: upper(noteKinds) });

  const Note = builder.objectRef<IncidentNote & { ciId: string | null }>('IncidentNote').implement({
    description: 'A work note (internal) or a comment (visible to whoever may read the incident).',
    authScopes: onIncident(permissions.incidentRead),
    fields: (t) => ({
      id: t.exposeID('id'),
      kind: t.field({ type: NoteKind, resolve: (n) => n.kind }),
      body: t.exposeString('body'),
      author: t.field({ type: ActorRef, resolve: (n) => n.author }),
      createdAt: t.field({ type: 'DateTime', resolve: (n) => n.createdAt }),
    }),
  });

  // People and groups need access:read to be seen as records: without it, the ids are still there.

  const IncidentRef = builder.objectRef<Incident>('Incident').implement({
    description:
      'An unplanned interruption or reduction in quality of an IT service (ITIL), numbered INC0001001 on.',
    authScopes: onIncident(permissions.incidentRead),
    fields: (t) => ({
      id: t.exposeID('id'),
      number: t.exposeString('number'),
      shortDescription: t.exposeString('shortDescription'),
      description: t.exposeString('description'),
      callerId: t.exposeID('callerId', { nullable: true }),
      caller: t.field({
        type: User,
        nullable: true,
        resolve: (i, _args, context) => loadUser(context, i.callerId),
      }),
      ciId: t.exposeID('ciId', { nullable: true }),
      ci: t.field({ type: CI, nullable: true, resolve: (i) => i.ciId }),
      serviceIds: t.exposeIDList('serviceIds', {
        description:
          'The business services a failure of the CI reaches (impact analysis when the CI was set).',
      }),
      services: t.field({ type: [CI], resolve: (i) => [...i.serviceIds] }),
      impact: t.exposeInt('impact', { description: '1 high, 2 medium, 3 low.' }),
      urgency: t.exposeInt('urgency', { description: '1 high, 2 medium, 3 low.' }),
      priority: t.exposeInt('priority', { description: '1 (P1, critical) to 5, from impact and urgency.' }),
      category: t.exposeString('category'),
      assignmentGroupId: t.exposeID('assignmentGroupId', { nullable: true }),
      assignmentGroup: t.field({
        type: Group,
        nullable: true,
        resolve: (i, _args, context) => loadGroup(context, i.assignmentGroupId),
      }),
      assigneeId: t.exposeID('assigneeId', { nullable: true }),
      assignee: t.field({
        type: User,
        nullable: true,
        resolve: (i, _args, context) => loadUser(context, i.assigneeId),
      }),
      state: t.field({ type: State, resolve: (i) => i.state }),
      allowedTransitions: t.field({
        type: [State],
        description: 'Where `transitionIncident` may take it from its state.',
        resolve: (i) => [...incidentTransitions[i.state]],
      }),
      holdReason: t.field({ type: HoldReason, nullable: true, resolve: (i) => i.holdReason }),
      resolutionCode: t.field({ type: ResolutionCode, nullable: true, resolve: (i) => i.resolutionCode }),
      resolutionNotes: t.exposeString('resolutionNotes', { nullable: true }),
      resolvedAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.resolvedAt }),
      resolvedBy: t.field({ type: ActorRef, nullable: true, resolve: (i) => i.resolvedBy }),
      closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.closedAt }),
      cancelledAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.cancelledAt }),
      reopenCount: t.exposeInt('reopenCount'),
      major: t.exposeBoolean('major'),
      openedBy: t.field({ type: ActorRef, resolve: (i) => i.openedBy }),
      notes: t.field({
        type: [Note],
        description: 'Oldest first; work notes only for who may work the incident.',
        resolve: async (i, _args, { og, actor }) =>
          (await og.incidents.notesOf(i.id, { actor })).map((n) => ({ ...n, ciId: i.ciId })),
      }),
      alertIds: t.field({
        type: ['ID'],
        description: 'The alerts it is about, in the order they were linked.',
        resolve: (i, _args, { og, actor }) => og.incidents.alertIdsOf(i.id, { actor }),
      }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdAt: t.field({ type: 'DateTime', resolve: (i) => i.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (i) => i.updatedAt }),
    }),
  });

  const Filter = builder.inputType('IncidentFilter', {
    fields: (t) => ({
      state: t.field({ type: [State] }),
      priority: t.intList(),
      ciId: t.id(),
      assignmentGroupId: t.id(),
      assigneeId: t.id(),
      callerId: t.id(),
      serviceId: t.id({ description: 'Incidents whose business services include this one.' }),
      major: t.boolean(),
    }),
  });
  const filterOf = (f: typeof Filter.$inferInput | null | undefined) =>
    defined({
      state: f?.state ?? undefined,
      priority: f?.priority ?? undefined,
      ciId: f?.ciId == null ? undefined : String(f.ciId),
      assignmentGroupId: f?.assignmentGroupId == null ? undefined : String(f.assignmentGroupId),
      assigneeId: f?.assigneeId == null ? undefined : String(f.assigneeId),
      callerId: f?.callerId == null ? undefined : String(f.callerId),
      serviceId: f?.serviceId == null ? undefined : String(f.serviceId),
      major: f?.major ?? undefined,
    });

  builder.queryFields((t) => ({
    incidents: t.connection({
      type: IncidentRef,
      description: 'Incidents you may read (incident:read on their CI), newest first.',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter, first, after, last, before }, { og, actor }) =>
        connectionOf(
          await og.incidents.incidents(filterOf(filter), forwardPage({ first, after, last, before }), {
            actor,
          }),
          after,
        ),
    }),
    incident: t.field({
      type: IncidentRef,
      nullable: true,
      description: 'By id or by number (INC0001001).',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.incidents.incident(String(id), { actor }),
    }),
  }));

  const Level = { description: '1 high, 2 medium, 3 low.' };
  const CreateInput = builder.inputType('CreateIncidentInput', {
    fields: (t) => ({
      shortDescription: t.string({ required: true }),
      description: t.string(),
      callerId: t.id(),
      ciId: t.id(),
      impact: t.int(Level),
      urgency: t.int(Level),
      category: t.string(),
      assignmentGroupId: t.id(),
      assigneeId: t.id({ description: 'Must be in the assignment group.' }),
      alertIds: t.idList(),
    }),
  });
  const UpdateInput = builder.inputType('UpdateIncidentInput', {
    fields: (t) => ({
      shortDescription: t.string(),
      description: t.string(),
      callerId: t.id(),
      ciId: t.id(),
      impact: t.int(Level),
      urgency: t.int(Level),
      category: t.string(),
    }),
  });
  const TransitionInput = builder.inputType('IncidentTransitionInput', {
    fields: (t) => ({
      to: t.field({ type: State, required: true }),
      holdReason: t.field({ type: HoldReason, description: 'Required to put on hold.' }),
      resolutionCode: t.field({ type: ResolutionCode, description: 'Required to resolve.' }),
      resolutionNotes: t.string({ description: 'Required to resolve.' }),
      reason: t.string({ description: 'Required to cancel and to reopen.' }),
    }),
  });
  const id = (v: string | number | null | undefined) => (v == null ? undefined : String(v));
  const versioned = (actor: Actor, version: number | null | undefined) => ({
    actor,
    ...(version != null ? { version } : {}),
  });

  builder.mutationFields((t) => ({
    createIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description:
        'Opens an incident (incident:write on its CI; naming an assignment needs incident:assign).',
      authScopes: { permissionSomewhere: permissions.incidentWrite },
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: (_root, { input: i }, { og, actor }) =>
        og.incidents.create(
          {
            shortDescription: i.shortDescription,
            ...defined({
              description: i.description,
              callerId: id(i.callerId),
              ciId: id(i.ciId),
              impact: i.impact as 1 | 2 | 3 | null | undefined,
              urgency: i.urgency as 1 | 2 | 3 | null | undefined,
              category: i.category,
              assignmentGroupId: id(i.assignmentGroupId),
              assigneeId: id(i.assigneeId),
              alertIds: i.alertIds?.map(String),
            }),
          },
          { actor },
        ),
    }),
    updateIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.incidentWrite },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id: incidentId, version, input: p }, { og, actor }) =>
        og.incidents.update(
          String(incidentId),
          {
            ...defined({
              shortDescription: p.shortDescription,
              description: p.description,
              impact: p.impact as 1 | 2 | 3 | null | undefined,
              urgency: p.urgency as 1 | 2 | 3 | null | undefined,
              category: p.category,
            }),
            // An explicit null clears the caller or the CI; omitted leaves them.
            ...(p.callerId !== undefined ? { callerId: id(p.callerId) ?? null } : {}),
            ...(p.ciId !== undefined ? { ciId: id(p.ciId) ?? null } : {}),
          },
          versioned(actor, version),
        ),
    }),
    assignIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description:
        'Assigns to a group and optionally one of its members (incident:assign); no group unassigns.',
      authScopes: { permissionSomewhere: permissions.incidentAssign },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        assignmentGroupId: t.arg.id(),
        assigneeId: t.arg.id(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.incidents.assign(
          String(args.id),
          {
            assignmentGroupId: id(args.assignmentGroupId) ?? null,
            ...defined({ assigneeId: id(args.assigneeId) }),
          },
          versioned(actor, args.version),
        ),
    }),
    transitionIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      description:
        'Moves it through the state machine (`allowedTransitions`); another move is a ConflictError naming the allowed ones.',
      authScopes: { permissionSomewhere: permissions.incidentWrite },
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: TransitionInput, required: true }),
      },
      resolve: (_root, { id: incidentId, version, input }, { og, actor }) =>
        og.incidents.transition(
          String(incidentId),
          {
            to: input.to,
            ...defined({
              holdReason: input.holdReason,
              resolutionCode: input.resolutionCode,
              resolutionNotes: input.resolutionNotes,
              reason: input.reason,
            }),
          },
          versioned(actor, version),
        ),
    }),
    addIncidentNote: t.field({
      type: Note,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.incidentWrite },
      args: {
        id: t.arg.id({ required: true }),
        kind: t.arg({ type: NoteKind, required: true }),
        body: t.arg.string({ required: true }),
      },
      resolve: async (_root, { id: incidentId, kind, body }, { og, actor }) => {
        const note = await og.incidents.addNote(String(incidentId), { kind, body }, { actor });
        const incident = await og.incidents.incident(note.incidentId, { actor });
        return { ...note, ciId: incident?.ciId ?? null };
      },
    }),
    linkAlertsToIncident: t.field({
      type: IncidentRef,
      errors: { types: mutationErrors },
      authScopes: { permissionSomewhere: permissions.incidentWrite },
      args: { id: t.arg.id({ required: true }), alertIds: t.arg.idList({ required: true }) },
      resolve: async (_root, { id: incidentId, alertIds }, { og, actor }) => {
        await og.incidents.linkAlerts(String(incidentId), alertIds.map(String), { actor });
        return (await og.incidents.incident(String(incidentId), { actor }))!;
      },
    }),
  }));

  const Kind = builder.enumType('IncidentChangeKind', {
    values: {
      CREATED: { value: 'incident.created' },
      UPDATED: { value: 'incident.updated' },
      ASSIGNED: { value: 'incident.assigned' },
      STATE_CHANGED: { value: 'incident.state_changed' },
      NOTED: { value: 'incident.noted' },
      ALERTS_LINKED: { value: 'incident.alerts_linked' },
      MAJOR_DECLARED: { value: 'incident.major_declared' },
      MAJOR_CLEARED: { value: 'incident.major_cleared' },
      MAJOR_UPDATE: { value: 'incident.major_update' },
    } as const,
  });
  const Change = builder.objectRef<IncidentChange>('IncidentChange').implement({
    description:
      'A change of an incident, with the incident as it is now. Resume with `incidentChanged(after: seq)`.',
    authScopes: (c) => onIncident(permissions.incidentRead)(c.incident),
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      kind: t.field({ type: Kind, resolve: (c) => c.type }),
      actor: t.field({ type: ActorRef, resolve: (c) => c.actor }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
      incident: t.field({ type: IncidentRef, resolve: (c) => c.incident }),
    }),
  });

  builder.subscriptionField('incidentChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Changes of the incidents matching `filter` that you may read, after `after` (default: from now on): missed ones first, then live ones, in order.',
      authScopes: { permissionSomewhere: permissions.incidentRead },
      args: { filter: t.arg({ type: Filter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        // The starting point is fixed before the subscription answers, so nothing after it is missed.
        const from = after ?? (await og.activity.latestSeq());
        return liveStream(context, og.incidents.follow(filterOf(filter), { after: from, actor }));
      },
      resolve: unwrap,
    }),
  );

  builder.objectField(Alert, 'incident', (t) =>
    t.field({
      type: IncidentRef,
      nullable: true,
      description:
        'The incident it belongs to (opened by an incident rule, joined, or linked); null when none you may read.',
      resolve: (a, _args, { og, actor }) => og.incidents.incidentOfAlert(a.id, { actor }).catch(() => null),
    }),
  );

  return { Incident: IncidentRef };
}
