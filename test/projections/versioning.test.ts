// Event versioning: a log holding MessageSent as version 1 wrote it (metadata schemaVersion 1, no
// clientMessageId) is read as version 2 everywhere: by the command handler (a v1 message
// de-duplicates on its own id) and by the projections; the stored events are never rewritten.
import t, { type Test } from 'tap';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { chatStreamId } from '../../domain/events.js';
import { toDomainEvent } from '../../commands/ports/codec.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { messageCountsPerDay } from '../../projections/messages-per-user-per-day.js';
import { auditActivity } from '../../projections/audit/export.js';
import { settledHead } from '../support/tracked-store.js';
import { project } from '../audit/support.js';
import { m } from './kit-events.js';
import { depsWithClock, dumpTable, onBothStores, type TestReadModels } from './support.js';

async function versionOneLog(t: Test, store: EventStore, rm: TestReadModels): Promise<void> {
  const deps = depsWithClock(store);
  for (const u of ['alice', 'bob']) t.ok((await register(deps, { username: u, password: 'password1', role: 'user' })).ok);
  const chatId = (await startChat(deps, { initiatorId: 'alice', otherUsername: 'bob' }));
  t.ok(chatId.ok);
  const stream = chatStreamId('alice:bob');
  const v1 = (n: number, senderId: string, body: string) => ({
    id: m(n), type: 'MessageSent', metadata: { schemaVersion: 1 },
    data: { chatId: 'alice:bob', messageId: m(n), senderId, body, sentAt: `2025-12-31T10:00:0${n}.000Z` },
  });
  await store.append(stream, [v1(1, 'alice', 'written by v1'), v1(2, 'bob', 'also v1')], 0);

  // The stored events stay as written; every read lifts them to version 2.
  const stored = (await store.readStream(stream)).filter((e) => e.type === 'MessageSent');
  t.same(stored.map((e) => [e.metadata['schemaVersion'], 'clientMessageId' in (e.data as object)]), [[1, false], [1, false]], 'the log is not rewritten');
  t.same(stored.map((e) => toDomainEvent(e)), [
    { type: 'MessageSent', version: 2, data: { chatId: 'alice:bob', messageId: m(1), senderId: 'alice', body: 'written by v1', sentAt: '2025-12-31T10:00:01.000Z', clientMessageId: m(1) } },
    { type: 'MessageSent', version: 2, data: { chatId: 'alice:bob', messageId: m(2), senderId: 'bob', body: 'also v1', sentAt: '2025-12-31T10:00:02.000Z', clientMessageId: m(2) } },
  ], 'upcast: the message id stands in for the clientMessageId');
  t.same(stored.map((e) => toPublicRecord(e).version), [2, 2]);

  // The command handler folds the upcast events: a retry of a v1 message is recognised by its id.
  const head = await settledHead(store);
  const retry = await sendMessage(deps, { senderId: 'alice', chatId: 'alice:bob', body: 'written by v1', clientMessageId: m(1) });
  t.match(retry, { ok: true, value: { duplicate: true, messageId: m(1), revision: 1 } }, 'sendMessage de-duplicates against the v1 message');
  t.equal(await settledHead(store), head, 'nothing appended');
  const other = await sendMessage(deps, { senderId: 'bob', chatId: 'alice:bob', body: 'new', clientMessageId: m(1) });
  t.match(other, { ok: true, value: { duplicate: false, revision: 3 } }, 'the same id from the other sender is a new message (v2)');
  const v2 = (await store.readStream(stream)).at(-1)!;
  t.same([v2.metadata['schemaVersion'], (v2.data as Record<string, unknown>)['clientMessageId']], [2, m(1)]);

  // The projections see version 2 as well.
  await project(store, rm.orm);
  const messages = (await dumpTable(rm.orm, 'messages')).map((l) => JSON.parse(l) as Record<string, string>).sort((a, b) => Number(a['revision']) - Number(b['revision']));
  t.same(messages.map((r) => [r['revision'], r['sender_id'], r['client_message_id'], r['body']]), [
    ['1', 'alice', m(1), 'written by v1'], ['2', 'bob', m(2), 'also v1'], ['3', 'bob', m(1), 'new'],
  ], 'messages: the v1 rows carry their id as clientMessageId');
  t.match(JSON.parse((await dumpTable(rm.orm, 'chats'))[0]!), { last_message_revision: '3', last_message_body: 'new' });
  t.same(await messageCountsPerDay(rm.orm.db, { userId: 'bob' }), [{ day: '2025-12-31', count: 1 }, { day: '2026-01-01', count: 1 }]);
  const sends = [];
  for await (const r of auditActivity(store, { action: 'send_message' })) sends.push([r.userId, r.eventId]);
  t.same(sends.slice(0, 2), [['alice', m(1)], ['bob', m(2)]], 'and the audit');
}

onBothStores(t, 'a version-1 log', { store: 'v1log', readModels: 'v1rm' }, versionOneLog);
