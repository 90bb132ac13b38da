// The projection against a real (embedded) event store, with the Redis and the in-memory view:
// initial build, live messages, a lost view rebuilt under a new epoch, a gap backfilled, a restart.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import { chatStreamId, userStreamId, type DomainEvent } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { chatChangeOf, type ApplyResult, type BatchProgress, type LastMessagesViewAdmin, type ViewMessage } from '../../projections/ports/last-messages.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { memoryLogger, openRedisView, waitFor } from '../support/last-messages.js';

const AT = '2026-01-01T00:00:00.000Z';

async function append(store: EventStore, streamId: string, event: DomainEvent): Promise<void> {
  await store.append(streamId, [toEventData(event, randomUUID())], 'any');
}

async function startChat(store: EventStore, a: string, b: string): Promise<string> {
  const chatId = `${a}:${b}`;
  await append(store, userStreamId(a), { type: 'UserRegistered', version: 1, data: { userId: a, username: a, passwordHash: '$argon2id$x', role: 'user', registeredAt: AT } });
  await append(store, chatStreamId(chatId), { type: 'ChatStarted', version: 1, data: { chatId, participants: [a, b], startedBy: a, at: AT } });
  return chatId;
}

let sent = 0;
async function send(store: EventStore, chatId: string): Promise<void> {
  sent += 1;
  const senderId = chatId.split(':')[0]!;
  await append(store, chatStreamId(chatId), {
    type: 'MessageSent', version: 2,
    data: { chatId, messageId: randomUUID(), senderId, clientMessageId: `k${sent}`, body: `hello ${sent}`, sentAt: AT },
  });
}

/** What the view must hold for a chat: the newest 100 messages of its stream. */
async function expected(store: EventStore, chatId: string): Promise<{ lastRevision: number; messages: ViewMessage[] }> {
  const events = await store.readStream(chatStreamId(chatId));
  const messages = events.map((e) => chatChangeOf(toPublicRecord(e))).flatMap((c) => (c?.kind === 'message' ? [c.message] : []));
  return { lastRevision: events[events.length - 1]!.revision, messages: messages.slice(-100) };
}

async function actual(view: LastMessagesViewAdmin, chatId: string): Promise<{ lastRevision: number; messages: ViewMessage[] } | null> {
  const page = await view.read(chatId, { limit: 100 });
  return page && { lastRevision: page.lastRevision, messages: page.messages };
}

async function matches(store: EventStore, view: LastMessagesViewAdmin, chats: string[]): Promise<boolean> {
  for (const chatId of chats) if (!isDeepStrictEqual(await actual(view, chatId), await expected(store, chatId))) return false;
  return true;
}

/** Counts round trips the projection makes, to tell a batched rebuild from one call per event. */
class CountingView implements LastMessagesViewAdmin {
  applyCalls = 0;
  batchCalls = 0;
  constructor(readonly inner: LastMessagesViewAdmin) {}
  get capacity(): number {
    return this.inner.capacity;
  }
  apply(r: PublicRecord): Promise<ApplyResult> {
    this.applyCalls += 1;
    return this.inner.apply(r);
  }
  applyBatch(rs: PublicRecord[], progress?: BatchProgress): Promise<ApplyResult[]> {
    this.batchCalls += 1;
    return this.inner.applyBatch(rs, progress);
  }
  read: LastMessagesViewAdmin['read'] = (c, o) => this.inner.read(c, o);
  epoch: LastMessagesViewAdmin['epoch'] = () => this.inner.epoch();
  state: LastMessagesViewAdmin['state'] = () => this.inner.state();
  beginRebuild: LastMessagesViewAdmin['beginRebuild'] = () => this.inner.beginRebuild();
  replaceChat: LastMessagesViewAdmin['replaceChat'] = (c, m, l) => this.inner.replaceChat(c, m, l);
  finishRebuild: LastMessagesViewAdmin['finishRebuild'] = (e, c) => this.inner.finishRebuild(e, c);
  heartbeat: LastMessagesViewAdmin['heartbeat'] = (e, c) => this.inner.heartbeat(e, c);
  onReconnect: LastMessagesViewAdmin['onReconnect'] = (l) => this.inner.onReconnect(l);
  close: LastMessagesViewAdmin['close'] = () => this.inner.close();
}

interface ViewHarness {
  view: LastMessagesViewAdmin;
  flush(): Promise<void>;
  forgetChat(chatId: string): Promise<void>;
  cleanup(): Promise<void>;
}

function projectionSuite(t: Test, openView: () => Promise<ViewHarness>): void {
  t.test('builds, follows, rebuilds after a flush, backfills a gap, resumes after a restart', async (t) => {
    const store = EmbeddedEventStore.open({ file: ':memory:' });
    const h = await openView();
    const view = new CountingView(h.view);
    const { logger } = memoryLogger();
    t.teardown(async () => {
      await h.cleanup();
      await store.close();
    });

    // Three chats, 150 / 50 / 5 messages, interleaved in the log like real traffic.
    const big = await startChat(store, `ann${randomUUID().slice(0, 4)}`, 'zed');
    const mid = await startChat(store, `bob${randomUUID().slice(0, 4)}`, 'zed');
    const small = await startChat(store, `cat${randomUUID().slice(0, 4)}`, 'zed');
    const chats = [big, mid, small];
    for (let i = 0; i < 150; i++) {
      await send(store, big);
      if (i < 50) await send(store, mid);
      if (i < 5) await send(store, small);
    }

    const projection = new LastMessagesProjection({ store, view, logger, epochCheckMs: 100, batchSize: 100 });
    projection.start();
    const live = async (): Promise<boolean> => {
      const s = projection.status();
      return s.state === 'live' && s.checkpoint === (await store.headPosition()).toString();
    };
    await waitFor('initial build', live);
    t.equal(projection.status().rebuilds, 1, 'an empty view is built from the log');
    t.ok(await matches(store, view, chats), 'view = last 100 of each chat stream');
    t.same((await actual(view, big))?.messages.map((m) => m.revision), Array.from({ length: 100 }, (_, i) => 51 + i));
    t.equal((await actual(view, small))?.messages.length, 5);
    const epoch1 = await view.epoch();
    t.ok(epoch1, 'ready with an epoch');
    t.equal(projection.status().epoch, epoch1);
    t.equal(view.applyCalls, 0, 'no per-event round trips in the rebuild');
    t.ok(view.batchCalls <= 5, `rebuild in a few batches (${view.batchCalls} for ${await store.headPosition()} events)`);

    await send(store, small);
    await send(store, big);
    await waitFor('live messages', () => matches(store, view, chats));
    t.ok(await matches(store, view, chats), 'live messages arrive: view = last 100 of each chat stream');

    // "FLUSHALL": every key of this deployment disappears.
    await h.flush();
    await waitFor('rebuild after flush', async () => {
      const e = await view.epoch();
      return e !== null && e !== epoch1 && (await live());
    });
    const epoch2 = await view.epoch();
    t.not(epoch2, epoch1, 'the epoch changed');
    t.equal(projection.status().rebuilds, 2);
    t.ok(await matches(store, view, chats), 'view rebuilt = last 100 of each stream');

    await send(store, mid);
    await send(store, big);
    await waitFor('live after rebuild', () => matches(store, view, chats));
    t.ok(await matches(store, view, chats), 'live messages after the rebuild arrive: view = last 100 of each chat stream');

    // A gap: the view loses one chat (eviction), then the chat moves on.
    await h.forgetChat(mid);
    t.equal(await view.read(mid, { limit: 10 }), null, 'chat unknown to the view: caller falls back');
    const backfillsBefore = projection.status().backfills;
    await send(store, mid);
    await send(store, mid);
    await waitFor('gap backfilled', () => matches(store, view, chats));
    t.ok(projection.status().backfills > backfillsBefore, 'backfilled from the stream');
    t.equal((await actual(view, mid))?.messages.length, 53, 'all 53 messages of the chat');
    t.equal(await view.epoch(), epoch2, 'a gap does not rebuild the whole view');

    // The checkpoint reaches the view (best effort, each heartbeat).
    const head = (await store.headPosition()).toString();
    await waitFor('checkpoint saved', async () => (await view.state()).checkpoint === head);

    await projection.stop();
    t.equal(projection.status().state, 'stopped');

    // Messages while no projection runs; a new one resumes from the checkpoint without a rebuild.
    await send(store, small);
    await send(store, big);
    const next = new LastMessagesProjection({ store, view, logger, epochCheckMs: 100 });
    next.start();
    await waitFor('resumed', () => matches(store, view, chats));
    t.equal(next.status().rebuilds, 0, 'resumed, not rebuilt');
    t.equal(await view.epoch(), epoch2);
    await next.stop();
  });
}

t.test('projection with the redis view', async (t) => {
  projectionSuite(t, () => openRedisView('lm-proj'));
});

t.test('projection with the in-memory view', async (t) => {
  projectionSuite(t, async () => {
    const view = new MemoryLastMessagesView();
    return {
      view,
      flush: async () => view.clear(),
      forgetChat: async (chatId) => view.forgetChat(chatId),
      cleanup: () => view.close(),
    };
  });
});
