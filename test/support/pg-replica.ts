// A PostgreSQL primary and a streaming replica of the test's own: initdb into a temporary directory,
// ports from the OS, pg_basebackup -R -X stream for the replica, started with pg_ctl as the postgres
// user when we are root, stopped by the pids in postmaster.pid. The shared server on 5432 is not
// used: its pg_hba.conf has no `replication` line, so it cannot be cloned.
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';
import { sleep, waitFor } from './wait.js';

const run = promisify(execFile);
const BIN = process.env['PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
const HOST = '127.0.0.1';

export interface PgPair {
  primaryUrl: string;
  replicaUrl: string;
  /** Holds WAL replay on the replica: it stays readable but falls behind (pg_wal_replay_pause). */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  stopReplica(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs a PostgreSQL binary as the postgres user when we are root (PostgreSQL refuses to run as root). */
async function asPostgres(cmd: string, args: string[]): Promise<void> {
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  else await run(cmd, args);
}

async function postmasterPid(dataDir: string): Promise<number | null> {
  try {
    return Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return null;
  }
}

async function stopByPid(dataDir: string): Promise<void> {
  const pid = await postmasterPid(dataDir);
  if (!pid) return;
  try {
    process.kill(pid, 'SIGQUIT'); // immediate shutdown: nothing here needs a clean checkpoint
  } catch {
    return;
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(25);
  }
  process.kill(pid, 'SIGKILL');
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Starts a server on a fresh port (a port taken meanwhile is retried with another). */
async function start(dataDir: string, socketDir: string, extra: string): Promise<number> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      await asPostgres(path.join(BIN, 'pg_ctl'), ['-D', dataDir, '-w', '-t', '30', '-l', `${dataDir}.log`,
        '-o', `-p ${port} -k ${socketDir} -c listen_addresses=${HOST} ${extra}`, 'start']);
      return port;
    } catch {
      await stopByPid(dataDir);
    }
  }
  throw new Error(`could not start PostgreSQL in ${dataDir}`);
}

export async function startPgPair(): Promise<PgPair> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-pg-pair-'));
  if (process.getuid?.() === 0) await run('chown', ['postgres', dir]);
  else await chmod(dir, 0o700);
  const primaryDir = path.join(dir, 'primary');
  const replicaDir = path.join(dir, 'replica');
  const stop = async (): Promise<void> => {
    await stopByPid(replicaDir);
    await stopByPid(primaryDir);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await asPostgres(path.join(BIN, 'initdb'), ['-D', primaryDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await appendFile(path.join(primaryDir, 'pg_hba.conf'), `host replication all ${HOST}/32 trust\n`);
    const primaryPort = await start(primaryDir, dir, '-c wal_level=replica -c max_wal_senders=5 -c fsync=off');
    const primaryUrl = `postgres://postgres@${HOST}:${primaryPort}/postgres`;
    await asPostgres('pg_basebackup', ['-h', HOST, '-p', String(primaryPort), '-U', 'postgres', '-D', replicaDir, '-R', '-X', 'stream']);
    const replicaPort = await start(replicaDir, dir, '-c hot_standby=on');
    const replicaUrl = `postgres://postgres@${HOST}:${replicaPort}/postgres`;
    await waitFor('the replica streaming from the primary', async () => {
      const r = await query(primaryUrl, 'select count(*)::int as n from pg_stat_replication').catch(() => null);
      return (r?.rows[0] as { n: number } | undefined)?.n === 1;
    }, 30_000);
    return {
      primaryUrl,
      replicaUrl,
      async pauseReplay() {
        await query(replicaUrl, 'select pg_wal_replay_pause()');
      },
      async resumeReplay() {
        await query(replicaUrl, 'select pg_wal_replay_resume()');
      },
      stopReplica: () => stopByPid(replicaDir),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
