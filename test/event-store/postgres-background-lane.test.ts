// Streams named by `backgroundStreams` (read marks, in the service) are written by a group-commit lane of
// their own: an append to one of them that is held up never holds up another append, and a stream's own
// appends still land in the order they came.
import pg from 'pg';
import t from 'tap';
import { ev, fixture } from './group-commit-support.js';
import { waitFor } from '../support/wait.js';

t.test('a held-up background append holds up no other append', async (t) => {
  const fx = await fixture(t, 'bglane');
  // One batch in flight: without the lane, the send below would wait for the held batch.
  const store = await fx.open({ appendBatchesInFlight: 1, backgroundStreams: (s) => s.startsWith('reads-') });
  await store.append('reads-c-a', [ev('ChatRead')], 'no_stream');

  const locker = new pg.Client({ connectionString: fx.ts.url });
  await locker.connect();
  t.teardown(() => locker.end());
  await locker.query('BEGIN');
  await locker.query(`SELECT 1 FROM ${pg.escapeIdentifier(fx.ts.schema)}.streams WHERE stream_id = 'reads-c-a' FOR UPDATE`);

  let heldDone = false;
  const held = store.append('reads-c-a', [ev('ChatRead')], 0).finally(() => { heldDone = true; });
  const queued = store.append('reads-c-a', [ev('ChatRead')], 1);
  await waitFor('the mark waits on the row lock', async () => {
    const { rows } = await locker.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return rows[0]!.n > 0;
  });

  const sent = await store.append('chat-c', [ev('MessageSent')], 'no_stream');
  t.equal(sent.nextRevision, 0, 'a send is written while the mark is held');
  t.notOk(heldDone, 'and the mark is still held');

  await locker.query('ROLLBACK');
  t.equal((await held).nextRevision, 1, 'released: the held mark lands');
  t.equal((await queued).nextRevision, 2, 'and the one behind it after it, in order');
  t.same((await store.readStream('reads-c-a')).map((e) => e.revision), [0, 1, 2]);
});
