// The batch path of both last-messages adapters (what catch-up, rebuild and live traffic use): one
// call applies many events in order with the same per-chat revision guard as single applies, so a
// batch re-applied in part (a retry after a timeout, a resumed pass) changes nothing twice; chats are
// trimmed to the capacity; the checkpoint is saved with the batch only under the right epoch.
import t, { type Test } from 'tap';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { LastMessagesViewAdmin, ViewMessage } from '../../projections/ports/last-messages.js';
import { chatStarted, forBothAdapters, messageSent, withReadyView, type OpenView } from '../support/last-messages.js';

const revs = (ms: ViewMessage[] | undefined): number[] => (ms ?? []).map((m) => m.revision);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function batchSuite(t: Test, open: OpenView): void {
  let view: LastMessagesViewAdmin;
  let epoch: string;
  withReadyView(t, open, (v, e) => {
    view = v;
    epoch = e;
  });

  t.test('events of several chats interleaved: applied in order, each chat on its own', async (t) => {
    const a = 'ba:1';
    const b = 'ba:2';
    const batch: PublicRecord[] = [chatStarted(a), chatStarted(b)];
    for (let r = 1; r <= 30; r++) batch.push(messageSent(a, r), messageSent(b, r));
    const results = await view.applyBatch(batch);
    t.equal(results.length, batch.length, 'one result per record');
    t.ok(results.every((r) => r === 'applied'));
    t.same(revs((await view.read(a, { limit: 100 }))?.messages), range(1, 30));
    t.same(revs((await view.read(b, { limit: 100 }))?.messages), range(1, 30));
  });

  t.test('an overlapping batch re-applied: the overlap is duplicate, the rest applied, nothing rewritten', async (t) => {
    const chat = 'bo:1';
    const first = [chatStarted(chat), ...range(1, 60).map((r) => messageSent(chat, r))];
    t.ok((await view.applyBatch(first)).every((r) => r === 'applied'));
    // The same events again (a batch whose reply timed out, retried) and 20 new ones after them.
    const again = [...first.slice(41), ...range(61, 80).map((r) => messageSent(chat, r, `new ${r}`))];
    const rewritten = { ...messageSent(chat, 50, 'rewritten'), id: first[50]!.id };
    const results = await view.applyBatch([rewritten, ...again]);
    t.same(results, ['duplicate', ...Array<string>(20).fill('duplicate'), ...Array<string>(20).fill('applied')]);
    const page = await view.read(chat, { limit: 100 });
    t.same(revs(page?.messages), range(1, 80), 'each revision once, in order');
    t.equal(page?.messages[49]?.body, 'message 50', 'the first write kept');
    t.equal(page?.messages[79]?.body, 'new 80');
    t.equal(page?.lastRevision, 80);
    t.same(await view.applyBatch([...first, ...again]), Array<string>(first.length + again.length).fill('duplicate'), 'all of it again: no change');
  });

  t.test('trimmed to the newest 100 within one batch and across batches', async (t) => {
    const chat = 'bt:1';
    t.ok((await view.applyBatch([chatStarted(chat), ...range(1, 230).map((r) => messageSent(chat, r))])).every((r) => r === 'applied'));
    let page = await view.read(chat, { limit: 1000 });
    t.same(revs(page?.messages), range(131, 230));
    t.equal(page?.complete, false);
    t.ok((await view.applyBatch(range(231, 260).map((r) => messageSent(chat, r)))).every((r) => r === 'applied'));
    page = await view.read(chat, { limit: 100 });
    t.same(revs(page?.messages), range(161, 260));
    t.equal(page?.complete, true);
  });

  t.test('a gap inside a batch is reported and skipped; later events of that chat gap too, other chats go on', async (t) => {
    const gapped = 'bg:1';
    const fine = 'bg:2';
    const results = await view.applyBatch([
      chatStarted(gapped), messageSent(gapped, 1), messageSent(gapped, 3), messageSent(gapped, 4),
      chatStarted(fine), messageSent(fine, 1),
      messageSent(gapped, 2),
    ]);
    t.same(results, ['applied', 'applied', 'gap', 'gap', 'applied', 'applied', 'applied']);
    t.same(revs((await view.read(gapped, { limit: 10 }))?.messages), [1, 2], 'up to the gap, then what filled it');
    t.same(revs((await view.read(fine, { limit: 10 }))?.messages), [1]);
  });

  t.test('records the view does not hold are ignored in place', async (t) => {
    const chat = 'bi:1';
    const login = { ...messageSent(chat, 1), type: 'UserLoggedIn' };
    const bad = messageSent(chat, 2);
    const results = await view.applyBatch([login, chatStarted(chat), messageSent(chat, 1), { ...bad, data: { ...bad.data, body: 1 } }]);
    t.same(results, ['ignored', 'applied', 'applied', 'ignored']);
    t.same(await view.applyBatch([login]), ['ignored'], 'a batch of nothing the view holds');
    t.same(await view.applyBatch([]), []);
  });

  t.test('progress: saved with the batch under the current epoch, never under another', async (t) => {
    const chat = 'bp:1';
    await view.applyBatch([chatStarted(chat), messageSent(chat, 1)], { epoch, checkpoint: '500' });
    t.equal((await view.state()).checkpoint, '500');
    await view.applyBatch([messageSent(chat, 2)], { epoch: 'another-epoch', checkpoint: '600' });
    t.equal((await view.state()).checkpoint, '500', 'a stale epoch does not move it');
    t.same(revs((await view.read(chat, { limit: 10 }))?.messages), [1, 2], 'the events are applied either way (revision-guarded)');
    await view.applyBatch([], { epoch, checkpoint: '700' });
    t.equal((await view.state()).checkpoint, '700', 'progress alone, for a page without chat events');
  });
}

forBothAdapters(t, 'lm-batch', batchSuite);
