import { type Scenario, startTargets } from '../harness.js';
import { PAGE } from '../incident-estate.js';

const fields = `number priority state shortDescription
  caller { name email } assignmentGroup { name } assignee { name email }
  ci { name class status } services { name } slaTimers { kind state targetMinutes }`;

/**
 * A service desk's list view: a page of 50 incidents with caller, assignment group, assignee, CI,
 * business services and SLA timers. The baseline is bare Yoga answering the same shape with one
 * hand-written SQL statement over the same data; the subject is the OpsGraph server with a
 * service-desk agent's token (authentication, per-object authorization, DataLoaders, limits).
 */
const scenario: Scenario = {
  name: 'incidents',
  description: `a page of ${PAGE} incidents with caller, group, assignee, CI, services and SLA timers`,
  goal: 0.6,
  async setup() {
    const [yoga, opsgraph] = await startTargets(['yoga-incidents', 'opsgraph-incidents'], {
      // Each migrates and seeds its own database first: about 10 s idle, minutes on a crowded CI machine.
      timeoutMs: 300_000,
    });
    return {
      baseline: {
        label: 'bare graphql-yoga + one SQL',
        description: 'createYoga defaults, SDL schema, one resolver running one SQL statement with joins',
        url: yoga!.info.url,
        query: `{ incidents(first: ${PAGE}) { edges { node { ${fields} } } } }`,
      },
      subject: {
        label: 'OpsGraph, agent token',
        description:
          'createOpsGraphServer (embedded in-memory database), a token with incident:read, cmdb:read, access:read',
        url: opsgraph!.info.url,
        query: `{ incidents(first: ${PAGE}) { edges { node { ${fields} } } } }`,
        headers: { authorization: `Bearer ${opsgraph!.info.token}` },
      },
      teardown: async () => {
        await Promise.all([yoga!.stop(), opsgraph!.stop()]);
      },
    };
  },
};

export default scenario;
