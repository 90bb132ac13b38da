// The projection fed by the projector's broker consumer (BrokerViewFeed) instead of a log subscription:
// live deliveries reach the view with no subscription of its own; deliveries it never gets (RabbitMQ or
// the relay down) are replayed from the log; a missed delivery in a chat is a gap, backfilled; a restart
// resumes from the view's checkpoint; the SQL sink and the view are both done before feedingView resolves.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { toEventData } from '../../commands/ports/codec.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { chatStreamId, type DomainEvent } from '../../domain/events.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { BrokerViewFeed, feedingView } from '../../projections/last-messages-feed.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { chatChangeOf, type LastMessagesViewAdmin, type ViewMessage } from '../../projections/ports/last-messages.js';
import { toPublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import { memoryLogger, openRedisView, waitFor } from '../support/last-messages.js';

const AT = '2026-01-01T00:00:00.000Z';
let sent = 0;

async function append(store: EventStore, streamId: string, event: DomainEvent): Promise<void> {
  await store.append(streamId, [toEventData(event, randomUUID())], 'any');
}

function started(chatId: string): DomainEvent {
  const [a, b] = chatId.split(':') as [string, string];
  return { type: 'ChatStarted', version: 1, data: { chatId, participants: [a, b], startedBy: a, at: AT } };
}
function message(chatId: string): DomainEvent {
  sent += 1;
  return { type: 'MessageSent', version: 2, data: { chatId, messageId: randomUUID(), senderId: chatId.split(':')[0]!, clientMessageId: `k${sent}`, body: `hello ${sent}`, sentAt: AT } };
}

async function expected(store: EventStore, chatId: string): Promise<{ lastRevision: number; messages: ViewMessage[] }> {
  const events = await store.readStream(chatStreamId(chatId));
  const messages = events.map((e) => chatChangeOf(toPublicRecord(e))).flatMap((c) => (c?.kind === 'message' ? [c.message] : []));
  return { lastRevision: events[events.length - 1]!.revision, messages: messages.slice(-100) };
}

async function matches(store: EventStore, view: LastMessagesViewAdmin, chats: string[]): Promise<boolean> {
  for (const chatId of chats) {
    const page = await view.read(chatId, { limit: 100 });
    if (!isDeepStrictEqual(page && { lastRevision: page.lastRevision, messages: page.messages }, await expected(store, chatId))) return false;
  }
  return true;
}

/** The store, with its subscriptions counted: a broker-fed projection opens none. */
function counted(store: EventStore): { store: EventStore; subscriptions: () => number } {
  let n = 0;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'subscribeToAll') n += 1;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, subscriptions: () => n };
}

/** What the consumer would deliver: the log's records after `after` (all of them, or a filtered part). */
async function deliveriesAfter(store: EventStore, after: bigint): Promise<{ records: PublicRecord[]; last: bigint }> {
  const page = await store.readAll({ after, maxCount: 10_000 });
  return { records: page.map(toPublicRecord), last: page.length > 0 ? page[page.length - 1]!.position : after };
}

t.test('a broker-fed view: live offers, silence replayed from the log, gaps, restart', async (t) => {
  const base = EmbeddedEventStore.open({ file: ':memory:' });
  const { store, subscriptions } = counted(base);
  const h = await openRedisView('feed');
  const { logger } = memoryLogger();
  t.teardown(async () => {
    await h.cleanup();
    await base.close();
  });
  const chats = ['ann:bob', 'cat:dan'];
  for (const c of chats) await append(store, chatStreamId(c), started(c));
  for (let i = 0; i < 5; i++) await append(store, chatStreamId(chats[0]!), message(chats[0]!));

  const feed = new BrokerViewFeed();
  // A heartbeat that finds the checkpoint where the previous one left it, with the log ahead, ends the
  // live pass ("the feed is behind") and replays from the log. Two heartbeats of 2 s are more than the
  // live and gap parts below take even on a loaded machine, so their offers (between appending and
  // offering, the log is ahead) are not pre-empted by a replay; the silence part waits for those two.
  let projection = new LastMessagesProjection({ store, view: h.view, logger, feed, epochCheckMs: 2_000 });
  projection.start();
  await waitFor('live', () => projection.status().state === 'live');
  t.ok(await matches(store, h.view, chats), 'built from the log at start');

  // Live: deliveries through feedingView reach the view before it resolves, with the sink's result.
  let after = BigInt(projection.status().checkpoint);
  const sunk: PublicRecord[] = [];
  const sink = feedingView({ applyBatch: async (records: PublicRecord[]) => { sunk.push(...records); return { applied: records.length }; } }, feed);
  for (let i = 0; i < 20; i++) await append(store, chatStreamId(chats[i % 2]!), message(chats[i % 2]!));
  const d = await deliveriesAfter(store, after);
  t.same(await sink.applyBatch(d.records), { applied: 20 }, 'the sink result comes through');
  t.equal(sunk.length, 20);
  t.ok(await matches(store, h.view, chats), 'the offered batch is in the view when applyBatch resolves');
  t.equal(projection.status().checkpoint, d.last.toString(), 'the checkpoint follows the deliveries');
  after = d.last;

  // A delivery lost in the middle of a chat: the next one is a gap, backfilled from the log.
  for (let i = 0; i < 3; i++) await append(store, chatStreamId(chats[0]!), message(chats[0]!));
  const gap = await deliveriesAfter(store, after);
  await feed.offer([gap.records[0]!, gap.records[2]!]);
  t.ok(await matches(store, h.view, chats), 'gap backfilled');
  t.equal(projection.status().backfills, 1);
  after = gap.last;

  // Silence: the log moves on but nothing is delivered (RabbitMQ down). The view still catches up.
  for (let i = 0; i < 7; i++) await append(store, chatStreamId(chats[1]!), message(chats[1]!));
  await waitFor('view matches the log', () => matches(store, h.view, chats), 30_000);
  t.ok(await matches(store, h.view, chats), 'silent feed: replayed from the log');
  await waitFor('live', () => projection.status().state === 'live');
  after = BigInt(projection.status().checkpoint);

  // A restart: appended while stopped, not delivered; the next start replays them from the view's checkpoint.
  await projection.stop();
  for (let i = 0; i < 4; i++) await append(store, chatStreamId(chats[0]!), message(chats[0]!));
  projection = new LastMessagesProjection({ store, view: h.view, logger, feed, epochCheckMs: 100 });
  projection.start();
  await waitFor('live', () => projection.status().state === 'live');
  t.ok(await matches(store, h.view, chats), 'caught up after the restart');
  // Redeliveries of what the view holds change nothing.
  await feed.offer((await deliveriesAfter(store, 0n)).records);
  t.ok(await matches(store, h.view, chats), 'redelivered: unchanged');
  t.equal(subscriptions(), 0, 'no log subscription of its own');
  await projection.stop();
});
