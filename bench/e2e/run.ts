// End-to-end benchmark (npm run bench:e2e): the whole production topology, started as the README's
// scale-out commands start it (api, relay, projector with the Redis view, two gateways, on
// PostgreSQL, Redis and RabbitMQ), against the seed's own architecture built conventionally in Node
// (Socket.IO + Redis list + RabbitMQ task + worker writing PostgreSQL) and raw uWebSockets.js
// pub/sub. The load generator, pairs, offered-rate steps and p99 <= 50 ms limit are bench:ws's;
// on top, a stage counts only if the read side keeps up (lag p99 <= 1 s), and CPU is counted for
// the servers and the services per delivered message. `--profile` instead runs ours at one moderate
// rate with --cpu-prof on every process and writes the per-step breakdown (bench/e2e/profile.ts).
//
// Env: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_AMQP_URL, BENCH_PAIRS (2000), BENCH_MEASURE_MS (3000),
// BENCH_MODES (raw,seed,ours), BENCH_RATES (comma-separated; default bench:ws's steps up to 10,000/s),
// BENCH_GATEWAYS (2), BENCH_LAG_SAMPLE_MS (1000), BENCH_PROFILE_RATE (1000), BENCH_PROFILE_SECONDS (20),
// BENCH_PROFILE_INTERVAL_US (10000), BENCH_KEEP_PROFILES (1: keep the .cpuprofile directory).
//
// Parts: topologies.ts (starting each system), read-side.ts (what each read side shows), measures.ts
// (lag and CPU per message), report.ts (the tables), cpu.ts and profile.ts.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { deleteTopology, topologyNames } from '../../infra/broker/topology.js';
import { DEFAULT_PAIRS, DEFAULT_RATES, P99_LIMIT_MS, cpuSeconds, type BenchPair, type LoadConfig, type StageReport } from '../ws/common.js';
import { ROOT, deleteRedisPrefix, sleep, startNode, writeConfig, type Proc } from '../ws/procs.js';
import { setupPairs } from '../ws/setup.js';
import { servicePids, snapshot, type ServicePids } from './cpu.js';
import { cpuOf, lagMs, lagStats, type AckPoint, type CpuSnap, type ModeResult, type Stage } from './measures.js';
import { analyzeProfiles, type ProfileMeta } from './profile.js';
import { oursReadSide, seedReadSide, type Consistency, type ReadSide, type Visible } from './read-side.js';
import { fmt, stageTable, table } from './report.js';
import { startOurs, startRaw, startSeed, type Topology, type TopologyName } from './topologies.js';

const DB = process.env['BENCH_DATABASE_URL'] ?? process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const AMQP = process.env['BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const PG_PORT = Number(new URL(DB).port || 5432);
const PAIRS = Number(process.env['BENCH_PAIRS'] ?? DEFAULT_PAIRS);
const PROFILE = process.argv.includes('--profile');
const MEASURE_MS = PROFILE ? Number(process.env['BENCH_PROFILE_SECONDS'] ?? 20) * 1000 : Number(process.env['BENCH_MEASURE_MS'] ?? 3000);
const MODES = PROFILE ? ['ours' as const] : (process.env['BENCH_MODES'] ?? 'raw,seed,ours').split(',') as TopologyName[];
/** bench:ws's steps, cut at 10,000/s by default so a full run stays near ten minutes on two cores. */
const RATES = PROFILE
  ? [Number(process.env['BENCH_PROFILE_RATE'] ?? 1000)]
  : process.env['BENCH_RATES'] ? process.env['BENCH_RATES'].split(',').map(Number) : DEFAULT_RATES.filter((r) => r <= 10_000);
/**
 * Sampling interval of --cpu-prof, µs. Coarser than Node's 1 ms default: each sample is a signal to
 * the process, and at 1 ms the gateways' sockets stalled (clients never got their resume answered).
 */
const PROFILE_INTERVAL_US = Number(process.env['BENCH_PROFILE_INTERVAL_US'] ?? 10_000);
const GATEWAYS = Number(process.env['BENCH_GATEWAYS'] ?? 2);
const SAMPLE_MS = Number(process.env['BENCH_LAG_SAMPLE_MS'] ?? 1000);
/** A stage counts only if the read side keeps up: lag p99 at most this. */
const LAG_LIMIT_MS = 1000;
/** How long to wait for the read side after a stage, and after the load, before calling it behind. */
const CATCH_UP_TIMEOUT_MS = 60_000;

const log = (msg: string): void => {
  process.stdout.write(`[bench:e2e ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

// ---- one topology under load ----

interface Run {
  schema: string;
  redisPrefix: (mode: TopologyName) => string;
  amqpPrefix: string;
  seedQueue: string;
  pairs: BenchPair[];
  db: pg.Client;
  acct: pg.Client;
  redis: Redis;
  store: PostgresEventStore;
  profileDir: string | null;
}

let current: { topology: Topology | null; gen: Proc | null } = { topology: null, gen: null };

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return true;
    await sleep(100);
  }
  log(`WARNING: ${what} not reached within ${timeoutMs / 1000} s`);
  return false;
}

/** Ours: the projector has applied the setup's events to the messages table's projection and the Redis view. */
async function waitOursReady(run: Run): Promise<void> {
  const head = await run.store.headPosition();
  const prefix = run.redisPrefix('ours');
  await waitFor('read models caught up with the setup', async () => {
    const { rows } = await run.db.query<{ position: string }>(`SELECT position::text FROM "${run.schema}".projection_checkpoints WHERE projection = 'messages'`).catch(() => ({ rows: [] as { position: string }[] }));
    const [state, checkpoint] = await run.redis.mget(`${prefix}view:state`, `${prefix}view:checkpoint`);
    return rows.length > 0 && BigInt(rows[0]!.position) >= head && state === 'ready' && BigInt(checkpoint ?? '0') >= head;
  }, 120_000);
}

async function runMode(run: Run, mode: TopologyName): Promise<ModeResult> {
  const opts = {
    db: DB, schema: run.schema, redisUrl: REDIS, redisPrefix: run.redisPrefix(mode), amqpUrl: AMQP, amqpPrefix: run.amqpPrefix, gateways: GATEWAYS,
    ...(run.profileDir ? { nodeArgs: `--cpu-prof --cpu-prof-interval=${PROFILE_INTERVAL_US} --cpu-prof-dir=${run.profileDir}` } : {}),
  };
  const topology = mode === 'ours' ? await startOurs(opts) : mode === 'seed' ? await startSeed(opts, run.seedQueue) : await startRaw(opts);
  current.topology = topology;
  const chatIds = run.pairs.map((p) => p.chatId);
  let readSide: ReadSide | null = null;
  if (mode === 'ours') {
    await waitOursReady(run);
    const ours = oursReadSide(run.db, run.redis, run.schema, run.redisPrefix(mode), chatIds);
    await ours.baseline();
    readSide = ours;
  } else if (mode === 'seed') {
    readSide = seedReadSide(run.db, run.redis, run.schema, run.redisPrefix(mode), chatIds);
  }
  const serverPids = topology.procs.map((p) => p.proc.pid);
  log(`${mode}: started ${topology.procs.map((p) => `${p.role} (pid ${p.proc.pid})`).join(', ')}`);

  const ackedFile = path.join(tmpdir(), `bench-e2e-acked-${randomUUID()}.json`);
  const cfg: LoadConfig = {
    mode: mode === 'seed' ? 'seed' : mode, urls: topology.urls, pairs: run.pairs, rates: RATES, warmupMs: 1000, measureMs: MEASURE_MS, drainMs: 2000,
    serverPids, p99LimitMs: P99_LIMIT_MS, bodyBytes: 100, ackReportMs: 200, ackedFile, stopOnStdin: true,
  };
  const cfgFile = writeConfig(cfg);
  const gen = startNode('bench/ws/load.ts', [cfgFile], {});
  current.gen = gen;
  const series: AckPoint[] = [{ t: Date.now(), n: 0 }];
  const stages: Stage[] = [];
  let stageStart = 0;
  let samples: { t: number; pg: { ms: number; messages: number }; redis: { ms: number; messages: number } | null }[] = [];
  let servicesAtStart: ServicePids = { postgres: [], redis: [], rabbitmq: [] };
  const snap = (services: ServicePids): CpuSnap => ({
    servers: snapshot(serverPids), gen: cpuSeconds(gen.pid), t: performance.now(),
    services: { postgres: snapshot(services.postgres), redis: snapshot(services.redis), rabbitmq: snapshot(services.rabbitmq) },
  });
  let cpuStart: CpuSnap | null = null;
  let cpuEnd: Promise<CpuSnap> | null = null;
  let measureEndT = 0;
  /** The measuring window on the profiler's clock (CLOCK_MONOTONIC µs), for bench/e2e/profile.ts. */
  const windowUs: [number, number] = [0, 0];
  /** Stages whose acknowledged messages the read side has not shown yet. */
  const catchUps: { stage: Stage; target: number; sendEnd: number }[] = [];
  let behindInARow = 0;
  let stopped = false;

  gen.onLine((line) => {
    if (!line.startsWith('{')) return;
    const ev = JSON.parse(line) as { event: string; t?: number; n?: number };
    if (ev.event === 'acks') series.push({ t: ev.t!, n: ev.n! });
    else if (ev.event === 'connected') log(`${mode}: ${line}`);
    else if (ev.event === 'closed-before-ready') log(`${mode}: WARNING: a gateway closed a socket before answering its resume: ${line}`);
    else if (ev.event === 'warmed-up') log(`${mode.padEnd(4)} warm-up (not measured): ${line}`);
    else if (ev.event === 'server-error') log(`${mode}: ${line}`);
    else if (ev.event === 'stage-start') {
      stageStart = ev.t!;
      samples = [];
      void servicePids(run.acct, serverPids, PG_PORT).then((s) => { servicesAtStart = s; });
    } else if (ev.event === 'measure-start') {
      cpuStart = snap(servicesAtStart);
      windowUs[0] = Number(process.hrtime.bigint() / 1000n);
    } else if (ev.event === 'measure-end') {
      measureEndT = ev.t!;
      windowUs[1] = Number(process.hrtime.bigint() / 1000n);
      const end = snap(servicesAtStart);
      // Backends opened during the window count whole: they did their work in it.
      cpuEnd = servicePids(run.acct, serverPids, PG_PORT).then((now) => {
        for (const k of ['postgres', 'redis', 'rabbitmq'] as const) for (const pid of now[k]) if (!end.services[k].has(pid)) end.services[k].set(pid, cpuSeconds(pid));
        return end;
      });
    } else if (ev.event === 'stage') {
      const report = JSON.parse(line) as StageReport;
      const own = samples.filter((s) => s.t >= stageStart);
      const pgLag = readSide ? lagStats(own.map((s) => s.pg)) : null;
      const redisSamples = own.flatMap((s) => (s.redis ? [s.redis] : []));
      const redisLag = redisSamples.length > 0 ? lagStats(redisSamples) : null;
      const readSideOk = !readSide || ((pgLag?.p99Ms ?? 0) <= LAG_LIMIT_MS && (redisLag?.p99Ms ?? 0) <= LAG_LIMIT_MS);
      const stage: Stage = { report, pgLag, redisLag, pgCatchUpMs: null, redisCatchUpMs: null, cpu: null, readSideOk, ok: report.ok && readSideOk };
      stages.push(stage);
      const startSnap = cpuStart;
      void cpuEnd?.then((end) => { if (startSnap) stage.cpu = cpuOf(startSnap, end, report.deliveredPerSec); });
      if (readSide) catchUps.push({ stage, target: series.at(-1)!.n, sendEnd: measureEndT });
      log(`${mode.padEnd(4)} offered ${String(report.offered).padStart(6)}/s  delivered ${String(report.deliveredPerSec).padStart(6)}/s  p99 ${report.p99} ms  lost ${report.lost}  dup ${report.duplicates}  late ${report.late}`
        + (readSide ? `  lag p99/max: pg ${pgLag?.p99Ms ?? '-'}/${pgLag?.maxMs ?? '-'} ms, redis ${redisLag ? `${redisLag.p99Ms}/${redisLag.maxMs} ms` : 'before ack'}` : '')
        + `${report.ok ? '' : '  <- over the latency limit'}${readSideOk ? '' : '  <- read side behind'}${report.retry ? ' (second try)' : ''}`);
      behindInARow = readSideOk ? 0 : behindInARow + 1;
      // The generator knows only latency; a read side that stays behind also ends the stepping.
      if (behindInARow >= 2 && !stopped) {
        stopped = true;
        log(`${mode}: the read side fell behind twice in a row; stopping after this stage`);
        gen.child.stdin!.write('stop\n');
      }
    }
  });

  // The sampler: every SAMPLE_MS, faster while a stage's catch-up is being timed.
  let running = true;
  const sampler = (async () => {
    if (!readSide) return;
    let nextRegular = Date.now();
    while (running) {
      const t0 = Date.now();
      let v: Visible;
      try {
        v = await readSide.visible();
      } catch (err) {
        log(`sampler: ${(err as Error).message}`);
        await sleep(SAMPLE_MS);
        continue;
      }
      const t = Date.now();
      if (t0 >= nextRegular && series.length > 1) {
        nextRegular = t0 + SAMPLE_MS;
        samples.push({ t, pg: lagMs(series, t, v.pg), redis: v.redis === null ? null : lagMs(series, t, v.redis) });
      }
      for (const c of [...catchUps]) {
        if (c.stage.pgCatchUpMs === null && v.pg >= c.target) c.stage.pgCatchUpMs = Math.max(0, t - c.sendEnd);
        if (c.stage.redisCatchUpMs === null && v.redis !== null && v.redis >= c.target) c.stage.redisCatchUpMs = Math.max(0, t - c.sendEnd);
        if (c.stage.pgCatchUpMs !== null && (v.redis === null || c.stage.redisCatchUpMs !== null)) catchUps.splice(catchUps.indexOf(c), 1);
        else if (t - c.sendEnd > CATCH_UP_TIMEOUT_MS) catchUps.splice(catchUps.indexOf(c), 1);
      }
      await sleep(Math.max(0, (catchUps.length > 0 ? 100 : nextRegular - Date.now())));
    }
  })();

  // A generator that cannot open its sockets would hang the run: show what the servers said, and give up.
  const connected = await gen.waitLine((l) => l.includes('"connected"'), 180_000).then(() => true, () => false);
  if (!connected) {
    for (const p of topology.procs) log(`${p.role} (pid ${p.proc.pid}), last output:\n${p.proc.lines.slice(-15).map((l) => `    ${l.slice(0, 400)}`).join('\n')}`);
    log(`load generator, last output:\n${gen.lines.slice(-10).map((l) => `    ${l.slice(0, 400)}`).join('\n')}`);
    await gen.stop();
    running = false;
    await sampler;
    throw new Error(`${mode}: the load generator could not connect all ${run.pairs.length} pairs within 180 s`);
  }
  await gen.exited;
  current.gen = null;
  const loadEnd = measureEndT || Date.now();
  const acked = series.at(-1)!.n;
  const finalCatchUp: ModeResult['finalCatchUp'] = { pgMs: null, redisMs: null };
  if (readSide) {
    await waitFor('read side caught up after the load', async () => {
      const v = await readSide.visible();
      const now = Date.now();
      if (finalCatchUp.pgMs === null && v.pg >= acked) finalCatchUp.pgMs = now - loadEnd;
      if (finalCatchUp.redisMs === null && v.redis !== null && v.redis >= acked) finalCatchUp.redisMs = now - loadEnd;
      return finalCatchUp.pgMs !== null && (v.redis === null || finalCatchUp.redisMs !== null);
    }, CATCH_UP_TIMEOUT_MS);
  }
  running = false;
  await sampler;
  await Promise.all([cpuEnd]);
  await sleep(50);
  let consistency: Consistency | null = null;
  if (readSide && existsSync(ackedFile)) {
    const seqs = JSON.parse(readFileSync(ackedFile, 'utf8')) as number[];
    const byChat = new Map<string, Set<string>>();
    for (const s of seqs) {
      const chatId = run.pairs[s % run.pairs.length]!.chatId;
      let set = byChat.get(chatId);
      if (!set) byChat.set(chatId, (set = new Set()));
      set.add(`b${s}`);
    }
    consistency = await readSide.check(byChat);
  }
  rmSync(ackedFile, { force: true });
  rmSync(cfgFile, { force: true });
  if (run.profileDir) {
    const last = stages.at(-1)?.report;
    const meta: ProfileMeta = {
      roles: Object.fromEntries(topology.procs.map((p) => [String(p.proc.pid), p.role])), windowUs,
      ...(last ? { messages: Math.round((last.deliveredPerSec * MEASURE_MS) / 1000) } : {}),
    };
    writeFileSync(path.join(run.profileDir, 'meta.json'), JSON.stringify(meta));
  }
  // Profiles are written as each process exits.
  await topology.stop();
  current.topology = null;
  const ok = stages.filter((s) => s.ok);
  const best = ok.length > 0 ? ok.reduce((a, b) => (b.report.deliveredPerSec > a.report.deliveredPerSec ? b : a)) : null;
  return { stages, best, finalCatchUp, acked, consistency, deliveryDuplicates: stages.at(-1)?.report.duplicates ?? 0 };
}

// ---- main ----

const started = Date.now();
const id = randomUUID().replace(/-/g, '').slice(0, 10);
const schema = `bench_e2e_${id}`;
const redisBase = `bench:e2e:${id}:`;
const amqpPrefix = `bench_e2e_${id}`;
const seedQueue = `${amqpPrefix}.seed.tasks`;
const profileDir = PROFILE ? mkdtempSync(path.join(tmpdir(), 'bench-e2e-prof-')) : null;

const db = new pg.Client({ connectionString: DB });
await db.connect();
const acct = new pg.Client({ connectionString: DB });
await acct.connect();
const redis = new Redis(REDIS);

let headStore: PostgresEventStore | null = null;
let cleaning: Promise<void> | null = null;
/** Once, however often it is called (a signal and the main path's finally may both ask). */
const cleanup = (): Promise<void> => (cleaning ??= removeEverything());
async function removeEverything(): Promise<void> {
  if (current.gen) await current.gen.stop();
  if (current.topology) await current.topology.stop().catch(() => undefined);
  await headStore?.close().catch(() => undefined);
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch((err: Error) => log(`cleanup: drop schema: ${err.message}`));
  await deleteRedisPrefix(REDIS, redisBase).catch((err: Error) => log(`cleanup: redis: ${err.message}`));
  try {
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    await deleteTopology(ch, topologyNames(amqpPrefix));
    await ch.deleteQueue(seedQueue);
    await conn.close();
  } catch (err) {
    log(`cleanup: rabbitmq: ${(err as Error).message}`);
  }
  await db.end().catch(() => undefined);
  await acct.end().catch(() => undefined);
  redis.disconnect();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

log(`setup: ${PAIRS} pairs in schema ${schema}; modes ${MODES.join(', ')}; rates ${RATES.join(', ')}${PROFILE ? ' (profiling)' : ''}`);
const results: Partial<Record<TopologyName, ModeResult>> = {};
let profileText = '';
try {
  const setup = await setupPairs(DB, schema, PAIRS);
  headStore = await PostgresEventStore.open({ connectionString: DB, schema, poolSize: 2 });
  const run: Run = { schema, redisPrefix: (m) => `${redisBase}${m}:`, amqpPrefix, seedQueue, pairs: setup.pairs, db, acct, redis, store: headStore, profileDir };
  for (const mode of MODES) {
    log(`${mode}: stepping the rate up`);
    results[mode] = await runMode(run, mode);
    await sleep(1000);
  }
  if (profileDir) {
    profileText = analyzeProfiles(profileDir);
    process.stdout.write(`\n${profileText}\n`);
  }
} finally {
  await cleanup();
  if (profileDir && !process.env['BENCH_KEEP_PROFILES']) rmSync(profileDir, { recursive: true, force: true });
}

const bestRate = (m: TopologyName): number => results[m]?.best?.report.deliveredPerSec ?? 0;
const ratio = (a: number, b: number): number | null => (b ? Math.round((a / b) * 1000) / 1000 : null);
const summary = {
  delivered: { ours: bestRate('ours'), seed: bestRate('seed'), raw: bestRate('raw') },
  oursOverSeed: ratio(bestRate('ours'), bestRate('seed')),
  oursOverRaw: ratio(bestRate('ours'), bestRate('raw')),
  serverSideCpuMsPerMessage: { ours: results.ours?.best?.cpu?.serverSide ?? null, seed: results.seed?.best?.cpu?.serverSide ?? null, raw: results.raw?.best?.cpu?.serverSide ?? null },
  minutes: Math.round(((Date.now() - started) / 60_000) * 10) / 10,
};
mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const file = path.join(ROOT, 'test-artifacts', `bench-e2e-${PROFILE ? 'profile-' : ''}${stamp}.json`);
writeFileSync(file, JSON.stringify({ pairs: PAIRS, measureMs: MEASURE_MS, rates: RATES, p99LimitMs: P99_LIMIT_MS, lagLimitMs: LAG_LIMIT_MS, results, summary, profile: profileText || undefined }, null, 2));
process.stdout.write(`\nEvery stage (a stage that failed was run a second time):\n${stageTable(results)}\n`);
process.stdout.write(`\nBest stage per system (delivered msgs/s with p99 <= ${P99_LIMIT_MS} ms, no loss, read-side lag p99 <= ${LAG_LIMIT_MS} ms); CPU in ms per delivered message at that stage:\n${table(results)}\n\n`);
log(`ours/seed-architecture delivered msgs/s: ${fmt(summary.oursOverSeed)}x; ours/raw: ${fmt(summary.oursOverRaw)}`);
log(`server-side CPU per delivered message (servers + postgres + redis + rabbitmq): ours ${fmt(summary.serverSideCpuMsPerMessage.ours)} ms (target <= 0.30), seed ${fmt(summary.serverSideCpuMsPerMessage.seed)} ms, raw ${fmt(summary.serverSideCpuMsPerMessage.raw)} ms`);
log(`took ${summary.minutes} min; results in ${path.relative(ROOT, file)}`);
process.exit(0);
