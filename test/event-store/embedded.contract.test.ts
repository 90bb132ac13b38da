// The embedded (SQLite) adapter against the shared contract, plus what only a file-backed store has:
// data surviving a reopen, and a second connection on the same file (as another process would be).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventData, RecordedEvent } from '../../commands/ports/event-store.js';
import { eventStoreContract } from './contract.js';
import { settledWithin } from '../support/wait.js';

const ev = (type: string, data: unknown = {}): EventData => ({ id: randomUUID(), type, data });

/** A fresh temp folder, removed by the test's teardown. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'chat-es-embedded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('embedded event store: contract', async (t) => {
  eventStoreContract(t, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-es-embedded-'));
    // A nested path also checks that open() creates the missing parent folder.
    const store = EmbeddedEventStore.open({ file: join(dir, 'nested', 'events.db') });
    return {
      store,
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

t.test('embedded event store: in-memory store passes the basics', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  t.teardown(() => store.close());
  const r = await store.append('m-1', [ev('A'), ev('B')], 'no_stream');
  t.equal(r.nextRevision, 1);
  t.same((await store.readAll()).map((e) => e.type), ['A', 'B']);
});

t.test('embedded event store: data survives close and reopen', async (t) => {
  const file = join(tempDir(t), 'events.db');
  const first = EmbeddedEventStore.open({ file });
  const a = ev('Created', { name: 'x' });
  const r0 = await first.append('s-1', [a, ev('Renamed', { name: 'y' })], 'no_stream');
  await first.close();
  await t.rejects(first.readStream('s-1'), /closed/, 'a closed store refuses reads');

  const second = EmbeddedEventStore.open({ file });
  t.teardown(() => second.close());
  const events = await second.readStream('s-1');
  t.same(events.map((e) => [e.type, e.revision, e.data]), [['Created', 0, { name: 'x' }], ['Renamed', 1, { name: 'y' }]]);
  t.equal(await second.headPosition(), r0.position, 'head is where it was');
  const again = await second.append('s-1', [a], 'no_stream');
  t.equal(again.nextRevision, 0, 'idempotency survives the reopen');
  const r1 = await second.append('s-1', [ev('Closed')], 1);
  t.equal(r1.nextRevision, 2);
  t.ok(r1.position > r0.position, 'positions go on growing after a reopen');

  // The file really is in WAL mode (journal_mode is persistent in the file).
  const raw = new Database(file, { readonly: true });
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
});

t.test('embedded event store: a partly repeated append is refused and writes nothing', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  t.teardown(() => store.close());
  const a = ev('A');
  await store.append('p-1', [a], 'no_stream');
  await t.rejects(store.append('p-1', [a, ev('B')], 0), /already exist/);
  await t.rejects(store.append('p-2', [a], 'no_stream'), /already exists in stream p-1/);
  const dup = ev('C');
  await t.rejects(store.append('p-1', [dup, dup], 0), /twice/);
  t.equal((await store.readAll()).length, 1, 'still one event');
});

t.test('embedded event store: a second connection on the same file sees appends by polling', async (t) => {
  const file = join(tempDir(t), 'events.db');
  const writer = EmbeddedEventStore.open({ file });
  const reader = EmbeddedEventStore.open({ file }); // no shared wake-up: stands in for another process
  t.teardown(async () => {
    await reader.close();
    await writer.close();
  });
  const sub = reader.subscribeToAll();
  const it = sub[Symbol.asyncIterator]();
  const pending = it.next();
  await writer.append('x-1', [ev('FromElsewhere', { n: 1 })], 'no_stream');
  const got = await settledWithin(pending, 30_000);
  t.not(got, 'timeout', 'delivered within the fallback poll');
  if (got !== 'timeout') t.equal((got.value as RecordedEvent | undefined)?.type, 'FromElsewhere');
  await sub.stop();
});

t.test('embedded event store: close ends live subscriptions', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const sub = store.subscribeToAll();
  const pending = sub[Symbol.asyncIterator]().next();
  await store.close();
  const r = await settledWithin(pending, 30_000);
  t.not(r, 'timeout', 'pending next() resolves');
  t.ok(r !== 'timeout' && r.done === true, 'as done');
  t.throws(() => store.subscribeToAll(), /closed/);
});
