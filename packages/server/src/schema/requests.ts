import {
  type Actor,
  type CatalogApprovalStep,
  type CatalogItem,
  catalogApprovalStepKinds,
  type FormField,
  formFieldTypes,
  manualRequestTransitions,
  permissions,
  type RequestChange,
  type RequestTask,
  requestStates,
  type ServiceRequest,
  type TaskAction,
  type TaskTemplate,
  taskActionKinds,
  taskStates,
  taskTransitions,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import type { addApprovals } from './approvals.js';
import type { addCiListing } from './ci-listing.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup, loadUser } from './people.js';
import { liveStream, unwrap } from './streams.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> &
  Pick<ReturnType<typeof addApprovals>, 'Approval'> &
  Pick<ReturnType<typeof addAccessIdentity>, 'User' | 'Group'> &
  Pick<ReturnType<typeof addCiListing>, 'OrderDirection'>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

/** Any one of the permissions (a nested `$any` reports the first one when none is held). */
const anyOf = (...names: string[]): { $any: Record<string, unknown> } => {
  // Scope auth reports the innermost refusal: the first permission named, the one to ask for.
  let scopes: { $any: Record<string, unknown> } = { $any: { permission: names[0]! } };
  for (const name of names.slice(1)) scopes = { $any: { permission: name, $any: scopes.$any } };
  return scopes;
};
/** Browsing the catalog. */
const catalogReaders = anyOf(permissions.requestRead, permissions.requestCreate, permissions.requestAdmin);
/** Listing requests: one's own (request:read), or all (request:fulfil, request:admin). */
const requestListers = anyOf(permissions.requestRead, permissions.requestFulfil, permissions.requestAdmin);
/** A request reached by id: the SDK decides (its people, its approvers, fulfillers). */
const requestReaders = { authenticated: true };
const fulfillers = anyOf(permissions.requestFulfil, permissions.requestAdmin);
const admin = { permission: permissions.requestAdmin };

/**
 * Request fulfilment: the service catalog (`catalogItems`, `catalogItem`), requests (`requests`,
 * `request`, `submitRequest`, `approveRequest`, `rejectRequest`, `transitionRequest`), fulfilment tasks
 * (`tasks`, `task`, `assignRequestTask`, `transitionRequestTask`) and `requestChanged`.
 */
export function addRequests(builder: OpsGraphBuilder, { CI, User, Group, OrderDirection, Approval }: Refs) {
  const ActorRef = actorRefType(builder);
  const State = builder.enumType('RequestState', { values: upper(requestStates) });
  const TaskStateEnum = builder.enumType('RequestTaskState', { values: upper(taskStates) });
  const FieldType = builder.enumType('CatalogFormFieldType', { values: upper(formFieldTypes) });
  const StepKind = builder.enumType('CatalogApprovalStepKind', { values: upper(catalogApprovalStepKinds) });
  const ActionKind = builder.enumType('RequestTaskActionKind', { values: upper(taskActionKinds) });
  const OrderField = builder.enumType('RequestOrderField', {
    values: {
      CREATED_AT: { value: 'createdAt' },
      UPDATED_AT: { value: 'updatedAt' },
      NUMBER: { value: 'number' },
    } as const,
  });

  const Field = builder.objectRef<FormField>('CatalogFormField').implement({
    description: 'One question of a catalog item form; its answer is `answers.<name>`.',
    authScopes: catalogReaders,
    fields: (t) => ({
      name: t.exposeString('name'),
      label: t.exposeString('label'),
      type: t.field({ type: FieldType, resolve: (f) => f.type }),
      help: t.string({ nullable: true, resolve: (f) => f.help ?? null }),
      required: t.boolean({ resolve: (f) => f.required ?? false }),
      default: t.field({ type: 'JSON', nullable: true, resolve: (f) => f.default ?? null }),
      min: t.float({
        nullable: true,
        description: 'Least value (integer, number) or length (string, text).',
        resolve: (f) => f.min ?? null,
      }),
      max: t.float({
        nullable: true,
        description: 'Greatest value (integer, number) or length (string, text).',
        resolve: (f) => f.max ?? null,
      }),
      pattern: t.string({ nullable: true, resolve: (f) => f.pattern ?? null }),
      options: t.stringList({ nullable: true, resolve: (f) => (f.options ? [...f.options] : null) }),
      ciClass: t.string({ nullable: true, resolve: (f) => f.ciClass ?? null }),
    }),
  });

  const Step = builder.objectRef<CatalogApprovalStep>('CatalogApprovalStep').implement({
    description:
      "One step of an item's approval policy: the manager of the user it is for, a group, or a role.",
    authScopes: catalogReaders,
    fields: (t) => ({
      kind: t.field({ type: StepKind, resolve: (s) => s.kind }),
      groupId: t.id({ nullable: true, resolve: (s) => s.groupId ?? null }),
      role: t.string({ nullable: true, resolve: (s) => s.role ?? null }),
      quorum: t.int({ resolve: (s) => s.quorum ?? 1 }),
    }),
  });

  const Action = builder.objectRef<TaskAction>('RequestTaskAction').implement({
    description: 'What completing a task does by itself (assign_device: hands a device CI to the user).',
    authScopes: catalogReaders,
    fields: (t) => ({
      kind: t.field({ type: ActionKind, resolve: (a) => a.kind }),
      ciClass: t.string({ nullable: true, resolve: (a) => a.ciClass ?? null }),
    }),
  });

  const Template = builder.objectRef<TaskTemplate>('CatalogTaskTemplate').implement({
    description: 'A fulfilment task each request gets; tasks of a stage run in parallel, stages in order.',
    authScopes: catalogReaders,
    fields: (t) => ({
      title: t.exposeString('title'),
      description: t.string({ resolve: (x) => x.description ?? '' }),
      assignmentGroupId: t.id({ nullable: true, resolve: (x) => x.assignmentGroupId ?? null }),
      stage: t.int({ resolve: (x) => x.stage ?? 1 }),
      action: t.field({ type: Action, nullable: true, resolve: (x) => x.action ?? null }),
    }),
  });

  const Item = builder.loadableObject('CatalogItem', {
    description: 'Something people may ask for: a form, an approval policy, fulfilment tasks.',
    authScopes: catalogReaders,
    load: async (ids: string[], { og, actor }) =>
      (await og.requests.itemsByIds(ids, { actor })).map(
        (item, i) => item ?? new Error(`catalog item ${ids[i]} was not found`),
      ),
    sort: (item: CatalogItem) => item.id,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      category: t.exposeString('category'),
      description: t.exposeString('description'),
      active: t.exposeBoolean('active', {
        description: 'false: out of the catalog (running requests go on).',
      }),
      form: t.field({ type: [Field], resolve: (i) => [...i.form] }),
      approvalSteps: t.field({ type: [Step], resolve: (i) => [...i.approvalSteps] }),
      tasks: t.field({ type: [Template], resolve: (i) => [...i.tasks] }),
      createdBy: t.field({ type: ActorRef, resolve: (i) => i.createdBy }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdAt: t.field({ type: 'DateTime', resolve: (i) => i.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (i) => i.updatedAt }),
    }),
  });

  const TaskRef = builder.loadableObject('RequestTask', {
    description: 'A fulfilment task of a request, numbered TASK0001001 on, worked by its assignment group.',
    // Reached through a request one may read (its people see how it is going) or the fulfillers' lists.
    authScopes: requestReaders,
    load: async (ids: string[], { og, actor }) =>
      Promise.all(
        ids.map(
          async (id) => (await og.requests.task(id, { actor })) ?? new Error(`task ${id} was not found`),
        ),
      ),
    sort: (task: RequestTask) => task.id,
    fields: (t) => ({
      id: t.exposeID('id'),
      number: t.exposeString('number'),
      requestId: t.exposeID('requestId'),
      stage: t.exposeInt('stage'),
      title: t.exposeString('title'),
      description: t.exposeString('description'),
      assignmentGroupId: t.exposeID('assignmentGroupId', { nullable: true }),
      assignmentGroup: t.field({
        type: Group,
        nullable: true,
        description: 'The group (with access:read); a page of tasks loads them in one query.',
        resolve: (x, _args, context) => loadGroup(context, x.assignmentGroupId),
      }),
      assigneeId: t.exposeID('assigneeId', { nullable: true }),
      assignee: t.field({
        type: User,
        nullable: true,
        resolve: (x, _args, context) => loadUser(context, x.assigneeId),
      }),
      action: t.field({ type: Action, nullable: true, resolve: (x) => x.action }),
      state: t.field({ type: TaskStateEnum, resolve: (x) => x.state }),
      allowedTransitions: t.field({
        type: [TaskStateEnum],
        description: 'Where `transitionRequestTask` may take it from its state.',
        resolve: (x) => [...taskTransitions[x.state]],
      }),
      notes: t.exposeString('notes', { nullable: true }),
      deviceCiId: t.exposeID('deviceCiId', { nullable: true }),
      device: t.field({
        type: CI,
        nullable: true,
        description: 'The device an assign_device task assigned.',
        resolve: (x) => x.deviceCiId,
      }),
      doneAt: t.field({ type: 'DateTime', nullable: true, resolve: (x) => x.doneAt }),
      doneBy: t.field({ type: ActorRef, nullable: true, resolve: (x) => x.doneBy }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdAt: t.field({ type: 'DateTime', resolve: (x) => x.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (x) => x.updatedAt }),
    }),
  });

  const RequestRef = builder.loadableObject('ServiceRequest', {
    description: 'A request for a catalog item (ITIL request fulfilment), numbered REQ0001001 on.',
    authScopes: requestReaders,
    load: async (ids: string[], { og, actor }) =>
      (await og.requests.requestsByIds(ids, { actor })).map(
        (r, i) => r ?? new Error(`request ${ids[i]} was not found`),
      ),
    sort: (r: ServiceRequest) => r.id,
    fields: (t) => ({
      id: t.exposeID('id'),
      number: t.exposeString('number'),
      itemId: t.exposeID('itemId'),
      itemName: t.exposeString('itemName', { description: 'The item as it was named at submission.' }),
      item: t.loadable({
        type: Item,
        nullable: true,
        description:
          'The catalog item now (null once retired, unless you administer the catalog); one query per page.',
        load: (ids: string[], { og, actor }) => og.requests.itemsByIds(ids, { actor }),
        resolve: (r) => r.itemId,
      }),
      answers: t.field({ type: 'JSON', resolve: (r) => r.answers }),
      justification: t.exposeString('justification'),
      requestedById: t.exposeID('requestedById', { nullable: true }),
      requestedBy: t.field({
        type: User,
        nullable: true,
        resolve: (r, _args, context) => loadUser(context, r.requestedById),
      }),
      requestedForId: t.exposeID('requestedForId'),
      requestedFor: t.field({
        type: User,
        nullable: true,
        resolve: (r, _args, context) => loadUser(context, r.requestedForId),
      }),
      state: t.field({ type: State, resolve: (r) => r.state }),
      allowedTransitions: t.field({
        type: [State],
        description:
          'What `transitionRequest` may ask for from its state (the other moves follow by themselves).',
        resolve: (r) => [...manualRequestTransitions[r.state]],
      }),
      stage: t.exposeInt('stage', { description: 'The fulfilment stage opened last (0: none yet).' }),
      cancelReason: t.exposeString('cancelReason', { nullable: true }),
      submittedBy: t.field({ type: ActorRef, resolve: (r) => r.submittedBy }),
      approvedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.approvedAt }),
      rejectedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.rejectedAt }),
      fulfilledAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.fulfilledAt }),
      closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.closedAt }),
      cancelledAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.cancelledAt }),
      tasks: t.loadableList({
        type: TaskRef,
        description: 'Its fulfilment tasks in order; a page of requests loads them in one query.',
        load: (ids: string[], { og, actor }) => og.requests.tasksOf(ids, { actor }),
        resolve: (r) => r.id,
      }),
      approvals: t.loadableList({
        type: Approval,
        description: 'Its approval steps, every round; a page of requests loads them in one query.',
        load: (ids: string[], { og }) => og.requests.approvalsOfRequests(ids),
        resolve: (r) => r.id,
      }),
      version: t.exposeInt('version', { description: 'Send it back with a change: a stale one is refused.' }),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    }),
  });

  builder.objectField(TaskRef, 'request', (t) =>
    t.field({ type: RequestRef, nullable: true, resolve: (x) => x.requestId }),
  );

  // Queries -------------------------------------------------------------------------------------------

  const CatalogFilter = builder.inputType('CatalogItemFilter', {
    fields: (t) => ({
      category: t.string(),
      active: t.boolean({ description: 'false: retired items (request:admin).' }),
      search: t.string({ description: 'Part of the name, any case.' }),
    }),
  });
  const Filter = builder.inputType('RequestFilter', {
    fields: (t) => ({
      state: t.field({ type: [State] }),
      itemId: t.id(),
      requestedForId: t.id(),
      requestedById: t.id(),
    }),
  });
  const Order = builder.inputType('RequestOrder', {
    fields: (t) => ({
      field: t.field({ type: OrderField, required: true }),
      direction: t.field({ type: OrderDirection }),
    }),
  });
  const TaskFilter = builder.inputType('RequestTaskFilter', {
    fields: (t) => ({
      state: t.field({ type: [TaskStateEnum] }),
      requestId: t.id(),
      assignmentGroupId: t.id(),
      assigneeId: t.id(),
    }),
  });
  const str = (v: string | number | null | undefined) => (v == null ? undefined : String(v));
  const filterOf = (f: typeof Filter.$inferInput | null | undefined) =>
    defined({
      state: f?.state ?? undefined,
      itemId: str(f?.itemId),
      requestedForId: str(f?.requestedForId),
      requestedById: str(f?.requestedById),
    });

  builder.queryFields((t) => ({
    catalogItems: t.connection({
      type: Item,
      description: 'The service catalog by name (active items; retired ones for request:admin).',
      authScopes: catalogReaders,
      args: { filter: t.arg({ type: CatalogFilter }) },
      resolve: async (_root, { filter, ...page }, context) => {
        const found = await context.og.requests.items(
          defined({ category: filter?.category, active: filter?.active, search: filter?.search }),
          forwardPage(page),
          { actor: context.actor },
        );
        const loader = Item.getDataloader(context);
        for (const { node } of found.edges) loader.prime(node.id, node);
        return connectionOf(found, page.after);
      },
    }),
    catalogItem: t.field({
      type: Item,
      nullable: true,
      authScopes: catalogReaders,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.requests.item(String(id), { actor }),
    }),
    requests: t.connection({
      type: RequestRef,
      description:
        'Requests you may read (all with request:fulfil; else yours, those for you and your reports), newest first unless ordered.',
      authScopes: requestListers,
      args: { filter: t.arg({ type: Filter }), orderBy: t.arg({ type: Order }) },
      resolve: async (_root, { filter, orderBy, ...page }, context) => {
        const found = await context.og.requests.requests(
          filterOf(filter),
          {
            ...forwardPage(page),
            ...(orderBy
              ? { orderBy: { field: orderBy.field, ...defined({ direction: orderBy.direction }) } }
              : {}),
          },
          { actor: context.actor },
        );
        const loader = RequestRef.getDataloader(context);
        for (const { node } of found.edges) loader.prime(node.id, node);
        return connectionOf(found, page.after);
      },
    }),
    request: t.field({
      type: RequestRef,
      nullable: true,
      description: 'By id or by number (REQ0001001); also for who may approve it now.',
      authScopes: requestReaders,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.requests.request(String(id), { actor }),
    }),
    tasks: t.connection({
      type: TaskRef,
      description: 'Fulfilment tasks, newest first (request:fulfil): a group queue, your own work.',
      authScopes: fulfillers,
      args: { filter: t.arg({ type: TaskFilter }) },
      resolve: async (_root, { filter, ...page }, context) => {
        const found = await context.og.requests.tasks(
          defined({
            state: filter?.state ?? undefined,
            requestId: str(filter?.requestId),
            assignmentGroupId: str(filter?.assignmentGroupId),
            assigneeId: str(filter?.assigneeId),
          }),
          forwardPage(page),
          { actor: context.actor },
        );
        const loader = TaskRef.getDataloader(context);
        for (const { node } of found.edges) loader.prime(node.id, node);
        return connectionOf(found, page.after);
      },
    }),
    task: t.field({
      type: TaskRef,
      nullable: true,
      description: 'By id or by number (TASK0001001).',
      authScopes: fulfillers,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.requests.task(String(id), { actor }),
    }),
  }));

  // Mutations -----------------------------------------------------------------------------------------

  const FieldInput = builder.inputType('CatalogFormFieldInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      label: t.string({ required: true }),
      type: t.field({ type: FieldType, required: true }),
      help: t.string(),
      required: t.boolean(),
      default: t.field({ type: 'JSON' }),
      min: t.float(),
      max: t.float(),
      pattern: t.string(),
      options: t.stringList(),
      ciClass: t.string(),
    }),
  });
  const StepInput = builder.inputType('CatalogApprovalStepInput', {
    fields: (t) => ({
      kind: t.field({ type: StepKind, required: true }),
      groupId: t.id(),
      role: t.string(),
      quorum: t.int(),
    }),
  });
  const ActionInput = builder.inputType('RequestTaskActionInput', {
    fields: (t) => ({ kind: t.field({ type: ActionKind, required: true }), ciClass: t.string() }),
  });
  const TemplateInput = builder.inputType('CatalogTaskTemplateInput', {
    fields: (t) => ({
      title: t.string({ required: true }),
      description: t.string(),
      assignmentGroupId: t.id(),
      stage: t.int(),
      action: t.field({ type: ActionInput }),
    }),
  });
  const CreateItem = builder.inputType('CreateCatalogItemInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      category: t.string(),
      description: t.string(),
      active: t.boolean(),
      form: t.field({ type: [FieldInput] }),
      approvalSteps: t.field({ type: [StepInput] }),
      tasks: t.field({ type: [TemplateInput] }),
    }),
  });
  const UpdateItem = builder.inputType('UpdateCatalogItemInput', {
    fields: (t) => ({
      name: t.string(),
      category: t.string(),
      description: t.string(),
      active: t.boolean({ description: 'false takes it out of the catalog.' }),
      form: t.field({ type: [FieldInput] }),
      approvalSteps: t.field({ type: [StepInput] }),
      tasks: t.field({ type: [TemplateInput] }),
    }),
  });
  const Submit = builder.inputType('SubmitRequestInput', {
    fields: (t) => ({
      itemId: t.id({ required: true }),
      requestedForId: t.id({ description: 'Default: you.' }),
      answers: t.field({ type: 'JSON', description: 'By field name.' }),
      justification: t.string(),
    }),
  });
  const TransitionInput = builder.inputType('RequestTransitionInput', {
    fields: (t) => ({
      to: t.field({ type: State, required: true }),
      reason: t.string({ description: 'Required to cancel.' }),
    }),
  });
  const TaskTransitionInput = builder.inputType('RequestTaskTransitionInput', {
    fields: (t) => ({
      to: t.field({ type: TaskStateEnum, required: true }),
      notes: t.string({ description: 'What was done; required to cancel (why).' }),
      deviceCiId: t.id({
        description: 'assign_device tasks, when done: the device to assign (default: a free one in stock).',
      }),
    }),
  });

  type ItemInput = {
    name?: string | null;
    category?: string | null;
    description?: string | null;
    active?: boolean | null;
    form?: readonly Record<string, unknown>[] | null;
    approvalSteps?: readonly Record<string, unknown>[] | null;
    tasks?: readonly Record<string, unknown>[] | null;
  };
  // GraphQL's nulls for omitted inputs become left-out fields; ids become strings.
  const clean = (value: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [
          k,
          v && typeof v === 'object' && !Array.isArray(v) && k !== 'default'
            ? clean(v as Record<string, unknown>)
            : v,
        ]),
    );
  const itemOf = (i: ItemInput) =>
    clean({
      ...i,
      form: i.form?.map(clean),
      approvalSteps: i.approvalSteps?.map(clean),
      tasks: i.tasks?.map(clean),
    });
  const versioned = (actor: Actor, version: number | null | undefined) => ({
    actor,
    ...(version != null ? { version } : {}),
  });

  builder.mutationFields((t) => ({
    createCatalogItem: t.field({
      type: Item,
      errors: { types: mutationErrors },
      description: 'Adds an item to the service catalog (request:admin).',
      authScopes: admin,
      args: { input: t.arg({ type: CreateItem, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.requests.createItem(itemOf(input as ItemInput) as { name: string }, { actor }),
    }),
    updateCatalogItem: t.field({
      type: Item,
      errors: { types: mutationErrors },
      description: 'Changes an item (request:admin); submitted requests keep it as it was.',
      authScopes: admin,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateItem, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.requests.updateItem(String(id), itemOf(input as ItemInput), versioned(actor, version)),
    }),
    submitRequest: t.field({
      type: RequestRef,
      errors: { types: mutationErrors },
      description: 'Asks for a catalog item (request:create); bad answers name `answers.<field>`.',
      authScopes: { permission: permissions.requestCreate },
      args: { input: t.arg({ type: Submit, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.requests.submit(
          {
            itemId: String(input.itemId),
            ...defined({
              requestedForId: str(input.requestedForId),
              answers: input.answers as Record<string, unknown> | null | undefined,
              justification: input.justification,
            }),
          },
          { actor },
        ),
    }),
    approveRequest: t.field({
      type: RequestRef,
      errors: { types: mutationErrors },
      description:
        'Approves the pending approval step you may decide (the manager, a group member, a role holder).',
      authScopes: { authenticated: true },
      args: { id: t.arg.id({ required: true }), version: t.arg.int(), comment: t.arg.string() },
      resolve: (_root, { id, version, comment }, { og, actor }) =>
        og.requests.approve(String(id), defined({ comment }), versioned(actor, version)),
    }),
    rejectRequest: t.field({
      type: RequestRef,
      errors: { types: mutationErrors },
      description: 'Rejects the request as an approver of its pending step.',
      authScopes: { authenticated: true },
      args: { id: t.arg.id({ required: true }), version: t.arg.int(), comment: t.arg.string() },
      resolve: (_root, { id, version, comment }, { og, actor }) =>
        og.requests.reject(String(id), defined({ comment }), versioned(actor, version)),
    }),
    transitionRequest: t.field({
      type: RequestRef,
      errors: { types: mutationErrors },
      description:
        'Cancels (with a reason) or closes a request (`allowedTransitions`); another move is a ConflictError naming the allowed ones.',
      authScopes: anyOf(permissions.requestCreate, permissions.requestFulfil, permissions.requestAdmin),
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: TransitionInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.requests.transition(
          String(id),
          { to: input.to, ...defined({ reason: input.reason }) },
          versioned(actor, version),
        ),
    }),
    assignRequestTask: t.field({
      type: TaskRef,
      errors: { types: mutationErrors },
      description: 'Assigns a task to a group and optionally one of its members (request:fulfil).',
      authScopes: fulfillers,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        assignmentGroupId: t.arg.id(),
        assigneeId: t.arg.id(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.requests.assignTask(
          String(args.id),
          {
            assignmentGroupId: str(args.assignmentGroupId) ?? null,
            ...defined({ assigneeId: str(args.assigneeId) }),
          },
          versioned(actor, args.version),
        ),
    }),
    transitionRequestTask: t.field({
      type: TaskRef,
      errors: { types: mutationErrors },
      description:
        'Moves a task (`allowedTransitions`); completing an assign_device task assigns `deviceCiId` to the user the request is for.',
      authScopes: fulfillers,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: TaskTransitionInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.requests.transitionTask(
          String(id),
          { to: input.to, ...defined({ notes: input.notes, deviceCiId: str(input.deviceCiId) }) },
          versioned(actor, version),
        ),
    }),
  }));

  // Subscription --------------------------------------------------------------------------------------

  const Kind = builder.enumType('RequestChangeKind', {
    values: {
      SUBMITTED: { value: 'request.submitted' },
      STATE_CHANGED: { value: 'request.state_changed' },
      DEVICE_ASSIGNED: { value: 'request.device_assigned' },
      TASK_OPENED: { value: 'request_task.opened' },
      TASK_ASSIGNED: { value: 'request_task.assigned' },
      TASK_STATE_CHANGED: { value: 'request_task.state_changed' },
    } as const,
  });
  const Change = builder.objectRef<RequestChange>('RequestChange').implement({
    description:
      'A change of a request or of one of its tasks, with the request as it is now. Resume with `requestChanged(after: seq)`.',
    authScopes: requestReaders,
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      kind: t.field({ type: Kind, resolve: (c) => c.type }),
      actor: t.field({ type: ActorRef, resolve: (c) => c.actor }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
      taskId: t.exposeID('taskId', { nullable: true }),
      request: t.field({ type: RequestRef, resolve: (c) => c.request }),
    }),
  });

  builder.subscriptionField('requestChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Changes of the requests matching `filter` that you may read, after `after` (default: from now on): missed ones first, then live ones, in order.',
      authScopes: requestListers,
      args: { filter: t.arg({ type: Filter }), after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { filter, after }, context) => {
        const { og, actor } = context;
        const from = after ?? (await og.activity.latestSeq());
        return liveStream(context, og.requests.follow(filterOf(filter), { after: from, actor }));
      },
      resolve: unwrap,
    }),
  );

  return { ServiceRequest: RequestRef, RequestTask: TaskRef, CatalogItem: Item };
}
