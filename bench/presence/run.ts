// Presence benchmark (node --import tsx bench/presence/run.ts): the cost of typing-and-presence's
// always-on part, on this machine with the real PostgreSQL and Redis.
//   idle  — 10,000 idle authenticated sockets on one gateway with presence through Redis, each
//           watching its chat partner: RSS delta per socket (target <= 8 KB), and Redis memory;
//   churn — 1,000 connects and 1,000 disconnects a second across two gateways (pair side A on one,
//           B on the other; each socket watches its partner and closes after BENCH_CHURN_HOLD_MS),
//           with presence through Redis and, for comparison, in process (no Redis): CPU of the
//           gateways and of Redis per churn (one connect + one disconnect) and Redis commands per churn.
// Prints a summary and writes test-artifacts/bench-presence-<time>.json.
// Env: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_PRESENCE_PAIRS (3000), BENCH_IDLE_SOCKETS (10000),
// BENCH_CHURN_RATE (1000), BENCH_CHURN_SECONDS (15), BENCH_CHURN_HOLD_MS (1000), BENCH_PARTS (idle,churn),
// BENCH_CHURN_BUSES (redis,memory), BENCH_WATCH (1).
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { cpuSeconds, rssBytes, type BenchPair } from '../ws/common.js';
import { ROOT, deleteRedisPrefix, settledRssBytes, sleep, startNode, type Proc } from '../ws/procs.js';
import { setupPairs } from '../ws/setup.js';
import { keysUnder } from '../../test/support/redis-keys.js';
import type { PresenceLoadConfig } from './load.js';

const DB = process.env['BENCH_DATABASE_URL'] ?? process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PAIRS = Number(process.env['BENCH_PRESENCE_PAIRS'] ?? 3000);
const IDLE = Number(process.env['BENCH_IDLE_SOCKETS'] ?? 10_000);
const RATE = Number(process.env['BENCH_CHURN_RATE'] ?? 1000);
const SECONDS = Number(process.env['BENCH_CHURN_SECONDS'] ?? 15);
const HOLD_MS = Number(process.env['BENCH_CHURN_HOLD_MS'] ?? 1000);
const PARTS = (process.env['BENCH_PARTS'] ?? 'idle,churn').split(',');
const BUSES = (process.env['BENCH_CHURN_BUSES'] ?? 'redis,memory').split(',') as Array<'redis' | 'memory'>;
const WATCH = process.env['BENCH_WATCH'] !== '0';
/** Short enough that a user's next connect (every pairs*2/rate seconds) is a new online transition. */
const GRACE_MS = 1000;

const log = (msg: string): void => { process.stdout.write(`[bench:presence ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };
const mib = (b: number): number => Math.round((b / 1024 / 1024) * 10) / 10;

function writeConfig(cfg: PresenceLoadConfig): string {
  const file = path.join(tmpdir(), `bench-presence-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

async function startGateways(n: number, schema: string, bus: 'redis' | 'memory', prefix: string): Promise<{ gws: Proc[]; urls: string[]; stop(): Promise<void> }> {
  const env = {
    DATABASE_URL: DB, DATABASE_SCHEMA: schema, EVENTSTORE_URL: '', LOG_LEVEL: 'info',
    REDIS_URL: bus === 'redis' ? REDIS : '', REDIS_KEY_PREFIX: prefix,
    WS_PORT: '0', WS_RATE_PER_SEC: '100000', WS_RATE_BURST: '100000', WS_MAX_PENDING_UPGRADES: '10000',
    PRESENCE_GRACE_MS: String(GRACE_MS),
  };
  const gws = Array.from({ length: n }, () => startNode('gateways/ws/run.ts', [], env));
  const ports = await Promise.all(gws.map(async (g) => (JSON.parse(await g.waitLine((l) => l.includes('ws gateway listening'))) as { port: number }).port));
  return { gws, urls: ports.map((p) => `ws://127.0.0.1:${p}`), stop: async () => { await Promise.all(gws.map((g) => g.stop())); } };
}

interface BusStats { onlineCalls: number; offlineCalls: number; commandsSent: number; queries: number; failures: number; accepted: number; sockets: number }
/** The gateways' presence counters and sockets, from the stats line each logs on SIGUSR2 (taken with the CPU, so they line up). */
async function busStats(gws: Proc[]): Promise<BusStats> {
  const total: BusStats = { onlineCalls: 0, offlineCalls: 0, commandsSent: 0, queries: 0, failures: 0, accepted: 0, sockets: 0 };
  for (const g of gws) {
    const before = g.lines.length;
    g.child.kill('SIGUSR2');
    const line = await g.waitLine((l) => g.lines.indexOf(l) >= before && l.includes('ws gateway stats'), 5000);
    const st = (JSON.parse(line) as { stats: { sockets: number; upgrades: { accepted: number }; ephemeral: { bus: Omit<BusStats, 'accepted' | 'sockets'> } } }).stats;
    const s: BusStats = { ...st.ephemeral.bus, accepted: st.upgrades.accepted, sockets: st.sockets };
    for (const k of Object.keys(total) as Array<keyof BusStats>) total[k] += s[k];
  }
  return total;
}

async function redisInfo(redis: Redis): Promise<{ cpu: number; processed: number; calls: number; memory: number }> {
  const info = `${await redis.info()}\n${await redis.info('commandstats')}`;
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  const calls = [...info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  return { cpu: field('used_cpu_sys') + field('used_cpu_user'), processed: field('total_commands_processed'), calls, memory: field('used_memory') };
}

/** What this run's keys take in Redis (MEMORY USAGE of each): the Redis is shared, so used_memory would count others too. */
async function keyBytes(redis: Redis, prefix: string): Promise<number> {
  let total = 0;
  for await (const keys of keysUnder(redis, prefix)) {
    const pipe = redis.pipeline();
    for (const k of keys) pipe.memory('USAGE', k);
    for (const [, n] of (await pipe.exec()) ?? []) total += Number(n ?? 0);
  }
  return total;
}

// ---- idle ----

async function idleRun(schema: string, pairs: BenchPair[], redis: Redis): Promise<Record<string, number>> {
  const prefix = `bench:presence:${randomUUID().slice(0, 8)}:`;
  const servers = await startGateways(1, schema, 'redis', prefix);
  try {
    const pid = servers.gws[0]!.pid;
    await sleep(2000);
    const base = rssBytes(pid);
    const gen = startNode('bench/presence/load.ts', [writeConfig({ part: 'idle', urls: servers.urls, pairs, watch: WATCH, idleSockets: IDLE, rate: 0, seconds: 0, holdMs: 0 })], {});
    let ready: { sockets: number; openMs: number; failed: number; answered: number; errors: number };
    try {
      ready = JSON.parse(await gen.waitLine((l) => l.includes('idle-ready'), 300_000)) as typeof ready;
    } catch (err) {
      await gen.stop();
      throw err;
    }
    const loaded = await settledRssBytes(pid);
    const redisBytes = await keyBytes(redis, prefix);
    const online = await redis.zcard(`${prefix}presence:nodes`);
    const stats = await busStats(servers.gws);
    gen.child.stdin!.end();
    await gen.stop();
    return {
      sockets: ready.sockets, failed: ready.failed, openMs: ready.openMs, baseMiB: mib(base), loadedMiB: mib(loaded),
      perSocketBytes: Math.round((loaded - base) / ready.sockets), redisBytesPerOnlineUser: Math.round(redisBytes / Math.min(ready.sockets, pairs.length * 2)),
      gatewaysInRedis: online, onlineCalls: stats.onlineCalls, watchesAnswered: ready.answered, errorFrames: ready.errors,
    };
  } finally {
    await servers.stop();
    await deleteRedisPrefix(REDIS, prefix);
  }
}

// ---- churn ----

async function churnRun(schema: string, pairs: BenchPair[], bus: 'redis' | 'memory', redis: Redis): Promise<Record<string, number>> {
  const prefix = `bench:presence:${randomUUID().slice(0, 8)}:`;
  const servers = await startGateways(2, schema, bus, prefix);
  try {
    await sleep(1000);
    const gen = startNode('bench/presence/load.ts', [writeConfig({ part: 'churn', urls: servers.urls, pairs, watch: WATCH, idleSockets: 0, rate: RATE, seconds: SECONDS, holdMs: HOLD_MS })], {});
    type Tick = { t: number; opened: number; closed: number; failed: number; presenceFrames: number; errors: number };
    let last: Tick | null = null;
    gen.onLine((l) => { if (l.includes('"tick"')) last = JSON.parse(l) as Tick; });
    await gen.waitLine((l) => l.includes('"tick"'), 30_000);
    // Warm-up: the first sockets have closed and their grace has run out, so both transitions flow.
    await sleep(HOLD_MS + GRACE_MS + 2000);
    const snap = async () => ({
      tick: last as Tick | null, at: Date.now(),
      cpu: servers.gws.reduce((a, g) => a + cpuSeconds(g.pid), 0), genCpu: cpuSeconds(gen.pid),
      redis: await redisInfo(redis), bus: await busStats(servers.gws),
    });
    const s0 = await snap();
    const measureMs = Math.max(3000, SECONDS * 1000 - (HOLD_MS + GRACE_MS + 2000) - 1000);
    await sleep(measureMs);
    const s1 = await snap();
    await gen.waitLine((l) => l.includes('churn-done'), SECONDS * 1000 + 30_000);
    if (process.env['BENCH_DEBUG']) log(gen.lines.slice(-5).join('\n'));
    if (!s0.tick || !s1.tick) throw new Error(`the generator reported nothing:\n${gen.lines.slice(-10).join('\n')}`);
    const seconds = (s1.at - s0.at) / 1000;
    // Counted by the gateways themselves, at the moments the CPU was read.
    const connects = s1.bus.accepted - s0.bus.accepted;
    const disconnects = connects - (s1.bus.sockets - s0.bus.sockets);
    const churns = (connects + disconnects) / 2;
    const per = (x: number): number => Math.round((x / churns) * 1000) / 1000;
    return {
      seconds: Math.round(seconds * 10) / 10,
      connectsPerSec: Math.round(connects / seconds), disconnectsPerSec: Math.round(disconnects / seconds),
      failed: s1.tick.failed, errorFrames: s1.tick.errors, presenceFramesPerSec: Math.round((s1.tick.presenceFrames - s0.tick.presenceFrames) / seconds),
      gatewayCpuPct: Math.round(((s1.cpu - s0.cpu) / seconds) * 1000) / 10,
      gatewayCpuMsPerChurn: per((s1.cpu - s0.cpu) * 1000),
      redisCpuPct: Math.round(((s1.redis.cpu - s0.redis.cpu) / seconds) * 1000) / 10,
      redisCpuMsPerChurn: per((s1.redis.cpu - s0.redis.cpu) * 1000),
      generatorCpuPct: Math.round(((s1.genCpu - s0.genCpu) / seconds) * 1000) / 10,
      onlineTransitionsPerChurn: per(s1.bus.onlineCalls - s0.bus.onlineCalls),
      offlineTransitionsPerChurn: per(s1.bus.offlineCalls - s0.bus.offlineCalls),
      presenceCommandsPerChurn: per(s1.bus.commandsSent - s0.bus.commandsSent),
      redisCommandsProcessedPerChurn: per(s1.redis.processed - s0.redis.processed),
      redisCallsInclScriptsPerChurn: per(s1.redis.calls - s0.redis.calls),
      busFailures: s1.bus.failures,
    };
  } finally {
    await servers.stop();
    await deleteRedisPrefix(REDIS, prefix);
  }
}

// ---- main ----

const schema = `bench_presence_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
log(`setup: ${PAIRS} pairs in schema ${schema}`);
const setup = await setupPairs(DB, schema, PAIRS);
const redis = new Redis(REDIS);
const results: Record<string, unknown> = { pairs: PAIRS, idleSockets: IDLE, rate: RATE, holdMs: HOLD_MS, graceMs: GRACE_MS, watch: WATCH, machine: { cpus: (await import('node:os')).cpus().length, node: process.version } };
try {
  if (PARTS.includes('idle')) {
    log(`idle: ${IDLE} authenticated sockets on one gateway, presence through Redis${WATCH ? ', each watching its partner' : ''}`);
    const r = await idleRun(schema, setup.pairs, redis);
    results['idle'] = r;
    log(`idle: RSS ${r['baseMiB']} -> ${r['loadedMiB']} MiB: ${r['perSocketBytes']} bytes per socket (target <= 8192); Redis ${r['redisBytesPerOnlineUser']} bytes per online user; ${r['failed']} failed`);
  }
  if (PARTS.includes('churn')) {
    for (const bus of BUSES) {
      log(`churn (${bus}): ${RATE} connects/s for ${SECONDS} s across two gateways, each socket held ${HOLD_MS} ms`);
      const r = await churnRun(schema, setup.pairs, bus, redis);
      results[`churn-${bus}`] = r;
      log(`churn (${bus}): ${JSON.stringify(r)}`);
    }
  }
} finally {
  redis.disconnect();
  await setup.close();
}
mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
const file = path.join(ROOT, 'test-artifacts', `bench-presence-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
log(`results: ${file}`);
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
