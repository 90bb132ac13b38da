// Group commit in the PostgreSQL event store under dropped connections, against a real database.
// Several writers append concurrently (so appends go in batches, append-batcher.ts) while another
// connection keeps terminating the store's pooled backends mid-statement (pg_terminate_backend). A
// killed batch statement fails as a whole and its appends are written one by one.
//
// A terminated backend never reports a commit it made: it only dies at its next interrupt check,
// after ReadyForQuery has gone out. So the store reaches PostgreSQL through a small TCP proxy that,
// once armed, swallows the next reply to an append statement and cuts the connection: the server has
// committed (a reply is only flushed with ReadyForQuery, after COMMIT) but the client sees a dropped
// connection. A batch cut so falls back to one by one over appends that are already stored; a lone
// append cut so reaches its writer as an error. Each writer retries such an append as a careful client
// would (same event ids, same expected revision) until it succeeds or conflicts, and the idempotent
// append must then hand back the original result. Whatever the timing, the store must end up holding
// exactly the events whose appends succeeded, once each, where they were reported.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { WrongExpectedRevisionError, type AppendResult, type EventData, type ExpectedRevision } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { TEST_DATABASE_URL, createTestSchema, holdOrderingLockShared } from '../support/pg.js';
import { cuttingProxy } from '../support/cutting-proxy.js';
import { readWholeLog } from '../support/read-log.js';

// Readers of the log must not run beside postgres-ordering.test.ts's long transactions.
t.teardown(await holdOrderingLockShared());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Small seeded PRNG (mulberry32): the writers' choices are reproducible from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const WRITERS = 8;
const OWN_STREAMS = 5; // per writer, appended with exact expected revisions by that writer only
const SHARED_STREAMS = 10; // appended by every writer, with 'any' or a (possibly stale) exact revision
const POOL_SIZE = 6;
const MIN_LOAD_MS = 3000;
const MAX_LOAD_MS = 12_000;
/** Load goes on (up to MAX_LOAD_MS) until this many batch statements failed as a whole. */
const WANTED_BATCH_FAILURES = 5;
/** ... and until this many committed batches had their reply lost. */
const WANTED_COMMITTED_CUTS = 3;
const KILL_EVERY_MS = [100, 200] as const;
/** A careful client gives up on an append only after this long (the kills stop when the load does). */
const GIVE_UP_MS = 10_000;

type Outcome =
  | { kind: 'ok'; result: AppendResult }
  | { kind: 'conflict'; err: WrongExpectedRevisionError }
  | { kind: 'unresolved'; lastError: string };

/** One logical append: its event ids and expectation never change across retries. */
interface Op {
  writer: number;
  stream: string;
  own: boolean;
  events: EventData[];
  expected: ExpectedRevision;
  attempts: number;
  errors: string[];
  /** Date.now() when the last failed attempt reported its error. */
  lastErrorAt: number;
  outcome?: Outcome;
}

interface Warning {
  msg: string | undefined;
  code?: string;
  err?: string;
  appends?: number;
}

interface Row {
  event_id: string;
  stream_id: string;
  revision: number;
  position: string;
  created_at: Date;
}

const errText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

t.test('appends under killed connections: each succeeded append stored exactly once, nothing else', async (t) => {
  const ts = await createTestSchema('gc_faults');
  const appName = `gcf_${ts.schema}`.slice(0, 63);
  const target = new URL(ts.url);
  const proxy = await cuttingProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const url = new URL(ts.url);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  url.searchParams.set('application_name', appName); // how the killer tells the store's backends apart
  const warnings: Warning[] = [];
  const stores: PostgresEventStore[] = [];
  const clients: pg.Client[] = [];
  t.teardown(async () => {
    for (const s of stores) await s.close();
    await proxy.close();
    for (const c of clients) await c.end().catch(() => undefined);
    await ts.drop();
  });
  const store = await PostgresEventStore.open({
    connectionString: url.toString(),
    schema: ts.schema,
    poolSize: POOL_SIZE,
    logger: { warn: (obj, msg) => warnings.push({ ...(obj as Omit<Warning, 'msg'>), msg }) },
  });
  stores.push(store);
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  };
  const admin = await connect();

  const seed = Number(process.env['GC_FAULTS_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  t.comment(`seed ${seed} (GC_FAULTS_SEED=${seed} replays the writers' choices; kill timing stays random)`);

  // --- the writers -------------------------------------------------------------------------------
  const ops: Op[] = [];
  const sharedRevision = new Map<string, number>(); // best known revision of each shared stream
  let stopping = false;
  const ev = (writer: number, stream: string, k: number): EventData => ({ id: randomUUID(), type: 'Faulted', data: { writer, stream, k } });

  /** Retries the same append on any error but a conflict, as a careful client would. */
  async function perform(op: Op): Promise<void> {
    const started = Date.now();
    for (;;) {
      op.attempts++;
      try {
        op.outcome = { kind: 'ok', result: await store.append(op.stream, op.events, op.expected) };
        return;
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError) {
          op.outcome = { kind: 'conflict', err };
          return;
        }
        op.lastErrorAt = Date.now();
        if (op.errors.length < 5) op.errors.push(errText(err));
        if (Date.now() - started > GIVE_UP_MS) {
          op.outcome = { kind: 'unresolved', lastError: errText(err) };
          return;
        }
        await sleep(Math.floor(Math.random() * 5));
      }
    }
  }

  async function writer(w: number): Promise<void> {
    const rnd = prng(seed + w * 7919);
    const own = Array.from({ length: OWN_STREAMS }, (_, k) => `own-${w}-${k}`);
    const ownRevision = new Map<string, number>(own.map((s) => [s, -1]));
    const tainted = new Set<string>(); // own streams whose revision this writer no longer knows
    while (!stopping) {
      const roll = rnd();
      const count = 1 + Math.floor(rnd() * 3);
      let op: Op;
      const base = { writer: w, attempts: 0, errors: [], lastErrorAt: 0 };
      if (roll < 0.6) {
        const stream = own[Math.floor(rnd() * own.length)]!;
        if (tainted.has(stream)) continue;
        const rev = ownRevision.get(stream)!;
        op = { ...base, stream, own: true, events: Array.from({ length: count }, (_, k) => ev(w, stream, k)), expected: rev === -1 ? 'no_stream' : rev };
      } else {
        const stream = `shared-${Math.floor(rnd() * SHARED_STREAMS)}`;
        const exact = roll >= 0.85; // may well be stale: conflicts are expected there
        const known = sharedRevision.get(stream) ?? -1;
        op = {
          ...base,
          stream,
          own: false,
          events: Array.from({ length: count }, (_, k) => ev(w, stream, k)),
          expected: exact ? (known === -1 ? 'no_stream' : known) : 'any',
        };
      }
      ops.push(op);
      await perform(op);
      const o = op.outcome!;
      if (op.own) {
        if (o.kind === 'ok') ownRevision.set(op.stream, o.result.nextRevision);
        else tainted.add(op.stream); // a conflict here is a bug (asserted below); stop using the stream
      } else if (o.kind === 'ok') {
        sharedRevision.set(op.stream, Math.max(sharedRevision.get(op.stream) ?? -1, o.result.nextRevision));
      } else if (o.kind === 'conflict' && typeof o.err.actual === 'number') {
        sharedRevision.set(op.stream, Math.max(sharedRevision.get(op.stream) ?? -1, o.err.actual));
      }
    }
  }

  // --- the killer --------------------------------------------------------------------------------
  const killer = await connect();
  const kills = { rounds: 0, terminated: 0, active: 0, activeBatch: 0, activeSingle: 0, idle: 0 };
  let killing = true;
  const batchFailures = (): number => warnings.filter((w) => /append batch failed/.test(w.msg ?? '')).length;
  const killLoop = (async () => {
    while (killing) {
      await sleep(KILL_EVERY_MS[0] + Math.random() * (KILL_EVERY_MS[1] - KILL_EVERY_MS[0]));
      if (!killing) break;
      // Every backend of the store busy with a statement now, and now and then an idle one too.
      const res = await killer.query<{ state: string | null; batch: boolean; single: boolean; killed: boolean }>(
        `SELECT state, query LIKE '%WITH req AS%' AS batch, query LIKE '%WITH s AS%' AS single, pg_terminate_backend(pid) AS killed
           FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1
            AND (state = 'active' OR random() < 0.15)`,
        [appName],
      );
      kills.rounds++;
      for (const r of res.rows) {
        if (!r.killed) continue;
        kills.terminated++;
        if (r.state === 'active') {
          kills.active++;
          if (r.batch) kills.activeBatch++;
          else if (r.single) kills.activeSingle++;
        } else kills.idle++;
      }
      // Once the FATALs of those kills are through, lose the next append reply, after its commit.
      await sleep(20);
      if (killing) proxy.arm();
    }
  })();

  const loadStarted = Date.now();
  const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
  // Everything asserted about the faults below, with a margin: the kill timing is random, so the
  // load goes on until enough of each kind happened (it takes one kill round or two past MIN_LOAD_MS).
  const enough = (): boolean =>
    batchFailures() >= WANTED_BATCH_FAILURES &&
    proxy.cuts.batch.committed >= WANTED_COMMITTED_CUTS &&
    kills.activeBatch >= WANTED_BATCH_FAILURES &&
    ops.some((o) => o.attempts > 1);
  while (Date.now() - loadStarted < MAX_LOAD_MS && (Date.now() - loadStarted < MIN_LOAD_MS || !enough())) {
    await sleep(50);
  }
  killing = false;
  await killLoop;
  proxy.arm(false);
  stopping = true;
  await Promise.all(writers);
  const loadMs = Date.now() - loadStarted;

  // --- bookkeeping -------------------------------------------------------------------------------
  const okOps = ops.filter((o) => o.outcome?.kind === 'ok');
  const conflictOps = ops.filter((o) => o.outcome?.kind === 'conflict');
  const unresolvedOps = ops.filter((o) => o.outcome?.kind === 'unresolved');
  const retried = ops.filter((o) => o.attempts > 1);
  const stats = store.appendBatchStats;
  t.comment(
    `${loadMs} ms of load: ${ops.length} appends (${okOps.length} ok, ${conflictOps.length} conflicts, ${unresolvedOps.length} unresolved), ` +
      `${retried.length} retried (${retried.reduce((n, o) => n + o.attempts - 1, 0)} retries)`,
  );
  t.comment(`proxy cuts ${JSON.stringify(proxy.cuts)}`);
  t.comment(`kills ${JSON.stringify(kills)}; batch statements failed as a whole: ${batchFailures()}; warnings ${warnings.length}`);
  t.comment(`batches ${JSON.stringify({ batches: stats.batches, appends: stats.appends, largest: stats.largest })}`);
  const errorKinds = new Map<string, number>();
  for (const o of ops) for (const e of o.errors) errorKinds.set(e.slice(0, 100), (errorKinds.get(e.slice(0, 100)) ?? 0) + 1);
  t.comment(`errors seen by writers: ${JSON.stringify([...errorKinds].sort((a, b) => b[1] - a[1]).slice(0, 8))}`);

  t.equal(unresolvedOps.length, 0, 'every append resolved (succeeded or conflicted) once the kills stopped', {
    unresolved: unresolvedOps.slice(0, 5).map((o) => ({ stream: o.stream, expected: String(o.expected), attempts: o.attempts, errors: o.errors })),
  });
  const ownConflicts = conflictOps.filter((o) => o.own);
  t.equal(ownConflicts.length, 0, "no conflict on a writer's own streams (a retry of a stored append must return its result)", {
    conflicts: ownConflicts.slice(0, 5).map((o) => ({ stream: o.stream, expected: String(o.expected), attempts: o.attempts, errors: o.errors, err: errText((o.outcome as { err: unknown }).err) })),
  });
  const nonRetryable = ops.flatMap((o) => o.errors).filter((e) => /already exist|appears twice|no outcome/.test(e));
  t.same(nonRetryable.slice(0, 5), [], 'no append was refused as a bad retry (event ids reported as stored elsewhere, or partly stored)');

  // --- what the database holds --------------------------------------------------------------------
  const s = `"${ts.schema}"`;
  const rows = (
    await admin.query<Row>(`SELECT event_id, stream_id, revision, position::text AS position, created_at FROM ${s}.events ORDER BY stream_id, revision`)
  ).rows;
  const byId = new Map<string, Row>();
  let duplicateIds = 0;
  for (const r of rows) {
    if (byId.has(r.event_id)) duplicateIds++;
    byId.set(r.event_id, r);
  }
  t.equal(duplicateIds, 0, 'no event id stored twice');

  const perStream = new Map<string, number[]>();
  for (const r of rows) {
    const list = perStream.get(r.stream_id) ?? [];
    list.push(r.revision);
    perStream.set(r.stream_id, list);
  }
  const holes = [...perStream].filter(([, revs]) => !revs.every((rev, i) => rev === i)).map(([stream]) => stream);
  t.same(holes, [], 'every stream holds revisions 0..n-1, no holes, no repeats');
  const streamRows = (await admin.query<{ stream_id: string; revision: number }>(`SELECT stream_id, revision FROM ${s}.streams`)).rows;
  const badStreamRows = streamRows.filter((r) => (perStream.get(r.stream_id)?.length ?? 0) - 1 !== r.revision);
  t.same(badStreamRows.slice(0, 5), [], "each streams row's revision is its stream's last event's");
  t.equal(streamRows.length, perStream.size, 'a streams row per stream that holds events, and no other');

  // Each successful append: its events, once, in its stream, at the revisions and position it reported.
  const misplaced: object[] = [];
  const lostIds = new Set<string>();
  let recoveredCommitted = 0; // stored by an attempt that reported an error: returned idempotently on retry
  for (const o of okOps) {
    const result = (o.outcome as { result: AppendResult }).result;
    const n = o.events.length;
    const problems: string[] = [];
    o.events.forEach((e, k) => {
      const r = byId.get(e.id);
      if (!r) {
        lostIds.add(e.id);
        problems.push(`event ${k} not stored`);
        return;
      }
      if (r.stream_id !== o.stream) problems.push(`event ${k} in stream ${r.stream_id}`);
      if (r.revision !== result.nextRevision - n + 1 + k) problems.push(`event ${k} at revision ${r.revision}, reported ${result.nextRevision - n + 1 + k}`);
      if (k === n - 1 && BigInt(r.position) !== result.position) problems.push(`last event at position ${r.position}, reported ${result.position}`);
    });
    if (typeof o.expected === 'number' && result.nextRevision !== o.expected + n) problems.push(`nextRevision ${result.nextRevision} after expected ${o.expected}`);
    if (o.expected === 'no_stream' && result.nextRevision !== n - 1) problems.push(`nextRevision ${result.nextRevision} on a new stream`);
    if (problems.length > 0 && misplaced.length < 10) misplaced.push({ stream: o.stream, expected: String(o.expected), attempts: o.attempts, errors: o.errors, problems });
    const first = byId.get(o.events[0]!.id);
    if (o.attempts > 1 && first && first.created_at.getTime() < o.lastErrorAt - 2) recoveredCommitted++;
  }
  t.same(misplaced, [], 'every successful append: its events stored once, in its stream, at the revisions and position it reported');
  t.equal(lostIds.size, 0, 'no event of a successful append is missing');

  const conflictedStored = conflictOps.flatMap((o) => o.events.map((e) => e.id)).filter((id) => byId.has(id));
  t.equal(conflictedStored.length, 0, 'no event of an append that conflicted is stored');

  const acknowledged = new Set(okOps.flatMap((o) => o.events.map((e) => e.id)));
  const unacknowledged = rows.filter((r) => !acknowledged.has(r.event_id));
  t.same(
    unacknowledged.slice(0, 5).map((r) => ({ id: r.event_id, stream: r.stream_id, revision: r.revision })),
    [],
    'nothing stored that no caller was told about',
  );
  t.equal(rows.length, acknowledged.size, `stored events (${rows.length}) = events of successful appends (${acknowledged.size})`);

  // A writer's own streams hold exactly its successful appends to them, in the order it made them.
  const ownMismatch: string[] = [];
  for (let w = 0; w < WRITERS; w++) {
    for (let k = 0; k < OWN_STREAMS; k++) {
      const stream = `own-${w}-${k}`;
      const want = okOps.filter((o) => o.stream === stream).flatMap((o) => o.events.map((e) => e.id));
      const got = rows.filter((r) => r.stream_id === stream).map((r) => r.event_id);
      if (want.join() !== got.join()) ownMismatch.push(stream);
    }
  }
  t.same(ownMismatch, [], "each writer's own streams hold its successful appends, in order");

  t.comment(`${recoveredCommitted} retried appends were found stored by an attempt that had reported an error`);
  t.ok(kills.terminated >= 5, `backends of the store were terminated (${kills.terminated})`);
  t.ok(kills.activeBatch >= 3, `batch statements were killed mid-flight (${kills.activeBatch})`);
  t.ok(proxy.cuts.batch.committed >= 1, `committed batches lost their reply (${proxy.cuts.batch.committed})`);
  t.ok(batchFailures() >= 3, `batch statements failed as a whole and fell back to one by one (${batchFailures()})`);
  t.ok(stats.largest > 1, `appends were batched (largest batch ${stats.largest})`);
  t.ok(retried.length > 0, `some appends needed retries (${retried.length})`);

  // --- the store keeps working --------------------------------------------------------------------
  const fresh: EventData = { id: randomUUID(), type: 'After', data: {} };
  const afterNew = await store.append('after-faults', [fresh], 'no_stream');
  t.equal(afterNew.nextRevision, 0, 'a fresh append to a new stream succeeds');
  const own0 = rows.filter((r) => r.stream_id === 'own-0-0').length;
  const afterOwn = await store.append('own-0-0', [{ id: randomUUID(), type: 'After', data: {} }], own0 === 0 ? 'no_stream' : own0 - 1);
  t.equal(afterOwn.nextRevision, own0, 'an exact append to an existing stream succeeds');
  const batchesBefore = store.appendBatchStats.batches;
  const together = await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.append(`after-${i}`, [{ id: randomUUID(), type: 'After', data: {} }], 'no_stream')),
  );
  t.ok(together.every((r) => r.nextRevision === 0), 'concurrent appends after the faults succeed');
  t.ok(store.appendBatchStats.batches - batchesBefore < 20, 'and are batched again');
  t.same(await store.readStream('after-faults').then((e) => e.map((x) => x.id)), [fresh.id], 'and can be read back');

  // The log as readAll hands it out: the same events, in strictly increasing position order.
  const want = rows.length + 2 + 20;
  const log = await readWholeLog(store, want);
  t.equal(log.length, want, 'readAll returns every stored event');
  t.ok(
    log.every((e, i) => i === 0 || e.position > log[i - 1]!.position),
    'readAll is in strictly increasing position order',
  );
  t.ok(
    log.every((e) => {
      const r = byId.get(e.id);
      return r === undefined ? e.type === 'After' : BigInt(r.position) === e.position && r.stream_id === e.streamId && r.revision === e.revision;
    }),
    'readAll agrees with the table',
  );
});
