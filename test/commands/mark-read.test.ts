// markRead next to sends, as two processes would run them (two command buses on one PostgreSQL
// store): reads never touch the chat stream, so no send meets a concurrency conflict because of
// them; the same mark written by both processes is stored once; a mark past the newest revision
// the process has not seen yet is accepted once the store has it.
import t from 'tap';
import { createCommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { markRead } from '../../commands/mark-read.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { chatStreamId, readsStreamId } from '../../domain/events.js';
import { WrongExpectedRevisionError } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createTestSchema } from '../support/pg.js';
import { stubHasher } from '../support/stub-hasher.js';
import { wrapStore } from '../support/tracked-store.js';

t.test('reads and sends from two processes', async (t) => {
  const ts = await createTestSchema('markread');
  t.teardown(() => ts.drop());
  const raw = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 6 });
  t.teardown(() => raw.close());
  const conflicts: string[] = [];
  const store = wrapStore(raw, {
    async append(streamId, events, expected) {
      try {
        return await raw.append(streamId, events, expected);
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError) conflicts.push(streamId);
        throw err;
      }
    },
  });
  let n = 0;
  const deps = (): CommandDeps => ({ bus: createCommandBus(store), hasher: stubHasher, clock: () => new Date(), newId: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}` });
  const sender = deps();
  const reader = deps();
  for (const u of ['ann', 'ben']) if (!(await register(sender, { username: u, password: 'password123' })).ok) throw new Error('register');
  const started = await startChat(sender, { initiatorId: 'ann', otherUsername: 'ben' });
  if (!started.ok) throw new Error('start');
  const chatId = started.value.chatId;

  // Ann sends 40 messages while Ben, in the other process, marks each read as soon as it is stored.
  const marks: Array<Promise<unknown>> = [];
  for (let i = 1; i <= 40; i++) {
    const sent = await sendMessage(sender, { senderId: 'ann', chatId, body: `m${i}`, clientMessageId: `c${i}` });
    if (!sent.ok) throw new Error(sent.error.code);
    marks.push(markRead(reader, { readerId: 'ben', chatId, upToRevision: sent.value.revision }));
  }
  const results = await Promise.all(marks);
  t.ok(results.every((r) => (r as { ok: boolean }).ok), 'every mark accepted (the reader\'s process had not seen the messages: it read the one event)');
  t.same(conflicts.filter((s) => s === chatStreamId(chatId)), [], 'no send met a conflict');
  const chat = await raw.readStream(chatStreamId(chatId));
  t.same([...new Set(chat.map((e) => e.type))].sort(), ['ChatStarted', 'MessageSent'], 'the chat stream holds no read');

  // The same mark from both processes: stored once (the event id is derived from it).
  const again = await Promise.all([markRead(sender, { readerId: 'ben', chatId, upToRevision: 40 }), markRead(reader, { readerId: 'ben', chatId, upToRevision: 40 })]);
  t.match(again, [{ ok: true, value: { upToRevision: 40, changed: false } }, { ok: true, value: { upToRevision: 40, changed: false } }]);
  const reads = await raw.readStream(readsStreamId(chatId, 'ben'));
  t.equal(new Set(reads.map((e) => (e.data as { upToRevision: number }).upToRevision)).size, reads.length, 'each mark once');
  t.equal((reads.at(-1)!.data as { upToRevision: number }).upToRevision, 40);
  t.match(await markRead(reader, { readerId: 'ben', chatId, upToRevision: 41 }), { ok: false, error: { code: 'READ_REVISION_AHEAD' } });
  t.match(await markRead(reader, { readerId: 'carl', chatId, upToRevision: 1 }), { ok: false, error: { code: 'NOT_A_PARTICIPANT' } });
});
