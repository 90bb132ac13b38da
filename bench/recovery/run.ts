/**
 * Recovery benchmark: how long the read models take to catch up after a RabbitMQ outage.
 *
 * The relay and the projector consumer run as in production (startRelay / startProjectorConsumer,
 * default tuning, the real SQL projections) but reach RabbitMQ through a TCP proxy, which the bench
 * cuts (every connection reset, new ones refused: the shared broker itself keeps running). A steady
 * trickle of messages (--rate per second) runs all along; while the path is cut, a burst on top of it
 * makes the backlog at the restore --backlog messages. The outage lasts long enough for every
 * reconnect backoff to reach its cap. Then
 * the path is restored and the bench times, from that moment:
 *   - reconnect: both connections up again;
 *   - relayed:   the relay checkpoint at the head the store had at restore;
 *   - drained:   every message appended before the restore in the messages read model.
 *
 *   npm run bench:recovery [-- --backlog 10000 --outage 20 --rate 100 --runs 1 --trace]
 *   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), AMQP_URL (default the local broker),
 *   BENCH_LOG (pino level, default warn)
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import pg from 'pg';
import pino from 'pino';
import { chatIdFor } from '../../domain/chat-id.js';
import { chatStreamId, type ChatStarted, type MessageSent } from '../../domain/events.js';
import { startProjectorConsumer, startRelay } from '../../infra/broker/processes.js';
import { deleteTopology, topologyNames } from '../../infra/broker/topology.js';
import { loadConfig } from '../../infra/config.js';
import { toEventData } from '../../commands/ports/codec.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createLogger } from '../../infra/logger.js';
import { openReadModels } from '../../infra/read-models/open.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { tcpProxy } from '../../test/support/tcp-proxy.js';
import { numberArg } from '../args.js';

const BACKLOG = numberArg('backlog', 10_000);
const OUTAGE_S = numberArg('outage', 20);
const RATE = numberArg('rate', 100);
const RUNS = numberArg('runs', 1);
const TRACE = process.argv.includes('--trace');
const CHATS = 100;
const DB = process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const AMQP = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'warn', name: 'bench' }, pino.destination({ fd: 2, sync: true }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function waitUntil(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 10): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await cond()) return performance.now();
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface Chat {
  id: string;
  a: string;
  b: string;
  revision: number;
}

/** Appends `n` messages over the chats, ten per append, chats in turn. */
async function sendMessages(store: PostgresEventStore, chats: Chat[], n: number, cursor: { next: number }): Promise<void> {
  let left = n;
  while (left > 0) {
    const chat = chats[cursor.next++ % chats.length]!;
    const count = Math.min(10, left);
    const sentAt = new Date().toISOString();
    const events = Array.from({ length: count }, (_, i) => {
      const sent: MessageSent = {
        type: 'MessageSent',
        version: 2,
        data: { chatId: chat.id, messageId: randomUUID(), senderId: i % 2 ? chat.b : chat.a, clientMessageId: randomUUID(), body: `message ${chat.revision + i}`, sentAt },
      };
      return toEventData(sent, randomUUID());
    });
    await store.append(chatStreamId(chat.id), events, chat.revision);
    chat.revision += count;
    left -= count;
  }
}

async function runOnce(run: number): Promise<{ reconnectMs: number; relayedMs: number; drainedMs: number; backlog: number }> {
  const schema = `bench_rec_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const prefix = `bench_rec_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const admin = new pg.Pool({ connectionString: DB, max: 3 });
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const proxy = await tcpProxy({ port: Number(new URL(AMQP).port || 5672), host: new URL(AMQP).hostname });
  // PROJECTOR_* from the environment, to compare tunings; the defaults otherwise.
  const tuning = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PROJECTOR_')));
  const config = loadConfig({ ...tuning, DATABASE_URL: DB, DATABASE_SCHEMA: schema, AMQP_URL: proxy.via(AMQP), AMQP_PREFIX: prefix, LOG_LEVEL: 'warn' });
  const store = await PostgresEventStore.open({ connectionString: DB, schema, logger });
  const orm = await openReadModels(config, logger);
  const projector = createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger });
  const relay = startRelay(config, store, logger, process.env['BENCH_RELAY_BATCH'] ? { batchSize: Number(process.env['BENCH_RELAY_BATCH']) } : {});
  const consumer = startProjectorConsumer(config, projector, logger);
  const messages = async (): Promise<number> => {
    const res = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".messages`);
    return Number(res.rows[0]?.n ?? 0);
  };
  const checkpoint = async (): Promise<bigint> => {
    const res = await admin.query<{ p: string }>(`SELECT position::text AS p FROM "${schema}".relay_checkpoint`).catch(() => ({ rows: [] as Array<{ p: string }> }));
    return BigInt(res.rows[0]?.p ?? '0');
  };
  try {
    // Warm-up: chats started and one message each, all projected, so the outage meets a live system.
    const chats: Chat[] = Array.from({ length: CHATS }, () => {
      const a = randomUUID();
      const b = randomUUID();
      return { id: chatIdFor(a, b), a, b, revision: 0 };
    });
    for (const chat of chats) {
      const started: ChatStarted = { type: 'ChatStarted', version: 1, data: { chatId: chat.id, participants: [chat.a, chat.b], startedBy: chat.a, at: new Date().toISOString() } };
      await store.append(chatStreamId(chat.id), [toEventData(started, randomUUID())], 'no_stream');
    }
    const cursor = { next: 0 };
    await sendMessages(store, chats, CHATS, cursor);
    let sent = CHATS;
    await waitUntil('the warm-up projected', async () => (await messages()) >= sent, 60_000, 50);

    // A steady trickle all along, as users keep writing through the outage and the recovery.
    let trickling = true;
    const trickle = (async () => {
      const every = RATE > 0 ? 100 : 0;
      while (trickling && every > 0) {
        const n = Math.max(1, Math.round((RATE * every) / 1000));
        await sendMessages(store, chats, n, cursor);
        sent += n;
        await sleep(every);
      }
    })();

    proxy.cut();
    const cutAt = performance.now();
    const burst = Math.max(0, BACKLOG - Math.round(RATE * OUTAGE_S));
    await sendMessages(store, chats, burst, cursor);
    sent += burst;
    const left = OUTAGE_S * 1000 - (performance.now() - cutAt);
    if (left > 0) await sleep(left);

    const target = sent;
    const head = await store.headPosition();
    const projectedAtRestore = await messages();
    proxy.restore();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let tracing = TRACE;
    const tracer = (async () => {
      while (tracing) {
        console.log(`  +${fmt(performance.now() - t0)} relay ${relay.connection.connected ? 'up' : 'down'} checkpoint ${await checkpoint()}/${head}, consumer ${consumer.connection.connected ? 'up' : 'down'}, projected ${(await messages()) - projectedAtRestore}/${target - projectedAtRestore}`);
        await sleep(250);
      }
    })();
    const [reconnected, relayed, drained] = await Promise.all([
      waitUntil('both connections', () => relay.connection.connected && consumer.connection.connected, 120_000),
      waitUntil('the relay checkpoint at the head', async () => (await checkpoint()) >= head, 120_000),
      waitUntil('the backlog projected', async () => (await messages()) >= target, 180_000),
    ]);
    const cpu = process.cpuUsage(cpu0);
    trickling = false;
    tracing = false;
    await trickle;
    await tracer;
    const backlog = target - projectedAtRestore;
    const r = { reconnectMs: reconnected - t0, relayedMs: relayed - t0, drainedMs: drained - t0, backlog };
    console.log(
      `run ${run}: outage ${fmt(t0 - cutAt)}, backlog ${backlog} messages ` +
        `(burst and ${RATE}/s trickle); after restore: reconnect ${fmt(r.reconnectMs)}, relayed ${fmt(r.relayedMs)}, ` +
        `drained ${fmt(r.drainedMs)} (${Math.round(backlog / (r.drainedMs / 1000))} messages/s); ` +
        `this process used ${fmt((cpu.user + cpu.system) / 1000)} of CPU meanwhile`,
    );
    return r;
  } finally {
    await consumer.stop();
    await relay.stop();
    await orm.close();
    await store.close();
    await proxy.close();
    const model = await amqp.connect(AMQP);
    const ch = await model.createChannel();
    await deleteTopology(ch, topologyNames(prefix)).catch(() => undefined);
    await model.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

console.log(`recovery bench: ${os.cpus().length} cores, node ${process.version}; backlog ${BACKLOG}, outage ${OUTAGE_S} s, trickle ${RATE} messages/s`);
const results = [];
for (let i = 1; i <= RUNS; i++) results.push(await runOnce(i));
if (RUNS > 1) {
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`median drain ${fmt(median(results.map((r) => r.drainedMs)))}, reconnect ${fmt(median(results.map((r) => r.reconnectMs)))}`);
}
process.exit(0);
