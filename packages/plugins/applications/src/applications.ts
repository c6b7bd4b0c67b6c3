import {
  type Actor,
  type AvailabilityWindow,
  assertCan,
  CiReach,
  ConflictError,
  type Kernel,
  NotFoundError,
  type Page,
  type PageRequest,
  pageSize,
  parseInput,
  type ReadOptions,
  type Slo,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import { renderMap } from './map.js';
import {
  type AddComponentInput,
  APPLICATION_CLASS,
  type Application,
  type ApplicationChangeOptions,
  addComponentInput,
  COMPONENT_CLASS,
  type Component,
  type CreateApplicationInput,
  createApplicationInput,
  type DefineApplicationSloInput,
  type DefineEnvironmentInput,
  type DependencyMap,
  type DependencyMapQuery,
  defineEnvironmentInput,
  type Environment,
  environmentTiers,
  mapQueryInput,
  applicationsPermissions as perms,
  type UpdateApplicationInput,
  type UpdateEnvironmentInput,
  updateApplicationInput,
  updateEnvironmentInput,
} from './model.js';
import * as store from './store.js';

const BUSINESS_SERVICE = 'business_service';
const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const id = (value: string) => (uuidLike.test(value) ? value.toLowerCase() : null);

/**
 * Applications (`og.plugins.applications.applications`): application CIs with their components,
 * environments, business service, SLOs and dependency map. Reads need `applications:read` on the
 * application's CI, writes `applications:write`; writes that touch the CMDB (creating the application's
 * CI, relating components) are done as the caller, so they need `cmdb:write` too.
 */
export class ApplicationsService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Creates the application's CI (class `application` or below) and its record in one transaction;
   * with `serviceId`, that business service `depends_on` the application (so the application's failure
   * impacts it, and its SLOs count the application's alerts).
   */
  async create(input: CreateApplicationInput, { actor }: WriteOptions): Promise<Application> {
    const d = parseInput(createApplicationInput, input);
    assertCan(actor, perms.write);
    return this.kernel.write(actor, async (scope) => {
      if (!(await store.classBelow(scope.db, d.class, APPLICATION_CLASS)))
        throw ValidationError.field('class', `must be ${APPLICATION_CLASS} or a class below it`);
      const serviceId = d.serviceId ? await checkService(scope, d.serviceId, 'serviceId') : null;
      const ci = await scope.kernel.services.cmdb.create({ class: d.class, name: d.name }, { actor });
      const serviceRelationshipId = serviceId ? await relateService(scope, serviceId, ci.id) : null;
      await store
        .view(scope.db)
        .insertInto('applicationsApplications')
        .values({
          id: ci.id,
          description: d.description,
          serviceId,
          serviceRelationshipId,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .execute();
      const application = (await store.findApplication(scope.db, ci.id))!;
      scope.emit('applications.application_created', { type: 'ci', id: ci.id }, { application });
      return application;
    });
  }

  /** Changes the description or business service; a stale `version` gets ConflictError. */
  async update(
    applicationId: string,
    patch: UpdateApplicationInput,
    { actor, version }: ApplicationChangeOptions,
  ): Promise<Application> {
    const p = parseInput(updateApplicationInput, patch, 'patch');
    const appId = this.#writable(actor, applicationId);
    return this.kernel.write(actor, async (scope) => {
      const found = await this.#forChange(scope, appId, version);
      const row = await store
        .view(scope.db)
        .selectFrom('applicationsApplications')
        .select('serviceRelationshipId')
        .where('id', '=', appId)
        .executeTakeFirstOrThrow();
      const change: Record<string, unknown> = {};
      if (p.description !== undefined && p.description !== found.description)
        change.description = p.description;
      if (p.serviceId !== undefined && (p.serviceId?.toLowerCase() ?? null) !== found.serviceId) {
        const serviceId = p.serviceId ? await checkService(scope, p.serviceId, 'patch.serviceId') : null;
        if (row.serviceRelationshipId) await unrelateIfThere(scope, row.serviceRelationshipId);
        change.serviceId = serviceId;
        change.serviceRelationshipId = serviceId ? await relateService(scope, serviceId, appId) : null;
      }
      const fields = Object.keys(change).filter((f) => f !== 'serviceRelationshipId');
      if (fields.length === 0) return found;
      const updated = await store
        .view(scope.db)
        .updateTable('applicationsApplications')
        .set({ ...change, updatedAt: scope.now, version: found.version + 1 })
        .where('id', '=', appId)
        .where('version', '=', found.version)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw stale('Application', found.name, found.version);
      const application = (await store.findApplication(scope.db, appId))!;
      scope.emit('applications.application_updated', { type: 'ci', id: appId }, { application, fields });
      return application;
    });
  }

  /** The application, or null (also for a CI that is not one). */
  async get(applicationId: string, { actor }: ReadOptions = {}): Promise<Application | null> {
    const appId = this.#readable(actor, applicationId, 'id');
    if (!appId) return null;
    return (await store.findApplication(this.kernel.db, appId)) ?? null;
  }

  /** Applications by id (a DataLoader batch), in the order asked; null where there is none or it is out of reach. */
  async getMany(ids: readonly string[], { actor }: ReadOptions = {}): Promise<(Application | null)[]> {
    const reach = CiReach.of(actor, perms.read);
    const wanted = ids.map((i) => id(i)).filter((i): i is string => i !== null && reach.has(i));
    const found = new Map((await store.findApplications(this.kernel.db, wanted)).map((a) => [a.id, a]));
    return ids.map((i) => found.get(id(i) ?? '') ?? null);
  }

  /** A page of applications by name (those whose CI the actor may read with `applications:read`). */
  async list(
    filter: { serviceId?: string | null } = {},
    page: PageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Application>> {
    const reach = CiReach.of(actor, perms.read);
    const first = pageSize(page.first);
    let query = store
      .view(this.kernel.db)
      .selectFrom('applicationsApplications as a')
      .innerJoin('cis as c', 'c.id', 'a.id')
      .select([
        'a.id',
        'c.name',
        'c.class',
        'c.status',
        'a.description',
        'a.serviceId',
        'a.version',
        'a.createdAt',
        'a.updatedAt',
      ]);
    const inReach = reach.where('a.id');
    if (inReach) query = query.where(inReach);
    if (filter.serviceId) {
      const serviceId = id(filter.serviceId);
      if (!serviceId) throw ValidationError.field('filter.serviceId', 'must be a business service id');
      query = query.where('a.serviceId', '=', serviceId);
    }
    if (page.after) {
      const [name, after] = store.decodeCursor(page.after) ?? [];
      if (typeof name !== 'string' || typeof after !== 'string' || !id(after))
        throw ValidationError.field('after', 'is not a cursor this API returned');
      query = query.where((eb) =>
        eb.or([eb('c.name', '>', name), eb.and([eb('c.name', '=', name), eb('a.id', '>', after)])]),
      );
    }
    const rows = await query
      .orderBy('c.name')
      .orderBy('a.id')
      .limit(first + 1)
      .execute();
    const edges = rows
      .slice(0, first)
      .map((node) => ({ cursor: store.encodeCursor([node.name, node.id]), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  // Components ----------------------------------------------------------------------------------------

  /**
   * Adds a component: an existing CI (`ciId`), or a new CI (`name`, class `applications_component` by
   * default). The application `depends_on` it (an existing relationship is reused), so impact analysis
   * carries the component's failure to the application and its business service.
   */
  async addComponent(
    applicationId: string,
    input: AddComponentInput,
    { actor }: WriteOptions,
  ): Promise<Component> {
    const d = parseInput(addComponentInput, input);
    const appId = this.#writable(actor, applicationId);
    return this.kernel.write(actor, async (scope) => {
      await this.#existing(scope.db, appId);
      let ciId: string;
      if (d.ciId) {
        ciId = d.ciId.toLowerCase();
        const ci = await store.ciOfClass(scope.db, ciId, APPLICATION_CLASS);
        if (!ci) throw new NotFoundError('CI', ciId, 'ciId');
        if (ci.retired) throw ValidationError.field('ciId', 'is retired');
        if (ciId === appId) throw ValidationError.field('ciId', 'is the application itself');
      } else {
        const cls = d.class ?? COMPONENT_CLASS;
        ciId = (await scope.kernel.services.cmdb.create({ class: cls, name: d.name! }, { actor })).id;
      }
      const taken = await store
        .view(scope.db)
        .selectFrom('applicationsComponents')
        .select('id')
        .where('applicationId', '=', appId)
        .where('ciId', '=', ciId)
        .executeTakeFirst();
      if (taken) throw ValidationError.field('ciId', 'is already a component of this application');
      const relationshipId =
        (await store.findRelationship(scope.db, 'depends_on', appId, ciId)) ??
        (
          await scope.kernel.services.cmdb.relate(
            { type: 'depends_on', sourceId: appId, targetId: ciId },
            { actor },
          )
        ).id;
      const componentId = crypto.randomUUID();
      await store
        .view(scope.db)
        .insertInto('applicationsComponents')
        .values({
          id: componentId,
          applicationId: appId,
          ciId,
          role: d.role,
          relationshipId,
          createdAt: scope.now,
        })
        .execute();
      const [component] = await store.componentsOf(scope.db, appId, componentId);
      scope.emit('applications.component_added', { type: 'ci', id: appId }, { component: component! });
      return component!;
    });
  }

  /** Removes a component and the `depends_on` relationship it stands for; the CI itself stays. */
  async removeComponent(componentId: string, { actor }: WriteOptions): Promise<Component> {
    const reach = CiReach.of(actor, perms.write);
    const compId = id(componentId);
    return this.kernel.write(actor, async (scope) => {
      const [component] = compId ? await store.componentsOf(scope.db, '', compId) : [];
      if (!component) throw new NotFoundError('Component', componentId, 'id');
      reach.assert(component.applicationId, 'id');
      await store
        .view(scope.db)
        .deleteFrom('applicationsComponents')
        .where('id', '=', component.id)
        .execute();
      await unrelateIfThere(scope, component.relationshipId);
      scope.emit(
        'applications.component_removed',
        { type: 'ci', id: component.applicationId },
        { component },
      );
      return component;
    });
  }

  /** The application's components, by name. */
  async components(applicationId: string, { actor }: ReadOptions = {}): Promise<Component[]> {
    const appId = this.#readable(actor, applicationId, 'applicationId');
    return appId ? store.componentsOf(this.kernel.db, appId) : [];
  }

  /**
   * The components of several applications (a DataLoader batch: one query), in the order asked; an
   * empty list where the id is no application or out of the actor's reach.
   */
  async componentsByApplicationIds(
    applicationIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Component[][]> {
    const ids = readableIds(actor, applicationIds);
    const rows = await store.componentsOfMany(this.kernel.db, distinct(ids));
    return store.groupBy(ids, rows, (c) => c.applicationId);
  }

  // Environments --------------------------------------------------------------------------------------

  /** Defines an environment (`production`, `staging` …), unique by name per application. */
  async defineEnvironment(
    applicationId: string,
    input: DefineEnvironmentInput,
    { actor }: WriteOptions,
  ): Promise<Environment> {
    const d = parseInput(defineEnvironmentInput, input);
    const appId = this.#writable(actor, applicationId);
    return this.kernel.write(actor, async (scope) => {
      await this.#existing(scope.db, appId);
      const db = store.view(scope.db);
      const taken = await db
        .selectFrom('applicationsEnvironments')
        .select('id')
        .where('applicationId', '=', appId)
        .where('name', '=', d.name)
        .executeTakeFirst();
      if (taken)
        throw ValidationError.field('name', 'this application already has an environment of this name');
      const tier =
        d.tier ?? ((environmentTiers as readonly string[]).includes(d.name) ? d.name : 'development');
      const environment = await db
        .insertInto('applicationsEnvironments')
        .values({
          id: crypto.randomUUID(),
          applicationId: appId,
          name: d.name,
          tier: tier as Environment['tier'],
          url: d.url ?? null,
          currentRelease: null,
          currentDeploymentId: null,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      scope.emit('applications.environment_defined', { type: 'ci', id: appId }, { environment });
      return environment;
    });
  }

  /** Changes an environment's tier or URL; a stale `version` gets ConflictError. */
  async updateEnvironment(
    environmentId: string,
    patch: UpdateEnvironmentInput,
    { actor, version }: ApplicationChangeOptions,
  ): Promise<Environment> {
    const p = parseInput(updateEnvironmentInput, patch, 'patch');
    const reach = CiReach.of(actor, perms.write);
    return this.kernel.write(actor, async (scope) => {
      const db = store.view(scope.db);
      const envId = id(environmentId);
      const found = envId
        ? await db
            .selectFrom('applicationsEnvironments')
            .selectAll()
            .where('id', '=', envId)
            .executeTakeFirst()
        : undefined;
      if (!found) throw new NotFoundError('Environment', environmentId, 'id');
      reach.assert(found.applicationId, 'id');
      if (version !== undefined && version !== found.version)
        throw stale('Environment', found.name, version, found.version);
      const change = Object.fromEntries(
        Object.entries(p).filter(([k, v]) => v !== undefined && v !== found[k as keyof Environment]),
      );
      const fields = Object.keys(change);
      if (fields.length === 0) return found;
      const environment = await db
        .updateTable('applicationsEnvironments')
        .set({ ...change, version: found.version + 1, updatedAt: scope.now })
        .where('id', '=', found.id)
        .where('version', '=', found.version)
        .returningAll()
        .executeTakeFirst();
      if (!environment) throw stale('Environment', found.name, found.version);
      scope.emit(
        'applications.environment_updated',
        { type: 'ci', id: found.applicationId },
        { environment, fields },
      );
      return environment;
    });
  }

  /** The application's environments, with the release current in each, by name. */
  async environments(applicationId: string, { actor }: ReadOptions = {}): Promise<Environment[]> {
    const appId = this.#readable(actor, applicationId, 'applicationId');
    if (!appId) return [];
    return store
      .view(this.kernel.db)
      .selectFrom('applicationsEnvironments')
      .selectAll()
      .where('applicationId', '=', appId)
      .orderBy('name')
      .execute();
  }

  /** The environments of several applications (a DataLoader batch: one query), like `componentsByApplicationIds`. */
  async environmentsByApplicationIds(
    applicationIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Environment[][]> {
    const ids = readableIds(actor, applicationIds);
    const wanted = distinct(ids);
    const rows =
      wanted.length === 0
        ? []
        : await store
            .view(this.kernel.db)
            .selectFrom('applicationsEnvironments')
            .selectAll()
            .where('applicationId', 'in', wanted)
            .orderBy('name')
            .orderBy('id')
            .execute();
    return store.groupBy(ids, rows, (e) => e.applicationId);
  }

  // Service levels ------------------------------------------------------------------------------------

  /**
   * Defines an SLO for the application: an `og.serviceLevels` SLO on its business service (core's SLOs
   * are on business services). Its health checks' alerts on the application count as outages of the
   * service, which depends on it. Needs `applications:write` and `operations:write`.
   */
  async defineSlo(
    applicationId: string,
    input: DefineApplicationSloInput,
    { actor }: WriteOptions,
  ): Promise<Slo> {
    const appId = this.#writable(actor, applicationId);
    return this.kernel.write(actor, async (scope) => {
      const app = await this.#existing(scope.db, appId);
      if (!app.serviceId)
        throw ValidationError.field(
          'applicationId',
          `application ${app.name} serves no business service: set its serviceId first`,
        );
      return scope.kernel.services.serviceLevels.defineSlo({ ...input, serviceId: app.serviceId }, { actor });
    });
  }

  /** The live SLOs of the application's business service (needs `operations:read` too). */
  async slos(applicationId: string, { actor }: ReadOptions = {}): Promise<Slo[]> {
    const appId = this.#readable(actor, applicationId, 'applicationId');
    const app = appId ? await store.findApplication(this.kernel.db, appId) : undefined;
    if (!app?.serviceId) return [];
    const [slos] = await this.kernel.services.serviceLevels.slosOfServices(
      [app.serviceId],
      actor ? { actor } : {},
    );
    return slos!;
  }

  /** Availability of the application's business service over a window (`og.serviceLevels.availability`). */
  async availability(applicationId: string, window: AvailabilityWindow, { actor }: ReadOptions = {}) {
    const appId = this.#readable(actor, applicationId, 'applicationId');
    const app = appId ? await store.findApplication(this.kernel.db, appId) : undefined;
    if (!app) throw new NotFoundError('Application', applicationId, 'applicationId');
    if (!app.serviceId)
      throw ValidationError.field('applicationId', `application ${app.name} serves no business service`);
    return this.kernel.services.serviceLevels.availability(
      { serviceId: app.serviceId },
      window,
      actor ? { actor } : {},
    );
  }

  // Dependency map ------------------------------------------------------------------------------------

  /**
   * What the application depends on (topology's downstream walk: components, hosts, their dependencies)
   * and what depends on it (upstream: business services, other applications), with the propagating
   * relationships among them, as JSON or a Mermaid flowchart. Needs `cmdb:read` on what it shows too.
   */
  async dependencyMap(
    applicationId: string,
    query: DependencyMapQuery = {},
    { actor }: ReadOptions = {},
  ): Promise<DependencyMap> {
    const q = parseInput(mapQueryInput, query);
    const appId = this.#readable(actor, applicationId, 'applicationId');
    const app = appId ? await store.findApplication(this.kernel.db, appId) : undefined;
    if (!app) throw new NotFoundError('Application', applicationId, 'applicationId');
    const options = actor ? { actor } : {};
    const topology = this.kernel.services.topology;
    const dependsOn = await topology.downstream(app.id, { maxDepth: q.maxDepth }, options);
    const dependents = await topology.upstream(app.id, { maxDepth: q.maxDepth }, options);
    const ids = [app.id, ...dependsOn.map((c) => c.id), ...dependents.map((c) => c.id)];
    const edges = await store.edgesAmong(this.kernel.db, ids);
    const map = { applicationId: app.id, format: q.format, dependsOn, dependents, edges };
    return { ...map, content: renderMap(app, map) };
  }

  // --------------------------------------------------------------------------------------------------

  #readable(actor: Actor | undefined, applicationId: string, field: string): string | null {
    const reach = CiReach.of(actor, perms.read);
    const appId = id(applicationId);
    if (appId) reach.assert(appId, field);
    return appId;
  }

  #writable(actor: Actor, applicationId: string, field = 'applicationId'): string {
    const reach = CiReach.of(actor, perms.write);
    const appId = id(applicationId);
    if (!appId) throw ValidationError.field(field, 'must be an application id');
    reach.assert(appId, field);
    return appId;
  }

  async #existing(db: Kernel['db'], appId: string): Promise<Application> {
    const app = await store.findApplication(db, appId);
    if (!app) throw new NotFoundError('Application', appId, 'applicationId');
    return app;
  }

  async #forChange(scope: WriteScope, appId: string, version: number | undefined): Promise<Application> {
    const found = await this.#existing(scope.db, appId);
    if (version !== undefined && version !== found.version)
      throw stale('Application', found.name, version, found.version);
    return found;
  }
}

export const stale = (entity: string, name: string, sent: number, current = sent + 1) =>
  ConflictError.staleVersion(entity, name, sent, current);

/** Each id normalised, or null where it is no id or out of the actor's `applications:read` reach. */
export function readableIds(actor: Actor | undefined, applicationIds: readonly string[]): (string | null)[] {
  const reach = CiReach.of(actor, perms.read);
  return applicationIds.map((value) => {
    const appId = id(value);
    return appId && reach.has(appId) ? appId : null;
  });
}

export const distinct = (ids: readonly (string | null)[]): string[] => [
  ...new Set(ids.filter((i): i is string => i !== null)),
];

/** The CI must exist, be live, and be a business service (class `business_service` or below). */
async function checkService(scope: WriteScope, serviceId: string, field: string): Promise<string> {
  const ciId = serviceId.toLowerCase();
  const ci = await store.ciOfClass(scope.db, ciId, BUSINESS_SERVICE);
  if (!ci) throw new NotFoundError('CI', ciId, field);
  if (!ci.below)
    throw ValidationError.field(field, 'must be a business service (class business_service or below)');
  if (ci.retired) throw ValidationError.field(field, 'is retired');
  return ciId;
}

async function relateService(scope: WriteScope, serviceId: string, appId: string): Promise<string> {
  return (
    (await store.findRelationship(scope.db, 'depends_on', serviceId, appId)) ??
    (
      await scope.kernel.services.cmdb.relate(
        { type: 'depends_on', sourceId: serviceId, targetId: appId },
        { actor: scope.actor },
      )
    ).id
  );
}

/** Someone may have removed the relationship through the CMDB already: then there is nothing to undo. */
async function unrelateIfThere(scope: WriteScope, relationshipId: string): Promise<void> {
  const there = await store
    .view(scope.db)
    .selectFrom('relationships')
    .select('id')
    .where('id', '=', relationshipId)
    .executeTakeFirst();
  if (there) await scope.kernel.services.cmdb.unrelate(relationshipId, { actor: scope.actor });
}
