import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLogger, createOpsGraph, type OpsGraph, redact } from '@opsgraph/core';
import { createOpsGraphServer, type OpsGraphServer, WEBHOOK_PATHS } from '@opsgraph/server';
import sirv from 'sirv';
import { createOperatorToken, createViewerToken, seedDashboardDemo } from './seed.js';

export interface DashboardOptions {
  /** Default `pglite://memory`: the embedded database, with fresh demo data at each start. */
  readonly database?: string;
  /** The built page (`vite build`); default this example's `dist/`. */
  readonly distDir?: string;
  /** Default 4000 (0: any free port). */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
}

export interface Dashboard {
  /** The page's URL, e.g. `http://127.0.0.1:4000/`. */
  readonly url: string;
  /** The API's URL (same origin). */
  readonly graphqlUrl: string;
  readonly opsgraph: OpsGraph;
  readonly server: OpsGraphServer;
  /** The read-only token the page is given. */
  readonly viewerToken: string;
  close(): Promise<void>;
}

const GRAPHQL_PATH = '/graphql';
export const CONFIG_PATH = '/dashboard/config.json';
const defaultDist = fileURLToPath(new URL('../dist', import.meta.url));

/** Paths the OpsGraph server answers itself; everything else GET is the page. */
const isApiPath = (path: string) =>
  path === GRAPHQL_PATH ||
  path === '/healthz' ||
  path === '/readyz' ||
  path === '/metrics' ||
  Object.keys(WEBHOOK_PATHS).includes(path);

// The page loads only its own scripts and styles and talks only to its own origin (HTTP and WebSocket).
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The OpsGraph server on the embedded database with demo data, serving the built dashboard on the
 * same origin (so the page needs no CORS, and the WebSocket passes the server's Origin check), and
 * handing the page a read-only viewer token at `/dashboard/config.json`.
 */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const database = options.database ?? 'pglite://memory';
  // Quiet unless asked (LOG_LEVEL), so the start-up banner is what one reads; silent in tests.
  const quiet = !process.env.LOG_LEVEL && process.env.NODE_ENV !== 'test';
  const og = await createOpsGraph({ database, logger: createLogger(quiet ? { level: 'warn' } : {}) });
  try {
    await og.migrate();
    await seedDashboardDemo(og);
    const viewerToken = await createViewerToken(og);
    const server = createOpsGraphServer({ opsgraph: og, path: GRAPHQL_PATH });

    // The OpsGraph server owns every path it knows; the page's files come first for the rest, and
    // what is not a file falls through to it (a 404 of its own).
    const opsgraph = server.httpServer.listeners('request')[0] as (
      req: IncomingMessage,
      res: ServerResponse,
    ) => void;
    server.httpServer.removeAllListeners('request');
    const assets = sirv(options.distDir ?? defaultDist, {
      etag: true,
      setHeaders: (res) => {
        for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
      },
    });
    const config = JSON.stringify({ graphqlPath: GRAPHQL_PATH, token: viewerToken });
    server.httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === CONFIG_PATH && req.method === 'GET') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          ...PAGE_HEADERS,
        });
        return res.end(config);
      }
      if ((req.method === 'GET' || req.method === 'HEAD') && !isApiPath(path)) {
        return assets(req, res, () => opsgraph(req, res));
      }
      opsgraph(req, res);
    });

    const { url: graphqlUrl } = await server.listen(options.port ?? 4000, options.host ?? '127.0.0.1');
    return {
      url: new URL('/', graphqlUrl).href,
      graphqlUrl,
      opsgraph: og,
      server,
      viewerToken,
      async close() {
        await server.close();
        await og.close();
      },
    };
  } catch (error) {
    await og.close();
    throw error;
  }
}

async function main(): Promise<void> {
  const database = process.env.DATABASE_URL || 'pglite://memory';
  const dashboard = await startDashboard({
    database,
    port: Number(process.env.PORT ?? 4000),
    host: process.env.HOST ?? '127.0.0.1',
  });
  const operatorToken = await createOperatorToken(dashboard.opsgraph);
  console.log(`OpsGraph live dashboard on ${redact(database)}`);
  console.log(`  Dashboard: ${dashboard.url}`);
  console.log(`  GraphQL:   ${dashboard.graphqlUrl}`);
  console.log('  Turn the Customer Portal red: ingest a critical event on the server it runs on:');
  console.log(`    curl -s ${dashboard.graphqlUrl} -H 'authorization: Bearer ${operatorToken}' \\`);
  console.log(
    `      -H 'content-type: application/json' -d '{"query":"mutation { ingestEvents(events: [{source: \\"demo\\", node: \\"portal-01\\", type: \\"cpu_high\\", severity: CRITICAL, message: \\"CPU at 100%\\"}]) { __typename } }"}'`,
  );
  const stop = async (signal: string) => {
    console.log(`\n${signal}: shutting down.`);
    await dashboard.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
