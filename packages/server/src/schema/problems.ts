import {
  type Actor,
  type Incident,
  type KnownError,
  type KnownErrorMatch,
  knownErrorMatchKinds,
  knownErrorStates,
  type Problem,
  type ProblemChange,
  type ProblemEventType,
  type ProblemNote,
  type ProblemOrderField,
  permissions,
  problemEventTypes,
  problemResolutionCodes,
  problemStates,
  problemTransitions,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import type { addCiListing } from './ci-listing.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import type { addIncidents } from './incidents.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup, loadUser } from './people.js';
import { liveStream, unwrap } from './streams.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> &
  Pick<ReturnType<typeof addAccessIdentity>, 'User' | 'Group'> &
  Pick<ReturnType<typeof addCiListing>, 'OrderDirection'> &
  ReturnType<typeof addIncidents>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

/** `permission` on the record's CI, or everywhere for one on no CI: what the SDK checks. */
const onCi = (permission: string) => (r: { ciId: string | null }) =>
  r.ciId ? { ciPermission: { permission, ciId: r.ciId } } : { permission };

/**
 * Problems (numbered, assigned, worked through their state machine to a root cause and a fix, linked
 * to incidents), the known-error database, `Incident.problems`, `Incident.knownErrors` and `problemChanged`.
 */
export function addProblems(
  builder: OpsGraphBuilder,
  { CI, User, Group, OrderDirection, Incident: IncidentRef }: Refs,
) {
  const ActorRef = actorRefType(builder);
  const State = builder.enumType('ProblemState', { values: upper(problemStates) });
  const ResolutionCode = builder.enumType('ProblemResolutionCode', {
    values: upper(problemResolutionCodes),
  });
  const KnownErrorState = builder.enumType('KnownErrorState', { values: upper(knownErrorStates) });
  const MatchKind = builder.enumType('KnownErrorMatchKind', { values: upper(knownErrorMatchKinds) });
  const readProblem = onCi(permissions.problemRead);
  const readSomewhere = { permissionSomewhere: permissions.problemRead };

  const Note = builder.objectRef<ProblemNote & { ciId: string | null }>('ProblemNote').implement({
    description: 'A work note on a problem.',
    authScopes: readProblem,
    fields: (t) => ({
      id: t.exposeID('id'),
      body: t.exposeString('body'),
      author: t.field({ type: ActorRef, resolve: (n) => n.author }),
      createdAt: t.field({ type: 'DateTime', resolve: (n) => n.createdAt }),
    }),
  });

  // People and groups need access:read to be seen as records: without it, the ids are still there.

  const ProblemRef = builder.objectRef<Problem>('Problem');
  const KnownErrorRef = builder.objectRef<KnownError>('KnownError');

  ProblemRef.implement({
    description:
      'The cause of one or more incidents (ITIL), numbered PRB0001001 on: analysed to a root cause, fixed, or published as a known error with a workaround.',
    authScopes: readProblem,
    fields: (t) => ({
      id: t.exposeID('id'),
      number: t.exposeString('number'),
      title: t.exposeString('title'),
      description: t.exposeString('description'),
      ciId: t.exposeID('ciId', {
        nullable: true,
        description: 'The CI at fault: suspected when logged, the root-cause CI once analysed.',
      }),
      ci: t.field({ type: CI, nullable: true, resolve: (p) => p.ciId }),
      serviceIds: t.exposeIDList('serviceIds', {
        description:
          'The business services a failure of the CI reaches (impact analysis when the CI was set).',
      }),
      services: t.field({ type: [CI], resolve: (p) => [...p.serviceIds] }),
      impact: t.exposeInt('impact', { description: '1 high, 2 medium, 3 low.' }),
      urgency: t.exposeInt('urgency', { description: '1 high, 2 medium, 3 low.' }),
      priority: t.exposeInt('priority', { description: '1 (critical) to 5, from impact and urgency.' }),
      category: t.exposeString('category'),
      assignmentGroupId: t.exposeID('assignmentGroupId', { nullable: true }),
      assignmentGroup: t.field({
        type: Group,
        nullable: true,
        resolve: (p, _args, context) => loadGroup(context, p.assignmentGroupId),
      }),
      assigneeId: t.exposeID('assigneeId', { nullable: true }),
      assignee: t.field({
        type: User,
        nullable: true,
        resolve: (p, _args, context) => loadUser(context, p.assigneeId),
      }),
      state: t.field({ type: State, resolve: (p) => p.state }),
      allowedTransitions: t.field({
        type: [State],
        description: 'Where `transitionProblem` may take it from its state.',
        resolve: (p) => [...problemTransitions[p.state]],
      }),
      rootCause: t.exposeString('rootCause', { nullable: true }),
      workaround: t.exposeString('workaround', { nullable: true }),
      resolutionCode: t.field({ type: ResolutionCode, nullable: true, resolve: (p) => p.resolutionCode }),
      resolutionNotes: t.exposeString('resolutionNotes', { nullable: true }),
      resolvedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.resolvedAt }),
      resolvedBy: t.field({ type: ActorRef, nullable: true, resolve: (p) => p.resolvedBy }),
      closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.closedAt }),
      cancelledAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.cancelledAt }),
      reopenCount: t.exposeInt('reopenCount'),
      openedBy: t.field({ type: ActorRef, resolve: (p) => p.openedBy }),
      notes: t.loadableList({
        type: Note,
        description: 'Work notes, oldest first; a page of problems loads them in one query.',
        load: async (problems: Problem[], { og, actor }) => {
          const byProblem = await og.problems.notesOfProblems(
            problems.map((p) => p.id),
            { actor },
          );
          return problems.map((p) => (byProblem.get(p.id) ?? []).map((n) => ({ ...n, ciId: p.ciId })));
        },
        loaderOptions: { cacheKeyFn: (p: Problem) => p.id },
        resolve: (p) => p,
      }),
      incidents: t.loadableList({
        type: IncidentRef,
        description: 'The incidents it causes that you may read, oldest link first.',
        load: async (ids: string[], { og, actor }) => {
          const byProblem = await og.problems.incidentsOfProblems(ids, { actor });
          return ids.map((id) => byProblem.get(id.toLowerCase()) ?? []);
        },
        resolve: (p) => p.id,
      }),
      knownError: t.loadable({
        type: KnownErrorRef,
        nullable: true,
        description:
          'Its entry in the known-error database (published or retired), if it was ever published.',
        load: async (ids: string[], { og, actor }) => {
          const byProblem = await og.problems.knownErrorsOfProblems(ids, { actor });
          return ids.map((id) => byProblem.get(id.toLowerCase()) ?? null);
        },
        resolve: (p) => p.id,
      }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (p) => p.updatedAt }),
    }),
  });

  KnownErrorRef.implement({
    description:
      'A problem’s root cause and workaround, published to the known-error database for the service desk (KE0001001 on).',
    authScopes: readProblem,
    fields: (t) => ({
      id: t.exposeID('id'),
      number: t.exposeString('number'),
      problemId: t.exposeID('problemId'),
      problemNumber: t.exposeString('problemNumber'),
      problem: t.loadable({
        type: ProblemRef,
        nullable: true,
        load: async (ids: string[], { og, actor }) => {
          const byId = await og.problems.problemsById(ids, { actor });
          return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
        },
        resolve: (k) => k.problemId,
      }),
      title: t.exposeString('title'),
      workaround: t.exposeString('workaround'),
      rootCause: t.exposeString('rootCause', { nullable: true, description: 'The problem’s, as it is now.' }),
      ciId: t.exposeID('ciId', { nullable: true }),
      ci: t.field({ type: CI, nullable: true, resolve: (k) => k.ciId }),
      serviceIds: t.exposeIDList('serviceIds'),
      services: t.field({ type: [CI], resolve: (k) => [...k.serviceIds] }),
      state: t.field({ type: KnownErrorState, resolve: (k) => k.state }),
      publishedAt: t.field({ type: 'DateTime', resolve: (k) => k.publishedAt }),
      publishedBy: t.field({ type: ActorRef, resolve: (k) => k.publishedBy }),
      retiredAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.retiredAt }),
      retiredBy: t.field({ type: ActorRef, nullable: true, resolve: (k) => k.retiredBy }),
      retiredReason: t.exposeString('retiredReason', { nullable: true }),
      version: t.exposeInt('version'),
    }),
  });

  const Match = builder.objectRef<KnownErrorMatch>('KnownErrorMatch').implement({
    description: 'A published known error offered to an incident, and why.',
    authScopes: (m) => readProblem(m.knownError),
    fields: (t) => ({
      knownError: t.field({ type: KnownErrorRef, resolve: (m) => m.knownError }),
      match: t.field({
        type: MatchKind,
        description:
          'SAME_CI: on the incident’s CI; DEPENDENCY: on a CI it depends on or is contained in; BUSINESS_SERVICE: on a CI of one of its business services.',
        resolve: (m) => m.match,
      }),
      depth: t.int({
        nullable: true,
        description: 'Relationships from the incident’s CI (0 for SAME_CI); null for BUSINESS_SERVICE.',
        resolve: (m) => m.depth,
      }),
    }),
  });

  const Filter = builder.inputType('ProblemFilter', {
    fields: (t) => ({
      state: t.field({ type: [State] }),
      priority: t.intList(),
      ciId: t.id(),
      serviceId: t.id({ description: 'Problems whose business services include this one.' }),
      assignmentGroupId: t.id(),
      assigneeId: t.id(),
      incidentId: t.id({ description: 'Problems linked to this incident.' }),
      knownError: t.boolean({ description: 'With (true) or without (false) a published known error.' }),
      text: t.string({ description: 'Words in the title, description, root cause or workaround.' }),
    }),
  });
  const id = (v: string | number | null | undefined) => (v == null ? undefined : String(v));
  const filterOf = (f: typeof Filter.$inferInput | null | undefined) =>
    defined({
      state: f?.state ?? undefined,
      priority: f?.priority ?? undefined,
      ciId: id(f?.ciId),
      serviceId: id(f?.serviceId),
      assignmentGroupId: id(f?.assignmentGroupId),
      assigneeId: id(f?.assigneeId),
      incidentId: id(f?.incidentId),
      knownError: f?.knownError ?? undefined,
      text: f?.text ?? undefined,
    });

  const OrderField = builder.enumType('ProblemOrderField', {
    values: {
      CREATED_AT: { value: 'createdAt' },
      UPDATED_AT: { value: 'updatedAt' },
      PRIORITY: { value: 'priority', description: 'By priority (ASC: P1 first), then createdAt.' },
      NUMBER: { value: 'number' },
    } as const satisfies Record<string, { value: ProblemOrderField; description?: string }>,
  });
  const Order = builder.inputType('ProblemOrder', {
    description:
      'Ties are broken by id, in the same direction. A cursor continues only the order it came from.',
    fields: (t) => ({
      field: t.field({ type: OrderField, required: true }),
      direction: t.field({ type: OrderDirection, description: 'Default DESC.' }),
    }),
  });

  const KnownErrorFilter = builder.inputType('KnownErrorFilter', {
    fields: (t) => ({
      ciId: t.id({ description: 'Known errors whose problem is on this CI.' }),
      serviceId: t.id({ description: 'Known errors whose problem reaches this business service.' }),
      text: t.string({ description: 'Words in the title, workaround or root cause.' }),
      state: t.field({ type: [KnownErrorState], description: 'Default [PUBLISHED].' }),
    }),
  });

  builder.queryFields((t) => ({
    problems: t.connection({
      type: ProblemRef,
      description:
        'Problems you may read (problem:read on their CI), a page at a time, by `orderBy` (default CREATED_AT DESC).',
      authScopes: readSomewhere,
      args: { filter: t.arg({ type: Filter }), orderBy: t.arg({ type: Order }) },
      resolve: async (_root, { filter, orderBy, ...args }, { og, actor }) =>
        connectionOf(
          await og.problems.problems(
            filterOf(filter),
            { ...forwardPage(args), ...(orderBy ? { orderBy: defined(orderBy) } : {}) },
            { actor },
          ),
          args.after,
        ),
    }),
    problem: t.field({
      type: ProblemRef,
      nullable: true,
      description: 'By id or by number (PRB0001001).',
      authScopes: readSomewhere,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id: problemId }, { og, actor }) => og.problems.problem(String(problemId), { actor }),
    }),
    knownErrors: t.field({
      type: [KnownErrorRef],
      description:
        'The known-error database (problem:read on their CIs): by CI, business service and text; published ones unless `filter.state` says otherwise; newest first.',
      authScopes: readSomewhere,
      args: {
        filter: t.arg({ type: KnownErrorFilter }),
        first: t.arg.int({ description: 'Default 50, at most 500.' }),
      },
      resolve: (_root, { filter, first }, { og, actor }) =>
        og.problems.knownErrors(
          defined({
            ciId: id(filter?.ciId),
            serviceId: id(filter?.serviceId),
            text: filter?.text,
            state: filter?.state,
            first,
          }),
          { actor },
        ),
    }),
    knownError: t.field({
      type: KnownErrorRef,
      nullable: true,
      description: 'By id, by number (KE0001001), or by its problem’s id or number.',
      authScopes: readSomewhere,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id: knownErrorId }, { og, actor }) =>
        og.problems.knownError(String(knownErrorId), { actor }),
    }),
  }));

  const Level = { description: '1 high, 2 medium, 3 low.' };
  const CreateInput = builder.inputType('CreateProblemInput', {
    fields: (t) => ({
      title: t.string({ required: true }),
      description: t.string(),
      ciId: t.id({ description: 'The CI at fault (suspected or confirmed).' }),
      impact: t.int(Level),
      urgency: t.int(Level),
      category: t.string(),
      assignmentGroupId: t.id(),
      assigneeId: t.id({ description: 'Must be in the assignment group.' }),
      incidentIds: t.idList({ description: 'Incidents it causes.' }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateProblemInput', {
    fields: (t) => ({
      title: t.string(),
      description: t.string(),
      ciId: t.id({ description: 'Null clears it.' }),
      impact: t.int(Level),
      urgency: t.int(Level),
      category: t.string(),
      rootCause: t.string({ description: 'Null clears it (not once a fix is in progress).' }),
      workaround: t.string({ description: 'Null clears it.' }),
    }),
  });
  const TransitionInput = builder.inputType('ProblemTransitionInput', {
    fields: (t) => ({
      to: t.field({ type: State, required: true }),
      rootCause: t.string({
        description: 'Sets the root cause; needed (here or before) to fix and to resolve.',
      }),
      resolutionCode: t.field({ type: ResolutionCode, description: 'Required to resolve.' }),
      resolutionNotes: t.string({ description: 'Required to resolve.' }),
      reason: t.string({ description: 'Required to cancel and to go back to root cause analysis.' }),
    }),
  });
  const versioned = (actor: Actor, version: number | null | undefined) => ({
    actor,
    ...(version != null ? { version } : {}),
  });
  const level = (v: number | null | undefined) => v as 1 | 2 | 3 | null | undefined;
  const write = { permissionSomewhere: permissions.problemWrite };

  builder.mutationFields((t) => ({
    createProblem: t.field({
      type: ProblemRef,
      errors: { types: mutationErrors },
      description: 'Logs a problem (problem:write on its CI; linked incidents need incident:read).',
      authScopes: write,
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: (_root, { input: i }, { og, actor }) =>
        og.problems.create(
          {
            title: i.title,
            ...defined({
              description: i.description,
              ciId: id(i.ciId),
              impact: level(i.impact),
              urgency: level(i.urgency),
              category: i.category,
              assignmentGroupId: id(i.assignmentGroupId),
              assigneeId: id(i.assigneeId),
              incidentIds: i.incidentIds?.map(String),
            }),
          },
          { actor },
        ),
    }),
    updateProblem: t.field({
      type: ProblemRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id: problemId, version, input: p }, { og, actor }) =>
        og.problems.update(
          String(problemId),
          {
            ...defined({
              title: p.title,
              description: p.description,
              impact: level(p.impact),
              urgency: level(p.urgency),
              category: p.category,
            }),
            // An explicit null clears; omitted leaves.
            ...(p.ciId !== undefined ? { ciId: id(p.ciId) ?? null } : {}),
            ...(p.rootCause !== undefined ? { rootCause: p.rootCause } : {}),
            ...(p.workaround !== undefined ? { workaround: p.workaround } : {}),
          },
          versioned(actor, version),
        ),
    }),
    assignProblem: t.field({
      type: ProblemRef,
      errors: { types: mutationErrors },
      description: 'Assigns to a group and optionally one of its members; no group unassigns.',
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        assignmentGroupId: t.arg.id(),
        assigneeId: t.arg.id(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.problems.assign(
          String(args.id),
          {
            assignmentGroupId: id(args.assignmentGroupId) ?? null,
            ...defined({ assigneeId: id(args.assigneeId) }),
          },
          versioned(actor, args.version),
        ),
    }),
    transitionProblem: t.field({
      type: ProblemRef,
      errors: { types: mutationErrors },
      description:
        'Moves it through the state machine (`allowedTransitions`); another move is a ConflictError naming the allowed ones. Resolving acts on the linked incidents you may work.',
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: TransitionInput, required: true }),
      },
      resolve: (_root, { id: problemId, version, input }, { og, actor }) =>
        og.problems.transition(
          String(problemId),
          {
            to: input.to,
            ...defined({
              rootCause: input.rootCause,
              resolutionCode: input.resolutionCode,
              resolutionNotes: input.resolutionNotes,
              reason: input.reason,
            }),
          },
          versioned(actor, version),
        ),
    }),
    addProblemNote: t.field({
      type: Note,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { id: t.arg.id({ required: true }), body: t.arg.string({ required: true }) },
      resolve: async (_root, { id: problemId, body }, { og, actor }) => {
        const note = await og.problems.addNote(String(problemId), { body }, { actor });
        const problem = await og.problems.problem(note.problemId, { actor });
        return { ...note, ciId: problem?.ciId ?? null };
      },
    }),
    linkIncidentsToProblem: t.field({
      type: ProblemRef,
      errors: { types: mutationErrors },
      description: 'Links incidents it causes (each needs incident:read); links already there are kept.',
      authScopes: write,
      args: { id: t.arg.id({ required: true }), incidentIds: t.arg.idList({ required: true }) },
      resolve: async (_root, { id: problemId, incidentIds }, { og, actor }) => {
        await og.problems.linkIncidents(String(problemId), incidentIds.map(String), { actor });
        return (await og.problems.problem(String(problemId), { actor }))!;
      },
    }),
    unlinkIncidentsFromProblem: t.field({
      type: ProblemRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { id: t.arg.id({ required: true }), incidentIds: t.arg.idList({ required: true }) },
      resolve: async (_root, { id: problemId, incidentIds }, { og, actor }) => {
        await og.problems.unlinkIncidents(String(problemId), incidentIds.map(String), { actor });
        return (await og.problems.problem(String(problemId), { actor }))!;
      },
    }),
    publishKnownError: t.field({
      type: KnownErrorRef,
      errors: { types: mutationErrors },
      description:
        'Publishes the problem (which needs a root cause) as a known error with a workaround; again, updates or republishes it (`version`: the known error’s).',
      authScopes: write,
      args: {
        problemId: t.arg.id({ required: true }),
        version: t.arg.int(),
        title: t.arg.string({ description: 'Default: the problem’s title.' }),
        workaround: t.arg.string({ description: 'Default: the one published before, else the problem’s.' }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.problems.publishKnownError(
          String(args.problemId),
          defined({ title: args.title, workaround: args.workaround }),
          versioned(actor, args.version),
        ),
    }),
    retireKnownError: t.field({
      type: KnownErrorRef,
      errors: { types: mutationErrors },
      description: 'Takes a known error out of the database and out of incident matching.',
      authScopes: write,
      args: {
        id: t.arg.id({ required: true, description: 'The known error’s id or number, or its problem’s.' }),
        version: t.arg.int(),
        reason: t.arg.string({ required: true }),
      },
      resolve: (_root, { id: knownErrorId, version, reason }, { og, actor }) =>
        og.problems.retireKnownError(String(knownErrorId), { reason }, versioned(actor, version)),
    }),
  }));

  const Kind = builder.enumType('ProblemChangeKind', {
    values: Object.fromEntries(
      problemEventTypes.map((type) => [type.replace('.', '_').toUpperCase(), { value: type }]),
    ) as Record<string, { value: ProblemEventType }>,
  });
  const Change = builder.objectRef<ProblemChange>('ProblemChange').implement({
    description:
      'A change of a problem or its known error, with the problem as it is now. Resume with `problemChanged(after: seq)`.',
    authScopes: (c) => readProblem(c.problem),
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      kind: t.field({ type: Kind, resolve: (c) => c.type }),
      actor: t.field({ type: ActorRef, resolve: (c) => c.actor }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
      problem: t.field({ type: ProblemRef, resolve: (c) => c.problem }),
    }),
  });

  builder.subscriptionField('problemChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Changes of the problems matching `filter` that you may read (their known errors too), after `after` (default: from now on): missed ones first, then live ones, in order.',
      authScopes: readSomewhere,
      args: { filter: t.arg({ type: Filter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        // The starting point is fixed before the subscription answers, so nothing after it is missed.
        const from = after ?? (await og.activity.latestSeq());
        return liveStream(context, og.problems.follow(filterOf(filter), { after: from, actor }));
      },
      resolve: unwrap,
    }),
  );

  builder.objectField(IncidentRef, 'problems', (t) =>
    t.loadableList({
      type: ProblemRef,
      description: 'The problems linked to it that you may read (problem:read), oldest link first.',
      authScopes: readSomewhere,
      load: async (ids: string[], { og, actor }) => {
        const byIncident = await og.problems.problemsOfIncidents(ids, { actor });
        return ids.map((id) => byIncident.get(id.toLowerCase()) ?? []);
      },
      resolve: (i: Incident) => i.id,
    }),
  );

  builder.objectField(IncidentRef, 'knownErrors', (t) =>
    t.loadableList({
      type: Match,
      description:
        'Published known errors to try (problem:read): on its CI, on a CI it depends on or is contained in (3 relationships at most), on a CI of one of its business services; closest first. A page of incidents loads them in constant queries.',
      authScopes: readSomewhere,
      load: async (incidents: Incident[], { og, actor }) => {
        const byIncident = await og.problems.matchingKnownErrorsFor(incidents, {}, { actor });
        return incidents.map((i) => byIncident.get(i.id) ?? []);
      },
      loaderOptions: { cacheKeyFn: (i: Incident) => i.id },
      resolve: (i: Incident) => i,
    }),
  );

  return { Problem: ProblemRef, KnownError: KnownErrorRef };
}
