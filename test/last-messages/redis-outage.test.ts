// Redis as a cache that may fail: reads fall back fast, nothing crashes, the projection waits out an
// outage without spinning and repairs the view when Redis returns (with or without its data).
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { chatChangeOf, type LastMessagesViewAdmin } from '../../projections/ports/last-messages.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { deadEndpoint } from '../support/dead-endpoint.js';
import { chatStarted, deletePrefix, memoryLogger, messageSent, newPrefix, RedisProxy, sleep, TEST_REDIS_URL, waitFor } from '../support/last-messages.js';

const TIMEOUT_MS = 200;

t.test('redis down: reads return null fast, writes reject, the process goes on', async (t) => {
  const { logger, lines } = memoryLogger();
  const dead = await deadEndpoint('reset');
  const view = new RedisLastMessagesView({ url: dead.url('redis'), keyPrefix: newPrefix('lm-dead'), commandTimeoutMs: TIMEOUT_MS, logger });
  t.teardown(async () => {
    await view.close();
    await dead.close();
  });
  t.equal(await view.whenReady(300), false, 'never connects');
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    t.equal(await view.read('a:b', { limit: 10 }), null, 'read: null, caller falls back');
    t.ok(Date.now() - started < 3_000, `bounded by the timeout, not waiting for Redis (${Date.now() - started} ms)`);
  }
  const started = Date.now();
  t.equal(await view.epoch(), null);
  t.ok(Date.now() - started < 3_000, 'bounded by the timeout');
  await t.rejects(view.apply(messageSent('a:b', 1)), 'apply rejects, for the projection to retry');
  await t.rejects(view.state());
  // Several reconnect attempts: each 'error' must be handled, not crash the process.
  const triedBefore = dead.connections;
  await waitFor('three more reconnect attempts', () => dead.connections >= triedBefore + 3);
  const warnings = lines.filter((l) => l['level'] === 40);
  t.ok(warnings.some((l) => String(l['msg']).includes('unavailable')), 'the outage is logged at warn');
  t.ok(warnings.length <= 3, `rate-limited (${warnings.length} lines)`);
});

t.test('redis stalls: reads time out to null, then recover', async (t) => {
  const proxy = await RedisProxy.start();
  const prefix = newPrefix('lm-stall');
  const { logger } = memoryLogger();
  const view = new RedisLastMessagesView({ url: proxy.url, keyPrefix: prefix, commandTimeoutMs: TIMEOUT_MS, logger });
  t.teardown(async () => {
    await view.close();
    await proxy.close();
    await deletePrefix(prefix);
  });
  t.ok(await view.whenReady(3_000));
  // The setup writes straight to Redis with a generous timeout: on a busy machine they may take longer
  // than the view's 200 ms, and they are not what this test is about.
  const writer = new RedisLastMessagesView({ url: TEST_REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 10_000, logger });
  t.teardown(() => writer.close());
  t.ok(await writer.whenReady(10_000));
  const epoch = await writer.beginRebuild();
  await writer.applyBatch([chatStarted('a:b'), messageSent('a:b', 1)]);
  await writer.finishRebuild(epoch, '1');
  await waitFor('the view reads the message', async () => (await view.read('a:b', { limit: 10 }))?.messages.length === 1);

  proxy.stall();
  const started = Date.now();
  t.equal(await view.read('a:b', { limit: 10 }), null, 'no answer: null');
  const took = Date.now() - started;
  t.ok(took >= TIMEOUT_MS - 20 && took < 3_000, `after the command timeout, not waiting for the stalled Redis (${took} ms)`);
  proxy.up();
  let read: number | undefined;
  await waitFor('reads work again', async () => (read = (await view.read('a:b', { limit: 10 }))?.messages.length) === 1);
  t.equal(read, 1, 'recovered: a read answers the message again');
});

async function append(store: EventStore, chatId: string, n: number, start = false): Promise<void> {
  if (start) {
    await store.append(chatStreamId(chatId), [toEventData({ type: 'ChatStarted', version: 1, data: { chatId, participants: ['u1', 'u2'], startedBy: 'u1', at: '2026-01-01T00:00:00.000Z' } }, randomUUID())], 'no_stream');
  }
  for (let i = 0; i < n; i++) {
    const data = { chatId, messageId: randomUUID(), senderId: 'u1', clientMessageId: randomUUID(), body: `m${i}`, sentAt: '2026-01-01T00:00:00.000Z' };
    await store.append(chatStreamId(chatId), [toEventData({ type: 'MessageSent', version: 2, data }, randomUUID())], 'any');
  }
}

async function inSync(store: EventStore, view: LastMessagesViewAdmin, chatId: string): Promise<boolean> {
  const events = await store.readStream(chatStreamId(chatId));
  const want = events.flatMap((e) => {
    const c = chatChangeOf(toPublicRecord(e));
    return c?.kind === 'message' ? [c.message] : [];
  }).slice(-100);
  const page = await view.read(chatId, { limit: 100 });
  return page !== null && isDeepStrictEqual(page.messages, want);
}

/** The view's epoch; a read that runs out of its command timeout (a busy machine) answers null, so ask again. */
async function epochOf(view: LastMessagesViewAdmin): Promise<string> {
  let epoch: string | null = null;
  await waitFor('the epoch', async () => (epoch = await view.epoch()) !== null);
  return epoch!;
}

/** Counts how often the projection asks for the view's state: once per retry. */
class CountingView extends RedisLastMessagesView {
  stateCalls = 0;
  override state(): ReturnType<RedisLastMessagesView['state']> {
    this.stateCalls += 1;
    return super.state();
  }
}

/**
 * A projection over an in-memory log whose view reaches Redis through a proxy of the test's own (to cut
 * and restore), with a key prefix of its own; all of it closed and removed at the test's end.
 */
async function projectionThroughProxy<V extends RedisLastMessagesView>(
  t: Test, name: string, View: new (opts: ConstructorParameters<typeof RedisLastMessagesView>[0]) => V,
  options: Partial<ConstructorParameters<typeof LastMessagesProjection>[0]>,
) {
  const proxy = await RedisProxy.start();
  const prefix = newPrefix(name);
  const { logger, lines } = memoryLogger();
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const view = new View({ url: proxy.url, keyPrefix: prefix, commandTimeoutMs: TIMEOUT_MS, logger, maxReconnectDelayMs: 200 });
  const projection = new LastMessagesProjection({ store, view, logger, ...options });
  t.teardown(async () => {
    await projection.stop();
    await view.close();
    await proxy.close();
    await store.close();
    await deletePrefix(prefix);
  });
  return { proxy, prefix, lines, store, view, projection };
}

t.test('projection: waits out an outage without spinning, repairs the view when Redis returns', async (t) => {
  const { proxy, prefix, store, view, projection } = await projectionThroughProxy(t, 'lm-outage', CountingView, { epochCheckMs: 100, retryInitialMs: 50, retryMaxMs: 400 });
  t.ok(await view.whenReady(3_000));
  const chat = `u1:${randomUUID().slice(0, 6)}`;
  await append(store, chat, 20, true);
  projection.start();
  await waitFor('built', () => inSync(store, view, chat));
  const epoch1 = await epochOf(view);
  // In sync can come a moment before 'live' (and a loaded machine can time a command out and retry once).
  await waitFor('live', () => projection.status().state === 'live');

  // Redis stops (keeping its data); messages keep coming.
  proxy.down();
  await append(store, chat, 5);
  await waitFor('the projection retrying', () => projection.status().state === 'retrying');
  const callsBefore = view.stateCalls;
  await sleep(1_500); // a window to count attempts in, not a wait for something to happen
  const status = projection.status();
  t.equal(status.state, 'retrying', 'retrying, not dead');
  t.ok(status.lastError, `the error is visible to health checks: ${status.lastError}`);
  t.ok(view.stateCalls - callsBefore <= 12, `backs off instead of spinning (${view.stateCalls - callsBefore} attempts in 1.5 s)`);
  t.equal(await view.read(chat, { limit: 10 }), null, 'readers fall back meanwhile');

  // Redis returns with its data: the projection resumes from its checkpoint, no rebuild.
  proxy.up();
  await waitFor('caught up after the outage', () => inSync(store, view, chat));
  t.equal(await epochOf(view), epoch1, 'same epoch: nothing was lost');
  t.equal(projection.status().rebuilds, 1);

  // Redis restarts without persistence: down, empty, up. The reconnect triggers the epoch check.
  proxy.down();
  await deletePrefix(prefix);
  await append(store, chat, 3);
  proxy.up();
  await waitFor('rebuilt after the empty restart', async () => {
    const e = await view.epoch();
    return e !== null && e !== epoch1 && (await inSync(store, view, chat));
  });
  await waitFor('live again', () => projection.status().state === 'live');
  t.equal(projection.status().rebuilds, 2, 'rebuilt once');
});

t.test('projection started while Redis is down: keeps trying, stops promptly', async (t) => {
  const { logger } = memoryLogger();
  const dead = await deadEndpoint('reset');
  t.teardown(() => dead.close());
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const view = new RedisLastMessagesView({ url: dead.url('redis'), keyPrefix: newPrefix('lm-dead2'), commandTimeoutMs: TIMEOUT_MS, logger });
  // A 20 s backoff, so that a stop() waiting it out could not pass for a prompt one.
  const projection = new LastMessagesProjection({ store, view, logger, retryInitialMs: 20_000, retryMaxMs: 20_000 });
  projection.start();
  await waitFor('the projection retrying', () => projection.status().state === 'retrying');
  await waitFor('Redis tried again', () => dead.connections >= 2);
  t.equal(projection.status().state, 'retrying');
  t.ok(projection.status().lastError);
  const started = Date.now();
  await projection.stop();
  t.ok(Date.now() - started < 5_000, `stop() cuts the 20 s backoff short (${Date.now() - started} ms)`);
  t.equal(projection.status().state, 'stopped');
  await view.close();
  await store.close();
});

t.test('projection: a view still connecting at start is not reported as an outage; one still down after the grace is', async (t) => {
  const { proxy, lines, store, view, projection } = await projectionThroughProxy(t, 'lm-start', RedisLastMessagesView, { retryInitialMs: 50, retryMaxMs: 200 });
  proxy.down();
  const warned = (): number => lines.filter((l) => l['msg'] === 'last-messages projection failed; retrying').length;
  projection.start();
  await waitFor('the first failed attempt', () => projection.status().lastError !== null);
  t.equal(warned(), 0, 'no warning in the first seconds: health checks still see the error');
  await waitFor('a warning once the grace is over', () => warned() === 1, 15_000);
  proxy.up();
  const chat = `u1:${randomUUID().slice(0, 6)}`;
  await append(store, chat, 3, true);
  await waitFor('in sync once Redis answers', () => inSync(store, view, chat));
});
