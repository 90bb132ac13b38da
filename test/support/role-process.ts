// One role of the service as its own process, started as the README's scale-out commands start it:
// `node bin/chat.js start --role <role>` with the settings in the environment. Used by
// test/cluster/topology-faults.test.ts. The child is node itself (no shell in between), so its pid is
// the one kill -9 hits; stop() sends SIGTERM, then SIGKILL; a test process that exits without its
// teardown kills what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './wait.js';

// TOPOLOGY_CHAT_ROOT: run the service from another checkout (e.g. a clean export while this tree is mid-edit).
const ROOT = process.env['TOPOLOGY_CHAT_ROOT'] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Settings the test process may have inherited (the shared services): a role must see only ours.
const INHERITED = /^(DATABASE_|REDIS_|AMQP_|EVENTSTORE_|HTTP_|WS_|PROJECTOR_|DATA_|PRESENCE_|LOGIN_|ARGON2_|SESSION_|COMMAND_)/;

export interface RoleProcess {
  role: string;
  name: string;
  pid: number;
  readonly alive: boolean;
  /** The last lines of its stdout and stderr (for diagnostics). */
  tail(n?: number): string;
  /** Resolves with the first line (seen so far or later) that matches; rejects if the process exits first. */
  waitLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** From now on, counts the lines that match; returns the count so far. */
  counter(pred: (line: string) => boolean): () => number;
  /** kill -9: a crash, no shutdown. Resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after killAfterMs. */
  stop(killAfterMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startRole(role: string, name: string, env: Record<string, string>): RoleProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !INHERITED.test(k)));
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/chat.js'), 'start', '--role', role], {
    cwd: ROOT,
    env: { ...base, EVENTSTORE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    live.delete(child);
    resolve();
  }));
  const splitter = (): ((d: Buffer) => void) => {
    let buf = '';
    return (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (lines.length > 400) lines.splice(0, lines.length - 300);
        for (const l of listeners) l(line);
      }
    };
  };
  child.stdout!.on('data', splitter());
  child.stderr!.on('data', splitter());
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    role,
    name,
    pid: child.pid!,
    get alive() {
      return running();
    },
    tail: (n = 30) => lines.slice(-n).map((l) => `  ${name}| ${l.slice(0, 500)}`).join('\n'),
    waitLine(pred, timeoutMs = 120_000) {
      const found = lines.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(onLine);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no expected line within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
        }, timeoutMs);
        const onLine = (line: string): void => {
          if (!pred(line)) return;
          done();
          resolve(line);
        };
        listeners.add(onLine);
        void exited.then(() => {
          done();
          reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${lines.slice(-20).join('\n')}`));
        });
      });
    },
    counter(pred) {
      let n = 0;
      listeners.add((line) => void (pred(line) && (n += 1)));
      return () => n;
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop(killAfterMs = 10_000) {
      if (!running()) return;
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(killAfterMs).then(() => child.kill('SIGKILL'))]);
      await exited;
    },
  };
}
