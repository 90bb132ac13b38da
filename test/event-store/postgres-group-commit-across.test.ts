// Group commit in the PostgreSQL event store, against a real database, across store instances: a
// subscriber on another instance hears every batch once, in order; two batches creating the same new
// streams in opposite orders do not deadlock. (Batching itself: postgres-group-commit.test.ts.)
import pg from 'pg';
import t from 'tap';
import type { RecordedEvent, Subscription } from '../../commands/ports/event-store.js';
import { TEST_DATABASE_URL, holdOrderingLockShared, storeListening } from '../support/pg.js';
import { readWholeLog } from '../support/read-log.js';
import { contiguous, ev, firstNonIncreasing, fire, fixture, sleep } from './group-commit-support.js';

// Readers of the log must not run beside postgres-ordering.test.ts's long transactions.
t.teardown(await holdOrderingLockShared());

t.test('a subscriber on another store instance receives batched appends promptly, once each, in order', async (t) => {
  const fx = await fixture(t, 'gc_sub');
  const writer = await fx.open({ appendBatchesInFlight: 1 });
  const reader = await fx.open();

  // The store's channel, heard directly: each batch's commit must announce itself.
  let notifications = 0;
  const listen = new pg.Client({ connectionString: TEST_DATABASE_URL });
  listen.on('error', () => undefined);
  await listen.connect();
  t.teardown(() => listen.end());
  listen.on('notification', () => notifications++);
  await listen.query(`LISTEN "events_${fx.ts.schema}"`);

  const head = await reader.headPosition();
  const sub: Subscription = reader.subscribeToAll({ after: head });
  const got: RecordedEvent[] = [];
  const done = (async () => {
    for await (const e of sub) got.push(e);
  })();
  t.teardown(async () => {
    await sub.stop();
    await done;
  });
  const waitFor = async (n: number, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (got.length < n) {
      if (Date.now() > deadline) return false;
      await sleep(5);
    }
    return true;
  };

  // The reader LISTENs on a connection of its own, opened with the subscription: until then the
  // rounds below could only be found by its poll. The warm-up event can arrive by the first read.
  await storeListening(`events_${fx.ts.schema}`);
  const warm = ev('Warm');
  await writer.append('warm', [warm], 'no_stream');
  t.ok(await waitFor(1, 30_000), 'warm-up event arrived');

  const appended: string[] = [warm.id];
  const latencies: number[] = [];
  const ROUNDS = 3;
  const PER_ROUND = 30;
  for (let round = 0; round < ROUNDS; round++) {
    await sleep(200); // the subscription is asleep, waiting for a notification (or its 1 s poll)
    const notifiedBefore = notifications;
    const batch = Array.from({ length: PER_ROUND }, (_, i) => ({ stream: `sub-${round}-${i}`, events: [ev('Sub', { round, i })], expected: 'no_stream' as const }));
    const statsBefore = writer.appendBatchStats;
    const settled = await fire(writer, batch);
    // Measured from the commit (the appends' own time, long on a loaded machine, is not the subscriber's).
    const committedAt = Date.now();
    t.equal(settled.filter((r) => r.status === 'rejected').length, 0, `round ${round}: appends succeeded`);
    appended.push(...batch.map((b) => b.events[0]!.id));
    const arrived = await waitFor(appended.length, 10_000);
    latencies.push(Date.now() - committedAt);
    t.ok(arrived, `round ${round}: the subscriber got the round's events (${latencies[round]} ms after the commit)`);
    t.equal(writer.appendBatchStats.batches - statsBefore.batches, 2, `round ${round}: the appends went as two batches (one alone, then ${PER_ROUND - 1})`);
    t.ok(notifications > notifiedBefore, `round ${round}: the batch commit sent a notification`);
  }
  // With no notification the reader would wait for its 1 s poll, ~800 ms after each round began: with
  // appends of a few tens of ms, well over 500 ms after their commit in every round.
  t.ok(Math.min(...latencies) < 500, `woken by the notification, not the poll (latencies ${latencies.join(', ')} ms)`);

  await sleep(300); // anything extra (a duplicate) would show up now
  t.equal(got.length, appended.length, 'nothing delivered twice or extra');
  t.same(new Set(got.map((e) => e.id)), new Set(appended), 'exactly the appended events');
  t.equal(firstNonIncreasing(got), -1, 'in strictly increasing position order');
  const log = await readWholeLog(writer, appended.length);
  t.same(got.map((e) => e.id), log.map((e) => e.id), 'in the order of the log');
});

// Batches lock the streams rows that exist, and create the missing ones, in stream id order. Were the
// missing ones created in the order their appends arrived, two batches creating the same new streams in
// opposite orders would wait on each other's uncommitted inserts (INSERT ... ON CONFLICT waits for the
// inserting transaction): a deadlock, which PostgreSQL breaks only after deadlock_timeout (1 s by
// default), the loser's batch then written one append at a time. The appends would all succeed, so the
// only trace would be the warning and the stall. To make the two statements overlap every time, a third
// store holds one of the streams ('m') uncommitted until both batches wait on it; when it commits, each
// batch moves on.
t.test(
  'two batches creating the same new streams in opposite orders do not deadlock',
  async (t) => {
    const fx = await fixture(t, 'gc_create');
    let entered: () => void = () => undefined;
    const inHook = new Promise<void>((r) => (entered = r));
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    t.teardown(() => release());
    const holder = await fx.open({
      beforeCommit: async () => {
        entered();
        await released;
      },
    });
    const [a, b] = [await fx.open({ appendBatchesInFlight: 1 }), await fx.open({ appendBatchesInFlight: 1 })];

    const held = holder.append('m', [ev('Held')], 'no_stream');
    await inHook;
    const order = ['a', 'm', 'z'];
    const fromA = fire(a, [{ stream: 'primer-a', events: [ev('Primer')], expected: 'any' }, ...order.map((stream) => ({ stream, events: [ev('A')], expected: 'any' as const }))]);
    const fromB = fire(b, [{ stream: 'primer-b', events: [ev('Primer')], expected: 'any' }, ...[...order].reverse().map((stream) => ({ stream, events: [ev('B')], expected: 'any' as const }))]);

    // Both batch statements wait on 'm', each having inserted its first stream.
    const watch = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await watch.connect();
    t.teardown(() => watch.end());
    let waiting = 0;
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(10)) {
      const res = await watch.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 AND query LIKE '%WITH req AS%'`,
        [`%${fx.ts.schema}%`],
      );
      waiting = res.rows[0]!.n;
      if (waiting >= 2) break;
    }
    t.equal(waiting, 2, 'both batches wait on the held stream');
    release();
    const started = Date.now();
    await held;
    const settled = [...(await fromA), ...(await fromB)];
    t.comment(`batches finished ${Date.now() - started} ms after the held stream committed`);
    t.equal(settled.filter((r) => r.status === 'rejected').length, 0, 'every append succeeded');
    for (const stream of order) {
      const got = await a.readStream(stream);
      t.ok(contiguous(got) && got.length === (stream === 'm' ? 3 : 2), `${stream}: contiguous, one event per append`);
    }
    const deadlocks = fx.warnings.filter((w) => w.code === '40P01');
    t.equal(deadlocks.length, 0, 'no batch statement deadlocked', { warnings: deadlocks.map((w) => w.err) });
  },
);
