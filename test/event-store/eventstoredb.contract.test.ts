// The EventStoreDB adapter against the shared contract. Needs a server (22.6 or later for exact positions
// on stream reads), e.g. one started with --insecure, then:
//   EVENTSTORE_URL='esdb://localhost:2113?tls=false' npx tap test/event-store/eventstoredb.contract.test.ts
// Without it the file reports a skip (not a pass). The contract prefixes its streams randomly, so a
// shared server with other data is fine; the test streams are left behind.
import t from 'tap';
import { EventStoreDbStore } from '../../infra/event-store/eventstoredb.js';
import { eventStoreContract } from './contract.js';

const url = process.env['EVENTSTORE_URL'];

if (!url) {
  t.test('EventStoreDB contract', { skip: 'EVENTSTORE_URL is not set: no EventStoreDB server on this machine' }, async () => {});
} else {
  t.test('EventStoreDB contract', async (t) => {
    eventStoreContract(t, async () => {
      const store = await EventStoreDbStore.open({ connectionString: url });
      return { store, cleanup: () => store.close() };
    });
  });
}

// Needs no server: nothing listens on port 1, and the refusal must surface as a clear error.
t.test('EventStoreDB: an unreachable server fails with a message naming EVENTSTORE_URL', async (t) => {
  const err = await EventStoreDbStore.open({ connectionString: 'esdb://admin:secret@127.0.0.1:1?tls=false' }).then(
    () => new Error('opened?!'),
    (e: unknown) => e,
  );
  const msg = err instanceof Error ? err.message : String(err);
  t.match(msg, /Cannot use EventStoreDB at .*EVENTSTORE_URL/, 'names the setting');
  t.notMatch(msg, /secret/, 'does not leak the password');
  await t.rejects(EventStoreDbStore.open({ connectionString: 'not a url' }), /EVENTSTORE_URL/, 'a malformed URL too');
});
