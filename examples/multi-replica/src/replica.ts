import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `opsgraph serve` from this repository's sources (set OPSGRAPH_CLI to use another). */
const cli =
  process.env.OPSGRAPH_CLI ?? fileURLToPath(new URL('../../../packages/server/src/cli.ts', import.meta.url));

export interface ReplicaOptions {
  /** postgres://…: every replica uses the same database. */
  readonly databaseUrl: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  /** `serve --migrate`: apply pending migrations first (one replica, before the others start). */
  readonly migrate?: boolean;
  /** Prefixed to each line the replica prints; default: none (its output is dropped). */
  readonly log?: (line: string) => void;
}

export interface Replica {
  /** http://host:port/graphql */
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM: closes its sockets and database pool, then exits. */
  stop(): Promise<void>;
  /** SIGKILL: dies at once, as a crashed machine would. */
  kill(): Promise<void>;
}

/**
 * Starts one `opsgraph serve` process and resolves once it listens. Run as `node --import tsx` (not
 * `npx tsx`), so that killing it kills the server itself, not a wrapper.
 */
export function startReplica(options: ReplicaOptions): Promise<Replica> {
  const args = ['--conditions=@opsgraph/source', '--import', 'tsx', cli, 'serve'];
  if (options.migrate) args.push('--migrate');
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(options.port),
      HOST: options.host ?? '127.0.0.1',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the replica did not start in 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line) options.log?.(line);
      if (output.length < 20_000) output += text;
      const url = /GraphQL:\s+(\S+)/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.on('data', (more: Buffer) => {
          for (const line of more.toString().split('\n')) if (line) options.log?.(line);
        });
        resolve({ url, child, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the replica exited (${signal ?? code}) before it listened:\n${output}`));
    });
  });
}
