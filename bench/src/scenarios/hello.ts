import { type Scenario, startTargets } from '../harness.js';

/**
 * The fixed cost of an OpsGraph request that does no database work: Yoga plus everything OpsGraph puts
 * around it (its HTTP handler and actor resolution, the Pothos schema, the introspection rule, CORS and
 * error masking), compared with Yoga alone answering one scalar field.
 */
const scenario: Scenario = {
  name: 'hello',
  description: 'one scalar field, no auth, no database: bare graphql-yoga vs the OpsGraph server',
  async setup() {
    const [yoga, opsgraph] = await startTargets('yoga-hello', 'opsgraph');
    return {
      baseline: {
        label: 'bare graphql-yoga',
        description: 'createYoga defaults + node:http, resolver returns a constant',
        url: yoga!.info.url,
        query: '{ hello }',
      },
      subject: {
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

export default scenario;
