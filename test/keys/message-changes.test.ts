// An edit's body goes through the same sealing as a send's: the log holds MessageEdited v2 with
// `bodySealed` and no plaintext; reads open it back to v1; after the sender's erasure it reads as
// erased (body '', erased: true), and a further edit is refused with USER_ERASED.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import { createCommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { deleteMessage, editMessage } from '../../commands/edit-message.js';
import { eraseUser } from '../../commands/erase-user.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { chatStreamId } from '../../domain/events.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { SealedEventStore } from '../../infra/keys/sealed-store.js';
import { SqliteKeyStore } from '../../infra/keys/sqlite.js';
import { stubHasher } from '../support/stub-hasher.js';

t.test('edits are sealed like sends, and erased with their sender', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-edit-keys-'));
  const raw = EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
  const keys = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') });
  const kek = randomBytes(32);
  const ring = new KeyRing({ store: keys, kek });
  const sealed = new SealedEventStore(raw, ring);
  t.teardown(async () => { await sealed.close(); rmSync(dir, { recursive: true, force: true }); });
  const deps: CommandDeps = { bus: createCommandBus(sealed), hasher: stubHasher, clock: () => new Date(), newId: randomUUID };

  for (const u of ['alice', 'bob']) t.ok((await register(deps, { username: u, password: 'correct horse battery' })).ok);
  const chat = await startChat(deps, { initiatorId: 'alice', otherUsername: 'bob' });
  const chatId = chat.ok ? chat.value.chatId : '';
  const sent = await sendMessage(deps, { senderId: 'alice', chatId, body: 'first words', clientMessageId: 'c1' });
  const messageId = sent.ok ? sent.value.messageId : '';
  const phrase = `edited-${randomUUID()}`;
  t.ok((await editMessage(deps, { editorId: 'alice', chatId, messageId, clientEditId: 'e1', body: phrase })).ok);

  const stored = (await raw.readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageEdited');
  t.equal(stored.length, 1);
  t.equal(stored[0]!.metadata['schemaVersion'], 2, 'MessageEdited v2 in the log');
  t.ok(typeof (stored[0]!.data as Record<string, unknown>)['bodySealed'] === 'string', 'with the body sealed');
  t.notOk(JSON.stringify(stored.map((e) => e.data)).includes(phrase), 'and no plaintext');
  const opened = (await sealed.readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageEdited');
  t.match(opened[0]?.data, { body: phrase, clientEditId: 'e1' }, 'opened on read');
  t.equal(opened[0]?.metadata['schemaVersion'], 1, 'as the domain\'s version 1');

  t.ok((await eraseUser({ ...deps, keys: ring }, { username: 'alice', by: 'operator' })).ok);
  const after = (await new SealedEventStore(raw, new KeyRing({ store: keys, kek })).readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageEdited');
  t.match(after[0]?.data, { body: '', erased: true }, 'after the erasure the edit reads as erased');
  const late = await editMessage(deps, { editorId: 'alice', chatId, messageId, clientEditId: 'e2', body: 'too late' });
  t.match(late, { ok: false, error: { code: 'USER_ERASED' } }, 'an edit after the erasure is refused');
  const del = await deleteMessage(deps, { deleterId: 'alice', chatId, messageId, clientDeleteId: 'd1' });
  t.ok(del.ok || del.error.code === 'USER_ERASED', 'a delete carries no body: nothing to seal');
});
