import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway PostgreSQL server, started from the machine's own binaries for tests. */
export interface PostgresServer {
  /** Superuser URL of the server's `postgres` database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
}

const HOW_TO_INSTALL =
  'Install PostgreSQL (Debian: `apt-get install postgresql`), put its bin directory on PATH or in PG_BIN, ' +
  'or point DATABASE_URL at a server you run.';

/** Finds initdb and pg_ctl: PG_BIN first, then PATH, then Debian's versioned directories (newest first). */
export function findPostgresBinaries(): PostgresBinaries {
  const dirs: string[] = [];
  if (process.env.PG_BIN) dirs.push(process.env.PG_BIN);
  dirs.push(...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean));
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => path.join(debian, v, 'bin')));
  }
  for (const dir of dirs) {
    const initdb = path.join(dir, 'initdb');
    const pgCtl = path.join(dir, 'pg_ctl');
    if (existsSync(initdb) && existsSync(pgCtl)) return { initdb, pgCtl };
  }
  // pg_ctl is sometimes only in the versioned directory while initdb is linked onto PATH.
  throw new Error(`PostgreSQL's initdb and pg_ctl were not found. ${HOW_TO_INSTALL}`);
}

/** A port the OS says is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/** PostgreSQL refuses to run as root; when we are root, its processes run as this user. */
function runAsUser(): { user: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      return { user, uid, gid };
    } catch {
      // try the next one
    }
  }
  throw new Error(
    'Running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as.',
  );
}

/**
 * Starts a PostgreSQL server in a new temp directory on a free port, tuned for tests (no fsync).
 * Trust authentication on 127.0.0.1 only; the unix socket stays inside the data directory.
 */
export async function startPostgresServer(
  options: { log?: (line: string) => void } = {},
): Promise<PostgresServer> {
  const bin = findPostgresBinaries();
  const asUser = runAsUser();
  const root = await mkdtemp(path.join(tmpdir(), 'opsgraph-pg-'));
  const dataDir = path.join(root, 'data');
  if (asUser) {
    await chmod(root, 0o755);
    await chown(root, asUser.uid, asUser.gid);
  }
  const exec = (file: string, args: string[]) =>
    asUser ? run('runuser', ['-u', asUser.user, '--', file, ...args]) : run(file, args);

  const fail = async (step: string, error: unknown): Promise<never> => {
    const log = await readFile(path.join(root, 'server.log'), 'utf8').catch(() => '');
    await rm(root, { recursive: true, force: true });
    const detail = (error as { stderr?: string }).stderr || (error as Error).message;
    throw new Error(`Could not ${step} a test PostgreSQL server: ${detail}\n${log}\n${HOW_TO_INSTALL}`);
  };

  try {
    await exec(bin.initdb, [
      '-D',
      dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  } catch (error) {
    return fail('initialise', error);
  }

  // Another process may take the free port between our check and the server's bind: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const settings = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${root}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=300',
    ].join(' ');
    try {
      await exec(bin.pgCtl, [
        '-D',
        dataDir,
        '-l',
        path.join(root, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        settings,
        'start',
      ]);
    } catch (error) {
      if (attempt < 3) continue;
      return fail('start', error);
    }
    options.log?.(`PostgreSQL test server on 127.0.0.1:${port} (${dataDir})`);
    let stopped = false;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dataDir,
      async stop() {
        if (stopped) return;
        stopped = true;
        await exec(bin.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
        await rm(root, { recursive: true, force: true });
      },
    };
  }
}
