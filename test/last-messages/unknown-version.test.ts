// The last-100 view never guesses either: a MessageSent of a schema version this release cannot read
// (written by a newer release) is skipped with a warning, in the initial build and live, and the
// messages around it are served as usual.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { chatStreamId, userStreamId } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { memoryLogger, waitFor } from '../support/last-messages.js';

const AT = '2026-01-01T00:00:00.000Z';

t.test('a MessageSent of an unknown version is skipped with a warning, before and after going live', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const view = new MemoryLastMessagesView();
  const { logger, lines } = memoryLogger();
  const projection = new LastMessagesProjection({ store, view, logger, epochCheckMs: 100 });
  t.teardown(async () => {
    await projection.stop();
    await view.close();
    await store.close();
  });
  const chatId = 'ann:ben';
  const stream = chatStreamId(chatId);
  await store.append(userStreamId('ann'), [toEventData({ type: 'UserRegistered', version: 1, data: { userId: 'ann', username: 'ann', passwordHash: 'x', role: 'user', registeredAt: AT } }, randomUUID())], 'any');
  await store.append(stream, [toEventData({ type: 'ChatStarted', version: 1, data: { chatId, participants: ['ann', 'ben'], startedBy: 'ann', at: AT } }, randomUUID())], 'any');
  const message = (n: number) => ({ chatId, messageId: randomUUID(), senderId: 'ann', clientMessageId: `c${n}`, body: `m${n}`, sentAt: AT });
  const v9 = (n: number) => ({ id: randomUUID(), type: 'MessageSent', metadata: { schemaVersion: 9 }, data: { ...message(n), format: 'markdown' } });
  await store.append(stream, [toEventData({ type: 'MessageSent', version: 2, data: message(1) }, randomUUID()), v9(2)], 'any');

  projection.start();
  const bodies = async (): Promise<string[]> => ((await view.read(chatId, { limit: 100 }))?.messages ?? []).map((m) => m.body);
  const live = async (): Promise<boolean> => projection.status().state === 'live' && projection.status().checkpoint === (await store.headPosition()).toString();
  await waitFor('built', live);
  t.same(await bodies(), ['m1'], 'the v9 message is not in the view as a v2 one');

  await store.append(stream, [v9(3), toEventData({ type: 'MessageSent', version: 2, data: message(4) }, randomUUID())], 'any');
  await waitFor('live message', async () => (await bodies()).includes('m4'));
  t.same(await bodies(), ['m1', 'm4']);
  const warnings = lines.filter((l) => l['msg'] === 'last-messages: event of a version this release cannot read skipped');
  t.ok(warnings.length >= 2, 'each skip is logged');
  t.match(warnings[0], { type: 'MessageSent', version: 9 });
  t.notOk(JSON.stringify(lines).includes('markdown'), 'the event data is not logged');
});
