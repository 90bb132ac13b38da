// Edits and deletes of a message older than the chat state's window (DEDUPE_WINDOW messages): the state
// no longer remembers it, so the command loads its facts from the log (commands/message-facts.ts) and
// the rules are the same as for a recent one. The gateway's deleted-bodies read deletions from the log too.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { CommandDeps } from '../../commands/deps.js';
import { deleteMessage, editMessage } from '../../commands/edit-message.js';
import { createCommandBus, loadState } from '../../commands/handle-command.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { chatDecider, DEDUPE_WINDOW } from '../../domain/chat.js';
import { chatStreamId } from '../../domain/events.js';
import { deletedMessagesOf } from '../../gateways/ws/deleted-bodies.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { stubHasher } from '../support/stub-hasher.js';

t.test('an old message is edited and deleted from facts read from the log', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  t.teardown(() => store.close());
  const deps: CommandDeps = { bus: createCommandBus(store), hasher: stubHasher, clock: () => new Date(), newId: randomUUID };
  const ids: Record<string, string> = {};
  for (const u of ['alice', 'bob']) {
    const r = await register(deps, { username: u, password: 'correct horse battery' });
    if (r.ok) ids[u] = r.value.userId;
  }
  const [alice, bob] = [ids['alice']!, ids['bob']!];
  const chat = await startChat(deps, { initiatorId: alice, otherUsername: 'bob' });
  const chatId = chat.ok ? chat.value.chatId : '';
  const first = await sendMessage(deps, { senderId: alice, chatId, body: 'old words', clientMessageId: 'old' });
  const second = await sendMessage(deps, { senderId: alice, chatId, body: 'also old', clientMessageId: 'old2' });
  const [oldId, old2Id] = [first.ok ? first.value.messageId : '', second.ok ? second.value.messageId : ''];
  // Deleted while still remembered: the log, not the state, must say so once the window forgets it.
  t.ok((await deleteMessage(deps, { deleterId: alice, chatId, messageId: old2Id, clientDeleteId: 'd0' })).ok);
  let sent = 0;
  for (let i = 0; i < DEDUPE_WINDOW; i++) if ((await sendMessage(deps, { senderId: bob, chatId, body: `m${i}`, clientMessageId: `b${i}` })).ok) sent++;
  t.equal(sent, DEDUPE_WINDOW, 'a window of newer messages');

  const { state } = await loadState(deps.bus, chatStreamId(chatId), chatDecider);
  t.ok(state.started && state.recentMessages.size === DEDUPE_WINDOW && !state.recentMessages.has(oldId), 'the state forgot the old messages');

  // A cold bus too: facts come from the log whatever the cache holds.
  for (const bus of [deps.bus, createCommandBus(store)]) {
    const d = { ...deps, bus };
    t.match(await editMessage(d, { editorId: bob, chatId, messageId: oldId, clientEditId: 'x', body: 'not mine' }), { ok: false, error: { code: 'NOT_MESSAGE_SENDER' } });
    t.match(await editMessage(d, { editorId: alice, chatId, messageId: randomUUID(), clientEditId: 'x', body: 'who' }), { ok: false, error: { code: 'MESSAGE_NOT_FOUND' } });
    t.match(await editMessage(d, { editorId: alice, chatId, messageId: old2Id, clientEditId: 'x', body: 'back' }), { ok: false, error: { code: 'MESSAGE_DELETED' } }, 'a deletion the state forgot is read from the log');
  }
  const edited = await editMessage(deps, { editorId: alice, chatId, messageId: oldId, clientEditId: 'e1', body: 'old words, fixed' });
  t.match(edited, { ok: true, value: { duplicate: false } }, 'the sender edits an old message');
  const deleted = await deleteMessage(deps, { deleterId: alice, chatId, messageId: oldId, clientDeleteId: 'd1' });
  t.match(deleted, { ok: true, value: { duplicate: false } }, 'and deletes it');
  const again = await deleteMessage({ ...deps, bus: createCommandBus(store) }, { deleterId: alice, chatId, messageId: oldId, clientDeleteId: 'd1' });
  t.match(again, { ok: true, value: { duplicate: true } }, 'its retry is answered as done');
  if (deleted.ok && again.ok) t.same([again.value.revision, again.value.position], [deleted.value.revision, deleted.value.position], 'with where the delete was appended');
  t.match(await deleteMessage(deps, { deleterId: alice, chatId, messageId: oldId, clientDeleteId: 'd2' }), { ok: false, error: { code: 'MESSAGE_DELETED' } });
  t.match(await editMessage(deps, { editorId: alice, chatId, messageId: oldId, clientEditId: 'e2', body: 'again' }), { ok: false, error: { code: 'MESSAGE_DELETED' } });

  const blanked = await deletedMessagesOf(createCommandBus(store), chatId, 1);
  t.ok(blanked.has(oldId) && blanked.has(old2Id), 'a backlog from the start blanks both old deleted messages');
  t.notOk((await deletedMessagesOf(deps.bus, chatId, 2 + DEDUPE_WINDOW)).has(old2Id), 'one within the window needs no read of older deletions');
});
