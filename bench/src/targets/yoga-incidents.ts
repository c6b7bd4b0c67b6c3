// Baseline target of `incidents`: a bare graphql-yoga server (defaults, no authentication, no
// authorization, no DataLoaders) over the same seeded service desk, whose one resolver answers the page
// with one hand-written SQL statement (joins and json aggregates). The least a GraphQL server could do
// to serve that list view from that database.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, createOpsGraph } from '@opsgraph/core';
import { createSchema, createYoga } from 'graphql-yoga';
import { sql } from 'kysely';
import { seedIncidentEstate } from '../incident-estate.js';
import { announceReady } from './lifecycle.js';

const og = await createOpsGraph({
  database: 'pglite://memory',
  migrate: true,
  logger: createLogger({ level: 'silent' }),
});
await seedIncidentEstate(og);

const typeDefs = /* GraphQL */ `
  type Query { incidents(first: Int!): IncidentConnection! }
  type IncidentConnection { edges: [IncidentEdge!]! }
  type IncidentEdge { node: Incident! }
  type Incident {
    number: String!
    priority: Int!
    state: String!
    shortDescription: String!
    caller: Person
    assignmentGroup: Named
    assignee: Person
    ci: Ci
    services: [Named!]!
    slaTimers: [Timer!]!
  }
  type Person { name: String! email: String! }
  type Named { name: String! }
  type Ci { name: String! class: String! status: String! }
  type Timer { kind: String! state: String! targetMinutes: Int! }
`;

const page = (first: number) =>
  sql`
    select i.number, i.priority, i.state, i.short_description as "shortDescription",
      case when c.id is null then null else json_build_object('name', c.name, 'email', c.email) end as caller,
      case when g.id is null then null else json_build_object('name', g.name) end as "assignmentGroup",
      case when a.id is null then null else json_build_object('name', a.name, 'email', a.email) end as assignee,
      case when ci.id is null then null
        else json_build_object('name', ci.name, 'class', ci.class, 'status', ci.status) end as ci,
      coalesce((select json_agg(json_build_object('name', s.name) order by s.name) from cis s
        where s.id::text in (select jsonb_array_elements_text(i.service_ids))), '[]') as services,
      coalesce((select json_agg(json_build_object('kind', t.kind, 'state', t.state, 'targetMinutes', t.target_minutes)
        order by t.kind desc) from sla_timers t where t.incident_id = i.id), '[]') as "slaTimers"
    from incidents i
    left join access_users c on c.id = i.caller_id
    left join access_users a on a.id = i.assignee_id
    left join access_groups g on g.id = i.assignment_group_id
    left join cis ci on ci.id = i.ci_id
    order by i.created_at desc, i.id desc
    limit ${first}`.execute(og.db);

const yoga = createYoga({
  schema: createSchema({
    typeDefs,
    resolvers: {
      Query: {
        incidents: async (_root: unknown, { first }: { first: number }) => ({
          edges: (await page(first)).rows.map((node) => ({ node })),
        }),
      },
    },
  }),
  logging: false,
});

const server = createServer(yoga);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  announceReady({ url: `http://127.0.0.1:${port}/graphql` }, async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await og.close();
  });
});
