#!/usr/bin/env node
import { parseArgs } from 'node:util';
import {
  createLogger,
  createOpsGraph,
  DEFAULT_DATABASE,
  type Notifier,
  type OpsGraph,
  redact,
  smtpNotifier,
  webhookNotifier,
} from '@opsgraph/core';
import { createDemoToken, seedDemo } from './demo.js';
import { runImport } from './import.js';
import { createOpsGraphServer } from './server.js';

const usage = `Usage: opsgraph <command> [options]

Commands:
  serve [--demo] [--migrate]   Start the API server (PORT, default 4000; HOST, default 127.0.0.1).
                               --demo: migrate, load demo data, print a demo token, enable GraphiQL.
  migrate                      Apply pending database migrations (core, then plugins).
  seed --demo                  Load the demo data.
  import <file> --source <name> [--json]
                               Reconcile a discovery feed: <file>.json is a reconcile payload
                               ({ cis, relationships }), <file>.csv one CI a row. --json prints the
                               whole report. Exits 1 naming each field at fault on bad input.

Environment:
  DATABASE_URL   postgres://user:pass@host/db, or pglite://<dir>; default ${DEFAULT_DATABASE}
  LOG_LEVEL      trace, debug, info (default), warn, error, silent

Outage notifications of major incidents (serve):
  SMTP_HOST, SMTP_PORT (587), SMTP_SECURE (true: TLS from the start), SMTP_USER, SMTP_PASSWORD,
  SMTP_FROM      email through this SMTP server (SMTP_HOST and SMTP_FROM turn it on)
  NOTIFY_WEBHOOK_URL, NOTIFY_WEBHOOK_SECRET
                 POST each notification as signed JSON to this URL
`;

/** The notifiers the environment configures (see the usage). */
function notifiersFromEnv(env: NodeJS.ProcessEnv = process.env): Notifier[] {
  const notifiers: Notifier[] = [];
  if (env.SMTP_HOST) {
    if (!env.SMTP_FROM) throw new Error('SMTP_HOST is set without SMTP_FROM: set the sender address');
    const port = env.SMTP_PORT ? Number(env.SMTP_PORT) : undefined;
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
      throw new Error(`SMTP_PORT must be a port number; got ${env.SMTP_PORT}`);
    notifiers.push(
      smtpNotifier({
        host: env.SMTP_HOST,
        ...(port ? { port } : {}),
        secure: env.SMTP_SECURE === 'true',
        ...(env.SMTP_USER ? { auth: { user: env.SMTP_USER, pass: env.SMTP_PASSWORD ?? '' } } : {}),
        from: env.SMTP_FROM,
      }),
    );
  }
  if (env.NOTIFY_WEBHOOK_URL) {
    if (!env.NOTIFY_WEBHOOK_SECRET)
      throw new Error('NOTIFY_WEBHOOK_URL is set without NOTIFY_WEBHOOK_SECRET: set a secret to sign with');
    notifiers.push(webhookNotifier({ url: env.NOTIFY_WEBHOOK_URL, secret: env.NOTIFY_WEBHOOK_SECRET }));
  }
  return notifiers;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      demo: { type: 'boolean' },
      migrate: { type: 'boolean' },
      source: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(usage);
    return command || values.help ? 0 : 1;
  }
  // An import's output is its report (maybe JSON on stdout): keep info logs out of it unless asked for.
  const logger = createLogger(command === 'import' && !process.env.LOG_LEVEL ? { level: 'warn' } : {});
  const database = process.env.DATABASE_URL || DEFAULT_DATABASE;
  const open = () =>
    createOpsGraph({ database, logger, ...(command === 'serve' ? { notifiers: notifiersFromEnv() } : {}) });

  switch (command) {
    case 'migrate': {
      const og = await open();
      try {
        const reports = await og.migrate();
        const applied = reports.flatMap((r) => r.applied.map((name) => `${r.owner}/${name}`));
        console.log(applied.length ? `Applied ${applied.join(', ')}` : 'Database is up to date.');
      } finally {
        await og.close();
      }
      return 0;
    }
    case 'seed': {
      if (!values.demo) {
        console.error('seed needs --demo (the only data set so far).');
        return 1;
      }
      const og = await open();
      try {
        await og.migrate();
        const { created } = await seedDemo(og);
        console.log(created ? `Loaded ${created} demo CIs.` : 'Demo data is already there.');
      } finally {
        await og.close();
      }
      return 0;
    }
    case 'import': {
      const file = positionals[1];
      if (!file || !values.source) {
        console.error(`import needs a file and --source <name>.\n\n${usage}`);
        return 1;
      }
      const og = await open();
      try {
        await ready(og);
        return await runImport(og, file, { source: values.source, json: Boolean(values.json) });
      } finally {
        await og.close();
      }
    }
    case 'serve':
      await serve(await open(), { demo: Boolean(values.demo), migrate: Boolean(values.migrate), database });
      return 0;
    default:
      console.error(`Unknown command "${command}".\n\n${usage}`);
      return 1;
  }
}

/**
 * One embedded process owns its PGlite directory, so migrating at start is safe there; with
 * PostgreSQL, replicas share the database and migration is an explicit step.
 */
async function ready(og: OpsGraph, migrate = false): Promise<void> {
  if (migrate || og.dialect === 'pglite') await og.migrate();
  const pending = (await og.migrationStatus()).filter((s) => s.pending.length > 0);
  if (pending.length > 0) {
    throw new Error(
      `The database needs migrations (${pending.map((p) => `${p.owner}: ${p.pending.join(', ')}`).join('; ')}). Run \`opsgraph migrate\` first, or serve with --migrate.`,
    );
  }
}

async function serve(og: OpsGraph, options: { demo: boolean; migrate: boolean; database: string }) {
  try {
    await ready(og, options.demo || options.migrate);
  } catch (error) {
    await og.close();
    throw error;
  }
  let token: string | undefined;
  if (options.demo) {
    await seedDemo(og);
    token = await createDemoToken(og);
  }
  const development = options.demo || process.env.NODE_ENV === 'development';
  const server = createOpsGraphServer({
    opsgraph: og,
    development,
    ...(token ? { graphiqlHeaders: { Authorization: `Bearer ${token}` } } : {}),
  });
  const port = Number(process.env.PORT ?? 4000);
  const host = process.env.HOST ?? '127.0.0.1';
  const { url } = await server.listen(port, host).catch(async (error: NodeJS.ErrnoException) => {
    await og.close();
    if (error.code === 'EADDRINUSE')
      throw new Error(`${host}:${port} is already in use: set PORT to a free port`);
    throw error;
  });
  console.log(`OpsGraph is serving ${redact(options.database)}`);
  console.log(`  GraphQL:  ${url}${development ? '   (GraphiQL: open it in a browser)' : ''}`);
  console.log(`  Health:   ${url.replace(/\/graphql$/, '/readyz')}`);
  if (token) {
    console.log(`  Demo token (valid 24 h, GraphiQL already sends it): ${token}`);
    console.log(
      `  Try: curl -s ${url} -H 'authorization: Bearer ${token}' -H 'content-type: application/json' \\`,
    );
    console.log(`         -d '{"query":"{ cis(first: 5) { edges { node { name class } } } }"}'`);
  }
  const stop = async (signal: string) => {
    console.log(`\n${signal}: shutting down.`);
    await server.close();
    await og.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exit(code);
  },
  (error: Error) => {
    console.error(`opsgraph: ${error.message}`);
    process.exit(1);
  },
);
