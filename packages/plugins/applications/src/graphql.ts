import type { Page, Slo } from '@opsgraph/core';
import {
  connectionOf,
  forwardPage,
  type GraphQLContext,
  mutationErrors,
  type OpsGraphBuilder,
  type OpsGraphSchemaTypes,
  onCis,
} from '@opsgraph/server';
import { createContextCache, type ObjectRef } from '@pothos/core';
import DataLoader from 'dataloader';
import {
  type Application,
  type CheckResult,
  type Component,
  checkSeverities,
  checkStates,
  type DefineApplicationSloInput,
  type DependencyMap,
  type Deployment,
  type DeploymentFilter,
  deploymentStatuses,
  type Environment,
  environmentTiers,
  type HealthCheck,
  applicationsPermissions as perms,
  probeMethods,
} from './model.js';

type Types = PothosSchemaTypes.ExtendDefaultTypes<OpsGraphSchemaTypes>;
/**
 * Core's types, by name: the server built them before any plugin, and Pothos resolves a type named as a
 * string. `CI` is loadable by id (its DataLoader batches a page's CIs into one query).
 */
// Typed by what its fields resolve to here: the CI's id, which its loader turns into the CI.
const CI = 'CI' as unknown as ObjectRef<Types, string>;
const SloRef = 'Slo' as unknown as ObjectRef<Types, Slo>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;
/** GraphQL sends `null` for an omitted optional input; the SDK's inputs want it left out. */
const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };
/** A mutation's typed errors, its result union and success type named with the plugin's prefix. */
const errors = (name: string) => ({
  types: mutationErrors,
  union: { name: `Applications${name}Result` },
  result: { name: `Applications${name}Success` },
});

// Per request (Pothos's context cache): what a page of applications shows of each is read in one query
// per field for the whole page, not one per application.
const loaders = createContextCache(({ og, actor }: GraphQLContext) => {
  const { applications, healthChecks } = og.plugins.applications;
  return {
    components: new DataLoader((ids: readonly string[]) =>
      applications.componentsByApplicationIds(ids, { actor }),
    ),
    environments: new DataLoader((ids: readonly string[]) =>
      applications.environmentsByApplicationIds(ids, { actor }),
    ),
    healthChecks: new DataLoader((ids: readonly string[]) =>
      healthChecks.listByApplicationIds(ids, { actor }),
    ),
    /** Live SLOs by business service id: a page of applications' SLOs in one query (core's batch read). */
    slos: new DataLoader((serviceIds: readonly string[]) =>
      og.serviceLevels.slosOfServices(serviceIds, { actor }),
    ),
    /** One loader per filter and page size asked: the first pages of every application in one query. */
    deployments: new Map<string, DataLoader<string, Page<Deployment>>>(),
    /** One loader per `limit` asked: the latest results of every check shown in one query. */
    results: new Map<number | null, DataLoader<string, CheckResult[]>>(),
  };
});

/** A check's latest `limit` results, batched with the other checks asked for the same limit. */
function loadResults(context: GraphQLContext, checkId: string, limit: number | null): Promise<CheckResult[]> {
  const { og, actor } = context;
  const byLimit = loaders(context).results;
  let loader = byLimit.get(limit);
  if (!loader) {
    loader = new DataLoader((ids: readonly string[]) =>
      og.plugins.applications.healthChecks.resultsByCheckIds(ids, {
        actor,
        ...(limit != null ? { limit } : {}),
      }),
    );
    byLimit.set(limit, loader);
  }
  return loader.load(checkId);
}

/** An application's deployments: its first page batched with the other applications'; after a cursor, on its own. */
function loadDeployments(
  context: GraphQLContext,
  applicationId: string,
  filter: DeploymentFilter,
  page: { first?: number; after: string | null },
): Promise<Page<Deployment>> {
  const { og, actor } = context;
  const { deployments } = og.plugins.applications;
  if (page.after)
    return deployments.list(
      applicationId,
      filter,
      { ...(page.first != null ? { first: page.first } : {}), after: page.after },
      { actor },
    );
  const byArgs = loaders(context).deployments;
  const key = JSON.stringify([filter.environment ?? null, filter.status ?? null, page.first ?? null]);
  let loader = byArgs.get(key);
  if (!loader) {
    loader = new DataLoader((ids: readonly string[]) =>
      deployments.firstPagesByApplicationIds(
        ids,
        filter,
        page.first === undefined ? {} : { first: page.first },
        { actor },
      ),
    );
    byArgs.set(key, loader);
  }
  return loader.load(applicationId);
}

const read = { permissionSomewhere: perms.read };
const write = { permissionSomewhere: perms.write };
const onApp = <T>(get: (value: T) => string) => onCis<T>(perms.read, get);

// Types, root fields and inputs all carry the plugin's prefix, so no other plugin collides with them.
export function applicationsGraphql(builder: OpsGraphBuilder): void {
  const Tier = builder.enumType('ApplicationsEnvironmentTier', { values: upper(environmentTiers) });
  const Status = builder.enumType('ApplicationsDeploymentStatus', { values: upper(deploymentStatuses) });
  const Method = builder.enumType('ApplicationsProbeMethod', { values: upper(probeMethods) });
  const Severity = builder.enumType('ApplicationsCheckSeverity', { values: upper(checkSeverities) });
  const State = builder.enumType('ApplicationsCheckState', { values: upper(checkStates) });
  const MapFormat = builder.enumType('ApplicationsMapFormat', {
    values: upper(['json', 'mermaid'] as const),
  });

  const ComponentRef = builder.objectRef<Component>('ApplicationsComponent').implement({
    description: 'A CI an application is made of: the application depends_on it.',
    authScopes: onApp((c) => c.applicationId),
    fields: (t) => ({
      id: t.exposeID('id'),
      applicationId: t.exposeID('applicationId'),
      ciId: t.exposeID('ciId'),
      name: t.exposeString('name'),
      class: t.exposeString('class'),
      role: t.exposeString('role'),
      ci: t.field({ type: CI, resolve: (c) => c.ciId }),
      createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
    }),
  });

  const EnvironmentRef = builder.objectRef<Environment>('ApplicationsEnvironment').implement({
    description: 'Where an application runs (production, staging …), with the release current there.',
    authScopes: onApp((e) => e.applicationId),
    fields: (t) => ({
      id: t.exposeID('id'),
      applicationId: t.exposeID('applicationId'),
      name: t.exposeString('name'),
      tier: t.field({ type: Tier, resolve: (e) => e.tier }),
      url: t.exposeString('url', { nullable: true }),
      currentRelease: t.exposeString('currentRelease', {
        nullable: true,
        description: 'The release of its latest succeeded deployment that was not rolled back.',
      }),
      currentDeploymentId: t.exposeID('currentDeploymentId', { nullable: true }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (e) => e.updatedAt }),
    }),
  });

  const DeploymentRef = builder.objectRef<Deployment>('ApplicationsDeployment').implement({
    description: 'A release of an application into one of its environments.',
    authScopes: onApp((d) => d.applicationId),
    fields: (t) => ({
      id: t.exposeID('id'),
      applicationId: t.exposeID('applicationId'),
      environmentId: t.exposeID('environmentId'),
      release: t.exposeString('release', { description: 'The version of the application deployed.' }),
      status: t.field({ type: Status, resolve: (d) => d.status }),
      deployedBy: t.exposeString('deployedBy'),
      recordedBy: t.string({ resolve: (d) => d.recordedBy.name }),
      notes: t.exposeString('notes'),
      startedAt: t.field({ type: 'DateTime', resolve: (d) => d.startedAt }),
      finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.finishedAt }),
      targetCiIds: t.idList({ resolve: (d) => [...d.targetCiIds] }),
      targets: t.field({
        type: [CI],
        description: 'The CIs it runs on.',
        resolve: (d) => [...d.targetCiIds],
      }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (d) => d.updatedAt }),
    }),
  });

  const ResultRef = builder.objectRef<CheckResult>('ApplicationsCheckResult').implement({
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      checkedAt: t.field({ type: 'DateTime', resolve: (r) => r.checkedAt }),
      ok: t.exposeBoolean('ok'),
      statusCode: t.exposeInt('statusCode', { nullable: true }),
      durationMs: t.exposeInt('durationMs'),
      error: t.exposeString('error', { nullable: true }),
    }),
  });

  const CheckRef = builder.objectRef<HealthCheck>('ApplicationsHealthCheck').implement({
    description:
      'An HTTP probe of an application, run by the scheduler; failures raise alerts on the application.',
    authScopes: onApp((c) => c.applicationId),
    fields: (t) => ({
      id: t.exposeID('id'),
      applicationId: t.exposeID('applicationId'),
      environmentId: t.exposeID('environmentId', { nullable: true }),
      name: t.exposeString('name'),
      url: t.exposeString('url'),
      method: t.field({ type: Method, resolve: (c) => c.method }),
      expectedStatus: t.exposeInt('expectedStatus'),
      timeoutMs: t.exposeInt('timeoutMs'),
      intervalMs: t.exposeInt('intervalMs'),
      severity: t.field({ type: Severity, resolve: (c) => c.severity }),
      enabled: t.exposeBoolean('enabled'),
      state: t.field({ type: State, resolve: (c) => c.state }),
      consecutiveFailures: t.exposeInt('consecutiveFailures'),
      lastCheckedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.lastCheckedAt }),
      nextDueAt: t.field({ type: 'DateTime', resolve: (c) => c.nextDueAt }),
      results: t.field({
        type: [ResultRef],
        description: 'Latest first (default 20, at most 500; batched across the checks shown).',
        args: { limit: t.arg.int() },
        resolve: (c, { limit }, context) => loadResults(context, c.id, limit ?? null),
      }),
      version: t.exposeInt('version'),
    }),
  });

  const MapRef = builder.objectRef<DependencyMap>('ApplicationsDependencyMap').implement({
    description: 'What an application depends on and what depends on it, as topology walks them.',
    authScopes: onApp((m) => m.applicationId),
    fields: (t) => ({
      format: t.field({ type: MapFormat, resolve: (m) => m.format }),
      content: t.exposeString('content', { description: 'JSON text or a Mermaid flowchart.' }),
      dependsOn: t.field({ type: [CI], resolve: (m) => m.dependsOn.map((c) => c.id) }),
      dependents: t.field({ type: [CI], resolve: (m) => m.dependents.map((c) => c.id) }),
    }),
  });

  const AppRef = builder.objectRef<Application>('ApplicationsApplication').implement({
    description:
      'An application: a CI of class application (or below) with its components, environments and more.',
    authScopes: onApp((a) => a.id),
    fields: (t) => ({
      id: t.exposeID('id', { description: "The application's CI id." }),
      name: t.exposeString('name'),
      class: t.exposeString('class'),
      status: t.exposeString('status'),
      description: t.exposeString('description'),
      ci: t.field({ type: CI, resolve: (a) => a.id }),
      serviceId: t.exposeID('serviceId', { nullable: true }),
      service: t.field({ type: CI, nullable: true, resolve: (a) => a.serviceId }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (a) => a.updatedAt }),
      components: t.field({
        type: [ComponentRef],
        description: 'By name (batched across a page of applications).',
        resolve: (a, _args, context) => loaders(context).components.load(a.id),
      }),
      environments: t.field({
        type: [EnvironmentRef],
        description: 'By name (batched across a page of applications).',
        resolve: (a, _args, context) => loaders(context).environments.load(a.id),
      }),
      healthChecks: t.field({
        type: [CheckRef],
        description: 'By name (batched across a page of applications).',
        resolve: (a, _args, context) => loaders(context).healthChecks.load(a.id),
      }),
      slos: t.field({
        type: [SloRef],
        description: 'Live SLOs of its business service, by name (operations:read; batched across a page).',
        authScopes: { permission: 'operations:read' },
        resolve: (a, _args, context) => (a.serviceId ? loaders(context).slos.load(a.serviceId) : []),
      }),
      deployments: t.connection(
        {
          type: DeploymentRef,
          description: 'Newest first. The first page is batched across a page of applications.',
          args: { environment: t.arg.string(), status: t.arg({ type: Status }) },
          resolve: async (a, { environment, status, ...args }, context) =>
            connectionOf(
              await loadDeployments(context, a.id, defined({ environment, status }), forwardPage(args)),
              args.after,
            ),
        },
        { name: 'ApplicationsDeploymentConnection', authScopes: read },
        { name: 'ApplicationsDeploymentEdge', authScopes: read },
      ),
      dependencyMap: t.field({
        type: MapRef,
        description: 'Needs cmdb:read on the CIs it shows.',
        args: { format: t.arg({ type: MapFormat }), maxDepth: t.arg.int() },
        resolve: (a, args, { og, actor }) =>
          og.plugins.applications.applications.dependencyMap(a.id, defined(args), { actor }),
      }),
    }),
  });

  builder.queryFields((t) => ({
    applications: t.connection(
      {
        type: AppRef,
        description: 'Applications by name (applications:read).',
        authScopes: read,
        args: { serviceId: t.arg.id() },
        resolve: async (_root, { serviceId, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.applications.applications.list(
              serviceId != null ? { serviceId: String(serviceId) } : {},
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      { name: 'ApplicationsApplicationConnection', authScopes: read },
      { name: 'ApplicationsApplicationEdge', authScopes: read },
    ),
    applicationsApplication: t.field({
      type: AppRef,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) =>
        og.plugins.applications.applications.get(String(id), { actor }),
    }),
    applicationsDeployment: t.field({
      type: DeploymentRef,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) =>
        og.plugins.applications.deployments.get(String(id), { actor }),
    }),
    applicationsHealthCheck: t.field({
      type: CheckRef,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) =>
        og.plugins.applications.healthChecks.get(String(id), { actor }),
    }),
  }));

  const CreateInput = builder.inputType('ApplicationsCreateInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      class: t.string(),
      description: t.string(),
      serviceId: t.id(),
    }),
  });
  const UpdateInput = builder.inputType('ApplicationsUpdateInput', {
    fields: (t) => ({
      description: t.string(),
      serviceId: t.id({ description: 'Another business service; null for none (omit to keep).' }),
    }),
  });
  const ComponentInput = builder.inputType('ApplicationsComponentInput', {
    fields: (t) => ({ ciId: t.id(), name: t.string(), class: t.string(), role: t.string() }),
  });
  const EnvironmentInput = builder.inputType('ApplicationsEnvironmentInput', {
    fields: (t) => ({ name: t.string({ required: true }), tier: t.field({ type: Tier }), url: t.string() }),
  });
  const EnvironmentPatch = builder.inputType('ApplicationsEnvironmentPatch', {
    fields: (t) => ({ tier: t.field({ type: Tier }), url: t.string() }),
  });
  const DeploymentInput = builder.inputType('ApplicationsDeploymentInput', {
    fields: (t) => ({
      applicationId: t.id({ required: true }),
      environment: t.string({ required: true }),
      release: t.string({ required: true }),
      status: t.field({ type: Status }),
      deployedBy: t.string(),
      targetCiIds: t.idList(),
      notes: t.string(),
      startedAt: t.field({ type: 'DateTime' }),
    }),
  });
  const CheckInput = builder.inputType('ApplicationsHealthCheckInput', {
    fields: (t) => ({
      applicationId: t.id({ required: true }),
      environment: t.string(),
      name: t.string({ required: true }),
      url: t.string({ required: true }),
      method: t.field({ type: Method }),
      expectedStatus: t.int(),
      timeoutMs: t.int(),
      intervalMs: t.int(),
      severity: t.field({ type: Severity }),
      enabled: t.boolean(),
    }),
  });
  const CheckPatch = builder.inputType('ApplicationsHealthCheckPatch', {
    fields: (t) => ({
      url: t.string(),
      method: t.field({ type: Method }),
      expectedStatus: t.int(),
      timeoutMs: t.int(),
      intervalMs: t.int(),
      severity: t.field({ type: Severity }),
      enabled: t.boolean(),
    }),
  });
  const SloInput = builder.inputType('ApplicationsSloInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      objective: t.float({ required: true }),
      period: t.string({ description: 'day, week, month (default) or quarter.' }),
      timeZone: t.string(),
    }),
  });

  builder.mutationFields((t) => ({
    applicationsCreate: t.field({
      type: AppRef,
      description: 'Creates an application CI and its record (applications:write and cmdb:write).',
      errors: errors('Create'),
      authScopes: { permission: perms.write },
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.applications.applications.create(
          { ...defined(input), ...(input.serviceId != null ? { serviceId: String(input.serviceId) } : {}) },
          { actor },
        ),
    }),
    applicationsUpdate: t.field({
      type: AppRef,
      errors: errors('Update'),
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.plugins.applications.applications.update(
          String(id),
          {
            ...(input.description != null ? { description: input.description } : {}),
            ...('serviceId' in input
              ? { serviceId: input.serviceId == null ? null : String(input.serviceId) }
              : {}),
          },
          { actor, version },
        ),
    }),
    applicationsAddComponent: t.field({
      type: ComponentRef,
      errors: errors('AddComponent'),
      authScopes: write,
      args: {
        applicationId: t.arg.id({ required: true }),
        input: t.arg({ type: ComponentInput, required: true }),
      },
      resolve: (_root, { applicationId, input }, { og, actor }) =>
        og.plugins.applications.applications.addComponent(
          String(applicationId),
          { ...defined(input), ...(input.ciId != null ? { ciId: String(input.ciId) } : {}) },
          { actor },
        ),
    }),
    applicationsRemoveComponent: t.field({
      type: ComponentRef,
      errors: errors('RemoveComponent'),
      authScopes: write,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) =>
        og.plugins.applications.applications.removeComponent(String(id), { actor }),
    }),
    applicationsDefineEnvironment: t.field({
      type: EnvironmentRef,
      errors: errors('DefineEnvironment'),
      authScopes: write,
      args: {
        applicationId: t.arg.id({ required: true }),
        input: t.arg({ type: EnvironmentInput, required: true }),
      },
      resolve: (_root, { applicationId, input }, { og, actor }) =>
        og.plugins.applications.applications.defineEnvironment(String(applicationId), defined(input), {
          actor,
        }),
    }),
    applicationsUpdateEnvironment: t.field({
      type: EnvironmentRef,
      errors: errors('UpdateEnvironment'),
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        input: t.arg({ type: EnvironmentPatch, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.plugins.applications.applications.updateEnvironment(
          String(id),
          {
            ...(input.tier != null ? { tier: input.tier } : {}),
            ...('url' in input ? { url: input.url ?? null } : {}),
          },
          { actor, version },
        ),
    }),
    applicationsRecordDeployment: t.field({
      type: DeploymentRef,
      errors: errors('RecordDeployment'),
      authScopes: write,
      args: { input: t.arg({ type: DeploymentInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.applications.deployments.record(
          {
            ...defined(input),
            applicationId: String(input.applicationId),
            ...(input.targetCiIds != null ? { targetCiIds: input.targetCiIds.map(String) } : {}),
          },
          { actor },
        ),
    }),
    applicationsTransitionDeployment: t.field({
      type: DeploymentRef,
      errors: errors('TransitionDeployment'),
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        to: t.arg({ type: Status, required: true }),
        notes: t.arg.string(),
      },
      resolve: (_root, { id, version, to, notes }, { og, actor }) =>
        og.plugins.applications.deployments.transition(
          String(id),
          { to, ...(notes != null ? { notes } : {}) },
          { actor, version },
        ),
    }),
    applicationsDefineHealthCheck: t.field({
      type: CheckRef,
      errors: errors('DefineHealthCheck'),
      authScopes: write,
      args: { input: t.arg({ type: CheckInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.applications.healthChecks.define(
          { ...defined(input), applicationId: String(input.applicationId) },
          { actor },
        ),
    }),
    applicationsUpdateHealthCheck: t.field({
      type: CheckRef,
      errors: errors('UpdateHealthCheck'),
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        input: t.arg({ type: CheckPatch, required: true }),
      },
      resolve: (_root, { id, version, input }, { og, actor }) =>
        og.plugins.applications.healthChecks.update(String(id), defined(input), { actor, version }),
    }),
    applicationsDefineSlo: t.field({
      type: SloRef,
      description: "An SLO on the application's business service (applications:write and operations:write).",
      errors: errors('DefineSlo'),
      authScopes: write,
      args: { applicationId: t.arg.id({ required: true }), input: t.arg({ type: SloInput, required: true }) },
      resolve: (_root, { applicationId, input }, { og, actor }) =>
        og.plugins.applications.applications.defineSlo(
          String(applicationId),
          defined(input) as DefineApplicationSloInput,
          { actor },
        ),
    }),
  }));
}
