/**
 * Projector scale-out benchmark: events/s through the real SQL projections with 1 and 2 projector
 * processes sharing PROJECTOR_PARTITIONS partition queues (docs/scaling.md).
 *
 * A RabbitMQ node of our own is started (test/support/rabbit-cluster.ts, size 1: the shared node has
 * no consistent-hash plugin). For each setup, a fresh schema gets --chats chats and --events
 * MessageSent events; the relay publishes them all into the queues first (a backlog, as after an
 * outage), then the projector processes (test/support/run-projector.ts, production wiring) start and
 * the rate is taken over the messages read model from 10 % to 100 % of the events, so process start
 * and the first rebalance (a few seconds) are left out.
 *
 * The setups alternate within each of --runs rounds, so background load hits them alike; the table
 * shows every run and the median.
 *
 *   npm run bench:projector-scale [-- --events 20000 --chats 200 --partitions 4 --runs 3]
 *   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_LOG (default warn)
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import pino from 'pino';
import { chatIdFor } from '../../domain/chat-id.js';
import { chatStreamId, type ChatStarted, type MessageSent } from '../../domain/events.js';
import { startRelay } from '../../infra/broker/processes.js';
import { loadConfig } from '../../infra/config.js';
import { toEventData } from '../../commands/ports/codec.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createLogger } from '../../infra/logger.js';
import { killHard, spawnRunner, type Child } from '../../test/support/broker.js';
import { startRabbitCluster } from '../../test/support/rabbit-cluster.js';
import { numberArg } from '../args.js';

const EVENTS = numberArg('events', 20_000);
const CHATS = numberArg('chats', 200);
const PARTITIONS = numberArg('partitions', 4);
const RUNS = numberArg('runs', 3);
const DB = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'warn', name: 'bench' }, pino.destination({ fd: 2, sync: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await cond()) return performance.now();
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function fill(store: PostgresEventStore): Promise<void> {
  const chats = Array.from({ length: CHATS }, () => {
    const a = randomUUID();
    const b = randomUUID();
    return { id: chatIdFor(a, b), a, b, revision: 0 };
  });
  const at = new Date().toISOString();
  for (const c of chats) {
    const started: ChatStarted = { type: 'ChatStarted', version: 1, data: { chatId: c.id, participants: [c.a, c.b], startedBy: c.a, at } };
    await store.append(chatStreamId(c.id), [toEventData(started, randomUUID())], 'no_stream');
  }
  let left = EVENTS;
  for (let k = 0; left > 0; k++) {
    const c = chats[k % chats.length]!;
    const n = Math.min(10, left);
    const events = Array.from({ length: n }, () => {
      const sent: MessageSent = {
        type: 'MessageSent',
        version: 2,
        data: { chatId: c.id, messageId: randomUUID(), senderId: c.a, clientMessageId: randomUUID(), body: 'bench', sentAt: at },
      };
      return toEventData(sent, randomUUID());
    });
    await store.append(chatStreamId(c.id), events, c.revision);
    c.revision += n;
    left -= n;
  }
}

async function runOnce(url: string, projectors: number, partitions: number): Promise<number> {
  const schema = `bench_scale_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const prefix = schema;
  const admin = new pg.Pool({ connectionString: DB, max: 2 });
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const env = {
    DATABASE_URL: DB,
    DATABASE_SCHEMA: schema,
    AMQP_URL: url,
    AMQP_PREFIX: prefix,
    PROJECTOR_PARTITIONS: String(partitions),
    LOG_LEVEL: process.env['BENCH_LOG'] ?? 'warn',
  };
  const store = await PostgresEventStore.open({ connectionString: DB, schema, logger });
  const children: Child[] = [];
  try {
    await fill(store);
    const relay = startRelay(loadConfig(env), store, logger);
    const head = await store.headPosition();
    await waitUntil('the relay at the head', async () => {
      const res = await admin.query<{ p: string }>(`SELECT position::text AS p FROM "${schema}".relay_checkpoint`).catch(() => ({ rows: [] as Array<{ p: string }> }));
      return res.rows[0] !== undefined && BigInt(res.rows[0].p) === head;
    }, 300_000);
    await relay.stop();
    const count = async (): Promise<number> => {
      const res = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".messages`).catch(() => ({ rows: [{ n: '0' }] }));
      return Number(res.rows[0]?.n ?? 0);
    };
    for (let i = 0; i < projectors; i++) children.push(spawnRunner('test/support/run-projector.ts', env));
    const from = await waitUntil('10 % projected', async () => (await count()) >= EVENTS / 10, 120_000);
    const startCount = await count();
    const to = await waitUntil('all projected', async () => (await count()) >= EVENTS, 300_000);
    return ((EVENTS - startCount) / (to - from)) * 1000;
  } catch (err) {
    for (const c of children) process.stderr.write(c.stderr());
    throw err;
  } finally {
    await Promise.all(children.map((c) => killHard(c)));
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

const node = await startRabbitCluster({ size: 1 });
try {
  const url = node.urls[0]!;
  console.log(`# projector scale-out: ${EVENTS} MessageSent events over ${CHATS} chats, queued before the projectors start`);
  console.log(`# ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), PostgreSQL and RabbitMQ on the same machine`);
  const setups = [[1, 1], [1, PARTITIONS], [2, PARTITIONS]] as const;
  const rates: number[][] = setups.map(() => []);
  for (let run = 0; run < RUNS; run++) {
    for (const [i, [projectors, partitions]] of setups.entries()) {
      const rate = await runOnce(url, projectors, partitions);
      rates[i]!.push(rate);
      console.error(`run ${run + 1}: ${projectors} projector(s), ${partitions} partition(s): ${Math.round(rate)} events/s; load ${os.loadavg()[0]!.toFixed(1)}`);
    }
  }
  console.log('| projectors | partitions | events/s, each run | median |');
  console.log('|---|---|---|---|');
  for (const [i, [projectors, partitions]] of setups.entries()) {
    const sorted = [...rates[i]!].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`| ${projectors} | ${partitions} | ${rates[i]!.map((r) => Math.round(r)).join(', ')} | ${Math.round(median)} |`);
  }
} finally {
  await node.stop();
}
