// Notifications of the PostgreSQL event store carry the commit's highest position, so a subscription
// that has already read that far skips the read: a process's own appends wake it directly and then
// again through their notify, and only the first needs a read.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import type { RecordedEvent, Subscription } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createTestSchema, storeListening } from '../support/pg.js';
import { waitFor } from '../support/wait.js';

/** A subscription's own counters (the store's subscriptionCounts sums them over its subscriptions). */
const countsOf = (sub: Subscription): { reads: number; wakesSkipped: number; heldBack: number } =>
  (sub as Subscription & { counts: { reads: number; wakesSkipped: number; heldBack: number } }).counts;

/** Collects what a subscription hands out, as it comes. */
function follow(sub: Subscription): RecordedEvent[] {
  const seen: RecordedEvent[] = [];
  void (async () => {
    for await (const e of sub) seen.push(e);
  })();
  return seen;
}

/** Past any position this test writes: a subscription starting there skips every notification that carries one. */
const BEYOND = 2n ** 62n;

/** Only a bound for reporting a failure: every wait below ends on its condition, however busy the machine. */
const EVENTUALLY = 60_000;

t.test('a notification for a commit already read wakes no read; any other does', async (t) => {
  const ts = await createTestSchema('notify');
  const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 4 });
  const other = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 2 });
  const client = new pg.Client({ connectionString: ts.url });
  await client.connect();
  const sub = store.subscribeToAll({ after: 0n });
  // Never read from: it only tells when a notification has reached this store's subscriptions.
  const probe = store.subscribeToAll({ after: BEYOND });
  t.teardown(async () => {
    await probe.stop();
    await sub.stop();
    await client.end();
    await other.close();
    await store.close();
    await ts.drop();
  });
  const seen: RecordedEvent[] = [];
  void (async () => {
    for await (const e of sub) seen.push(e);
  })();

  // The store LISTENs on its own connection, opened with the first subscription: notifications sent
  // before its LISTEN took effect are lost, and a loaded machine can take a while to get there.
  const channel = `events_${ts.schema}`;
  await storeListening(channel, EVENTUALLY);
  const notify = (payload: string): Promise<unknown> => client.query('SELECT pg_notify($1, $2)', [channel, payload]);

  // Appended by another store (another process): the notify tells this one.
  const first = await other.append('chat-a', [{ id: randomUUID(), type: 'MessageSent', data: { n: 1 } }], 'no_stream');
  await waitFor('the first event', () => seen.length === 1, EVENTUALLY);
  t.equal(seen[0]!.position, first.position, 'delivered from another process');

  // The fallback poll may have read the first event before its notification came; then that one
  // is skipped too, late. Notifications arrive in commit order, so once the probe has skipped a
  // later one (the barrier), the first append's has been handled and the count below is exact.
  await notify(String(first.position));
  await waitFor('the barrier notification', () => countsOf(probe).wakesSkipped >= 2, EVENTUALLY);
  await probe.stop();

  const skippedBefore = store.subscriptionCounts.wakesSkipped;
  for (let i = 0; i < 20; i++) await notify(String(first.position));
  await notify(String(first.position - 1n));
  await waitFor('the stale notifications to be counted', () => store.subscriptionCounts.wakesSkipped >= skippedBefore + 21, EVENTUALLY);
  t.equal(store.subscriptionCounts.wakesSkipped, skippedBefore + 21, 'each notification at or below what was read is skipped');

  const readsBefore = store.subscriptionCounts.reads;
  await notify('');
  await waitFor('a read after a notification without a position', () => store.subscriptionCounts.reads > readsBefore, EVENTUALLY);
  t.equal(store.subscriptionCounts.wakesSkipped, skippedBefore + 21, 'one without a position (an older version) is not skipped');

  const readsThen = store.subscriptionCounts.reads;
  await notify(String(first.position + 1n));
  await waitFor('a read after a notification past what was read', () => store.subscriptionCounts.reads > readsThen, EVENTUALLY);
  t.equal(store.subscriptionCounts.wakesSkipped, skippedBefore + 21, 'one past what was read is not skipped');

  // Own appends: the direct wake reads them; everything arrives once, in order, whatever is skipped.
  const mine = [];
  for (let i = 0; i < 10; i++) mine.push(await store.append('chat-b', [{ id: randomUUID(), type: 'MessageSent', data: { n: i } }], i === 0 ? 'no_stream' : i - 1));
  const last = await other.append('chat-a', [{ id: randomUUID(), type: 'MessageSent', data: { n: 2 } }], 0);
  await waitFor('every event', () => seen.length === 12, EVENTUALLY);
  t.same(
    seen.map((e) => e.position),
    [first.position, ...mine.map((m) => m.position), last.position],
    'every event once, in position order',
  );
});

// The interval is the store's (subscriptionReadIntervalMs), or one subscription's own (the relay's
// readIntervalMs, on a store whose other subscriptions keep the default).
for (const by of ['the store', 'the subscription'] as const) {
  t.test(`under a stream of commits a subscription reads at most once per read interval (set by ${by}), and misses nothing`, async (t) => {
    const ts = await createTestSchema('notify_interval');
    const intervalMs = 250;
    const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 2, ...(by === 'the store' ? { subscriptionReadIntervalMs: intervalMs } : {}) });
    const other = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 2 });
    const sub = store.subscribeToAll({ after: 0n, ...(by === 'the subscription' ? { readIntervalMs: intervalMs } : {}) });
    t.teardown(() => sub.stop().then(() => other.close()).then(() => store.close()).then(() => ts.drop()));
    const seen = follow(sub);
    await storeListening(`events_${ts.schema}`, EVENTUALLY);
    const readsBefore = countsOf(sub).reads;
    const heldBackBefore = countsOf(sub).heldBack;
    const started = performance.now();
    const appended = [];
    // Each append is its own commit and notification, from another process's store.
    for (let i = 0; i < 30; i++) appended.push(await other.append('chat-c', [{ id: randomUUID(), type: 'MessageSent', data: { n: i } }], i === 0 ? 'no_stream' : i - 1));
    await waitFor('every event', () => seen.length === 30, EVENTUALLY);
    const elapsed = performance.now() - started;
    const reads = countsOf(sub).reads - readsBefore;
    // One read may start at once, then at most one per interval; the fallback poll (1 s) adds at most one per second.
    // A read that found events held back behind another open transaction (other tests run beside this one,
    // and snapshots are cluster-wide) polls on its own short schedule instead: each such read may add one.
    const heldBack = countsOf(sub).heldBack - heldBackBefore;
    t.ok(
      reads <= Math.ceil(elapsed / intervalMs) + Math.ceil(elapsed / 1000) + 1 + heldBack,
      `${reads} reads for 30 commits in ${Math.round(elapsed)} ms (${heldBack} of them held back)`,
    );
    t.same(seen.map((e) => e.position), appended.map((a) => a.position), 'every event once, in position order');
  });
}
