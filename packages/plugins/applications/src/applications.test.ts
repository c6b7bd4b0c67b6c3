import { ConflictError, systemActor, ValidationError } from '@opsgraph/core';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationsPlugin } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())('applications plugin on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [applicationsPlugin()] });
  });
  afterAll(() => og?.close());
  const apps = () => og.plugins.applications.applications;
  const deployments = () => og.plugins.applications.deployments;

  it('runs its migration under its own owner and registers its class and roles', async () => {
    const status = await og.migrationStatus();
    expect(status.map((s) => s.owner)).toEqual(['core', 'applications']);
    const ledger = await sql<{ name: string }>`select name from og_migrations_applications`.execute(og.db);
    expect(ledger.rows.map((r) => r.name)).toEqual(['0001_applications_tables']);
    expect((await og.cmdb.classes()).find((c) => c.name === 'applications_component')).toMatchObject({
      parent: 'application',
      owner: 'applications',
    });
    const roles = (await og.access.roles()).filter((r) => r.name.startsWith('applications_'));
    expect(roles.map((r) => r.name).sort()).toEqual(['applications_manager', 'applications_viewer']);
  });

  it('creates an application CI with its service, components and environments; impact flows to the service', async () => {
    const service = await og.cmdb.create({ class: 'business_service', name: 'Web shop' }, { actor });
    const db = await og.cmdb.create({ class: 'database', name: 'shop-db' }, { actor });
    const shop = await apps().create(
      { name: 'shop', description: 'The shop', serviceId: service.id },
      { actor },
    );
    expect(shop).toMatchObject({ name: 'shop', class: 'application', serviceId: service.id, version: 1 });
    const onDb = await apps().addComponent(shop.id, { ciId: db.id, role: 'storage' }, { actor });
    const api = await apps().addComponent(shop.id, { name: 'shop-api', role: 'api' }, { actor });
    expect(api).toMatchObject({ class: 'applications_component', name: 'shop-api', role: 'api' });
    expect((await apps().components(shop.id)).map((c) => c.name)).toEqual(['shop-api', 'shop-db']);

    // A database failure reaches the application and its business service.
    const impact = await og.topology.impactOf([db.id]);
    expect(impact.affected.map((c) => c.name)).toEqual(['shop-db', 'shop', 'Web shop']);
    expect(impact.services.map((c) => c.name)).toEqual(['Web shop']);

    const prod = await apps().defineEnvironment(
      shop.id,
      { name: 'production', url: 'https://shop.example' },
      { actor },
    );
    const qa = await apps().defineEnvironment(shop.id, { name: 'qa' }, { actor });
    expect([prod.tier, qa.tier]).toEqual(['production', 'development']);
    await expect(apps().defineEnvironment(shop.id, { name: 'qa' }, { actor })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'name',
    });

    // Removing a component removes the relationship it stands for; the CI stays.
    await apps().removeComponent(onDb.id, { actor });
    expect((await og.topology.impactOf([db.id])).affected.map((c) => c.name)).toEqual(['shop-db']);
    expect(await og.cmdb.get(db.id)).not.toBeNull();

    const events = await og.activity.list({ subject: { type: 'ci', id: shop.id } });
    expect(events.map((e) => e.type)).toEqual([
      'ci.created',
      'applications.application_created',
      'ci.related',
      'applications.component_added',
      'ci.related',
      'applications.component_added',
      'applications.environment_defined',
      'applications.environment_defined',
      'ci.unrelated',
      'applications.component_removed',
    ]);
  });

  it('refuses bad input naming the field and writes nothing', async () => {
    const server = await og.cmdb.create({ class: 'server', name: 'not-a-service' }, { actor });
    const seq = await og.activity.latestSeq();
    await expect(apps().create({ name: 'x', serviceId: server.id }, { actor })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'serviceId',
    });
    await expect(apps().create({ name: 'y', class: 'server' }, { actor })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'class',
    });
    await expect(apps().create({ name: '' }, { actor })).rejects.toBeInstanceOf(ValidationError);
    expect(await og.activity.latestSeq()).toBe(seq);
    expect((await og.cmdb.list({ class: 'application' })).edges.map((e) => e.node.name)).not.toContain('x');
  });

  it('updates with optimistic concurrency and moves the service relationship', async () => {
    const a = await og.cmdb.create({ class: 'business_service', name: 'Svc A' }, { actor });
    const b = await og.cmdb.create({ class: 'business_service', name: 'Svc B' }, { actor });
    const app = await apps().create({ name: 'mover', serviceId: a.id }, { actor });
    const moved = await apps().update(app.id, { serviceId: b.id }, { actor, version: 1 });
    expect(moved).toMatchObject({ serviceId: b.id, version: 2 });
    expect((await og.topology.upstream(app.id)).map((c) => c.name)).toEqual(['Svc B']);
    const error = await apps()
      .update(app.id, { description: 'late' }, { actor, version: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ field: 'version', currentVersion: 2 });
  });

  it('records deployments: current release per environment, rollback, runs_on targets, typed errors', async () => {
    const app = await apps().create({ name: 'billing' }, { actor });
    await apps().defineEnvironment(app.id, { name: 'production' }, { actor });
    await apps().defineEnvironment(app.id, { name: 'staging' }, { actor });
    const host = await og.cmdb.create({ class: 'linux_server', name: 'bill-01' }, { actor });
    const t0 = og.clock.now().getTime();
    const at = (min: number) => new Date(t0 + min * 60_000);

    const v1 = await deployments().record(
      {
        applicationId: app.id,
        environment: 'production',
        release: '1.0.0',
        status: 'succeeded',
        startedAt: at(0),
        targetCiIds: [host.id],
        deployedBy: 'ana',
      },
      { actor },
    );
    expect(v1).toMatchObject({
      status: 'succeeded',
      deployedBy: 'ana',
      recordedBy: { name: 'test' },
      targetCiIds: [host.id],
    });
    const v2 = await deployments().record(
      {
        applicationId: app.id,
        environment: 'production',
        release: '1.1.0',
        startedAt: at(10),
        targetCiIds: [host.id],
      },
      { actor },
    );
    expect(v2).toMatchObject({ status: 'pending', deployedBy: 'test', finishedAt: null });
    const current = async () =>
      Object.fromEntries((await apps().environments(app.id)).map((e) => [e.name, e.currentRelease]));
    expect(await current()).toEqual({ production: '1.0.0', staging: null });

    const done = await deployments().transition(v2.id, { to: 'succeeded' }, { actor, version: 1 });
    expect(done).toMatchObject({ status: 'succeeded', version: 2 });
    expect(await current()).toEqual({ production: '1.1.0', staging: null });
    await deployments().transition(v2.id, { to: 'rolled_back', notes: 'errors' }, { actor, version: 2 });
    expect(await current()).toEqual({ production: '1.0.0', staging: null });

    // The application runs on its deployment's host: the host's failure reaches it.
    expect((await og.topology.upstream(host.id)).map((c) => c.name)).toEqual(['billing']);

    await expect(deployments().transition(v1.id, { to: 'pending' }, { actor })).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'to',
    });
    await expect(
      deployments().transition(v2.id, { to: 'failed' }, { actor, version: 1 }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'version',
    });
    await expect(
      deployments().record({ applicationId: app.id, environment: 'nowhere', release: '2' }, { actor }),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'environment' });
    await expect(
      deployments().record(
        {
          applicationId: app.id,
          environment: 'staging',
          release: '2',
          targetCiIds: [host.id, crypto.randomUUID()],
        },
        { actor },
      ),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'targetCiIds.1' });

    // The connection: newest first, pages by cursor, filters by environment and status.
    await deployments().record(
      { applicationId: app.id, environment: 'staging', release: '1.2.0', startedAt: at(20) },
      { actor },
    );
    const page1 = await deployments().list(app.id, {}, { first: 2 });
    expect(page1.edges.map((e) => e.node.release)).toEqual(['1.2.0', '1.1.0']);
    expect(page1.hasNextPage).toBe(true);
    const page2 = await deployments().list(app.id, {}, { first: 2, after: page1.endCursor! });
    expect(page2.edges.map((e) => e.node.release)).toEqual(['1.0.0']);
    expect(page2.hasNextPage).toBe(false);
    const prod = await deployments().list(app.id, { environment: 'production', status: 'rolled_back' });
    expect(prod.edges.map((e) => e.node.release)).toEqual(['1.1.0']);
  });

  it('defines an SLO on the business service and maps dependencies as JSON and Mermaid', async () => {
    const service = await og.cmdb.create({ class: 'business_service', name: 'Payments' }, { actor });
    const pay = await apps().create({ name: 'payments-app', serviceId: service.id }, { actor });
    const cache = await og.cmdb.create({ class: 'database', name: 'pay-cache' }, { actor });
    await apps().addComponent(pay.id, { ciId: cache.id }, { actor });
    const slo = await apps().defineSlo(pay.id, { name: 'Availability', objective: 99.9 }, { actor });
    expect(slo).toMatchObject({ serviceId: service.id, objective: 99.9, period: 'month' });
    expect((await apps().slos(pay.id)).map((s) => s.id)).toEqual([slo.id]);
    const lone = await apps().create({ name: 'lonely' }, { actor });
    await expect(apps().defineSlo(lone.id, { name: 'x', objective: 99 }, { actor })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'applicationId',
    });

    const map = await apps().dependencyMap(pay.id);
    expect(map.dependsOn.map((c) => c.name)).toEqual(['pay-cache']);
    expect(map.dependents.map((c) => c.name)).toEqual(['Payments']);
    expect(JSON.parse(map.content)).toMatchObject({
      application: { name: 'payments-app' },
      dependsOn: [{ name: 'pay-cache', class: 'database', depth: 1 }],
      dependents: [{ name: 'Payments', class: 'business_service', depth: 1 }],
    });
    const mermaid = await apps().dependencyMap(pay.id, { format: 'mermaid' });
    expect(mermaid.content).toBe(
      [
        'flowchart LR',
        '  n0["payments-app (application)"]',
        '  n1["Payments (business_service)"]',
        '  n2["pay-cache (database)"]',
        '  n0 -->|depends on| n2',
        '  n1 -->|depends on| n0',
        '  style n0 stroke-width:3px',
        '',
      ].join('\n'),
    );
  });

  it('authorizes by the application CI: reads need applications:read, writes applications:write', async () => {
    const mine = await apps().create({ name: 'team-app' }, { actor });
    const theirs = await apps().create({ name: 'other-app' }, { actor });
    const scoped = await scopedTestActor(og, 'app-team', [
      { ciId: mine.id, mode: 'contains', permissions: ['applications:read', 'applications:write'] },
    ]);
    expect((await apps().get(mine.id, { actor: scoped }))?.name).toBe('team-app');
    await expect(apps().get(theirs.id, { actor: scoped })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'applications:read',
    });
    const listed = await apps().list({}, {}, { actor: scoped });
    expect(listed.edges.map((e) => e.node.name)).toEqual(['team-app']);
    await apps().defineEnvironment(mine.id, { name: 'production' }, { actor: scoped });
    await expect(
      apps().defineEnvironment(theirs.id, { name: 'production' }, { actor: scoped }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'applications:write',
      field: 'applicationId',
    });
    const nobody = { ...systemActor('nobody'), permissions: ['cmdb:read'] };
    await expect(apps().list({}, {}, { actor: nobody })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(apps().create({ name: 'z' }, { actor: nobody })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'applications:write',
    });
  });

  it('reads components, environments, checks and first deployment pages of many applications at once', async () => {
    const made = [];
    for (const name of ['batch-a', 'batch-b', 'batch-c']) {
      const app = await apps().create({ name }, { actor });
      await apps().addComponent(app.id, { name: `${name}-api`, role: 'api' }, { actor });
      await apps().defineEnvironment(app.id, { name: 'production' }, { actor });
      await apps().defineEnvironment(app.id, { name: 'staging' }, { actor });
      await og.plugins.applications.healthChecks.define(
        { applicationId: app.id, name: `${name}-home`, url: 'http://127.0.0.1:9/' },
        { actor },
      );
      made.push(app);
    }
    const [a, b, c] = made.map((m) => m.id) as [string, string, string];
    const host = await og.cmdb.create({ class: 'linux_server', name: 'batch-host' }, { actor });
    // a: three deployments (a page of 2 has a next page); b: one in staging that failed; c: none.
    for (const [release, day] of [
      ['a1', 1],
      ['a2', 2],
      ['a3', 3],
    ] as const)
      await deployments().record(
        {
          applicationId: a,
          environment: 'production',
          release,
          status: 'succeeded',
          targetCiIds: [host.id],
          startedAt: new Date(Date.UTC(2026, 0, day)),
        },
        { actor },
      );
    await deployments().record(
      { applicationId: b, environment: 'staging', release: 'b1', status: 'failed' },
      { actor },
    );
    const unknown = '00000000-0000-4000-8000-000000000000';
    const ids = [c, a, unknown, b, a];

    const components = await apps().componentsByApplicationIds(ids, { actor });
    expect(components.map((list) => list.map((m) => m.name))).toEqual([
      ['batch-c-api'],
      ['batch-a-api'],
      [],
      ['batch-b-api'],
      ['batch-a-api'],
    ]);
    const environments = await apps().environmentsByApplicationIds(ids, { actor });
    expect(environments.map((list) => list.map((e) => `${e.name}:${e.currentRelease}`))).toEqual([
      ['production:null', 'staging:null'],
      ['production:a3', 'staging:null'],
      [],
      ['production:null', 'staging:null'],
      ['production:a3', 'staging:null'],
    ]);
    const checks = await og.plugins.applications.healthChecks.listByApplicationIds(ids, { actor });
    expect(checks.map((list) => list.map((h) => h.name))).toEqual([
      ['batch-c-home'],
      ['batch-a-home'],
      [],
      ['batch-b-home'],
      ['batch-a-home'],
    ]);

    const pages = await deployments().firstPagesByApplicationIds(ids, {}, { first: 2 }, { actor });
    expect(pages.map((p) => ({ releases: p.edges.map((e) => e.node.release), next: p.hasNextPage }))).toEqual(
      [
        { releases: [], next: false },
        { releases: ['a3', 'a2'], next: true },
        { releases: [], next: false },
        { releases: ['b1'], next: false },
        { releases: ['a3', 'a2'], next: true },
      ],
    );
    expect(pages[1]!.edges[0]!.node.targetCiIds).toEqual([host.id]);
    // The same first page as `list` gives, cursors included, so `after` carries on from it.
    const single = await deployments().list(a, {}, { first: 2 }, { actor });
    expect(pages[1]).toEqual(single);
    const rest = await deployments().list(a, {}, { first: 2, after: pages[1]!.endCursor! }, { actor });
    expect(rest.edges.map((e) => e.node.release)).toEqual(['a1']);
    // Filters apply per application.
    const staging = await deployments().firstPagesByApplicationIds(
      [a, b],
      { environment: 'staging' },
      {},
      { actor },
    );
    expect(staging.map((p) => p.edges.map((e) => e.node.release))).toEqual([[], ['b1']]);
    const failed = await deployments().firstPagesByApplicationIds(
      [a, b],
      { status: 'failed' },
      {},
      { actor },
    );
    expect(failed.map((p) => p.edges.map((e) => e.node.release))).toEqual([[], ['b1']]);

    // Out of reach reads as nothing (the GraphQL parent was already refused), not as an error.
    const scoped = await scopedTestActor(og, 'batch-team', [
      { ciId: a, mode: 'contains', permissions: ['applications:read'] },
    ]);
    expect((await apps().componentsByApplicationIds([a, b], { actor: scoped })).map((l) => l.length)).toEqual(
      [1, 0],
    );
    expect(
      (await deployments().firstPagesByApplicationIds([a, b], {}, {}, { actor: scoped })).map(
        (p) => p.edges.length,
      ),
    ).toEqual([3, 0]);
  });
});
