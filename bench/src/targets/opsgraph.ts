// Subject target: the real OpsGraph server (`createOpsGraphServer`, production settings) over an
// in-memory embedded database, migrated, with a demo API token (all permissions) announced to the runner.
import { createLogger, createOpsGraph } from '@opsgraph/core';
import { createDemoToken, createOpsGraphServer } from '@opsgraph/server';
import { announceReady } from './lifecycle.js';

const og = await createOpsGraph({
  database: 'pglite://memory',
  migrate: true,
  logger: createLogger({ level: 'silent' }),
});
const token = await createDemoToken(og);
const server = createOpsGraphServer({ opsgraph: og });
const { url } = await server.listen(0, '127.0.0.1');

announceReady({ url, token }, async () => {
  await server.close();
  await og.close();
});
