/**
 * Last-100 view benchmark: how far the Redis view falls behind a steady message rate, and how long it
 * takes to catch up after Redis stops answering.
 *
 *   (a) live: --rate messages/s for --seconds, the projection reaching the shared Redis through a TCP
 *       proxy that adds --latency ms each way (an overloaded or distant Redis); prints the worst and
 *       the final lag in messages.
 *   (b) pause: a redis-server of the bench's own (own port and data directory) stops answering for
 *       --pause seconds (DEBUG SLEEP) under the same rate; prints how far behind the view was when
 *       Redis answered again and how long it then took to catch up.
 *
 *   npm run bench:recovery:view [-- --rate 150 --seconds 10 --latency 5 --pause 10]
 *   REDIS_URL (default redis://127.0.0.1:6379) for (a); (b) needs redis-server on the PATH.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import pino from 'pino';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { createLogger } from '../../infra/logger.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { deleteKeysUnder } from '../../test/support/redis-keys.js';
import { startOwnRedis } from '../../test/support/redis-server.js';
import { startSteadyWriter } from '../../test/support/steady-writer.js';
import { tcpProxy } from '../../test/support/tcp-proxy.js';
import { numberArg } from '../args.js';

const RATE = numberArg('rate', 150);
const SECONDS = numberArg('seconds', 10);
const LATENCY = numberArg('latency', 5);
const PAUSE_S = numberArg('pause', 10);
const CHATS = 50;
const REDIS = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'error', name: 'bench' }, pino.destination({ fd: 2, sync: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An in-memory log with chats, a writer at RATE, and the view's lag in messages. */
/** `adminUrl`: Redis without the proxy, for the clean-up. */
async function scenario(redisUrl: string, keyPrefix: string, adminUrl = redisUrl) {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const view = new RedisLastMessagesView({ url: redisUrl, keyPrefix, commandTimeoutMs: 200, logger });
  const projection = new LastMessagesProjection({ store, view, logger });
  const writer = await startSteadyWriter(store, { chats: CHATS, rate: RATE, label: 'b' });
  const applied = (): bigint => BigInt(projection.status().checkpoint);
  const lag = (): number => writer.behind(applied());
  projection.start();
  for (let i = 0; i < 500 && projection.status().state !== 'live'; i++) await sleep(20);
  return {
    projection,
    lag,
    applied,
    last: writer.last,
    async close() {
      await writer.stop();
      await projection.stop();
      await view.close();
      await store.close();
      await deleteKeysUnder(adminUrl, keyPrefix);
    },
  };
}

console.log(`last-100 view bench: ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}, node ${process.version}; ${RATE} messages/s`);

{
  const target = new URL(REDIS);
  const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 6379), latencyMs: LATENCY });
  const s = await scenario(proxy.via(REDIS), `bench:lmview:${randomUUID().slice(0, 8)}:`, REDIS);
  let worst = 0;
  for (let t = 0; t < SECONDS * 10; t++) {
    worst = Math.max(worst, s.lag());
    await sleep(100);
  }
  console.log(`(a) live, ${LATENCY} ms added each way, ${SECONDS} s: worst lag ${worst} messages, final lag ${s.lag()}, state ${s.projection.status().state}`);
  await s.close();
  await proxy.close();
}

{
  const redis = await startOwnRedis();
  const s = await scenario(redis.url, `bench:lmview:${randomUUID().slice(0, 8)}:`);
  await sleep(2000);
  await redis.pause(PAUSE_S * 1000);
  const resumedAt = Date.now();
  const behind = s.lag();
  const target = s.last();
  while (s.applied() < target) await sleep(10);
  console.log(`(b) Redis paused ${PAUSE_S} s: ${behind} messages behind when it answered again, caught up ${Date.now() - resumedAt} ms later`);
  await s.close();
  await redis.stop();
}
process.exit(0);
