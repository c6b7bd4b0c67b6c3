import {
  actorRef,
  CiReach,
  type Kernel,
  NotFoundError,
  type Page,
  type PageRequest,
  pageSize,
  parseInput,
  type ReadOptions,
  TransitionError,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import { distinct, readableIds, stale } from './applications.js';
import {
  type ApplicationChangeOptions,
  type Deployment,
  type DeploymentFilter,
  deploymentFilterInput,
  deploymentTransitions,
  type Environment,
  applicationsPermissions as perms,
  type RecordDeploymentInput,
  recordDeploymentInput,
  type TransitionDeploymentInput,
  transitionDeploymentInput,
} from './model.js';
import * as store from './store.js';

const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Deployments (`og.plugins.applications.deployments`): a release of an application into one of its
 * environments, by whom, when, with its status (`pending` → `succeeded` | `failed`; `succeeded` →
 * `rolled_back`) and the CIs it runs on. An environment's current release is its latest succeeded
 * deployment that was not rolled back; once a deployment succeeds, the application `runs_on` each target.
 */
export class DeploymentsService {
  constructor(private readonly kernel: Kernel) {}

  /** Records a deployment (`applications:write` on the application). */
  async record(input: RecordDeploymentInput, { actor }: WriteOptions): Promise<Deployment> {
    const d = parseInput(recordDeploymentInput, input);
    const appId = d.applicationId.toLowerCase();
    CiReach.of(actor, perms.write).assert(appId, 'applicationId');
    return this.kernel.write(actor, async (scope) => {
      const app = await store.findApplication(scope.db, appId);
      if (!app) throw new NotFoundError('Application', appId, 'applicationId');
      const db = store.view(scope.db);
      const env = await db
        .selectFrom('applicationsEnvironments')
        .selectAll()
        .where('applicationId', '=', appId)
        .where('name', '=', d.environment)
        .forUpdate() // its current release is settled below: one deployment at a time per environment
        .executeTakeFirst();
      if (!env)
        throw ValidationError.field(
          'environment',
          `application ${app.name} has no environment named ${d.environment}`,
        );
      const targets = [...new Set(d.targetCiIds.map((t) => t.toLowerCase()))];
      const found = await scope.kernel.services.cmdb.getMany(targets);
      found.forEach((ci, i) => {
        if (!ci) throw new NotFoundError('CI', targets[i]!, `targetCiIds.${i}`);
        if (ci.retiredAt) throw ValidationError.field(`targetCiIds.${i}`, 'is retired');
      });
      const final = d.status !== 'pending';
      const row = await db
        .insertInto('applicationsDeployments')
        .values({
          id: crypto.randomUUID(),
          applicationId: appId,
          environmentId: env.id,
          release: d.release,
          status: d.status,
          deployedBy: d.deployedBy ?? actor.name,
          recordedBy: JSON.stringify(actorRef(actor)),
          notes: d.notes,
          startedAt: d.startedAt ?? scope.now,
          finishedAt: final ? scope.now : null,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      if (targets.length > 0)
        await db
          .insertInto('applicationsDeploymentTargets')
          .values(targets.map((ciId) => ({ deploymentId: row.id, ciId })))
          .execute();
      const deployment = (await store.findDeployment(scope.db, row.id))!;
      scope.emit('applications.deployment_recorded', { type: 'ci', id: appId }, { deployment });
      await settle(scope, deployment, env);
      return deployment;
    });
  }

  /** Moves a deployment on (`applications:write`); a move its state does not allow gets TransitionError. */
  async transition(
    deploymentId: string,
    input: TransitionDeploymentInput,
    { actor, version }: ApplicationChangeOptions,
  ): Promise<Deployment> {
    const d = parseInput(transitionDeploymentInput, input);
    const reach = CiReach.of(actor, perms.write);
    return this.kernel.write(actor, async (scope) => {
      const found = uuidLike.test(deploymentId)
        ? await store.findDeployment(scope.db, deploymentId.toLowerCase(), true)
        : undefined;
      if (!found) throw new NotFoundError('Deployment', deploymentId, 'id');
      reach.assert(found.applicationId, 'id');
      if (version !== undefined && version !== found.version)
        throw stale('Deployment', found.release, version, found.version);
      const allowed = deploymentTransitions[found.status];
      if (!allowed.includes(d.to))
        throw new TransitionError('Deployment', found.id, found.status, d.to, allowed);
      await store
        .view(scope.db)
        .updateTable('applicationsDeployments')
        .set({
          status: d.to,
          ...(d.notes !== undefined ? { notes: d.notes } : {}),
          ...(found.status === 'pending' ? { finishedAt: scope.now } : {}),
          version: found.version + 1,
          updatedAt: scope.now,
        })
        .where('id', '=', found.id)
        .execute();
      const deployment = (await store.findDeployment(scope.db, found.id))!;
      scope.emit(
        'applications.deployment_transitioned',
        { type: 'ci', id: found.applicationId },
        { deployment, from: found.status },
      );
      const env = await store
        .view(scope.db)
        .selectFrom('applicationsEnvironments')
        .selectAll()
        .where('id', '=', found.environmentId)
        .forUpdate()
        .executeTakeFirstOrThrow();
      await settle(scope, deployment, env);
      return deployment;
    });
  }

  async get(deploymentId: string, { actor }: ReadOptions = {}): Promise<Deployment | null> {
    const reach = CiReach.of(actor, perms.read);
    if (!uuidLike.test(deploymentId)) return null;
    const found = await store.findDeployment(this.kernel.db, deploymentId.toLowerCase());
    if (!found) return null;
    reach.assert(found.applicationId, 'id');
    return found;
  }

  /** A page of the application's deployments, newest (by start) first. */
  async list(
    applicationId: string,
    filter: DeploymentFilter = {},
    page: PageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Deployment>> {
    const f = parseInput(deploymentFilterInput, filter, 'filter');
    const reach = CiReach.of(actor, perms.read);
    if (!uuidLike.test(applicationId))
      throw ValidationError.field('applicationId', 'must be an application id');
    const appId = applicationId.toLowerCase();
    reach.assert(appId, 'applicationId');
    const first = pageSize(page.first);
    let query = store
      .view(this.kernel.db)
      .selectFrom('applicationsDeployments as d')
      .selectAll('d')
      .where('d.applicationId', '=', appId);
    if (f.environment) {
      query = query
        .innerJoin('applicationsEnvironments as e', 'e.id', 'd.environmentId')
        .where('e.name', '=', f.environment);
    }
    if (f.status) query = query.where('d.status', '=', f.status);
    if (page.after) {
      const [at, after] = store.decodeCursor(page.after) ?? [];
      const when = typeof at === 'string' ? new Date(at) : null;
      if (!when || Number.isNaN(when.getTime()) || typeof after !== 'string' || !uuidLike.test(after))
        throw ValidationError.field('after', 'is not a cursor this API returned');
      query = query.where((eb) =>
        eb.or([eb('d.startedAt', '<', when), eb.and([eb('d.startedAt', '=', when), eb('d.id', '<', after)])]),
      );
    }
    const rows = await query
      .orderBy('d.startedAt', 'desc')
      .orderBy('d.id', 'desc')
      .limit(first + 1)
      .execute();
    const nodes = await store.withTargets(this.kernel.db, rows.slice(0, first));
    return pageOf(nodes, rows.length > first);
  }

  /**
   * The first page of each application's deployments (a DataLoader batch), in the order asked: one
   * query ranks every application's deployments with a window function and keeps each one's first
   * `first + 1`, one more reads their targets. An empty page where the id is out of reach. A page after
   * a cursor belongs to one application: ask `list` for it.
   */
  async firstPagesByApplicationIds(
    applicationIds: readonly string[],
    filter: DeploymentFilter = {},
    page: { readonly first?: number } = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Deployment>[]> {
    const f = parseInput(deploymentFilterInput, filter, 'filter');
    const first = pageSize(page.first);
    const ids = readableIds(actor, applicationIds);
    const wanted = distinct(ids);
    let rows: store.DeploymentRow[] = [];
    if (wanted.length > 0 && first > 0) {
      const db = store.view(this.kernel.db);
      let ranked = db
        .selectFrom('applicationsDeployments as d')
        .selectAll('d')
        .select((eb) =>
          eb.fn
            .agg<string>('row_number')
            .over((ob) =>
              ob.partitionBy('d.applicationId').orderBy('d.startedAt', 'desc').orderBy('d.id', 'desc'),
            )
            .as('rank'),
        )
        .where('d.applicationId', 'in', wanted);
      if (f.environment)
        ranked = ranked
          .innerJoin('applicationsEnvironments as e', 'e.id', 'd.environmentId')
          .where('e.name', '=', f.environment);
      if (f.status) ranked = ranked.where('d.status', '=', f.status);
      const found = await db
        .selectFrom(ranked.as('r'))
        .selectAll('r')
        .where('r.rank', '<=', String(first + 1))
        .orderBy('r.applicationId')
        .orderBy('r.startedAt', 'desc')
        .orderBy('r.id', 'desc')
        .execute();
      rows = found.map(({ rank: _rank, ...row }) => row);
    }
    const groups = store.groupBy(ids, rows, (d) => d.applicationId);
    // One read of the targets of every page's deployments (not of the extra row that only tells of a next page).
    const nodes = await store.withTargets(
      this.kernel.db,
      groups.flatMap((group) => group.slice(0, first)),
    );
    const byId = new Map(nodes.map((n) => [n.id, n]));
    return groups.map((group) =>
      pageOf(
        group.slice(0, first).map((row) => byId.get(row.id)!),
        group.length > first,
      ),
    );
  }
}

/** A page of deployments, each edge's cursor its keyset (start time, id). */
function pageOf(nodes: readonly Deployment[], hasNextPage: boolean): Page<Deployment> {
  const edges = nodes.map((node) => ({
    cursor: store.encodeCursor([new Date(node.startedAt).toISOString(), node.id]),
    node,
  }));
  return { edges, hasNextPage, endCursor: edges.at(-1)?.cursor ?? null };
}

/**
 * After a deployment changes: the environment's current release is its latest succeeded deployment (by
 * start), so a rollback falls back to the one before and a late-finishing older deployment does not
 * displace a newer one; a succeeded deployment makes the application `runs_on` each of its targets.
 */
async function settle(scope: WriteScope, deployment: Deployment, env: Environment): Promise<void> {
  const db = store.view(scope.db);
  const current = await db
    .selectFrom('applicationsDeployments')
    .select(['id', 'release'])
    .where('environmentId', '=', env.id)
    .where('status', '=', 'succeeded')
    .orderBy('startedAt', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if ((current?.id ?? null) !== env.currentDeploymentId) {
    const environment = await db
      .updateTable('applicationsEnvironments')
      .set({
        currentDeploymentId: current?.id ?? null,
        currentRelease: current?.release ?? null,
        version: env.version + 1,
        updatedAt: scope.now,
      })
      .where('id', '=', env.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    scope.emit(
      'applications.environment_updated',
      { type: 'ci', id: env.applicationId },
      { environment, fields: ['currentRelease', 'currentDeploymentId'] },
    );
  }
  if (deployment.status !== 'succeeded') return;
  for (const ciId of deployment.targetCiIds) {
    if (await store.findRelationship(scope.db, 'runs_on', deployment.applicationId, ciId)) continue;
    await scope.kernel.services.cmdb.relate(
      { type: 'runs_on', sourceId: deployment.applicationId, targetId: ciId },
      { actor: scope.actor },
    );
  }
}
