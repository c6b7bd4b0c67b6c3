import { type Scenario, startTargets } from '../harness.js';

/**
 * As `hello`, but the OpsGraph request carries an API token, as every real client sends one. The token is
 * looked up in the database on every request (hash, then an indexed SELECT): this shows what that costs.
 */
const scenario: Scenario = {
  name: 'hello-token',
  description: 'as hello, with a Bearer API token: adds the per-request token lookup in the database',
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
        label: 'OpsGraph, API token',
        description:
          'createOpsGraphServer (embedded in-memory database), Bearer demo token checked per request',
        url: opsgraph!.info.url,
        query: '{ __typename }',
        headers: { authorization: `Bearer ${opsgraph!.info.token}` },
      },
      teardown: async () => {
        await Promise.all([yoga!.stop(), opsgraph!.stop()]);
      },
    };
  },
};

export default scenario;
