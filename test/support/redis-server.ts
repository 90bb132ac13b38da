// A redis-server of the test's own, for faults that would hurt every other test on the shared 6379
// (DEBUG SLEEP, CLIENT PAUSE, a restart): its own port from the OS, its own data directory, no
// persistence, removed afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { sleep } from './wait.js';

export interface OwnRedis {
  url: string;
  /**
   * The whole server stops answering for `ms` (DEBUG SLEEP: as during a fork on a large data set,
   * a slow disk, or a long script); resolves when it answers again. Connections stay open.
   */
  pause(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** Whether a Redis (server or sentinel) at url answers PING now: one short try, no retries. */
export async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-redis-'));
  // The port is free when asked; another process may take it before redis binds, so try again then.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc: ChildProcess = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local'],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const url = `redis://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && proc.exitCode === null; i++) {
      if ((up = await redisAnswers(url))) break;
      await sleep(50);
    }
    if (!up) {
      proc.kill('SIGKILL');
      await exited;
      continue;
    }
    return {
      url,
      async pause(ms) {
        const admin = new Redis(url, { maxRetriesPerRequest: 0, commandTimeout: ms + 10_000 });
        admin.on('error', () => undefined);
        try {
          await admin.call('DEBUG', 'SLEEP', String(ms / 1000));
        } finally {
          admin.disconnect();
        }
      },
      async stop() {
        if (proc.exitCode === null) proc.kill('SIGKILL');
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error('could not start a redis-server of our own');
}
