// Group commit in the PostgreSQL event store, against a real database: appends that arrive while
// earlier batches are being written go together in one transaction (append-batcher.ts, appendBatch in
// postgres.ts), yet each keeps its own expected-revision check, idempotency and outcome.
import pg from 'pg';
import t from 'tap';
import { WrongExpectedRevisionError, type EventData, type ExpectedRevision, type RecordedEvent } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { TEST_DATABASE_URL, holdOrderingLockShared } from '../support/pg.js';
import { readWholeLog } from '../support/read-log.js';
import { contiguous, ev, firstNonIncreasing, fire, fixture, fulfilled, sleep, txOf } from './group-commit-support.js';

// Readers of the log must not run beside postgres-ordering.test.ts's long transactions.
t.teardown(await holdOrderingLockShared());

t.test('many concurrent appends to distinct streams are batched, and each lands exactly once', async (t) => {
  const fx = await fixture(t, 'gc_many');
  const store = await fx.open();
  const N = 200;
  const appends = Array.from({ length: N }, (_, i) => ({ stream: `many-${i}`, events: [ev('Made', { i })], expected: 'no_stream' as const }));
  const settled = await fire(store, appends);

  t.equal(settled.filter((r) => r.status === 'rejected').length, 0, 'every append succeeded');
  const results = settled.map(fulfilled);
  t.ok(results.every((r) => r.nextRevision === 0), 'every append reports nextRevision 0');

  const stats = store.appendBatchStats;
  t.equal(stats.appends, N, 'every append went through the batcher');
  t.ok(stats.largest > 1, `batching happened (largest batch ${stats.largest})`);
  t.ok(stats.batches < N, `fewer batches than appends (${stats.batches})`);
  const txs = new Map<bigint, number>();
  for (const r of results) txs.set(txOf(r.position), (txs.get(txOf(r.position)) ?? 0) + 1);
  t.ok(Math.max(...txs.values()) > 1, `several appends share a transaction (${txs.size} transactions for ${N} appends)`);
  t.equal(new Set(results.map((r) => r.position)).size, N, 'every append has a position of its own');

  const wrong: string[] = [];
  for (const [i, a] of appends.entries()) {
    const got = await store.readStream(a.stream);
    if (
      got.length !== 1 ||
      got[0]!.id !== a.events[0]!.id ||
      got[0]!.revision !== 0 ||
      got[0]!.position !== results[i]!.position ||
      got[0]!.type !== 'Made' ||
      (got[0]!.data as { i: number }).i !== i
    ) {
      wrong.push(`stream ${a.stream} holds ${JSON.stringify(got.map((e) => ({ id: e.id, revision: e.revision })))}`);
    }
  }
  t.same(wrong, [], 'readStream returns exactly the appended event of each stream');

  const log = await readWholeLog(store, N);
  t.equal(log.length, N, 'readAll returns every event');
  t.equal(firstNonIncreasing(log), -1, 'readAll is in strictly increasing position order');
  t.equal(new Set(log.map((e) => e.position)).size, N, 'all positions unique');
  const byId = new Map(log.map((e) => [e.id, e]));
  t.ok(
    appends.every((a, i) => byId.get(a.events[0]!.id)?.position === results[i]!.position && byId.get(a.events[0]!.id)?.streamId === a.stream),
    'readAll holds exactly the appended events, at the positions the appends reported',
  );
});

t.test('one batch mixing good and bad expectations: the bad fail alone, the good commit together', async (t) => {
  const fx = await fixture(t, 'gc_mixed');
  const store = await fx.open({ appendBatchesInFlight: 1 });
  // Existing streams, written one by one.
  const seed: Record<string, number> = { a: 2, b: 1, b2: 3, c: 1, c2: 1, f: 1, h: 1 };
  for (const [stream, count] of Object.entries(seed)) {
    await store.append(stream, Array.from({ length: count }, (_, k) => ev('Seeded', { k })), 'no_stream');
  }
  const before = new Map<string, string[]>();
  for (const stream of [...Object.keys(seed), 'd', 'e', 'g']) before.set(stream, (await store.readStream(stream)).map((e) => e.id));
  const statsBefore = store.appendBatchStats;

  const cases: Array<{ stream: string; events: EventData[]; expected: ExpectedRevision; actual?: number | 'no_stream' }> = [
    { stream: 'primer', events: [ev('Primer')], expected: 'no_stream' }, // goes alone; the rest queue
    { stream: 'a', events: [ev('Good')], expected: 1 }, // right exact revision
    { stream: 'b', events: [ev('Bad')], expected: 5, actual: 0 }, // exact revision too high
    { stream: 'b2', events: [ev('Bad'), ev('Bad')], expected: 0, actual: 2 }, // exact revision too low
    { stream: 'c', events: [ev('Bad')], expected: 'no_stream', actual: 0 }, // the stream exists
    { stream: 'c2', events: [ev('Bad')], expected: -1, actual: 0 }, // -1 means no_stream
    { stream: 'd', events: [ev('Bad')], expected: 0, actual: 'no_stream' }, // exact revision, no stream
    { stream: 'e', events: [ev('Good')], expected: 'no_stream' }, // new stream
    { stream: 'f', events: [ev('Good'), ev('Good')], expected: 'any' }, // existing stream
    { stream: 'g', events: [ev('Good')], expected: 'any' }, // new stream
    { stream: 'h', events: [ev('Good')], expected: 0n }, // bigint exact revision
  ];
  const settled = await fire(store, cases);

  const stats = store.appendBatchStats;
  t.equal(stats.batches - statsBefore.batches, 2, 'two batches: the primer alone, then the rest');
  t.equal(stats.largest, cases.length - 1, 'the rest went as one batch');

  const goodTxs = new Set<bigint>();
  for (const [i, c] of cases.entries()) {
    const r = settled[i]!;
    if (c.actual === undefined) {
      if (r.status === 'rejected') {
        t.fail(`${c.stream} (expected ${String(c.expected)}) should have committed: ${String(r.reason)}`);
        continue;
      }
      const had = seed[c.stream] ?? 0;
      t.equal(r.value.nextRevision, had + c.events.length - 1, `${c.stream}: nextRevision ${had + c.events.length - 1}`);
      if (c.stream !== 'primer') goodTxs.add(txOf(r.value.position));
    } else {
      if (r.status === 'fulfilled') {
        t.fail(`${c.stream} (expected ${String(c.expected)}) should have failed`);
        continue;
      }
      const err = r.reason as unknown;
      t.ok(err instanceof WrongExpectedRevisionError, `${c.stream}: WrongExpectedRevisionError`);
      if (err instanceof WrongExpectedRevisionError) {
        t.equal(err.actual, c.actual, `${c.stream}: actual ${String(c.actual)}`);
        t.equal(err.streamId, c.stream, `${c.stream}: error names the stream`);
        t.equal(err.expected, c.expected, `${c.stream}: error carries the expectation as given`);
      }
    }
  }
  t.equal(goodTxs.size, 1, 'the good appends of the batch committed in one transaction');
  const primer = settled[0]!;
  if (primer.status === 'fulfilled') t.notOk(goodTxs.has(txOf(primer.value.position)), 'the primer had a transaction of its own');

  for (const c of cases) {
    if (c.stream === 'primer') continue;
    const got = await store.readStream(c.stream);
    t.ok(contiguous(got), `${c.stream}: revisions 0..${got.length - 1}, no holes`);
    const ids = got.map((e) => e.id);
    const expectedIds = c.actual === undefined ? [...before.get(c.stream)!, ...c.events.map((e) => e.id)] : before.get(c.stream)!;
    t.same(ids, expectedIds, c.actual === undefined ? `${c.stream}: its events were appended` : `${c.stream}: unchanged`);
  }
  const log = await readWholeLog(store, 17);
  const failedIds = new Set(cases.filter((c) => c.actual !== undefined).flatMap((c) => c.events.map((e) => e.id)));
  t.equal(log.filter((e) => failedIds.has(e.id)).length, 0, 'no event of a failed append anywhere in the log');
  t.equal(log.length, 10 + 1 + 1 + 1 + 2 + 1 + 1, 'the log holds the seeds and the good appends only');
  t.equal(firstNonIncreasing(log), -1, 'log in position order');
});

t.test('idempotent retries inside a batch', async (t) => {
  const fx = await fixture(t, 'gc_idem');
  const store = await fx.open({ appendBatchesInFlight: 1 });
  const x = [ev('X1'), ev('X2')];
  const y = [ev('Y1')];
  const original = await store.append('s', x, 'no_stream');
  await store.append('o', y, 'no_stream');
  t.equal(original.nextRevision, 1);

  t.test('a retry whose expectation no longer holds: the batch statement goes through', async (t) => {
    const warningsBefore = fx.warnings.length;
    const n1 = [ev('N1')];
    const o1 = [ev('O1')];
    const settled = await fire(store, [
      { stream: 'primer1', events: [ev('Primer')], expected: 'no_stream' },
      { stream: 's', events: x, expected: 'no_stream' }, // retry of the original append, same expectation
      { stream: 'n1', events: n1, expected: 'no_stream' },
      { stream: 'o', events: o1, expected: 0 },
    ]);
    t.equal(store.appendBatchStats.largest, 3, 'the retry and its batch-mates went as one batch');
    t.same(fulfilled(settled[1]!), { ...original, alreadyStored: true }, 'the retry returns the original result');
    const rn1 = fulfilled(settled[2]!);
    const ro = fulfilled(settled[3]!);
    t.equal(rn1.nextRevision, 0);
    t.equal(ro.nextRevision, 1);
    t.equal(txOf(rn1.position), txOf(ro.position), 'the batch-mates committed in one transaction');
    t.equal(fx.warnings.length, warningsBefore, 'the batch statement did not fail');
  });

  t.test('a retry whose expectation still holds, and an event id of another stream: the batch falls back to one by one', async (t) => {
    const n2 = [ev('N2')];
    const o2 = [ev('O2')];
    const fresh = ev('Fresh');
    const settled = await fire(store, [
      { stream: 'primer2', events: [ev('Primer')], expected: 'no_stream' },
      { stream: 's', events: x, expected: 'any' }, // retry: its ids are stored, and 'any' holds
      { stream: 'n2', events: n2, expected: 'no_stream' },
      { stream: 'bad', events: [fresh, y[0]!], expected: 'no_stream' }, // y's id is already in stream 'o'
      { stream: 'o', events: o2, expected: 1 },
    ]);
    t.equal(store.appendBatchStats.largest, 4, 'all four went as one batch');
    t.same(fulfilled(settled[1]!), { ...original, alreadyStored: true }, 'the retry returns the original result');
    t.equal(fulfilled(settled[2]!).nextRevision, 0, 'a new stream in the same batch committed');
    t.equal(fulfilled(settled[4]!).nextRevision, 2, 'an exact append in the same batch committed');
    const bad = settled[3]!;
    t.equal(bad.status, 'rejected', 'the append reusing another stream\'s event id failed');
    if (bad.status === 'rejected') {
      t.ok(bad.reason instanceof Error, 'with an Error');
      t.notOk(bad.reason instanceof WrongExpectedRevisionError, 'not a concurrency conflict');
      t.match(String((bad.reason as Error).message), /stream o\b/, 'naming the stream that holds the id');
    }
    t.ok(fx.warnings.some((w) => /append batch failed/.test(w.msg ?? '')), 'the batch statement failed and was written one by one');
  });

  t.test('stream contents: no duplicates, nothing of the failed append', async (t) => {
    const s = await store.readStream('s');
    t.same(s.map((e) => e.id), x.map((e) => e.id), 's holds the original two events once');
    t.same(s.map((e) => e.position), [s[0]!.position, original.position], 'at their original positions');
    t.same((await store.readStream('bad')).length, 0, 'the failed append created nothing');
    const o = await store.readStream('o');
    t.equal(o.length, 3);
    t.ok(contiguous(o), 'o: revisions contiguous');
    const log = await readWholeLog(store, 9);
    t.equal(log.length, 2 + 1 + 1 + 1 + 1 + 1 + 1 + 1, 'the log holds each event once');
    t.equal(new Set(log.map((e) => e.id)).size, log.length, 'no event id twice');
    t.equal(log.filter((e) => e.type === 'Fresh').length, 0, 'the failed append wrote nothing');
    t.equal(firstNonIncreasing(log), -1, 'log in position order');
  });
});

t.test('two stores on one schema, appending with any over the same streams in opposite orders', async (t) => {
  const fx = await fixture(t, 'gc_two');
  const [a, b] = [await fx.open({ poolSize: 4 }), await fx.open({ poolSize: 4 })];
  const STREAMS = 20;
  const PER_STREAM = 3; // appends per stream, per store, per round
  const ROUNDS = 5;
  const streams = Array.from({ length: STREAMS }, (_, i) => `shared-${String(i).padStart(2, '0')}`);
  const results = new Map<string, number[]>(streams.map((s) => [s, []]));
  const appended = new Set<string>();
  let failures = 0;
  const started = Date.now();
  for (let round = 0; round < ROUNDS; round++) {
    const run = (store: PostgresEventStore, order: readonly string[], who: string) => {
      const list: Array<{ stream: string; e: EventData }> = [];
      for (let k = 0; k < PER_STREAM; k++) for (const stream of order) list.push({ stream, e: ev('Shared', { who, round, k }) });
      return Promise.allSettled(
        list.map(async ({ stream, e }) => {
          const r = await store.append(stream, [e], 'any');
          appended.add(e.id);
          results.get(stream)!.push(r.nextRevision);
          return r;
        }),
      );
    };
    const settled = (await Promise.all([run(a, streams, 'a'), run(b, [...streams].reverse(), 'b')])).flat();
    for (const r of settled) {
      if (r.status === 'rejected') {
        failures++;
        if (failures <= 3) t.comment(`append failed: ${String(r.reason)}`);
      }
    }
  }
  const total = ROUNDS * 2 * PER_STREAM * STREAMS;
  t.comment(`${total} appends in ${Date.now() - started} ms; batches a=${JSON.stringify(a.appendBatchStats)} b=${JSON.stringify(b.appendBatchStats)}`);
  t.equal(failures, 0, 'no append failed');
  t.ok(a.appendBatchStats.largest > 1 && b.appendBatchStats.largest > 1, 'both stores batched');
  // Batches lock existing streams rows, and create missing ones, in stream id order.
  const deadlocks = fx.warnings.filter((w) => w.code === '40P01');
  t.equal(deadlocks.length, 0, 'no batch statement deadlocked, creating the streams or moving them on', { warnings: deadlocks.map((w) => w.err) });

  let events = 0;
  for (const stream of streams) {
    const got = await a.readStream(stream);
    events += got.length;
    t.ok(contiguous(got), `${stream}: revisions 0..${got.length - 1} contiguous`);
    t.equal(got.length, ROUNDS * 2 * PER_STREAM, `${stream}: one event per append`);
    t.same(
      [...results.get(stream)!].sort((p, q) => p - q),
      got.map((e) => e.revision),
      `${stream}: every append reported a revision of its own`,
    );
  }
  t.equal(events, total, 'as many events as appends');
  const log = await readWholeLog(b, total);
  t.equal(log.length, total, 'the log (read through the other store) holds every event');
  t.equal(new Set(log.map((e) => e.id)).size, total, 'each once');
  t.ok(log.every((e) => appended.has(e.id)), 'and only appended events');
  t.equal(firstNonIncreasing(log), -1, 'in position order');
});

t.test('multi-event appends in a batch: consecutive revisions, increasing positions, position of the last event', async (t) => {
  const fx = await fixture(t, 'gc_multi');
  const store = await fx.open({ appendBatchesInFlight: 1 });
  for (let i = 0; i < 5; i++) await store.append(`old-${i}`, [ev('Seeded'), ev('Seeded')], 'no_stream');
  const cases: Array<{ stream: string; events: EventData[]; expected: ExpectedRevision; from: number }> = [
    { stream: 'primer', events: [ev('Primer')], expected: 'no_stream', from: 0 },
  ];
  for (let i = 0; i < 5; i++) cases.push({ stream: `old-${i}`, events: [ev('M'), ev('M'), ev('M')], expected: 1, from: 2 });
  for (let i = 0; i < 5; i++) cases.push({ stream: `new-${i}`, events: [ev('M'), ev('M'), ev('M')], expected: i % 2 ? 'any' : 'no_stream', from: 0 });
  const settled = await fire(store, cases);
  t.equal(store.appendBatchStats.largest, 10, 'the ten multi-event appends went as one batch');
  const txs = new Set<bigint>();
  for (const [i, c] of cases.entries()) {
    const r = fulfilled(settled[i]!);
    if (i > 0) txs.add(txOf(r.position));
    const got = (await store.readStream(c.stream)).filter((e) => e.revision >= c.from);
    t.same(got.map((e) => e.id), c.events.map((e) => e.id), `${c.stream}: its events, in order`);
    t.same(got.map((e) => e.revision), c.events.map((_, k) => c.from + k), `${c.stream}: consecutive revisions from ${c.from}`);
    t.equal(firstNonIncreasing(got), -1, `${c.stream}: positions increase within the append`);
    t.ok(got.every((e) => txOf(e.position) === txOf(r.position)), `${c.stream}: the append's events share its transaction`);
    t.equal(r.position, got[got.length - 1]!.position, `${c.stream}: result position is its last event's`);
    t.equal(r.nextRevision, got[got.length - 1]!.revision, `${c.stream}: nextRevision is its last event's revision`);
  }
  t.equal(txs.size, 1, 'the batch was one transaction');
  const log = await readWholeLog(store, 10 + 1 + 30);
  t.equal(log.length, 41);
  t.equal(new Set(log.map((e) => e.position)).size, 41, 'positions unique across the batch');
  t.equal(firstNonIncreasing(log), -1, 'log in position order');
});

t.test('appendBatchesInFlight: 0 writes every append alone', async (t) => {
  const fx = await fixture(t, 'gc_off');
  const store = await fx.open({ appendBatchesInFlight: 0 });
  const distinct = Array.from({ length: 40 }, (_, i) => ({ stream: `off-${i}`, events: [ev('Off')], expected: 'no_stream' as const }));
  const same = Array.from({ length: 10 }, () => ({ stream: 'off-shared', events: [ev('Off')], expected: 'any' as const }));
  const settled = await fire(store, [...distinct, ...same]);
  t.equal(settled.filter((r) => r.status === 'rejected').length, 0, 'every append succeeded');
  const results = settled.map(fulfilled);
  t.same(store.appendBatchStats, { batches: 0, appends: 0, largest: 0, writeMs: 0, maxWriteMs: 0 }, 'no batching');
  t.equal(new Set(results.map((r) => txOf(r.position))).size, results.length, 'each append in a transaction of its own');
  t.same(
    results.slice(distinct.length).map((r) => r.nextRevision).sort((p, q) => p - q),
    Array.from({ length: same.length }, (_, i) => i),
    'appends to one stream got revisions 0..9',
  );
  const shared = await store.readStream('off-shared');
  t.ok(contiguous(shared) && shared.length === same.length, 'the shared stream is contiguous');
  const log = await readWholeLog(store, 50);
  t.equal(log.length, 50, 'the log holds every event');
  t.equal(firstNonIncreasing(log), -1, 'in position order');
  const conflict = await store.append('off-0', [ev('Off')], 'no_stream').catch((err: unknown) => err);
  t.ok(conflict instanceof WrongExpectedRevisionError && conflict.actual === 0, 'expectations still checked');
});
