// The service desk both sides of the `incidents` scenario serve: 60 incidents, each with its own caller,
// assignment group, assignee (a member of the group), CI and business service, and the SLA timers core
// attaches on create. Both target processes seed the same estate into their own in-memory database.
import { type OpsGraph, systemActor } from '@opsgraph/core';

export const INCIDENTS = 60;
/** A list view's page. */
export const PAGE = 50;

/** Seeds the estate; returns a service-desk agent's token (read incidents, CIs and people; nothing else). */
export async function seedIncidentEstate(og: OpsGraph): Promise<string> {
  const actor = systemActor('bench');
  // One transaction: a few seconds instead of tens on a busy machine (the runner waits a minute for a target).
  await og.transaction(async (og) => {
    for (let i = 0; i < INCIDENTS; i++) {
      const caller = await og.access.createUser(
        { email: `caller-${i}@example.com`, name: `Caller ${i}` },
        { actor },
      );
      const agent = await og.access.createUser(
        { email: `agent-${i}@example.com`, name: `Agent ${i}` },
        { actor },
      );
      const group = await og.access.createGroup({ name: `desk-${i}` }, { actor });
      await og.access.addGroupMember(group.id, { userId: agent.id }, { actor });
      const host = await og.cmdb.create({ class: 'linux_server', name: `host-${i}` }, { actor });
      const service = await og.cmdb.create(
        { class: 'business_service', name: `service-${i}`, attributes: { tier: 1 } },
        { actor },
      );
      await og.cmdb.relate({ type: 'depends_on', sourceId: service.id, targetId: host.id }, { actor });
      await og.incidents.create(
        {
          shortDescription: `Incident ${i}`,
          callerId: caller.id,
          ciId: host.id,
          impact: ((i % 3) + 1) as 1 | 2 | 3,
          urgency: 2,
          assignmentGroupId: group.id,
          assigneeId: agent.id,
        },
        { actor },
      );
    }
  });
  const token = await og.access.createToken(
    { name: 'service desk agent', permissions: ['incident:read', 'cmdb:read', 'access:read'] },
    { actor },
  );
  return token.secret;
}
