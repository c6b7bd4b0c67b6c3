import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPostgresBinaries, type PostgresServer, startPostgresServer } from './postgres-server.js';

/** The uid a process runs as, from /proc (Linux) or ps. */
function uidOf(pid: number): number {
  const status = `/proc/${pid}/status`;
  if (existsSync(status)) {
    const line = readFileSync(status, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Uid:'));
    return Number(line!.split(/\s+/)[1]);
  }
  return Number(execFileSync('ps', ['-o', 'uid=', '-p', String(pid)], { encoding: 'utf8' }).trim());
}

const query = async (url: string, text: string) => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
};

// This suite starts its own servers: it needs PostgreSQL's binaries even when the run uses DATABASE_URL.
describe('startPostgresServer', () => {
  let server: PostgresServer;
  let postmasterPid: number;
  beforeAll(async () => {
    server = await startPostgresServer();
    postmasterPid = Number(readFileSync(path.join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  });
  afterAll(() => server?.stop());

  it('finds initdb and pg_ctl', () => {
    const bin = findPostgresBinaries();
    expect(existsSync(bin.initdb)).toBe(true);
    expect(existsSync(bin.pgCtl)).toBe(true);
    expect(path.basename(bin.pgCtl)).toBe('pg_ctl');
  });

  it('serves on 127.0.0.1 only, reachable with pg as the postgres superuser', async () => {
    const url = new URL(server.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBe(server.port);
    const [row] = await query(
      server.url,
      `select current_user as "user", inet_server_addr()::text as addr, inet_server_port() as port,
              current_setting('listen_addresses') as listen, current_setting('fsync') as fsync,
              (select rolsuper from pg_roles where rolname = current_user) as super`,
    );
    expect(row).toEqual({
      user: 'postgres',
      addr: '127.0.0.1/32',
      port: server.port,
      listen: '127.0.0.1',
      fsync: 'off',
      super: true,
    });
  });

  it('runs the server process as a non-root user', () => {
    expect(postmasterPid).toBeGreaterThan(0);
    const uid = uidOf(postmasterPid);
    expect(uid).not.toBe(0);
    if (process.getuid?.() === 0) {
      // As root, PostgreSQL runs as the postgres user (or nobody where there is none).
      const candidates = ['postgres', 'nobody'].flatMap((user) => {
        try {
          return [Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim())];
        } catch {
          return [];
        }
      });
      expect(candidates).toContain(uid);
    } else {
      expect(uid).toBe(process.getuid?.());
    }
  });

  it('gives a second server its own port and directory', async () => {
    const other = await startPostgresServer();
    try {
      expect(other.port).not.toBe(server.port);
      expect(other.dataDir).not.toBe(server.dataDir);
      expect(await query(other.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await other.stop();
    }
  });

  it('stop() shuts the server down and removes its directory; a second stop() is harmless', async () => {
    const other = await startPostgresServer();
    const pid = Number(readFileSync(path.join(other.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(await query(other.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    await other.stop();
    expect(existsSync(other.dataDir)).toBe(false);
    expect(existsSync(path.dirname(other.dataDir))).toBe(false);
    expect(
      existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/status`, 'utf8').includes('zombie'),
    ).toBe(false);
    await expect(query(other.url, 'select 1')).rejects.toThrow();
    await other.stop();
  });
});
