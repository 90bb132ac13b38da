// A Redis that stops answering for 10 s (DEBUG SLEEP on a redis-server of this test's own; the shared
// 6379 is never paused) under a steady 150 messages/s. The connection stays open, so nothing but the
// projection's own retry notices the return. Afterwards the view must be exact; how long it took to
// catch up is printed, not asserted (a loaded machine can exceed any figure).
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { chatChangeOf } from '../../projections/ports/last-messages.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { memoryLogger, newPrefix, sleep, waitFor } from '../support/last-messages.js';
import { startOwnRedis } from '../support/redis-server.js';
import { startSteadyWriter, type SteadyWriter } from '../support/steady-writer.js';

const CHATS = 20;
const RATE = 150; // messages per second
const PAUSE_MS = 10_000;

t.test('Redis paused for 10 s under 150 messages/s: the view catches up by itself and is exact', async (t) => {
  const redis = await startOwnRedis();
  const { logger } = memoryLogger();
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  // Production settings: the 200 ms command timeout and the projection's default batch and backoff.
  const view = new RedisLastMessagesView({ url: redis.url, keyPrefix: newPrefix('lm-pause'), commandTimeoutMs: 200, logger });
  const projection = new LastMessagesProjection({ store, view, logger });
  let writer: SteadyWriter | null = null;
  t.teardown(async () => {
    await writer?.stop();
    await projection.stop();
    await view.close();
    await store.close();
    await redis.stop();
  });

  const steady = await startSteadyWriter(store, { chats: CHATS, rate: RATE, label: 'p' });
  writer = steady;
  const { chats } = steady;
  const applied = (): bigint => BigInt(projection.status().checkpoint);
  /** Messages appended that the view has not applied yet. */
  const lag = (): number => steady.behind(applied());

  projection.start();
  await waitFor('the projection live', () => projection.status().state === 'live', 10_000);
  let worstLive = 0;
  for (let i = 0; i < 40; i++) {
    worstLive = Math.max(worstLive, lag());
    await sleep(50);
  }
  t.comment(`live at ${RATE} messages/s: at most ${worstLive} messages behind`);

  const pausing = redis.pause(PAUSE_MS);
  await waitFor('the projection to notice the pause', () => projection.status().state === 'retrying', PAUSE_MS);
  await pausing;
  const resumedAt = Date.now();
  const behindAtResume = lag();
  const target = steady.last();
  await waitFor('the view to catch up with what was appended up to the resume', () => applied() >= target, 30_000);
  t.comment(`after the ${PAUSE_MS / 1000} s pause: ${behindAtResume} messages behind, caught up ${Date.now() - resumedAt} ms after Redis answered again`);
  await waitFor('the projection live again', () => projection.status().state === 'live', 10_000);

  await steady.stop();
  const head = steady.last();
  await waitFor('the view at the head', () => applied() >= head, 30_000);
  const exact: string[] = [];
  for (const chatId of chats) {
    const events = await store.readStream(chatStreamId(chatId));
    const want = events.flatMap((e) => {
      const c = chatChangeOf(toPublicRecord(e));
      return c?.kind === 'message' ? [c.message] : [];
    }).slice(-100);
    // A read can run out of the 200 ms timeout on a busy machine (it answers null): ask again.
    await waitFor(`chat ${chatId} exact in the view`, async () => {
      const page = await view.read(chatId, { limit: 100 });
      const same = page !== null && isDeepStrictEqual(page.messages, want);
      if (same) exact.push(chatId);
      return same;
    }, 10_000);
  }
  t.same(exact, chats, 'every chat holds exactly the newest 100 messages of its stream, in order');
  t.equal(projection.status().rebuilds, 1, 'no rebuild: the view kept its data and its epoch');
});
