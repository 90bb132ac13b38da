// A Redis Sentinel group of the test's own: a primary, a replica and three sentinels, each on a port
// from the OS with its own temporary directory, no persistence. Stopped by the pids it started; the
// shared 6379 is never touched. Used by test/cluster/ (npm run test:cluster).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { redisAnswers } from './redis-server.js';
import { sleep, waitFor } from './wait.js';

export interface SentinelNode {
  host: string;
  port: number;
}

export interface RedisSentinelGroup {
  /** The name the sentinels monitor (REDIS_SENTINEL_NAME). */
  name: string;
  sentinels: SentinelNode[];
  /** host:port,host:port,... as REDIS_SENTINELS takes it. */
  sentinelsEnv: string;
  /** Port of the instance the sentinels name as primary right now. */
  primaryPort(): Promise<number>;
  /** SENTINEL FAILOVER; resolves once the sentinels name the other instance and it answers as master. */
  failover(): Promise<{ from: number; to: number }>;
  /** kill -9 of the current primary; resolves once the sentinels promoted the replica. */
  killPrimary(): Promise<{ from: number; to: number }>;
  /** A direct client to one instance (for checks that must bypass Sentinel). */
  direct(port: number): Redis;
  stop(): Promise<void>;
}

interface Proc {
  port: number;
  proc: ChildProcess;
  exited: Promise<void>;
}

const HOST = '127.0.0.1';

function quiet(redis: Redis): Redis {
  redis.on('error', () => undefined);
  return redis;
}

/** Starts one process on a fresh port; a port taken between asking and binding is retried with another. */
async function launch(args: (port: number) => Promise<string[]>): Promise<Proc> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawn('redis-server', await args(port), { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    for (let i = 0; i < 100 && proc.exitCode === null && proc.signalCode === null; i++) {
      if (await redisAnswers(`redis://${HOST}:${port}`)) return { port, proc, exited };
      await sleep(50);
    }
    proc.kill('SIGKILL');
    await exited;
  }
  throw new Error('could not start a redis process of our own');
}

async function kill(p: Proc): Promise<void> {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await p.exited;
}

export async function startRedisSentinel(opts: { name?: string; downAfterMs?: number } = {}): Promise<RedisSentinelGroup> {
  const name = opts.name ?? 'chat-primary';
  const downAfterMs = opts.downAfterMs ?? 1_000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-sentinel-'));
  const procs: Proc[] = [];
  const clients: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(procs.splice(0).map(kill));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // One directory for the group; the file names carry the port (a full sync writes an RDB even with --save '').
    const serverArgs = (port: number, extra: string[]): Promise<string[]> => Promise.resolve(
      ['--port', String(port), '--bind', HOST, '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--save', '', '--appendonly', 'no', ...extra]);
    const primary = await launch((port) => serverArgs(port, []));
    procs.push(primary);
    const replica = await launch((port) => serverArgs(port, ['--replicaof', HOST, String(primary.port)]));
    procs.push(replica);
    const data = new Map<number, Proc>([[primary.port, primary], [replica.port, replica]]);
    const replicaAdmin = quiet(new Redis({ host: HOST, port: replica.port, maxRetriesPerRequest: 0 }));
    clients.push(replicaAdmin);
    await waitFor('replica in sync with the primary',
      async () => /master_link_status:up/.test(await replicaAdmin.info('replication').catch(() => '')), 20_000);

    const sentinels: SentinelNode[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await launch(async (port) => {
        // Sentinel rewrites its file (it records the replicas and the other sentinels): one file each.
        const conf = path.join(dir, `sentinel-${port}.conf`);
        await writeFile(conf, [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${name} ${HOST} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'));
        return [conf, '--sentinel'];
      });
      procs.push(p);
      sentinels.push({ host: HOST, port: p.port });
    }
    const admin = quiet(new Redis({ host: HOST, port: sentinels[0]!.port, maxRetriesPerRequest: 1 }));
    clients.push(admin);
    const primaryPort = async (): Promise<number> => {
      const reply = (await admin.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
      if (!reply) throw new Error(`sentinel does not know ${name}`);
      return Number(reply[1]);
    };
    const isMaster = async (port: number): Promise<boolean> => {
      const c = quiet(new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }));
      try {
        await c.connect();
        return /role:master/.test(await c.info('replication'));
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    };
    // Every sentinel must know the replica and the other sentinels before a failover can be agreed on.
    await waitFor('sentinels know the replica and each other', async () => {
      for (const s of sentinels) {
        const c = quiet(new Redis({ host: HOST, port: s.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }));
        try {
          await c.connect();
          const m = (await c.call('SENTINEL', 'master', name)) as string[];
          const field = (k: string) => Number(m[m.indexOf(k) + 1]);
          if (field('num-slaves') < 1 || field('num-other-sentinels') < 2) return false;
        } catch {
          return false;
        } finally {
          c.disconnect();
        }
      }
      return true;
    }, 30_000);

    const promotedAway = async (from: number): Promise<{ from: number; to: number }> => {
      let to = from;
      await waitFor('sentinels promoted the replica', async () => {
        to = await primaryPort().catch(() => from);
        return to !== from && (await isMaster(to));
      }, 60_000);
      return { from, to };
    };
    return {
      name,
      sentinels,
      sentinelsEnv: sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      primaryPort,
      async failover() {
        const from = await primaryPort();
        // A replica must have reported to the sentinel before it may be chosen; retry while it has not.
        await waitFor('sentinel accepted the failover', async () => {
          try {
            await admin.call('SENTINEL', 'FAILOVER', name);
            return true;
          } catch {
            return false;
          }
        }, 20_000);
        return promotedAway(from);
      },
      async killPrimary() {
        const from = await primaryPort();
        const victim = data.get(from);
        if (!victim) throw new Error(`no process of ours on port ${from}`);
        await kill(victim);
        return promotedAway(from);
      },
      direct(port) {
        const c = quiet(new Redis({ host: HOST, port, maxRetriesPerRequest: 1 }));
        clients.push(c);
        return c;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
