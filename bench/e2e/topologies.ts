// The three systems bench/e2e compares, each started as separate processes on this machine:
// ours exactly as the README's scale-out commands start it (`node bin/chat.js start --role …`),
// the seed's own architecture (Socket.IO server + task worker), and raw uWebSockets.js pub/sub.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNode, type Proc } from '../ws/procs.js';

export type TopologyName = 'ours' | 'seed' | 'raw';

export interface Topology {
  urls: string[];
  /** Every server-side Node process, by role (one name per pid). */
  procs: { role: string; proc: Proc }[];
  stop(): Promise<void>;
}

export interface TopologyOptions {
  db: string;
  schema: string;
  redisUrl: string;
  redisPrefix: string;
  amqpUrl: string;
  amqpPrefix: string;
  gateways: number;
  /** Node flags for every server process (e.g. --cpu-prof --cpu-prof-dir=…; Node 20 refuses those in NODE_OPTIONS). */
  nodeArgs?: string;
}

const jsonLine = (line: string): Record<string, unknown> | null => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
};

async function stopAll(procs: { proc: Proc }[]): Promise<void> {
  // Reverse of the start order: the gateways go first, the projector and relay drain after them.
  for (const p of [...procs].reverse()) await p.proc.stop();
}

/** Ours: api, relay, projector (with the Redis view's projection) and N gateways, as the README starts them. */
export async function startOurs(o: TopologyOptions): Promise<Topology> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-e2e-data-'));
  const env: Record<string, string> = {
    DATABASE_URL: o.db, DATABASE_SCHEMA: o.schema, REDIS_URL: o.redisUrl, REDIS_KEY_PREFIX: o.redisPrefix,
    AMQP_URL: o.amqpUrl, AMQP_PREFIX: o.amqpPrefix, EVENTSTORE_URL: '', LOG_LEVEL: 'info',
    DATA_DIR: dataDir, HTTP_PORT: '0', WS_PORT: '0',
    // As bench:ws: the per-socket limits are for people typing, not for a generator that sends for thousands.
    WS_RATE_PER_SEC: '100000', WS_RATE_BURST: '100000', WS_MAX_INFLIGHT_SENDS: '1000',
  };
  const start = (role: string): { role: string; proc: Proc } => ({ role, proc: startNode('bin/chat.js', ['start', '--role', role], env, { tsx: false, killAfterMs: 20_000, nodeArgs: o.nodeArgs ?? '' }) });
  const procs: { role: string; proc: Proc }[] = [];
  try {
    // The api first: its start migrates the read models, which the others then find done.
    procs.push(start('api'));
    await procs[0]!.proc.waitLine((l) => l.includes('"chat service started"'), 120_000);
    const rest = [start('relay'), start('projector'), ...Array.from({ length: o.gateways }, () => start('gateway'))];
    procs.push(...rest);
    await Promise.all(rest.filter((p) => p.role !== 'gateway').map((p) => p.proc.waitLine((l) => l.includes('chat service started'), 120_000)));
    const ports = await Promise.all(rest.filter((p) => p.role === 'gateway').map(async (p) => {
      const line = await p.proc.waitLine((l) => l.includes('websocket gateway listening'), 120_000);
      return Number(jsonLine(line)?.['port']);
    }));
    const stop = async (): Promise<void> => {
      await stopAll(procs);
      rmSync(dataDir, { recursive: true, force: true });
    };
    return { urls: ports.map((port) => `ws://127.0.0.1:${port}`), procs, stop };
  } catch (err) {
    await stopAll(procs);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The seed's architecture: the Socket.IO server and the worker that writes PostgreSQL. */
export async function startSeed(o: TopologyOptions, queue: string): Promise<Topology> {
  const env: Record<string, string> = {
    DATABASE_URL: o.db, DATABASE_SCHEMA: o.schema, REDIS_URL: o.redisUrl, REDIS_KEY_PREFIX: o.redisPrefix,
    AMQP_URL: o.amqpUrl, SEED_QUEUE: queue, PORT: '0',
  };
  const procs: { role: string; proc: Proc }[] = [];
  try {
    procs.push({ role: 'seed-worker', proc: startNode('bench/baselines/seed-worker.ts', [], env, o.nodeArgs ?? '') });
    await procs[0]!.proc.waitLine((l) => l.includes('"consuming"'));
    procs.push({ role: 'seed-server', proc: startNode('bench/baselines/seed-server.ts', [], env, o.nodeArgs ?? '') });
    const port = Number(jsonLine(await procs[1]!.proc.waitLine((l) => l.includes('"listening"')))?.['port']);
    // The server first, then the worker: it drains what is queued.
    return { urls: [`http://127.0.0.1:${port}`], procs, stop: async () => { await procs[1]!.proc.stop(); await procs[0]!.proc.stop(); } };
  } catch (err) {
    await stopAll(procs);
    throw err;
  }
}

export async function startRaw(o: TopologyOptions): Promise<Topology> {
  const proc = startNode('bench/baselines/raw-uws-server.ts', [], { PORT: '0' }, o.nodeArgs ?? '');
  const port = Number(jsonLine(await proc.waitLine((l) => l.includes('"listening"')))?.['port']);
  return { urls: [`ws://127.0.0.1:${port}`], procs: [{ role: 'raw', proc }], stop: () => proc.stop() };
}
