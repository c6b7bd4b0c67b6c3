import { type OpsGraph, systemActor } from '@opsgraph/core';

const actor = systemActor('demo-seed');

/**
 * A small estate to explore: a business service, its applications, a database and servers, related so
 * impact analysis has something to say (the web tier is a cluster of three needing two), a few
 * users and groups holding core roles (one of them scoped to the service), an incident rule and two
 * correlated alerts that opened an incident, a "New laptop" catalog item with a request awaiting
 * its manager's approval, and operations control: a backup job, an SLO, a DR plan and a filling disk.
 */
export async function seedDemo(og: OpsGraph): Promise<{ created: number }> {
  const existing = await og.cmdb.list({ tag: 'demo' }, { first: 1 });
  if (existing.edges.length > 0) return { created: 0 };
  const items = [
    { class: 'business_service', name: 'Online Shop', attributes: { tier: 1 } },
    { class: 'application', name: 'shop-frontend', environment: 'production' },
    { class: 'application', name: 'checkout-api', environment: 'production' },
    { class: 'database', name: 'orders-db', environment: 'production' },
    { class: 'cluster', name: 'web-cluster', attributes: { quorum: 2 } },
    { class: 'linux_server', name: 'web-01', attributes: { hostname: 'web-01', domain: 'shop.example' } },
    { class: 'linux_server', name: 'web-02', attributes: { hostname: 'web-02', domain: 'shop.example' } },
    { class: 'linux_server', name: 'web-03', attributes: { hostname: 'web-03', domain: 'shop.example' } },
    { class: 'linux_server', name: 'db-01', attributes: { hostname: 'db-01', domain: 'shop.example' } },
  ];
  const relationships = [
    ['Online Shop', 'depends_on', 'shop-frontend'],
    ['Online Shop', 'depends_on', 'checkout-api'],
    ['shop-frontend', 'runs_on', 'web-cluster'],
    ['checkout-api', 'runs_on', 'web-cluster'],
    ['checkout-api', 'depends_on', 'orders-db'],
    ['orders-db', 'runs_on', 'db-01'],
    ['web-01', 'member_of', 'web-cluster'],
    ['web-02', 'member_of', 'web-cluster'],
    ['web-03', 'member_of', 'web-cluster'],
  ] as const;
  await og.transaction(async (tx) => {
    const ids = new Map<string, string>();
    for (const item of items)
      ids.set(item.name, (await tx.cmdb.create({ ...item, tags: ['demo'] }, { actor })).id);
    for (const [source, type, target] of relationships) {
      await tx.cmdb.relate({ type, sourceId: ids.get(source)!, targetId: ids.get(target)! }, { actor });
    }
    // People to explore access management with: an operations team, a service desk, and a shop
    // manager who sees the Online Shop and what it depends on, and nothing else.
    const person = (name: string, email: string) => tx.access.createUser({ name, email }, { actor });
    const [ops, dan, manager] = [
      await person('Olivia Ops', 'olivia@shop.example'),
      await person('Dan Desk', 'dan@shop.example'),
      await person('Maria Manager', 'maria@shop.example'),
    ];
    const opsTeam = await tx.access.createGroup(
      { name: 'Operations', description: 'Keeps the estate running' },
      { actor },
    );
    const serviceDesk = await tx.access.createGroup(
      { name: 'Service Desk', description: 'First line' },
      { actor },
    );
    await tx.access.addGroupMember(opsTeam.id, { userId: ops.id }, { actor });
    await tx.access.addGroupMember(serviceDesk.id, { userId: dan.id }, { actor });
    await tx.access.grant({ role: 'operator', groupId: opsTeam.id }, { actor });
    await tx.access.grant({ role: 'agent', groupId: serviceDesk.id }, { actor });
    await tx.access.grant(
      {
        role: 'viewer',
        userId: manager.id,
        scope: { ciId: ids.get('Online Shop')!, mode: 'dependencies' },
        reason: 'Service owner of the Online Shop',
      },
      { actor },
    );

    // Event management to look at: critical alerts on what a tier-1 service needs page Operations
    // with a P1, and a small storm (the database server, then the API that runs on it) that ends up as
    // one incident with the API's alert grouped under the database server's.
    await tx.events.createIncidentRule(
      {
        name: 'Tier 1 critical',
        match: { severity: ['critical'], serviceTierAtMost: 1 },
        incident: {
          impact: 1,
          urgency: 1,
          category: 'infrastructure',
          assignmentGroupId: opsTeam.id,
          shortDescription: '{{type}} on {{node}}',
        },
      },
      { actor },
    );
    await tx.events.ingest(
      [
        {
          source: 'nagios',
          node: 'db-01',
          type: 'disk_full',
          severity: 'critical',
          message: '/var/lib/postgresql is 98% full',
        },
        {
          source: 'apm',
          node: 'checkout-api',
          type: 'latency',
          severity: 'critical',
          message: 'p99 latency 4.2 s',
          ciId: ids.get('checkout-api')!,
        },
      ],
      { actor },
    );

    // IT operations control to look at: a nightly backup of the orders database (its last good run
    // reported), an availability objective and a recovery plan for the Online Shop, and db-01's data
    // disk filling up (still under its warning threshold, with a forecast of when it is full).
    const backup = await tx.operations.defineJob(
      {
        name: 'Nightly orders-db backup',
        kind: 'backup',
        schedule: '0 2 * * *',
        targetCiIds: [ids.get('orders-db')!],
        rpoMinutes: 1440,
        ownerGroupId: opsTeam.id,
      },
      { actor },
    );
    await tx.operations.reportRun(
      { jobId: backup.id, status: 'succeeded', durationMs: 840_000, bytes: 12_884_901_888 },
      { actor },
    );
    await tx.serviceLevels.defineSlo(
      { serviceId: ids.get('Online Shop')!, name: 'Online Shop monthly', objective: 99.9 },
      { actor },
    );
    await tx.recovery.definePlan(
      {
        serviceId: ids.get('Online Shop')!,
        rto: 'PT4H',
        rpo: 'PT24H',
        ownerGroupId: opsTeam.id,
        steps: [
          { title: 'Restore orders-db from the nightly backup', ciId: ids.get('orders-db')! },
          { title: 'Start checkout-api and check its health', ciId: ids.get('checkout-api')! },
          { title: 'Open the shop to customers', ciId: ids.get('Online Shop')! },
        ],
      },
      { actor },
    );
    const disk = await tx.capacity.defineMetric(
      { ciId: ids.get('db-01')!, kind: 'storage', name: '/var/lib/postgresql', unit: 'GB', capacity: 500 },
      { actor },
    );
    const now = og.clock.now().getTime();
    await tx.capacity.recordSamples(
      disk.id,
      Array.from({ length: 14 }, (_, k) => ({
        at: new Date(now - (13 - k) * 86_400_000),
        value: 300 + 6 * k,
      })),
      { actor },
    );

    // Request fulfilment to look at: a "New laptop" catalog item (manager approval, then the service
    // desk hands over a laptop from stock), two laptops in stock, and Dan's request awaiting Maria.
    await tx.access.updateUser(dan.id, { version: dan.version, managerId: manager.id }, { actor });
    for (const name of ['LT-0001', 'LT-0002'])
      await tx.cmdb.create(
        { class: 'laptop', name, status: 'installed', attributes: { serial_number: name }, tags: ['demo'] },
        { actor },
      );
    const laptop = await tx.requests.createItem(
      {
        name: 'New laptop',
        category: 'Hardware',
        description: 'A laptop for you or someone in your team, from stock.',
        form: [
          {
            name: 'model',
            label: 'Model',
            type: 'enum',
            options: ['standard', 'developer'],
            default: 'standard',
          },
          { name: 'needed_by', label: 'Needed by', type: 'date' },
        ],
        approvalSteps: [{ kind: 'manager' }],
        tasks: [
          {
            title: 'Prepare and hand over the laptop',
            assignmentGroupId: serviceDesk.id,
            action: { kind: 'assign_device', ciClass: 'laptop' },
          },
        ],
      },
      { actor },
    );
    await tx.requests.submit(
      {
        itemId: laptop.id,
        requestedForId: dan.id,
        answers: { model: 'developer' },
        justification: 'Old one died',
      },
      { actor },
    );
  });
  return { created: items.length };
}

/** A token for exploring the demo; it expires in a day, so a forgotten demo does not stay open. */
export async function createDemoToken(og: OpsGraph): Promise<string> {
  const { secret } = await og.access.createToken(
    { name: 'demo', permissions: ['*'], expiresAt: new Date(og.clock.now().getTime() + 24 * 3600 * 1000) },
    { actor },
  );
  return secret;
}
