// Starts two `opsgraph serve` replicas on one PostgreSQL and prints a token for the client program.
//   DATABASE_URL=postgres://… npm run replicas -w @opsgraph/example-multi-replica -- 4001 4002
import { pathToFileURL } from 'node:url';
import { createOpsGraph, systemActor } from '@opsgraph/core';
import { type Replica, startReplica } from './replica.js';

export interface Replicas {
  readonly replicas: readonly Replica[];
  /** An API token (event:read, event:write, activity:read) that every replica accepts. */
  readonly token: string;
  stop(): Promise<void>;
}

/**
 * The first replica migrates the database (`serve --migrate`), the others start once it listens: a
 * replica never migrates behind the others' backs. The token is made on the shared database, so
 * every replica knows it.
 */
export async function startReplicas(options: {
  readonly databaseUrl: string;
  readonly ports: readonly number[];
  readonly log?: (line: string) => void;
}): Promise<Replicas> {
  const { databaseUrl, ports, log } = options;
  if (!/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new Error(
      'DATABASE_URL must be a postgres:// URL: replicas share one PostgreSQL (PGlite is one process)',
    );
  const replicas: Replica[] = [];
  try {
    for (const [i, port] of ports.entries()) {
      const name = `replica ${String.fromCharCode(65 + i)}`;
      const replica = await startReplica({
        databaseUrl,
        port,
        migrate: i === 0,
        ...(log ? { log: (line: string) => log(`[${name}] ${line}`) } : {}),
      });
      replicas.push(replica);
      log?.(`${name}: ${replica.url}`);
    }
    const og = await createOpsGraph({ database: databaseUrl });
    const { secret: token } = await og.access
      .createToken(
        { name: 'multi-replica example', permissions: ['event:read', 'event:write', 'activity:read'] },
        { actor: systemActor('multi-replica example') },
      )
      .finally(() => og.close());
    return {
      replicas,
      token,
      stop: async () => {
        await Promise.all(replicas.map((r) => r.stop()));
      },
    };
  } catch (error) {
    await Promise.all(replicas.map((r) => r.stop()));
    throw error;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const databaseUrl = process.env.DATABASE_URL ?? '';
  const ports = process.argv.slice(2).map(Number);
  const started = await startReplicas({
    databaseUrl,
    ports: ports.length > 0 ? ports : [4001, 4002],
    log: (line) => console.log(line),
  });
  const [a, b] = started.replicas;
  console.log(`\nToken: ${started.token}\nTry, in another shell:`);
  console.log(
    `  OPSGRAPH_TOKEN=${started.token} npm run client -w @opsgraph/example-multi-replica -- ${a?.url} ${b?.url}`,
  );
  const stop = async () => {
    await started.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
