// The event-store contract: every adapter runs exactly these tests (see *.contract.test.ts).
// Streams get a random prefix and readAll results are filtered by it, so the suite also runs
// against a shared server (EventStoreDB) that holds other data.
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { WrongExpectedRevisionError, type EventData, type EventStore, type RecordedEvent } from '../../commands/ports/event-store.js';
import { settledWithin } from '../support/wait.js';

export interface StoreFixture {
  store: EventStore;
  cleanup(): Promise<void>;
}

const ev = (type: string, data: unknown = {}): EventData => ({ id: randomUUID(), type, data });

async function readAllOf(store: EventStore, prefix: string, after = 0n): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after, maxCount: 500 });
    if (page.length === 0) return out;
    for (const e of page) if (e.streamId.startsWith(prefix)) out.push(e);
    after = page[page.length - 1]!.position;
  }
}

export function eventStoreContract(t: Test, make: () => Promise<StoreFixture>): void {
  let fx: StoreFixture;
  let prefix: string;
  t.before(async () => { fx = await make(); });
  t.beforeEach(() => { prefix = `c${randomUUID().slice(0, 8)}-`; });
  t.teardown(async () => { await fx?.cleanup(); });

  t.test('appends to a new stream and enforces no_stream / exact revisions', async (t) => {
    const s = `${prefix}a`;
    const r0 = await fx.store.append(s, [ev('A', { n: 1 })], 'no_stream');
    t.equal(r0.nextRevision, 0);
    t.ok(r0.position > 0n, 'position is positive');
    await t.rejects(fx.store.append(s, [ev('A')], 'no_stream'), WrongExpectedRevisionError);
    const r1 = await fx.store.append(s, [ev('B'), ev('C')], 0);
    t.equal(r1.nextRevision, 2);
    t.ok(r1.position > r0.position, 'positions grow');
    await t.rejects(fx.store.append(s, [ev('D')], 1), WrongExpectedRevisionError);
    await t.rejects(fx.store.append(`${prefix}missing`, [ev('D')], 0), WrongExpectedRevisionError);
    const r2 = await fx.store.append(s, [ev('D')], 'any');
    t.equal(r2.nextRevision, 3);
    const events = await fx.store.readStream(s);
    t.same(events.map((e) => [e.type, e.revision]), [['A', 0], ['B', 1], ['C', 2], ['D', 3]]);
    t.same(events[0]!.data, { n: 1 });
  });

  t.test('50 concurrent appends with one expected revision: exactly one wins, no holes', async (t) => {
    const s = `${prefix}race`;
    await fx.store.append(s, [ev('Init')], 'no_stream');
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => fx.store.append(s, [ev('Race', { i })], 0)));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    t.equal(won.length, 1, 'one append succeeds');
    t.equal(lost.length, 49, '49 conflict');
    t.ok(lost.every((r) => r.status === 'rejected' && r.reason instanceof WrongExpectedRevisionError), 'all losers get a concurrency conflict');
    const events = await fx.store.readStream(s);
    t.same(events.map((e) => e.revision), [0, 1], 'revisions have no holes');
  });

  t.test('appending the same event id again is a no-op', async (t) => {
    const s = `${prefix}idem`;
    const e = ev('Once', { x: 1 });
    const first = await fx.store.append(s, [e], 'no_stream');
    const again = await fx.store.append(s, [e], 'no_stream');
    t.equal(again.nextRevision, first.nextRevision);
    t.equal(again.position, first.position);
    t.notOk(first.alreadyStored, 'the first append wrote');
    if (fx.store.kind !== 'eventstoredb') t.equal(again.alreadyStored, true, 'the second says it wrote nothing');
    t.equal((await fx.store.readStream(s)).length, 1, 'one event stored');
    const all = await readAllOf(fx.store, prefix);
    t.equal(all.filter((x) => x.id === e.id).length, 1, 'one event in the log');
  });

  t.test('reads a stream forwards, backwards, from a revision, with a limit', async (t) => {
    const s = `${prefix}read`;
    await fx.store.append(s, Array.from({ length: 10 }, (_, i) => ev('N', { i })), 'no_stream');
    t.same((await fx.store.readStream(s)).map((e) => e.revision), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    t.same((await fx.store.readStream(s, { fromRevision: 7 })).map((e) => e.revision), [7, 8, 9]);
    t.same((await fx.store.readStream(s, { fromRevision: 2, maxCount: 3 })).map((e) => e.revision), [2, 3, 4]);
    t.same((await fx.store.readStream(s, { direction: 'backwards', maxCount: 3 })).map((e) => e.revision), [9, 8, 7]);
    t.same((await fx.store.readStream(s, { direction: 'backwards', fromRevision: 4, maxCount: 2 })).map((e) => e.revision), [4, 3]);
    t.same(await fx.store.readStream(`${prefix}nothing`), []);
    const e = (await fx.store.readStream(s, { fromRevision: 5, maxCount: 1 }))[0]!;
    t.equal(e.streamId, s);
    t.equal(e.type, 'N');
    t.ok(e.createdAt instanceof Date);
  });

  t.test('reads all in position order, in pages', async (t) => {
    const before = await fx.store.headPosition();
    const appended: string[] = [];
    for (let i = 0; i < 30; i++) {
      const e = ev('G', { i });
      appended.push(e.id);
      await fx.store.append(`${prefix}s${i % 3}`, [e], 'any');
    }
    const all = await readAllOf(fx.store, prefix, before);
    t.same(all.map((e) => e.id), appended, 'same events in append order');
    for (let i = 1; i < all.length; i++) t.ok(all[i]!.position > all[i - 1]!.position, `position ${i} grows`);
    const page = await fx.store.readAll({ after: before, maxCount: 7 });
    t.ok(page.length <= 7, 'maxCount honoured');
    t.ok((await fx.store.headPosition()) >= all[all.length - 1]!.position, 'head is at or after the last event');
  });

  t.test('subscription catches up, then goes live, then stops', async (t) => {
    const before = await fx.store.headPosition();
    const s = `${prefix}sub`;
    await fx.store.append(s, [ev('Old', { i: 0 }), ev('Old', { i: 1 })], 'no_stream');
    const sub = fx.store.subscribeToAll({ after: before });
    const seen: RecordedEvent[] = [];
    const done = (async () => {
      for await (const e of sub) {
        if (!e.streamId.startsWith(prefix)) continue;
        seen.push(e);
        if (seen.length === 5) await sub.stop();
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await fx.store.append(s, [ev('New', { i: 2 })], 1);
    await fx.store.append(s, [ev('New', { i: 3 }), ev('New', { i: 4 })], 2);
    t.not(await settledWithin(done, 60_000), 'timeout', 'the subscription delivered the live events');
    t.same(seen.map((e) => (e.data as { i: number }).i), [0, 1, 2, 3, 4], 'catch-up then live, in order');
    await sub.stop();
  });

  t.test('a stopped subscription ends its iteration', async (t) => {
    const sub = fx.store.subscribeToAll({ after: await fx.store.headPosition() });
    const it = sub[Symbol.asyncIterator]();
    const next = it.next();
    await sub.stop();
    const r = await settledWithin(next, 30_000);
    t.not(r, 'timeout', 'pending next() resolves after stop');
  });
}
