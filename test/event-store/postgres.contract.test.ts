// The PostgreSQL adapter against the shared contract, in a schema of its own that is dropped afterwards.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import { WrongExpectedRevisionError, type EventData } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createTestSchema, holdOrderingLockShared } from '../support/pg.js';
import { eventStoreContract } from './contract.js';
import { settledWithin } from '../support/wait.js';

t.test('postgres event store: contract', async (t) => {
  eventStoreContract(t, async () => {
    const release = await holdOrderingLockShared();
    const ts = await createTestSchema('es');
    const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 8 });
    return {
      store,
      async cleanup() {
        await store.close();
        await ts.drop();
        await release();
      },
    };
  });
});

// What the contract does not pin down, checked as the embedded adapter checks it.
const ev = (type: string, data: unknown = {}): EventData => ({ id: randomUUID(), type, data });

async function freshStore(t: Test): Promise<{ store: PostgresEventStore; url: string; schema: string }> {
  const ts = await createTestSchema('es');
  const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 4 });
  t.teardown(async () => {
    await store.close();
    await ts.drop();
  });
  return { store, url: ts.url, schema: ts.schema };
}

t.test('postgres event store: a retried append returns the original result, however the stream moved on', async (t) => {
  const { store } = await freshStore(t);
  const a = ev('A');
  const b = ev('B');
  const first = await store.append('r-1', [a, b], 'no_stream');
  await store.append('r-1', [ev('C')], 1);
  const original = { ...first, alreadyStored: true };
  t.same(await store.append('r-1', [a, b], 'no_stream'), original, "expected 'no_stream' no longer holds: still the original result");
  t.same(await store.append('r-1', [a, b], 'any'), original, "same with 'any'");
  t.same(await store.append('r-1', [a, b], 2), original, 'same with the current revision');
  t.equal((await store.readStream('r-1')).length, 3, 'nothing written twice');
});

t.test('postgres event store: a partly repeated append is refused and writes nothing', async (t) => {
  const { store } = await freshStore(t);
  const a = ev('A');
  await store.append('p-1', [a], 'no_stream');
  await t.rejects(store.append('p-1', [a, ev('B')], 0), /already exist/);
  await t.rejects(store.append('p-1', [a, ev('B')], 'any'), /already exist/);
  await t.rejects(store.append('p-2', [a], 'no_stream'), /already exists in stream p-1/);
  const dup = ev('C');
  await t.rejects(store.append('p-1', [dup, dup], 0), /twice/);
  t.equal((await store.readStream('p-1')).length, 1, 'still one event');
  t.same(await store.readStream('p-2'), [], 'and no stream p-2');
  t.equal((await store.append('p-1', [ev('D')], 0)).nextRevision, 1, 'the stream goes on at the right revision');
});

t.test('postgres event store: empty appends, bigint revisions, odd payloads', async (t) => {
  const { store } = await freshStore(t);
  t.same(await store.append('e-1', [], 'no_stream'), { nextRevision: -1, position: 0n }, 'nothing to append to nothing');
  const r = await store.append('e-1', [{ id: randomUUID(), type: 'T', data: undefined }], 'no_stream');
  await t.rejects(store.append('e-1', [], 'no_stream'), WrongExpectedRevisionError);
  t.same(await store.append('e-1', [], 0n), r, 'an empty append reports the last event');
  const meta = { correlationId: 'x', nested: { quote: "it's \"quoted\" \\ and ünïcode" } };
  await store.append('e-1', [{ id: randomUUID(), type: 'T', data: [1, 'two', null], metadata: meta }], 0n);
  const events = await store.readStream('e-1');
  t.same(events.map((e) => e.data), [null, [1, 'two', null]], 'undefined data is stored as null; arrays survive');
  t.same(events[1]!.metadata, meta, 'metadata survives quoting');
  t.same(events[0]!.metadata, {}, 'metadata defaults to {}');
  await t.rejects(store.append('e-1', [ev('X')], 99n), WrongExpectedRevisionError);
});

t.test('postgres event store: processes opening the same fresh schema at once all succeed', async (t) => {
  const ts = await createTestSchema('es');
  t.teardown(() => ts.drop());
  const schema = `${ts.schema}_new`; // does not exist yet: open() creates it
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: ts.url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });
  const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresEventStore.open({ connectionString: ts.url, schema, poolSize: 1 })));
  await stores[0]!.append('s', [ev('A')], 'no_stream');
  t.equal((await stores[3]!.readStream('s')).length, 1, 'they share one set of tables');
  await Promise.all(stores.map((s) => s.close()));
});

t.test('postgres event store: close ends live subscriptions and refuses further use', async (t) => {
  const ts = await createTestSchema('es');
  t.teardown(() => ts.drop());
  const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 2 });
  const sub = store.subscribeToAll();
  const pending = sub[Symbol.asyncIterator]().next();
  await new Promise((r) => setTimeout(r, 50));
  await store.close();
  const r = await settledWithin(pending, 30_000);
  t.ok(r !== 'timeout' && r.done === true, 'pending next() resolves as done');
  t.throws(() => store.subscribeToAll(), /closed/);
  await t.rejects(store.readStream('s'), /closed/);
  await t.rejects(store.append('s', [ev('A')], 'any'), /closed/);
  await store.close(); // twice is fine
});
