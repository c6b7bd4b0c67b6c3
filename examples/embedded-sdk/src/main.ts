// OpsGraph as a library: a CMDB in your own program, with its live activity stream.
import { createOpsGraph, type OpsGraph, systemActor } from '@opsgraph/core';

export async function run(database = 'pglite://memory', log: (line: string) => void = console.log) {
  const og: OpsGraph = await createOpsGraph({ database, migrate: true });
  const actor = systemActor('inventory-sync');
  try {
    // Follow what happens from now on; the stream ends when we call return().
    const stream = og.activity.follow({ after: await og.activity.latestSeq() });

    const web = await og.cmdb.create({ class: 'linux_server', name: 'web-01', tags: ['prod'] }, { actor });
    const updated = await og.cmdb.update(
      web.id,
      { version: web.version, environment: 'production' },
      { actor },
    );

    // A stale version is refused rather than silently overwriting someone's change.
    const conflict = await og.cmdb
      .update(web.id, { version: web.version, environment: 'staging' }, { actor })
      .catch((error: Error) => error.message);
    log(`conflict: ${conflict}`);

    const events: string[] = [];
    for await (const event of stream) {
      events.push(`${event.seq} ${event.type}`);
      if (events.length === 2) break;
    }
    log(`events: ${events.join(', ')}`);

    const page = await og.cmdb.list({ tag: 'prod' }, { first: 10 });
    log(`prod CIs: ${page.edges.map((e) => `${e.node.name}@v${e.node.version}`).join(', ')}`);
    return { updated, events };
  } finally {
    await og.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run(process.env.DATABASE_URL);
}
