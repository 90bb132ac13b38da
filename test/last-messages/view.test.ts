// One behaviour suite for both last-messages adapters (Redis and in-memory): they must be interchangeable.
import t, { type Test } from 'tap';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import type { LastMessagesViewAdmin, ViewMessage } from '../../projections/ports/last-messages.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { chatStarted, memoryLogger, messageSent, openRedisView, withRedis } from '../support/last-messages.js';

interface Harness {
  view: LastMessagesViewAdmin;
  /** Loses everything, as FLUSHALL or a restart without persistence would. */
  flush(): Promise<void>;
  /** Loses one chat, as an eviction would. */
  forgetChat(chatId: string): Promise<void>;
  /** How many entries the adapter really stores for a chat (not through read). */
  stored(chatId: string): Promise<number>;
  cleanup(): Promise<void>;
}

const revs = (ms: ViewMessage[] | undefined): number[] => (ms ?? []).map((m) => m.revision);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** open(capacity): a fresh, empty view of the adapter; capacity unset = the default (100). */
function viewSuite(t: Test, open: (capacity?: number) => Promise<Harness>): void {
  let h: Harness;
  let view: LastMessagesViewAdmin;
  let epoch: string;
  t.before(async () => {
    h = await open();
    view = h.view;
  });
  t.teardown(() => h.cleanup());

  t.test('not ready until a rebuild finishes; then an epoch', async (t) => {
    t.same(await view.state(), { epoch: null, state: null, checkpoint: null, capacity: null }, 'empty view');
    t.equal(await view.epoch(), null);
    epoch = await view.beginRebuild();
    t.equal(await view.apply(chatStarted('a:b')), 'applied', 'applies while rebuilding');
    t.equal(await view.read('a:b', { limit: 10 }), null, 'but readers do not use it yet');
    t.equal(await view.epoch(), null);
    t.same(await view.state(), { epoch, state: 'rebuilding', checkpoint: null, capacity: 100 }, 'built for its capacity');
    t.equal(await view.finishRebuild('not-the-epoch', '5'), false, 'compare-and-set on the epoch');
    t.equal(await view.finishRebuild(epoch, '5'), true);
    t.equal(await view.epoch(), epoch);
    t.same(await view.state(), { epoch, state: 'ready', checkpoint: '5', capacity: 100 });
    t.equal(await view.heartbeat(epoch, '9'), true);
    t.equal(await view.heartbeat('other', '10'), false);
    t.equal((await view.state()).checkpoint, '9');
  });

  t.test('in-order apply, duplicates and out-of-date revisions ignored, ordering', async (t) => {
    const chat = 'c:d';
    t.equal(await view.read(chat, { limit: 10 }), null, 'unknown chat: null');
    t.equal(await view.apply(chatStarted(chat)), 'applied');
    const empty = await view.read(chat, { limit: 10 });
    t.same(empty, { epoch, messages: [], lastRevision: 0, complete: true }, 'known chat without messages');
    const sent = range(1, 5).map((r) => messageSent(chat, r));
    for (const m of sent) t.equal(await view.apply(m), 'applied');
    t.equal(await view.apply(sent[2]!), 'duplicate', 'same event again');
    t.equal(await view.apply(messageSent(chat, 2, 'rewritten')), 'duplicate', 'an older revision never overwrites');
    t.equal(await view.apply(chatStarted(chat)), 'duplicate', 'ChatStarted again');
    const page = await view.read(chat, { limit: 10 });
    t.equal(page?.epoch, epoch);
    t.same(revs(page?.messages), [1, 2, 3, 4, 5], 'ascending by revision');
    t.equal(page?.lastRevision, 5);
    t.equal(page?.complete, true);
    t.equal(page?.messages[1]?.body, 'message 2', 'first write kept');
    const d = sent[0]!.data;
    t.same(page?.messages[0], {
      chatId: chat, messageId: d['messageId'], senderId: d['senderId'], clientMessageId: 'c1', body: 'message 1',
      sentAt: d['sentAt'], revision: 1, position: sent[0]!.position,
    }, 'every field of the message');
    const other = { ...messageSent(chat, 6), type: 'UserLoggedIn' };
    t.equal(await view.apply(other), 'ignored', 'not a chat event');
    const bad = messageSent(chat, 6);
    t.equal(await view.apply({ ...bad, data: { ...bad.data, body: 42 } }), 'ignored', 'malformed message');
  });

  t.test('gaps are reported, not applied', async (t) => {
    const chat = 'e:f';
    t.equal(await view.apply(messageSent(chat, 5)), 'gap', 'unknown chat, message past revision 1');
    t.equal(await view.read(chat, { limit: 10 }), null, 'still unknown');
    t.equal(await view.apply(messageSent(chat, 1)), 'applied', 'unknown chat at revision 1 (ChatStarted missed): fine');
    t.equal(await view.apply(messageSent(chat, 3)), 'gap');
    t.equal(await view.apply(messageSent(chat, 2)), 'applied');
    t.equal(await view.apply(messageSent(chat, 3)), 'applied');
    t.same(revs((await view.read(chat, { limit: 10 }))?.messages), [1, 2, 3]);
  });

  t.test('never more than 100 messages per chat; pages by revision', async (t) => {
    const chat = 'g:h';
    const results = await view.applyBatch([chatStarted(chat), ...range(1, 250).map((r) => messageSent(chat, r))]);
    t.ok(results.every((r) => r === 'applied'), 'batch applied in order');
    t.equal(await h.stored(chat), 100, 'stored entries trimmed to 100');

    const newest = await view.read(chat, { limit: 1000 });
    t.same(revs(newest?.messages), range(151, 250), 'the newest 100');
    t.equal(newest?.complete, false, 'asked for more than the view holds');
    t.equal(newest?.lastRevision, 250);
    const hundred = await view.read(chat, { limit: 100 });
    t.same(revs(hundred?.messages), range(151, 250));
    t.equal(hundred?.complete, true);
    const latest = await view.read(chat, { limit: 3 });
    t.same(revs(latest?.messages), [248, 249, 250]);
    t.equal(latest?.complete, true);

    const before = await view.read(chat, { beforeRevision: 200, limit: 10 });
    t.same(revs(before?.messages), range(190, 199), 'before: the newest 10 below 200');
    t.equal(before?.complete, true);
    const straddling = await view.read(chat, { beforeRevision: 160, limit: 20 });
    t.same(revs(straddling?.messages), range(151, 159), 'before, partly held: the held part');
    t.equal(straddling?.complete, false, 'and says so');
    const gone = await view.read(chat, { beforeRevision: 100, limit: 10 });
    t.same(revs(gone?.messages), []);
    t.equal(gone?.complete, false, 'trimmed away: fall back');
    const start = await view.read(chat, { beforeRevision: 1, limit: 10 });
    t.same(start?.messages, []);
    t.equal(start?.complete, true, 'nothing before revision 1');

    const after = await view.read(chat, { afterRevision: 240, limit: 5 });
    t.same(revs(after?.messages), range(241, 245), 'after: the oldest 5 above 240');
    t.equal(after?.complete, true);
    const tail = await view.read(chat, { afterRevision: 245, limit: 50 });
    t.same(revs(tail?.messages), range(246, 250));
    t.equal(tail?.complete, true, 'up to the last revision is all there is');
    const caughtUp = await view.read(chat, { afterRevision: 250, limit: 50 });
    t.same(caughtUp?.messages, []);
    t.equal(caughtUp?.complete, true);
    const old = await view.read(chat, { afterRevision: 100, limit: 10 });
    t.equal(old?.complete, false, 'after, trimmed away: not complete (what the page holds is not to be served)');
    const between = await view.read(chat, { afterRevision: 200, beforeRevision: 204, limit: 10 });
    t.same(revs(between?.messages), [201, 202, 203]);
    t.equal(between?.complete, true);
    t.same(await view.read(chat, { limit: 0 }), { epoch, messages: [], lastRevision: 250, complete: true });

    t.equal(await view.apply(messageSent(chat, 251)), 'applied');
    t.equal(await h.stored(chat), 100, 'still 100 after one more');
    t.same(revs((await view.read(chat, { limit: 100 }))?.messages), range(152, 251));
  });

  t.test('replaceChat: atomic backfill, never backwards', async (t) => {
    const chat = 'i:j';
    await h.forgetChat(chat);
    const messages = range(31, 150).map((r) => messageSent(chat, r)).map((rec): ViewMessage => ({
      chatId: chat, messageId: String(rec.data['messageId']), senderId: 'i', clientMessageId: `c${rec.revision}`, body: `message ${rec.revision}`,
      sentAt: '2026-01-01T00:00:00.000Z', revision: rec.revision, position: rec.position,
    }));
    t.equal(await view.replaceChat(chat, [...messages].reverse(), 150), 'applied');
    const page = await view.read(chat, { limit: 100 });
    t.same(revs(page?.messages), range(51, 150), 'sorted and cut to the newest 100');
    t.equal(page?.lastRevision, 150);
    t.equal(await h.stored(chat), 100);
    t.equal(await view.replaceChat(chat, messages.slice(0, 10), 140), 'stale', 'an older snapshot is refused');
    t.equal(await view.replaceChat(chat, messages, 150), 'stale', 'the same one too');
    t.equal(await view.apply(messageSent(chat, 151)), 'applied', 'live applies continue after it');
    t.equal(await view.apply(messageSent(chat, 150)), 'duplicate');
  });

  t.test('a lost view: state gone, rebuild empties chats under a new epoch', async (t) => {
    await h.flush();
    t.same(await view.state(), { epoch: null, state: null, checkpoint: null, capacity: null });
    t.equal(await view.read('c:d', { limit: 10 }), null);
    t.equal(await view.epoch(), null);
    t.equal(await view.heartbeat(epoch, '10'), false, 'the heartbeat notices');
    await view.apply(chatStarted('k:l')); // an apply that raced the flush
    const next = await view.beginRebuild();
    t.not(next, epoch, 'a new epoch');
    t.equal(await view.finishRebuild(next, '0'), true);
    t.equal(await view.read('k:l', { limit: 10 }), null, 'chats from before the rebuild are gone');
    t.equal(await view.epoch(), next);
  });

  t.test('the capacity is a setting: every write keeps exactly the newest N', async (t) => {
    const h7 = await open(7);
    t.teardown(() => h7.cleanup());
    const small = h7.view;
    t.equal(small.capacity, 7);
    const e = await small.beginRebuild();
    t.equal((await small.state()).capacity, 7, 'the state records the capacity it was built for');
    const chat = 'm:n';
    const results = await small.applyBatch([chatStarted(chat), ...range(1, 20).map((r) => messageSent(chat, r))]);
    t.ok(results.every((r) => r === 'applied'), 'batch applied');
    t.equal(await small.finishRebuild(e, '1'), true);
    t.equal(await h7.stored(chat), 7, 'a batch trims to 7');
    t.equal(await small.apply(messageSent(chat, 21)), 'applied');
    t.equal(await h7.stored(chat), 7, 'a single apply trims to 7');
    const page = await small.read(chat, { limit: 100 });
    t.same(revs(page?.messages), range(15, 21), 'the newest 7');
    t.equal(page?.complete, false, 'more asked than held');
    t.equal((await small.read(chat, { limit: 7 }))?.complete, true, 'exactly the held 7: complete');
    const other = 'o:p';
    const held = range(1, 30).map((r) => messageSent(other, r)).map((rec): ViewMessage => ({
      chatId: other, messageId: String(rec.data['messageId']), senderId: 'o', clientMessageId: `c${rec.revision}`, body: `message ${rec.revision}`,
      sentAt: '2026-01-01T00:00:00.000Z', revision: rec.revision, position: rec.position,
    }));
    t.equal(await small.replaceChat(other, held, 30), 'applied');
    t.same(revs((await small.read(other, { limit: 100 }))?.messages), range(24, 30), 'a backfill keeps the newest 7');
    t.equal(await h7.stored(other), 7);
  });
}

t.test('memory adapter', async (t) => {
  viewSuite(t, async (capacity) => {
    const view = new MemoryLastMessagesView({ capacity });
    return {
      view,
      async flush() {
        view.clear();
      },
      async forgetChat(chatId) {
        view.forgetChat(chatId);
      },
      async stored(chatId) {
        return (await view.read(chatId, { limit: 1000 }))?.messages.length ?? -1;
      },
      cleanup: () => view.close(),
    };
  });
});

t.test('redis adapter', async (t) => {
  viewSuite(t, async (capacity) => {
    const h = await openRedisView('lm-view', 10_000, { capacity });
    return { ...h, stored: (chatId) => withRedis((r) => r.zcard(`${h.prefix}view:chat:${chatId}:messages`)) };
  });
});

t.test('redis adapter from config: none without REDIS_URL', async (t) => {
  const { logger } = memoryLogger();
  t.equal(RedisLastMessagesView.fromConfig({ redisUrl: undefined, redisKeyPrefix: 'chat:', redisCommandTimeoutMs: 200 }, logger), null);
});
