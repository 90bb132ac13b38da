// The view goes back in time under the same epoch, as after a Sentinel failover to a replica that
// lacked the latest writes (asynchronous replication) or a restart from an older snapshot: on the
// reconnect the projection suspends the view (readers fall back), replays the log from the view's
// own checkpoint and marks it ready again, without a full rebuild and without saving its own newer
// checkpoint over the older one. The real failover is test/cluster/redis-sentinel.test.ts.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { deletePrefix, memoryLogger, newPrefix, RedisProxy, TEST_REDIS_URL, viewEqualsLog, waitFor } from '../support/last-messages.js';

async function append(store: EventStore, chatId: string, from: number, to: number): Promise<void> {
  if (from === 1) {
    await store.append(chatStreamId(chatId), [toEventData({ type: 'ChatStarted', version: 1, data: { chatId, participants: ['u1', 'u2'], startedBy: 'u1', at: '2026-01-01T00:00:00.000Z' } }, randomUUID())], 'no_stream');
  }
  for (let i = from; i <= to; i++) {
    const data = { chatId, messageId: randomUUID(), senderId: 'u1', clientMessageId: randomUUID(), body: `m${i}`, sentAt: '2026-01-01T00:00:00.000Z' };
    await store.append(chatStreamId(chatId), [toEventData({ type: 'MessageSent', version: 2, data }, randomUUID())], 'any');
  }
}

/** Records the suspensions the projection asks for (the window is a few ms: too short to poll for). */
class SuspendCountingView extends RedisLastMessagesView {
  suspended = 0;
  override async suspend(epoch: string): Promise<boolean> {
    const done = await super.suspend(epoch);
    if (done) this.suspended += 1;
    return done;
  }
}

t.test('a view that lost its latest writes is replayed from its own checkpoint on reconnect', async (t) => {
  const proxy = await RedisProxy.start();
  const prefix = newPrefix('lm-rewind');
  const { logger, lines } = memoryLogger();
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const view = new SuspendCountingView({ url: proxy.url, keyPrefix: prefix, commandTimeoutMs: 1_000, logger, maxReconnectDelayMs: 200 });
  const projection = new LastMessagesProjection({ store, view, logger, epochCheckMs: 100, retryInitialMs: 50, retryMaxMs: 400 });
  const admin = new Redis(TEST_REDIS_URL);
  t.teardown(async () => {
    await projection.stop();
    await view.close();
    admin.disconnect();
    await proxy.close();
    await store.close();
    await deletePrefix(prefix);
  });
  const chat = `u1:${randomUUID().slice(0, 6)}`;
  await append(store, chat, 1, 20);
  projection.start();
  await waitFor('built', () => viewEqualsLog(store, view, chat));
  await waitFor('live', () => projection.status().state === 'live');
  const epoch = await admin.get(`${prefix}view:epoch`);

  // The "promoted replica": the last five messages and the checkpoints after message 15 never reached it.
  proxy.down();
  const events = await store.readStream(chatStreamId(chat));
  const at15 = events.find((e) => e.revision === 15)!.position.toString();
  await admin.multi()
    .set(`${prefix}view:chat:${chat}:last`, '15')
    .zremrangebyscore(`${prefix}view:chat:${chat}:messages`, 16, '+inf')
    .set(`${prefix}view:checkpoint`, at15)
    .exec();
  const suspendedBefore = view.suspended;
  proxy.up();

  await waitFor('the lost messages replayed', () => viewEqualsLog(store, view, chat));
  t.equal(await admin.get(`${prefix}view:epoch`), epoch, 'same epoch: replayed, not rebuilt');
  t.equal(projection.status().rebuilds, 1, 'no second rebuild');
  t.ok(lines.some((l) => String(l['msg']).includes('replaying from its own checkpoint')), 'the replay is logged');
  t.ok(view.suspended > suspendedBefore, 'the view was suspended (readers fall back) while it was behind');
  await waitFor('ready again', async () => (await admin.get(`${prefix}view:state`)) === 'ready');
  await waitFor('live again', () => projection.status().state === 'live');

  // And it keeps following: a new message after the replay.
  await append(store, chat, 21, 21);
  await waitFor('the next message applied', () => viewEqualsLog(store, view, chat));
  t.ok(await viewEqualsLog(store, view, chat), 'live after the replay');
});
