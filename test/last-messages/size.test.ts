// LAST_MESSAGES_SIZE changed between restarts: the projection rebuilds the (persistent, Redis) view
// under a new epoch and serves exactly the newest N; a restart with the same size resumes instead.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { chatStreamId, userStreamId, type DomainEvent } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { loadConfig, ConfigError } from '../../infra/config.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { memoryLogger, newPrefix, openRedisView, waitFor, type RedisViewHarness } from '../support/last-messages.js';

const AT = '2026-01-01T00:00:00.000Z';
const append = (store: EventStore, streamId: string, event: DomainEvent) => store.append(streamId, [toEventData(event, randomUUID())], 'any');

t.test('LAST_MESSAGES_SIZE: validated, 100 by default', async (t) => {
  t.equal(loadConfig({}).lastMessagesSize, 100);
  t.equal(loadConfig({ LAST_MESSAGES_SIZE: '10000' }).lastMessagesSize, 10_000);
  t.equal(loadConfig({ LAST_MESSAGES_SIZE: '1' }).lastMessagesSize, 1);
  for (const bad of ['0', '10001', '-5', '1.5', 'many']) {
    t.throws(() => loadConfig({ LAST_MESSAGES_SIZE: bad }), ConfigError, `"${bad}" refused`);
  }
  t.throws(() => loadConfig({ LAST_MESSAGES_SIZE: '0' }), /LAST_MESSAGES_SIZE/, 'the message names the variable');
});

t.test('a restart with another size rebuilds with a new epoch and serves exactly the newest N', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const prefix = newPrefix('lm-size');
  const { logger } = memoryLogger();
  const open: RedisViewHarness[] = [];
  t.teardown(async () => {
    for (const h of open.slice(0, -1)) await h.view.close();
    await open.at(-1)?.cleanup();
    await store.close();
  });

  const a = `ann${randomUUID().slice(0, 4)}`;
  const chatId = `${a}:zed`;
  await append(store, userStreamId(a), { type: 'UserRegistered', version: 1, data: { userId: a, username: a, passwordHash: '$argon2id$x', role: 'user', registeredAt: AT } });
  await append(store, chatStreamId(chatId), { type: 'ChatStarted', version: 1, data: { chatId, participants: [a, 'zed'], startedBy: a, at: AT } });
  for (let i = 1; i <= 150; i++) {
    await append(store, chatStreamId(chatId), {
      type: 'MessageSent', version: 2, data: { chatId, messageId: randomUUID(), senderId: a, clientMessageId: `k${i}`, body: `hello ${i}`, sentAt: AT },
    });
  }
  const head = (await store.headPosition()).toString();

  /** One process lifetime: a view of `size` on the same keys, a projection until it is live at the head. */
  async function run(size: number): Promise<{ epoch: string | null; rebuilds: number; revisions: number[]; complete: boolean | undefined }> {
    const h = await openRedisView('lm-size', 10_000, { prefix, capacity: size });
    open.push(h);
    const projection = new LastMessagesProjection({ store, view: h.view, logger, epochCheckMs: 100 });
    projection.start();
    await waitFor(`live with size ${size}`, () => {
      const s = projection.status();
      return s.state === 'live' && s.checkpoint === head;
    });
    const page = await h.view.read(chatId, { limit: 10_000 });
    const result = { epoch: await h.view.epoch(), rebuilds: projection.status().rebuilds, revisions: page?.messages.map((m) => m.revision) ?? [], complete: page?.complete };
    await projection.stop();
    await h.view.close();
    return result;
  }
  const newest = (n: number): number[] => Array.from({ length: n }, (_, i) => 151 - n + i);

  const first = await run(100);
  t.equal(first.rebuilds, 1, 'the empty view is built');
  t.same(first.revisions, newest(100), 'size 100: the newest 100');

  const same = await run(100);
  t.equal(same.rebuilds, 0, 'same size: resumed, not rebuilt');
  t.equal(same.epoch, first.epoch, 'same epoch');

  const smaller = await run(30);
  t.equal(smaller.rebuilds, 1, 'size 30: rebuilt');
  t.not(smaller.epoch, first.epoch, 'under a new epoch');
  t.same(smaller.revisions, newest(30), 'exactly the newest 30');
  t.equal(smaller.complete, false, 'a read for more says the view does not hold it all');

  const larger = await run(140);
  t.equal(larger.rebuilds, 1, 'size 140: rebuilt');
  t.not(larger.epoch, smaller.epoch, 'under a new epoch');
  t.same(larger.revisions, newest(140), 'exactly the newest 140');
});
