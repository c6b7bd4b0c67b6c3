import { systemActor } from '@opsgraph/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationQueries } from './query-count.js';
import { startTestServer, type TestServer } from './test-support.js';

// What a service-desk list view asks for: each incident with its caller, assignee and group, its CI and
// the business services it affects, and its SLA timers.
const LIST = `query ($first: Int) {
  incidents(first: $first) {
    edges { node {
      number priority state
      caller { name email }
      assignmentGroup { name }
      assignee { name }
      ci { name class status }
      services { name }
      slaTimers { kind state dueAt warned }
    } }
  }
}`;

describe('a page of incidents with everything a list view shows', () => {
  let t: TestServer;
  const reports: OperationQueries[] = [];
  const actor = systemActor('test');
  let agent: string;

  beforeAll(async () => {
    t = await startTestServer({ onOperationQueries: (report) => reports.push(report) });
    // 50 incidents, each with its own caller, group, assignee, CI and business service, so a resolver that
    // loads one at a time would show up as 50 queries.
    for (let i = 0; i < 50; i++) {
      const caller = await t.og.access.createUser(
        { email: `caller-${i}@example.com`, name: `Caller ${i}` },
        { actor },
      );
      const agentUser = await t.og.access.createUser(
        { email: `agent-${i}@example.com`, name: `Agent ${i}` },
        { actor },
      );
      const group = await t.og.access.createGroup({ name: `desk-${i}` }, { actor });
      await t.og.access.addGroupMember(group.id, { userId: agentUser.id }, { actor });
      const host = await t.og.cmdb.create({ class: 'linux_server', name: `host-${i}` }, { actor });
      const service = await t.og.cmdb.create(
        { class: 'business_service', name: `service-${i}`, attributes: { tier: 1 } },
        { actor },
      );
      await t.og.cmdb.relate({ type: 'depends_on', sourceId: service.id, targetId: host.id }, { actor });
      await t.og.incidents.create(
        {
          shortDescription: `Incident ${i}`,
          callerId: caller.id,
          ciId: host.id,
          impact: ((i % 3) + 1) as 1 | 2 | 3,
          urgency: 1,
          assignmentGroupId: group.id,
          assigneeId: agentUser.id,
        },
        { actor },
      );
    }
    agent = (
      await t.og.access.createToken(
        { name: 'agent', permissions: ['incident:read', 'cmdb:read', 'access:read'] },
        { actor },
      )
    ).secret;
  });
  afterAll(() => t?.close());

  const page = async (first: number, token: string) => {
    reports.length = 0;
    const body = (await t.gql(LIST, { first }, token)).body;
    expect(body.errors).toBeUndefined();
    expect(reports).toHaveLength(1);
    return {
      nodes: body.data?.incidents.edges.map((e: { node: unknown }) => e.node),
      queries: reports[0]!.queries,
    };
  };

  it('costs the same number of SQL statements for 1 incident as for 50', async () => {
    for (const token of [t.tokens.admin, agent]) {
      const one = await page(1, token);
      const fifty = await page(50, token);
      expect(one.nodes).toHaveLength(1);
      expect(fifty.nodes).toHaveLength(50);
      expect(fifty.queries.length).toBe(one.queries.length);
      // Every edge was really resolved: a missing loader would show as null here, not as a cheap page.
      for (const node of fifty.nodes) {
        const i = Number(node.caller.name.replace('Caller ', ''));
        expect(node).toMatchObject({
          caller: { email: `caller-${i}@example.com` },
          assignmentGroup: { name: `desk-${i}` },
          assignee: { name: `Agent ${i}` },
          ci: { name: `host-${i}`, class: 'linux_server' },
          services: [{ name: `service-${i}` }],
        });
        expect(node.slaTimers.map((s: { kind: string }) => s.kind)).toEqual(['RESPONSE', 'RESOLUTION']);
      }
    }
  });
});
