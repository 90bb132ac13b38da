// Edits and deletes in the last-messages view, on both adapters: a MessageEdited or MessageDeleted
// takes its revision like any chat event and changes the held message in place (a deleted one keeps
// no body, and no later edit brings one back); a page over revisions taken by changes is never
// reported complete when it is not, so readers fall back rather than miss a message.
import t, { type Test } from 'tap';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { LastMessagesViewAdmin } from '../../projections/ports/last-messages.js';
import { chatStarted, forBothAdapters, messageSent, withReadyView, type OpenView } from '../support/last-messages.js';

let position = 1_000_000;
const change = (type: 'MessageEdited' | 'MessageDeleted', sent: PublicRecord, revision: number, body = ''): PublicRecord => {
  const { chatId, messageId, senderId } = sent.data as { chatId: string; messageId: string; senderId: string };
  const data = type === 'MessageEdited'
    ? { chatId, messageId, senderId, clientEditId: `e${revision}`, body, editedAt: '2026-01-01T00:05:00.000Z' }
    : { chatId, messageId, senderId, clientDeleteId: `d${revision}`, deletedAt: '2026-01-01T00:06:00.000Z' };
  return { id: `${type}-${revision}-${chatId}`, streamId: sent.streamId, revision, position: String(position++), type, version: 1, data, createdAt: '2026-01-01T00:05:00.000Z' };
};

function suite(t: Test, open: OpenView): void {
  let view: LastMessagesViewAdmin;
  withReadyView(t, open, (v) => {
    view = v;
  });

  t.test('an edit and a delete change the held messages in place and take their revisions', async (t) => {
    const chat = 'mc:1';
    const m1 = messageSent(chat, 1, 'helo');
    const m2 = messageSent(chat, 2, 'secret');
    const results = await view.applyBatch([chatStarted(chat), m1, m2, change('MessageEdited', m1, 3, 'hello'), change('MessageDeleted', m2, 4)]);
    t.same(results, ['applied', 'applied', 'applied', 'applied', 'applied']);
    const page = await view.read(chat, { limit: 10 });
    t.equal(page?.lastRevision, 4);
    t.same(page?.messages.map((m) => [m.revision, m.body, m.editedAt ?? null, m.deleted ?? false]), [
      [1, 'hello', '2026-01-01T00:05:00.000Z', false],
      [2, '', null, true],
    ]);
    t.notOk(JSON.stringify(page).includes('secret'), 'the deleted body is kept nowhere in the view');
    t.same(await view.apply(change('MessageEdited', m1, 3, 'other')), 'duplicate', 'a re-delivered edit is a duplicate');
    t.same(await view.apply(change('MessageEdited', m2, 5, 'back again')), 'applied');
    const after = await view.read(chat, { limit: 10 });
    t.same(after?.messages.map((m) => m.body), ['hello', ''], 'no edit brings a deleted body back');
    t.notOk(after?.complete === true && after.messages.length < 2, 'pages stay consistent');
  });

  t.test('a change one by one, and one for a message the view no longer holds', async (t) => {
    const chat = 'mc:2';
    const m1 = messageSent(chat, 1);
    t.same(await view.applyBatch([chatStarted(chat), m1, messageSent(chat, 2)]), ['applied', 'applied', 'applied']);
    t.equal(await view.apply(change('MessageEdited', m1, 3, 'edited alone')), 'applied');
    t.equal((await view.read(chat, { limit: 10 }))?.messages[0]?.body, 'edited alone');
    const gone = messageSent('mc:elsewhere', 9);
    t.equal(await view.apply({ ...change('MessageDeleted', gone, 4), streamId: `chat-${chat}`, data: { ...change('MessageDeleted', gone, 4).data, chatId: chat } }), 'applied', 'an unknown message: only the revision moves');
    t.equal((await view.read(chat, { limit: 10 }))?.lastRevision, 4);
    t.equal(await view.apply(change('MessageEdited', m1, 9, 'x')), 'gap', 'the revision guard holds for changes too');
  });

  t.test('revisions taken by changes never make a page look complete when it is not', async (t) => {
    const chat = 'mc:3';
    const records: PublicRecord[] = [chatStarted(chat)];
    const sent: PublicRecord[] = [];
    let rev = 1;
    for (let i = 0; i < 120; i++) {
      const m = messageSent(chat, rev++);
      sent.push(m);
      records.push(m);
      if (i % 10 === 0) records.push(change('MessageEdited', m, rev++, `edit ${i}`));
    }
    await view.applyBatch(records);
    const page = await view.read(chat, { limit: 100 });
    t.equal(page?.messages.length, 100, 'the newest 100 messages held');
    const lowest = page!.messages[0]!.revision;
    const older = await view.read(chat, { beforeRevision: lowest + 1, limit: 5 });
    t.equal(older?.complete, false, 'a page reaching below what is held is not complete');
    const forward = await view.read(chat, { afterRevision: lowest - 1, limit: 20 });
    t.equal(forward?.messages.length, 20, 'forward from the oldest held: a full page, across the revisions edits took');
    t.equal(forward?.complete, true);
  });

  t.test('a chat held whole is served whole, whatever revisions its changes took', async (t) => {
    const chat = 'mc:4';
    const m = [1, 2, 4, 6].map((r) => messageSent(chat, r));
    await view.applyBatch([chatStarted(chat), m[0]!, m[1]!, change('MessageEdited', m[0]!, 3, 'edited'), m[2]!, change('MessageDeleted', m[1]!, 5), m[3]!]);
    const newest = await view.read(chat, { limit: 50 });
    t.same(newest?.messages.map((x) => x.revision), [1, 2, 4, 6]);
    t.equal(newest?.complete, true, 'from revision 1 up, nothing can be missing');
    const firstTwo = await view.read(chat, { afterRevision: 0, limit: 2 });
    t.same(firstTwo?.messages.map((x) => x.revision), [1, 2]);
    t.equal(firstTwo?.complete, true);
    const next = await view.read(chat, { afterRevision: 2, limit: 2 });
    t.same(next?.messages.map((x) => x.revision), [4, 6], 'forward paging steps over the revisions changes took');
    t.equal(next?.complete, true);
    const below = await view.read(chat, { beforeRevision: 6, limit: 2 });
    t.same(below?.messages.map((x) => x.revision), [2, 4]);
    t.equal(below?.complete, true);
  });
}

forBothAdapters(t, 'lm-changes', suite);
