// Subject target of `subscribers`: the OpsGraph server (production settings) on an in-memory embedded
// database, with an ingest token and viewer tokens holding event:read only. A server lets one caller
// open 50 sockets, so the subscribers share 20 tokens, as 20 people with 50 dashboards each would.
import { createLogger, createOpsGraph, systemActor } from '@opsgraph/core';
import { createOpsGraphServer } from '@opsgraph/server';
import { announceReady } from './lifecycle.js';

const VIEWERS = 20;
const actor = systemActor('bench');
const og = await createOpsGraph({
  database: 'pglite://memory',
  migrate: true,
  logger: createLogger({ level: 'silent' }),
});
const { secret: token } = await og.access.createToken(
  { name: 'bench ingest', permissions: ['event:read', 'event:write'] },
  { actor },
);
const subscriberTokens: string[] = [];
for (let i = 0; i < VIEWERS; i++)
  subscriberTokens.push(
    (await og.access.createToken({ name: `bench viewer ${i}`, permissions: ['event:read'] }, { actor }))
      .secret,
  );
const server = createOpsGraphServer({ opsgraph: og });
const { url } = await server.listen(0, '127.0.0.1');

announceReady({ url, token, subscriberTokens }, async () => {
  await server.close();
  await og.close();
});
