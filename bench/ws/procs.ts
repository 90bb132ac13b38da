// Child processes and scratch state shared by the benchmarks that start servers and a load
// generator (bench/ws, bench/e2e): a spawned Node process with its output split into lines, the
// generator's config file, a server's settled RSS, and removal of a run's Redis keys.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteKeysUnder } from '../../test/support/redis-keys.js';
import { rssBytes, type LoadConfig } from './common.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A process's RSS once allocation has settled: the lowest of five samples 500 ms apart, after 3 s (a GC may run between them). */
export async function settledRssBytes(pid: number): Promise<number> {
  await sleep(3000);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssBytes(pid));
    await sleep(500);
  }
  return Math.min(...samples);
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  lines: string[];
  waitLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  onLine(listener: (line: string) => void): void;
  exited: Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string;
  /** Load the script through tsx (default); false runs it as plain node would (bin/chat.js). */
  tsx?: boolean;
  /** How long stop() waits after SIGTERM before SIGKILL (default 5 s). */
  killAfterMs?: number;
}

/**
 * Node with the fd limit raised to the hard limit (10,000 sockets need more than the usual 1024).
 * `exec` keeps the pid the child's: it is the Node process whose /proc entries are read.
 */
export function startNode(script: string, args: string[], env: Record<string, string>, opts: StartOptions | string = {}): Proc {
  const o: StartOptions = typeof opts === 'string' ? { nodeArgs: opts } : opts;
  const cmd = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "${process.execPath}" ${o.nodeArgs ?? ''} ${o.tsx === false ? '' : '--import tsx'} "${script}" ${args.map((a) => `"${a}"`).join(' ')}`;
  const child = spawn('bash', ['-c', cmd], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const l of listeners) l(line);
    }
  });
  child.stderr!.on('data', (d: Buffer) => { lines.push(d.toString()); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid: child.pid!,
    lines,
    exited,
    onLine: (l) => { listeners.add(l); },
    waitLine(pred, timeoutMs = 60_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout waiting for output of ${script}:\n${lines.slice(-20).join('\n')}`)), timeoutMs);
        const l = (line: string): void => {
          if (!pred(line)) return;
          clearTimeout(timer);
          listeners.delete(l);
          resolve(line);
        };
        listeners.add(l);
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`${script} exited:\n${lines.slice(-20).join('\n')}`));
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(o.killAfterMs ?? 5000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

export function writeConfig(cfg: LoadConfig): string {
  const file = path.join(tmpdir(), `bench-ws-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

/** A run's keys go with it: the Redis is shared. */
export const deleteRedisPrefix = (redisUrl: string, prefix: string): Promise<number> => deleteKeysUnder(redisUrl, prefix);
