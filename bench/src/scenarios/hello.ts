import { type Scenario, startTargets } from '../harness.js';

/**
 * The fixed cost of an OpsGraph request that does no database work: Yoga plus everything OpsGraph puts
 * around it (its HTTP handler and actor resolution, the Pothos schema, the introspection rule, CORS and
 * error masking), compared with Yoga alone answering one scalar field. `withToken` adds an API token,
 * as every real client sends one, and so the per-request token lookup.
 */
export function helloScenario(options: { name: string; description: string; withToken: boolean }): Scenario {
  return {
    name: options.name,
    description: options.description,
    async setup() {
      const [yoga, opsgraph] = await startTargets(['yoga-hello', 'opsgraph']);
      return {
        baseline: {
          label: 'bare graphql-yoga',
          description: 'createYoga defaults + node:http, resolver returns a constant',
          url: yoga!.info.url,
          query: '{ hello }',
        },
        subject: options.withToken
          ? {
              label: 'OpsGraph, API token',
              description:
                'createOpsGraphServer (embedded in-memory database), Bearer demo token checked per request',
              url: opsgraph!.info.url,
              query: '{ __typename }',
              headers: { authorization: `Bearer ${opsgraph!.info.token}` },
            }
          : {
              label: 'OpsGraph, anonymous',
              description: 'createOpsGraphServer (embedded in-memory database), no token, no database query',
              url: opsgraph!.info.url,
              query: '{ __typename }',
            },
        teardown: async () => {
          await Promise.all([yoga!.stop(), opsgraph!.stop()]);
        },
      };
    },
  };
}

export default helloScenario({
  name: 'hello',
  description: 'one scalar field, no auth, no database: bare graphql-yoga vs the OpsGraph server',
  withToken: false,
});
