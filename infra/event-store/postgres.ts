// PostgreSQL event store (pg). The adapter for production: many processes, one database.
//
// Ordering. A plain bigserial read as "position > checkpoint" skips events: a transaction that drew a
// lower number can commit after one that drew a higher number, and a reader already past that number
// never sees it (Marten #4952, Eventuous #222, SQLStreamStore #121, Emmett before PR #336). We use
// Emmett's fix instead. Every event records the id of the transaction that wrote it (xid8), and readers
// only return rows whose transaction id is below the xmin of their snapshot: every transaction below
// xmin has ended, and any transaction that ends later has an id >= xmin, so nothing can ever appear
// below what a reader has already been handed. The port wants one bigint, so position packs
// (transaction id, index within the append) as (xid << 16) | index; each append is one transaction,
// hence the 65,535-event cap per append. xid8 never wraps, and xid << 16 stays below 2^63 for 2^47
// transactions (44 years at a sustained 100k transactions/s); a CHECK turns overflow into an error.
// The price: xmin is cluster-wide, so any transaction left open, even in another database, holds back
// what every reader of every store can see. Subscriptions just wait; readAll waits a bounded moment at
// the tail so that a caller still reads its own committed appends.
//
// Appends. One statement, so one round trip and its own transaction in autocommit: a streams row
// carries the stream's revision, and locking it (UPDATE, or INSERT ... ON CONFLICT) both checks the
// expected revision and serializes appenders of that stream, so revisions have no holes. UNIQUE
// (stream_id, revision) backs this up. Idempotency rides on UNIQUE(event_id): the happy path pays
// nothing for it, and a retry is recognized when the append fails.
//
// Group commit (append-batcher.ts): appends that arrive while earlier ones are being written go
// together in one transaction, so one WAL flush covers them all; each keeps its own expected-revision
// check and outcome. The batch statement locks the streams rows it touches in stream id order, so
// batches from several processes cannot deadlock on them. Should a batch fail as a whole (one append
// retried with event ids already stored fails the statement), its appends are written one by one.
//
// Live subscriptions: one LISTEN connection per store, woken by pg_notify, with a fallback poll.
// Each append statement notifies inside its own transaction, so every commit is announced by the
// commit itself: no extra round trip, and no window where a process dies between the two. PostgreSQL
// serializes the commits of notifying transactions on one cluster-wide lock held through the WAL
// flush; one transaction per append made that cap appends at ~5k/s (23% of plain INSERTs at 32
// writers), but under load group commit turns many appends into one transaction, and while the lock
// is busy batches simply grow. Subscriptions in this process are woken directly after the commit.
// The notify carries the commit's highest position, so the second wake-up of a process's own append
// (its notify) costs no read when the first one has read it already.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { AppendBatcher, type BatchOutcome, type BatchedAppend } from './append-batcher.js';
import {
  WrongExpectedRevisionError,
  expectedAsNumber,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
} from './port.js';

export interface PostgresEventStoreLogger {
  warn(obj: object, msg?: string): void;
}

export interface PostgresEventStoreOptions {
  connectionString: string;
  /** Schema holding the store's tables (created if missing); default 'public'. */
  schema?: string;
  /** Pool connections for appends and reads; the LISTEN connection comes on top. Default 10. */
  poolSize?: number;
  logger?: PostgresEventStoreLogger;
  /**
   * TEST HOOK, not for production: runs inside each append's transaction after its rows are written
   * and before COMMIT (e.g. to sleep and hold the transaction open). Setting it makes every append
   * BEGIN/COMMIT explicitly, which costs two extra round trips.
   */
  beforeCommit?: (client: pg.PoolClient, append: { streamId: string; events: readonly EventData[] }) => Promise<void>;
  /** Batches of appends written at once (group commit); 0 writes every append alone. Default 2. */
  appendBatchesInFlight?: number;
}

const DEFAULT_PAGE = 1000;
const MAX_EVENTS_PER_APPEND = 0xffff;
/** Appends per group-commit batch; events per batch share the 16 bits of the position's index. */
const MAX_APPENDS_PER_BATCH = 500;
/** Expected revision codes in the batch statement's per-stream array (exact revisions are >= 0). */
const EXPECT_ANY = -2;
const EXPECT_NO_STREAM = -1;
/** Fallback poll when no notification comes (lost LISTEN connection, notify from an older version). */
const POLL_MS = 1000;
/** Re-poll while committed events are held back by an older open transaction; doubles up to POLL_MS. */
const HELD_BACK_POLL_MS = 50;
/**
 * Floor between reads while held back, however many notifications arrive: it starts low (the blocker
 * is most often another append, done within a few ms) and doubles while reads make no progress (a
 * long transaction elsewhere, while notifications keep coming).
 */
const HELD_BACK_FLOOR_MIN_MS = 1;
const HELD_BACK_FLOOR_MAX_MS = 10;
const RETRY_MS = 1000;
/** How long readAll waits at the tail for already-committed events held back by an older transaction. */
const READ_ALL_SETTLE_MS = 1000;
const LISTEN_RETRY_MIN_MS = 100;
const LISTEN_RETRY_MAX_MS = 5000;

const UNIQUE_VIOLATION = '23505';
const EVENT_ID_KEY = 'events_event_id_key';
const STREAM_REVISION_KEY = 'events_stream_id_revision_key';

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** pg_notify refuses channel names of 64 bytes or more while LISTEN would silently truncate them. */
function channelFor(schema: string): string {
  const name = `events_${schema}`;
  return Buffer.byteLength(name) <= 63 ? name : `events_${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}

const stderrLogger: PostgresEventStoreLogger = {
  warn(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', component: 'postgres-event-store', msg, ...obj })}\n`);
  },
};

function errorInfo(err: unknown): { err: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { err: err.message, code } : { err: err.message };
  }
  return { err: String(err) };
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === UNIQUE_VIOLATION && e.constraint === constraint;
}

/** JSON text of a value; refuses what JSON cannot hold (a function, a symbol) instead of storing a hole. */
function toJson(value: unknown, e: EventData): string {
  const text: string | undefined = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`Event ${e.id} (${e.type}): data and metadata must be JSON-serializable`);
  return text;
}

/** Normalizes an expected revision; -1 (as number or bigint) means "no stream". */
function checkExpected(expected: ExpectedRevision): number | 'any' | 'no_stream' {
  const e = expectedAsNumber(expected);
  if (typeof e === 'number' && (!Number.isSafeInteger(e) || e < -1 || e > 0x7fffffff)) {
    throw new RangeError(`Invalid expected revision ${String(expected)}`);
  }
  return e === -1 ? 'no_stream' : e;
}

interface EventRow {
  event_id: string;
  stream_id: string;
  type: string;
  revision: number;
  position: string; // bigint arrives as text; converted without going through a double
  data: unknown;
  metadata: Record<string, unknown> | null;
  created_at: Date;
}

const COLUMNS = 'event_id, stream_id, type, revision, position, data, metadata, created_at';

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    type: row.type,
    revision: row.revision,
    position: BigInt(row.position),
    data: row.data,
    metadata: row.metadata ?? {},
    createdAt: row.created_at,
  };
}

/** The statements of one store, built once with its schema quoted in; run as named prepared statements. */
function statements(schema: string, channel: string) {
  const s = quoteIdent(schema);
  const events = `${s}.events`;
  // Sent by each append statement, so within its transaction: delivered exactly when it commits. The
  // payload is the commit's highest position, so a subscription that has already read that far skips
  // the read (see PgSubscription.wake).
  const notify = `pg_notify(${quoteLiteral(channel)}, (SELECT max(position) FROM ins)::text)`;
  const streams = `${s}.streams`;
  // Rows below the snapshot's xmin are final (see the top of the file). pg_current_snapshot() is the
  // statement's own snapshot, the one the scan sees rows with, so nothing can commit between taking the
  // bound and reading below it. The position bound is the same condition in index terms, so a page
  // read stops at the bound instead of filtering the whole tail.
  const visible = `position < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
      AND transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))`;
  // $1 stream, $2 event count, $3..$6 per-event arrays, $7 expected revision (exact only).
  // The streams step yields one row (the stream's new last revision) exactly when the expected
  // revision holds; with no row nothing is inserted and the statement returns no row.
  const append = (streamStep: string): string => `
    WITH s AS (${streamStep}),
    ins AS (
      INSERT INTO ${events} (stream_id, revision, position, event_id, type, data, metadata)
      SELECT $1, s.revision - $2::int + u.ord::int, (pg_current_xact_id()::text::bigint << 16) | u.ord,
             u.id, u.type, u.data, u.metadata
      FROM s CROSS JOIN unnest($3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[]) WITH ORDINALITY AS u(id, type, data, metadata, ord)
      RETURNING position
    )
    SELECT s.revision, (SELECT max(position) FROM ins) AS position, ${notify}::text AS notified FROM s`;
  return {
    schema: `
      CREATE SCHEMA IF NOT EXISTS ${s};
      CREATE TABLE IF NOT EXISTS ${streams} (
        stream_id text PRIMARY KEY,
        revision  int  NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${events} (
        global_position bigserial   PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        position        bigint      NOT NULL,
        stream_id       text        NOT NULL,
        revision        int         NOT NULL,
        event_id        uuid        NOT NULL CONSTRAINT ${EVENT_ID_KEY} UNIQUE,
        type            text        NOT NULL,
        data            jsonb       NOT NULL,
        metadata        jsonb       NOT NULL DEFAULT '{}',
        created_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ${STREAM_REVISION_KEY} UNIQUE (stream_id, revision),
        -- Position must encode its transaction id; should xid << 16 ever overflow, fail loudly, not misorder.
        CONSTRAINT events_position_check CHECK (position >> 16 = transaction_id::text::bigint)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS events_position_key ON ${events} (position);`,
    appendNoStream: append(`INSERT INTO ${streams} (stream_id, revision) VALUES ($1, $2::int - 1)
      ON CONFLICT (stream_id) DO NOTHING RETURNING revision`),
    appendAny: append(`INSERT INTO ${streams} AS st (stream_id, revision) VALUES ($1, $2::int - 1)
      ON CONFLICT (stream_id) DO UPDATE SET revision = st.revision + $2::int RETURNING revision`),
    appendExact: append(`UPDATE ${streams} SET revision = revision + $2::int
      WHERE stream_id = $1 AND revision = $7::int RETURNING revision`),
    // Group commit: several streams' appends in one statement. $1 stream ids, $2 event counts, $3 expected
    // (EXPECT_ANY, EXPECT_NO_STREAM or the exact revision), per stream; $4 the stream's index (1-based)
    // and $5 the event's index within its append (1-based), $6..$9 as in append, per event. Existing
    // streams rows are locked first in stream id order (no deadlock between batches), then each stream
    // whose expectation holds is created (in stream id order as well) or moved on. A row comes back per stream: written or not, its
    // revision (new, or current as locked: null when it did not exist), and for one not written
    // whether some of its event ids are already stored (a retried append), so that a plain conflict
    // needs no further query.
    appendBatch: `
    WITH req AS (
      SELECT r.stream_id, r.n, r.expected, r.si::int AS si
      FROM unnest($1::text[], $2::int[], $3::int[]) WITH ORDINALITY AS r(stream_id, n, expected, si)
    ),
    locked AS MATERIALIZED (
      SELECT st.stream_id, st.revision FROM ${streams} st WHERE st.stream_id = ANY($1::text[]) ORDER BY st.stream_id FOR UPDATE
    ),
    created AS (
      INSERT INTO ${streams} (stream_id, revision)
      SELECT req.stream_id, req.n - 1 FROM req
      WHERE req.expected < 0 AND NOT EXISTS (SELECT 1 FROM locked l WHERE l.stream_id = req.stream_id)
      -- In id order too: ON CONFLICT waits for another transaction's insert of the same row.
      ORDER BY req.stream_id
      ON CONFLICT (stream_id) DO NOTHING
      RETURNING stream_id, revision
    ),
    updated AS (
      UPDATE ${streams} st SET revision = st.revision + req.n
      FROM req JOIN locked l ON l.stream_id = req.stream_id
      WHERE st.stream_id = req.stream_id AND req.expected <> ${EXPECT_NO_STREAM}
        AND (req.expected = ${EXPECT_ANY} OR st.revision = req.expected)
      RETURNING st.stream_id, st.revision
    ),
    ok AS (SELECT stream_id, revision FROM created UNION ALL SELECT stream_id, revision FROM updated),
    ins AS (
      INSERT INTO ${events} (stream_id, revision, position, event_id, type, data, metadata)
      SELECT ok.stream_id, ok.revision - req.n + e.k, (pg_current_xact_id()::text::bigint << 16) | e.ord,
             e.id, e.type, e.data, e.metadata
      FROM unnest($4::int[], $5::int[], $6::uuid[], $7::text[], $8::jsonb[], $9::jsonb[])
             WITH ORDINALITY AS e(si, k, id, type, data, metadata, ord)
      JOIN req ON req.si = e.si
      JOIN ok ON ok.stream_id = req.stream_id
      RETURNING stream_id, position
    ),
    -- Grouped once: a per-row subquery over ins would make the statement quadratic in the batch size.
    last AS (SELECT stream_id, max(position) AS position FROM ins GROUP BY stream_id)
    SELECT req.stream_id, ok.revision IS NOT NULL AS written,
           coalesce(ok.revision, l.revision) AS revision,
           last.position,
           ok.revision IS NULL AND EXISTS (
             SELECT 1 FROM unnest($4::int[], $6::uuid[]) AS e(si, id) JOIN ${events} ev ON ev.event_id = e.id WHERE e.si = req.si
           ) AS stored,
           (SELECT ${notify} WHERE EXISTS (SELECT 1 FROM ok))::text AS notified
    FROM req LEFT JOIN ok ON ok.stream_id = req.stream_id LEFT JOIN locked l ON l.stream_id = req.stream_id
      LEFT JOIN last ON last.stream_id = req.stream_id`,
    streamRevision: `SELECT revision FROM ${streams} WHERE stream_id = $1`,
    byIds: `SELECT event_id, stream_id, revision, position FROM ${events} WHERE event_id = ANY($1::uuid[])`,
    readForwards: `SELECT ${COLUMNS} FROM ${events} WHERE stream_id = $1 AND revision >= $2 ORDER BY revision ASC LIMIT $3`,
    readBackwards: `SELECT ${COLUMNS} FROM ${events} WHERE stream_id = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3`,
    readAll: `SELECT ${COLUMNS} FROM ${events} WHERE position > $1 AND ${visible} ORDER BY position ASC LIMIT $2`,
    // A subscription's page and its held-back flag in one statement, so from one snapshot: the rows of
    // readAll (held_back NULL) followed by one row with only held_back set, true when committed events
    // past $1 wait behind an older open transaction (as in tail). The outer ORDER BY keeps the page in
    // position order and puts the flag row last (NULLS LAST).
    subscribePage: `WITH page AS (
        SELECT ${COLUMNS} FROM ${events} WHERE position > $1 AND ${visible} ORDER BY position ASC LIMIT $2
      )
      SELECT ${COLUMNS}, NULL::boolean AS held_back FROM page
      UNION ALL
      SELECT NULL::uuid, NULL::text, NULL::text, NULL::int, NULL::bigint, NULL::jsonb, NULL::jsonb, NULL::timestamptz,
             t.tail > $1::bigint AND t.tail >= t.bound
      FROM (SELECT coalesce((SELECT max(position) FROM ${events}), 0) AS tail,
                   pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS bound) AS t
      ORDER BY position ASC NULLS LAST`,
    // The newest committed event, visible or not, and the visibility bound, from one snapshot: when
    // tail >= bound, committed events wait behind an older open transaction.
    tail: `SELECT coalesce((SELECT max(position) FROM ${events}), 0) AS tail,
      pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS bound`,
    bound: `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS bound`,
    head: `SELECT coalesce(max(position), 0) AS position FROM ${events} WHERE ${visible}`,
  };
}

type Statements = ReturnType<typeof statements>;

interface AppendRow {
  revision: number;
  position: string;
}

/**
 * An append's result in a batch: written, or not (its expected revision failed) with what the batch
 * saw: the stream's current revision (null: no stream; undefined: not known) and whether some of its
 * event ids are already stored (undefined: not known).
 */
type BatchResult = ({ written: true } & AppendRow) | { written: false; current?: number | null; stored?: boolean };

interface AppendQuery {
  name: string;
  text: string;
  values: unknown[];
}

/** One append as the batcher carries it: its own statement (to write it alone) and its batch parts. */
interface PendingAppend {
  query: AppendQuery;
  expected: number;
  ids: string[];
  types: string[];
  data: string[];
  metadata: string[];
}

interface BatchRow {
  stream_id: string;
  written: boolean;
  revision: number | null;
  position: string | null;
  stored: boolean;
}

interface IdRow {
  event_id: string;
  stream_id: string;
  revision: number;
  position: string;
}

export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #sql: Statements;
  readonly #logger: PostgresEventStoreLogger;
  readonly #beforeCommit: PostgresEventStoreOptions['beforeCommit'];
  readonly #listener: Listener;
  readonly #subscriptions = new Set<PgSubscription>();
  #closed = false;
  /** Group commit; null when appends are written one per transaction (option, or the test hook). */
  readonly #batcher: AppendBatcher<PendingAppend, BatchResult> | null;

  private constructor(pool: pg.Pool, sql: Statements, listener: Listener, opts: PostgresEventStoreOptions, logger: PostgresEventStoreLogger) {
    this.#pool = pool;
    this.#sql = sql;
    this.#listener = listener;
    this.#logger = logger;
    this.#beforeCommit = opts.beforeCommit;
    const inFlight = opts.appendBatchesInFlight ?? 2;
    this.#batcher =
      inFlight > 0 && !opts.beforeCommit
        ? new AppendBatcher({
            write: (batch) => this.#writeBatch(batch),
            maxInFlight: inFlight,
            maxAppends: MAX_APPENDS_PER_BATCH,
            maxEvents: MAX_EVENTS_PER_APPEND,
          })
        : null;
  }

  /** Live subscriptions' pages read, and notifications they skipped as already read (PgSubscription.wake). */
  get subscriptionCounts(): { reads: number; wakesSkipped: number } {
    let reads = 0;
    let wakesSkipped = 0;
    for (const sub of this.#subscriptions) {
      reads += sub.counts.reads;
      wakesSkipped += sub.counts.wakesSkipped;
    }
    return { reads, wakesSkipped };
  }

  /** Group-commit counters: batches written, appends they held, the largest batch. */
  get appendBatchStats(): { batches: number; appends: number; largest: number; writeMs: number; maxWriteMs: number } {
    return { ...(this.#batcher?.stats ?? { batches: 0, appends: 0, largest: 0, writeMs: 0, maxWriteMs: 0 }) };
  }

  /** Connects and creates the schema and tables if missing; safe when several processes start at once. */
  static async open(opts: PostgresEventStoreOptions): Promise<PostgresEventStore> {
    const schema = opts.schema ?? 'public';
    const logger = opts.logger ?? stderrLogger;
    const sql = statements(schema, channelFor(schema));
    const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10 });
    // An idle pooled connection that dies (server restart) emits 'error' on the pool; unhandled, that
    // would crash the process. The pool drops the client and the next query opens a new one.
    pool.on('error', (err) => logger.warn(errorInfo(err), 'event store: idle PostgreSQL connection failed'));
    try {
      const client = await pool.connect();
      try {
        // IF NOT EXISTS alone still races (two CREATEs can both pass the check); the advisory lock
        // makes concurrent starts take turns.
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`event-store:${schema}`]);
        await client.query(sql.schema);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    const listener = new Listener(opts.connectionString, channelFor(schema), logger);
    const store = new PostgresEventStore(pool, sql, listener, opts, logger);
    listener.onNotify = (committedThrough) => store.#wakeAll(committedThrough);
    return store;
  }

  async append(streamId: string, events: EventData[], expected: ExpectedRevision): Promise<AppendResult> {
    this.#ensureOpen();
    const want = checkExpected(expected);
    const seen = new Set<string>();
    for (const e of events) {
      if (typeof e.id !== 'string' || e.id === '') throw new Error(`Stream ${streamId}: every event needs an id`);
      if (typeof e.type !== 'string' || e.type === '') throw new Error(`Stream ${streamId}: event ${e.id} has no type`);
      if (seen.has(e.id)) throw new Error(`Stream ${streamId}: event id ${e.id} appears twice in one append`);
      seen.add(e.id);
    }
    if (events.length > MAX_EVENTS_PER_APPEND) {
      throw new RangeError(`Stream ${streamId}: at most ${MAX_EVENTS_PER_APPEND} events per append (got ${events.length})`);
    }
    if (events.length === 0) return this.#appendNothing(streamId, want, expected);

    const ids = events.map((e) => e.id);
    const types = events.map((e) => e.type);
    const data = events.map((e) => toJson(e.data ?? null, e));
    const metadata = events.map((e) => toJson(e.metadata ?? {}, e));
    const values: unknown[] = [streamId, events.length, ids, types, data, metadata];
    let name: string;
    let text: string;
    if (want === 'any') [name, text] = ['es_append_any', this.#sql.appendAny];
    else if (want === 'no_stream') [name, text] = ['es_append_no_stream', this.#sql.appendNoStream];
    else {
      [name, text] = ['es_append_exact', this.#sql.appendExact];
      values.push(want);
    }
    const query: AppendQuery = { name, text, values };

    if (this.#batcher) return this.#appendBatched(streamId, events, expected, {
      query,
      expected: want === 'any' ? EXPECT_ANY : want === 'no_stream' ? EXPECT_NO_STREAM : want,
      ids,
      types,
      data,
      metadata,
    });
    return this.#settle(streamId, events, expected, () => this.#runAppend(streamId, events, query));
  }

  /**
   * Runs a write of one append and turns its outcome into the append's result: the row when written;
   * when not, the original result if it is a retry of an append already stored, else a conflict.
   */
  async #settle(
    streamId: string,
    events: readonly EventData[],
    expected: ExpectedRevision,
    write: () => Promise<AppendRow | undefined>,
  ): Promise<AppendResult> {
    let row: AppendRow | undefined;
    try {
      row = await write();
    } catch (err) {
      if (isUniqueViolation(err, EVENT_ID_KEY)) {
        const retried = await this.#alreadyAppended(streamId, events);
        if (retried) return retried;
      }
      // The streams row should make this impossible; kept as a backstop so a lost race always
      // surfaces as a concurrency conflict, never as a raw database error.
      if (isUniqueViolation(err, STREAM_REVISION_KEY)) throw await this.#conflict(streamId, expected);
      throw err;
    }
    if (row) {
      const position = BigInt(row.position);
      this.#wakeAll(position); // other processes heard the commit's own notify
      return { nextRevision: row.revision, position };
    }
    // Expected revision did not hold. A retry of an append that already went through is not a conflict.
    const retried = await this.#alreadyAppended(streamId, events);
    if (retried) return retried;
    throw await this.#conflict(streamId, expected);
  }

  /** Through group commit (see the top of the file). */
  async #appendBatched(streamId: string, events: readonly EventData[], expected: ExpectedRevision, pending: PendingAppend): Promise<AppendResult> {
    const outcome = await this.#batcher!.submit({ streamId, eventCount: events.length, item: pending });
    const result = outcome.kind === 'done' ? outcome.result : null;
    if (result?.written) {
      const position = BigInt(result.position);
      this.#wakeAll(position); // other processes heard the commit's own notify
      return { nextRevision: result.revision, position };
    }
    // A plain conflict on a stream the batch saw: no further query. (A stream it did not see may have
    // been created meanwhile by another transaction; the single-append path asks.)
    if (result && result.stored === false && typeof result.current === 'number' && pending.expected !== EXPECT_ANY) {
      throw new WrongExpectedRevisionError(streamId, expected, result.current);
    }
    // Anything else takes the single-append path's answers. 'any' cannot fail on a revision: in a batch
    // it misses only a stream created by a transaction that committed after the batch's snapshot;
    // alone, its upsert waits for and sees that row.
    return this.#settle(streamId, events, expected, async () => {
      if (outcome.kind === 'failed') throw outcome.error;
      return pending.expected === EXPECT_ANY ? this.#writeAlone(pending.query) : undefined;
    });
  }

  /** One append in its own transaction, through the single-append statement. */
  async #writeAlone(query: AppendQuery): Promise<AppendRow | undefined> {
    const res = await this.#pool.query<AppendRow>(query);
    return res.rows[0];
  }

  /** Writes a batch in one transaction; a batch of one runs the single-append statement. */
  async #writeBatch(batch: readonly BatchedAppend<PendingAppend>[]): Promise<BatchOutcome<BatchResult>[]> {
    const alone = async (b: BatchedAppend<PendingAppend>): Promise<BatchOutcome<BatchResult>> => {
      try {
        const row = await this.#writeAlone(b.item.query);
        return { kind: 'done', result: row ? { written: true, ...row } : { written: false } };
      } catch (error) {
        return { kind: 'failed', error };
      }
    };
    if (batch.length === 1) return [await alone(batch[0]!)];
    const streamIds: string[] = [];
    const counts: number[] = [];
    const expected: number[] = [];
    const streamIndex: number[] = [];
    const indexInAppend: number[] = [];
    const ids: string[] = [];
    const types: string[] = [];
    const data: string[] = [];
    const metadata: string[] = [];
    batch.forEach((b, i) => {
      streamIds.push(b.streamId);
      counts.push(b.eventCount);
      expected.push(b.item.expected);
      for (let k = 0; k < b.eventCount; k++) {
        streamIndex.push(i + 1);
        indexInAppend.push(k + 1);
        ids.push(b.item.ids[k]!);
        types.push(b.item.types[k]!);
        data.push(b.item.data[k]!);
        metadata.push(b.item.metadata[k]!);
      }
    });
    let rows: BatchRow[];
    try {
      const res = await this.#pool.query<BatchRow>({
        name: 'es_append_batch',
        text: this.#sql.appendBatch,
        values: [streamIds, counts, expected, streamIndex, indexInAppend, ids, types, data, metadata],
      });
      rows = res.rows;
    } catch (err) {
      // One append's error (an event id already stored: a retry) or a deadlock fails the whole
      // statement: write each alone, so each gets its own outcome.
      this.#logger.warn({ ...errorInfo(err), appends: batch.length }, 'event store: append batch failed; writing its appends one by one');
      return Promise.all(batch.map(alone));
    }
    const byStream = new Map(rows.map((r) => [r.stream_id, r]));
    return batch.map((b): BatchOutcome<BatchResult> => {
      const r = byStream.get(b.streamId);
      if (!r) return { kind: 'done', result: { written: false } };
      if (r.written) return { kind: 'done', result: { written: true, revision: r.revision!, position: r.position! } };
      return { kind: 'done', result: { written: false, current: r.revision, stored: r.stored } };
    });
  }

  async #runAppend(streamId: string, events: readonly EventData[], query: AppendQuery): Promise<AppendRow | undefined> {
    const hook = this.#beforeCommit;
    if (!hook) return this.#writeAlone(query);
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const res = await client.query<AppendRow>(query);
      const row = res.rows[0];
      if (row) await hook(client, { streamId, events });
      await client.query('COMMIT');
      return row;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** `committedThrough`: the highest position of the commit that woke us, when known. */
  #wakeAll(committedThrough: bigint | null): void {
    for (const sub of this.#subscriptions) sub.wake(committedThrough);
  }

  /** The original result when every event of this append is already stored in this stream; null when none is. */
  async #alreadyAppended(streamId: string, events: readonly EventData[]): Promise<AppendResult | null> {
    const res = await this.#pool.query<IdRow>({ name: 'es_by_ids', text: this.#sql.byIds, values: [events.map((e) => e.id)] });
    if (res.rows.length === 0) return null;
    const elsewhere = res.rows.find((r) => r.stream_id !== streamId);
    if (elsewhere) {
      throw new Error(`Stream ${streamId}: an event id of this append already exists in stream ${elsewhere.stream_id}`);
    }
    if (res.rows.length < events.length) {
      throw new Error(
        `Stream ${streamId}: ${res.rows.length} of ${events.length} event ids already exist; ` +
          'a retried append must carry exactly the events of the original one',
      );
    }
    // uuid comes back in canonical lower case; the caller's spelling may differ.
    const lastId = events[events.length - 1]!.id.toLowerCase();
    const last = res.rows.find((r) => r.event_id === lastId) ?? res.rows.reduce((a, b) => (b.revision > a.revision ? b : a));
    return { nextRevision: last.revision, position: BigInt(last.position), alreadyStored: true };
  }

  async #currentRevision(streamId: string): Promise<number> {
    const res = await this.#pool.query<{ revision: number }>({ name: 'es_stream_revision', text: this.#sql.streamRevision, values: [streamId] });
    return res.rows[0]?.revision ?? -1;
  }

  async #conflict(streamId: string, expected: ExpectedRevision): Promise<WrongExpectedRevisionError> {
    const current = await this.#currentRevision(streamId);
    return new WrongExpectedRevisionError(streamId, expected, current === -1 ? 'no_stream' : current);
  }

  /** An empty append writes nothing but still checks the expected revision, and reports the stream's last event. */
  async #appendNothing(streamId: string, want: number | 'any' | 'no_stream', expected: ExpectedRevision): Promise<AppendResult> {
    const current = await this.#currentRevision(streamId);
    const ok = want === 'any' || (want === 'no_stream' ? current === -1 : current === want);
    if (!ok) throw new WrongExpectedRevisionError(streamId, expected, current === -1 ? 'no_stream' : current);
    if (current === -1) return { nextRevision: -1, position: 0n };
    const last = await this.readStream(streamId, { direction: 'backwards', maxCount: 1 });
    return { nextRevision: current, position: last[0]?.position ?? 0n };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    if (options.maxCount !== undefined && options.maxCount < 1) return [];
    const limit = options.maxCount ?? null; // LIMIT NULL: no limit; aggregates load whole streams
    const res =
      options.direction === 'backwards'
        ? await this.#pool.query<EventRow>({
            name: 'es_read_backwards',
            text: this.#sql.readBackwards,
            values: [streamId, Math.min(options.fromRevision ?? 0x7fffffff, 0x7fffffff), limit],
          })
        : await this.#pool.query<EventRow>({
            name: 'es_read_forwards',
            text: this.#sql.readForwards,
            values: [streamId, Math.max(options.fromRevision ?? 0, 0), limit],
          });
    return res.rows.map(toRecorded);
  }

  /**
   * A page of visible events. At the tail (a short page) it first waits, up to READ_ALL_SETTLE_MS, for
   * events that had committed when it was called but were still held back by an older transaction, so
   * a caller reads its own committed appends even while some other transaction in the cluster is
   * briefly open. Subscriptions read without this wait; they have their own.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    const after = options.after ?? 0n;
    const maxCount = options.maxCount ?? DEFAULT_PAGE;
    const page = await this.#readPage(after, maxCount);
    if (page.length >= maxCount) return page;
    const { tail, bound } = await this.#tail();
    if (tail < bound || tail <= after) return page;
    const deadline = Date.now() + READ_ALL_SETTLE_MS;
    for (let ms = 2; Date.now() < deadline; ms = Math.min(ms * 2, 50)) {
      await new Promise((r) => setTimeout(r, ms));
      const res = await this.#pool.query<{ bound: string }>({ name: 'es_bound', text: this.#sql.bound });
      if (BigInt(res.rows[0]!.bound) > tail) break;
    }
    return this.#readPage(after, maxCount);
  }

  async #readPage(after: bigint, maxCount: number): Promise<RecordedEvent[]> {
    if (maxCount < 1) return [];
    const res = await this.#pool.query<EventRow>({ name: 'es_read_all', text: this.#sql.readAll, values: [after.toString(), maxCount] });
    return res.rows.map(toRecorded);
  }

  async #tail(): Promise<{ tail: bigint; bound: bigint }> {
    const res = await this.#pool.query<{ tail: string; bound: string }>({ name: 'es_tail', text: this.#sql.tail });
    const row = res.rows[0]!;
    return { tail: BigInt(row.tail), bound: BigInt(row.bound) };
  }

  /**
   * A subscription's page (as readAll's, without the settle wait) and, from the same snapshot, whether
   * committed events past `after` are waiting behind an older open transaction: one statement.
   */
  async #readSubscriptionPage(after: bigint, maxCount: number): Promise<SubscriptionPage> {
    const res = await this.#pool.query<EventRow & { held_back: boolean | null }>({
      name: 'es_subscribe_page',
      text: this.#sql.subscribePage,
      values: [after.toString(), maxCount],
    });
    const flag = res.rows[res.rows.length - 1];
    if (!flag || flag.position !== null || flag.held_back === null) throw new Error('event store: subscription page without its held-back row');
    const events: RecordedEvent[] = [];
    for (let i = 0; i < res.rows.length - 1; i++) events.push(toRecorded(res.rows[i]!));
    return { events, heldBack: flag.held_back };
  }

  subscribeToAll(options: { after?: bigint } = {}): Subscription {
    this.#ensureOpen();
    const sub = new PgSubscription(
      {
        readPage: (after) => this.#readSubscriptionPage(after, DEFAULT_PAGE),
        pageSize: DEFAULT_PAGE,
        forget: (s) => this.#subscriptions.delete(s),
        logger: this.#logger,
      },
      options.after ?? 0n,
    );
    this.#subscriptions.add(sub);
    this.#listener.start();
    return sub;
  }

  async headPosition(): Promise<bigint> {
    this.#ensureOpen();
    const res = await this.#pool.query<{ position: string }>({ name: 'es_head', text: this.#sql.head });
    return BigInt(res.rows[0]?.position ?? '0');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    await this.#listener.close();
    // end() waits for checked-out connections, so a subscription's in-flight read finishes first.
    await this.#pool.end();
  }

  #ensureOpen(): void {
    if (this.#closed) throw new Error('PostgresEventStore is closed');
  }
}

/**
 * The store's LISTEN connection. It is not pooled (LISTEN belongs to a session); it reconnects with
 * backoff whenever it fails, and after each (re)connect wakes everyone, since notifications sent while
 * it was down are lost. Errors are logged, never thrown: the fallback poll keeps subscriptions going.
 */
class Listener {
  /** `committedThrough`: the position a notification carries, or null when it carries none we can read. */
  onNotify: (committedThrough: bigint | null) => void = () => undefined;
  readonly #connectionString: string;
  readonly #channel: string;
  readonly #logger: PostgresEventStoreLogger;
  #client: pg.Client | null = null;
  #started = false;
  #closed = false;
  #retryMs = LISTEN_RETRY_MIN_MS;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(connectionString: string, channel: string, logger: PostgresEventStoreLogger) {
    this.#connectionString = connectionString;
    this.#channel = channel;
    this.#logger = logger;
  }

  /** Connects on first use: a store nobody subscribes to holds no extra connection. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    this.#retryTimer = null;
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: 'event-store-listener',
      connectionTimeoutMillis: 10_000,
    });
    this.#client = client; // close() ends it even while it is still connecting
    let failed = false;
    const fail = (err: unknown, msg: string): void => {
      if (failed) return;
      failed = true;
      if (this.#client === client) this.#client = null;
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#logger.warn({ ...errorInfo(err), retryInMs: this.#retryMs }, msg);
      this.#retryTimer = setTimeout(() => void this.#connect(), this.#retryMs);
      this.#retryTimer.unref();
      this.#retryMs = Math.min(this.#retryMs * 2, LISTEN_RETRY_MAX_MS);
    };
    client.on('error', (err) => fail(err, 'event store: LISTEN connection failed'));
    client.on('end', () => fail(new Error('connection ended'), 'event store: LISTEN connection closed'));
    client.on('notification', (msg) => this.onNotify(positionIn(msg.payload)));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
    } catch (err) {
      fail(err, 'event store: could not LISTEN');
      return;
    }
    if (failed || this.#closed) return;
    this.#retryMs = LISTEN_RETRY_MIN_MS;
    this.onNotify(null); // whatever was appended while we were not listening
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => undefined);
  }
}

/** The position a notification carries; null for anything else (an empty payload from an older version). */
function positionIn(payload: string | undefined): bigint | null {
  return payload !== undefined && /^[0-9]{1,19}$/.test(payload) ? BigInt(payload) : null;
}

interface SubscriptionPage {
  events: RecordedEvent[];
  /** Committed events past the page's start wait behind an older open transaction. */
  heldBack: boolean;
}

interface SubscriptionSource {
  readPage(after: bigint): Promise<SubscriptionPage>;
  /** A page shorter than this means the read reached what is visible. */
  pageSize: number;
  forget(sub: PgSubscription): void;
  logger: PostgresEventStoreLogger;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Pages through the store until a short page (caught up), then, once that page is handed out, sleeps
 * until a notification or the fallback poll: one read per wake-up. Each read also says whether
 * committed events are held back, and if so the wait is the held-back poll instead.
 */
class PgSubscription implements Subscription {
  readonly #source: SubscriptionSource;
  /** Position of the last event handed out; only ever moves forward. */
  #after: bigint;
  /**
   * The highest position read so far (handed out or still buffered). Reads go in position order and
   * only below the visibility bound, so every commit at or below it has been read in full.
   */
  #readThrough: bigint;
  /** Pages read, and notifications skipped because their commit had been read already (for tests and stats). */
  readonly counts = { reads: 0, wakesSkipped: 0 };
  #buffer: RecordedEvent[] = [];
  #stopped = false;
  /** Counts notifications, so one that lands while a read is in flight is not slept through. */
  #wakes = 0;
  /** The current sleep: ended by stop(), and by a notification if it listens for them. */
  #sleeper: { listens: boolean; end: () => void } | null = null;
  /**
   * Set by a short page: once its events are handed out, wait before reading again. `wakes` is the
   * notification count taken before that read, so a notification that landed during it is not slept through.
   */
  #caughtUp: { heldBack: boolean; wakes: number } | null = null;
  /** Serializes next() calls, so two concurrent callers never receive the same event. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(source: SubscriptionSource, after: bigint) {
    this.#source = source;
    this.#after = after;
    this.#readThrough = after;
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return {
      next: () => this.#next(),
      // `break` out of for-await ends the subscription.
      return: async () => {
        await this.stop();
        return DONE;
      },
    };
  }

  /**
   * A commit happened. When it says how far (`committedThrough`) and that much is already read,
   * nothing new can come of a read: the common case for a process's own appends, which wake it
   * directly and then again through their notify.
   */
  wake(committedThrough: bigint | null = null): void {
    if (committedThrough !== null && committedThrough <= this.#readThrough) {
      this.counts.wakesSkipped++;
      return;
    }
    this.#wakes += 1;
    if (this.#sleeper?.listens) this.#sleeper.end();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#buffer = [];
    this.#sleeper?.end();
    this.#source.forget(this);
  }

  #next(): Promise<IteratorResult<RecordedEvent>> {
    const result = this.#queue.then(() => this.#pull());
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #pull(): Promise<IteratorResult<RecordedEvent>> {
    let heldBackMs = HELD_BACK_POLL_MS;
    let heldBackFloorMs = HELD_BACK_FLOOR_MIN_MS;
    for (;;) {
      if (this.#stopped) return DONE;
      const next = this.#buffer.shift();
      if (next) {
        if (next.position <= this.#after) continue; // never hand out anything at or below the checkpoint
        this.#after = next.position;
        return { done: false, value: next };
      }
      const caughtUp = this.#caughtUp;
      if (caughtUp === null) {
        const wakesBefore = this.#wakes;
        let page: SubscriptionPage;
        try {
          this.counts.reads++;
          page = await this.#source.readPage(this.#after);
        } catch (err) {
          if (this.#stopped) return DONE;
          // A failed read (database restart, network) must not end the subscription; try again.
          this.#source.logger.warn({ ...errorInfo(err), retryInMs: RETRY_MS }, 'event store: subscription read failed');
          await this.#sleep(RETRY_MS, this.#wakes);
          continue;
        }
        this.#buffer = page.events;
        const last = page.events.at(-1);
        if (last && last.position > this.#readThrough) this.#readThrough = last.position;
        // A full page: read on at once. A short one: hand it out, then wait (below) before reading again.
        if (page.events.length < this.#source.pageSize) this.#caughtUp = { heldBack: page.heldBack, wakes: wakesBefore };
        continue;
      }
      this.#caughtUp = null;
      if (caughtUp.heldBack) {
        // Committed events wait behind an older open transaction. Its commit notifies (if it is an
        // append), but other transactions hold xmin back silently, so poll too, backing off. Under
        // steady writes notifications come constantly and cannot help until the blocker ends, so
        // take at most one read per floor (growing while reads find nothing) instead of one per
        // notification.
        const since = this.#wakes;
        await this.#sleep(heldBackFloorMs, null);
        await this.#sleep(heldBackMs - heldBackFloorMs, since);
        heldBackMs = Math.min(heldBackMs * 2, POLL_MS);
        heldBackFloorMs = Math.min(heldBackFloorMs * 2, HELD_BACK_FLOOR_MAX_MS);
      } else {
        await this.#sleep(POLL_MS, caughtUp.wakes);
      }
    }
  }

  /**
   * Sleeps up to `ms`, returning early on stop() and, unless `since` is null, on any notification
   * counted after `since` (including one that came before the call).
   */
  #sleep(ms: number, since: number | null): Promise<void> {
    if (this.#stopped || (since !== null && this.#wakes !== since)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const end = (): void => {
        clearTimeout(timer);
        if (this.#sleeper?.end === end) this.#sleeper = null;
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.#sleeper = { listens: since !== null, end };
    });
  }
}
