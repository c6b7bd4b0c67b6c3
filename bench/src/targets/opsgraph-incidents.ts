// Subject target of `incidents`: the real OpsGraph server (production settings) over an in-memory
// embedded database holding the seeded service desk; announces a service-desk agent's token.
import { createLogger, createOpsGraph } from '@opsgraph/core';
import { createOpsGraphServer } from '@opsgraph/server';
import { seedIncidentEstate } from '../incident-estate.js';
import { announceReady } from './lifecycle.js';

const og = await createOpsGraph({
  database: 'pglite://memory',
  migrate: true,
  logger: createLogger({ level: 'silent' }),
});
const token = await seedIncidentEstate(og);
const server = createOpsGraphServer({ opsgraph: og });
const { url } = await server.listen(0, '127.0.0.1');

announceReady({ url, token }, async () => {
  await server.close();
  await og.close();
});
