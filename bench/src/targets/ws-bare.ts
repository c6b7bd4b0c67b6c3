// Baseline target of `subscribers`: bare graphql-ws on `ws` with an in-process pub/sub (graphql-yoga's
// `createPubSub`), a subscription of the same shape as OpsGraph's `alertChanged`, and `POST /publish`
// taking the changes to fan out. No authentication, no database, no per-event authorization: the least a
// WebSocket GraphQL server does to deliver the same messages.
import { createServer } from 'node:http';
import {
  GraphQLID,
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { announceReady } from './lifecycle.js';

interface Change {
  readonly seq: number;
  readonly kind: string;
  readonly alert: {
    readonly id: string;
    readonly dedupKey: string;
    readonly severity: string;
    readonly message: string;
  };
}

const pubsub = createPubSub<{ change: [Change] }>();
const text = { type: new GraphQLNonNull(GraphQLString) };
const Alert = new GraphQLObjectType({
  name: 'Alert',
  fields: { id: { type: new GraphQLNonNull(GraphQLID) }, dedupKey: text, severity: text, message: text },
});
const AlertChange = new GraphQLObjectType({
  name: 'AlertChange',
  fields: {
    seq: { type: new GraphQLNonNull(GraphQLInt) },
    kind: text,
    alert: { type: new GraphQLNonNull(Alert) },
  },
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { hello: { type: GraphQLString, resolve: () => 'world' } },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      alertChanged: {
        type: new GraphQLNonNull(AlertChange),
        subscribe: () => pubsub.subscribe('change'),
        resolve: (change: Change) => change,
      },
    },
  }),
});

let seq = 0;
const server = createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/publish') {
    response.writeHead(404).end();
    return;
  }
  let body = '';
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => {
    body += chunk;
  });
  request.on('end', () => {
    const events = JSON.parse(body) as { dedupKey: string; severity: string; message: string }[];
    for (const event of events) {
      seq++;
      pubsub.publish('change', { seq, kind: 'OPENED', alert: { id: String(seq), ...event } });
    }
    response.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
  });
});
const sockets = new WebSocketServer({ server, path: '/graphql' });
const wsServer = useServer({ schema }, sockets);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

announceReady({ url: `http://127.0.0.1:${port}/graphql` }, async () => {
  await wsServer.dispose();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
