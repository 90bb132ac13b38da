/**
 * The PostgreSQL event store (pg): the adapter for production, many processes on one database. How
 * it orders, appends, batches and wakes subscribers is told in docs/architecture.md, "The PostgreSQL
 * event store"; the statements are in sql.ts, the reads in reads.ts.
 */
import pg from 'pg';
import { checkEvents, checkExpected, checkRetry, toJson } from '../append-checks.js';
import { AppendBatcher } from '../append-batcher.js';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from '../../../commands/ports/event-store.js';
import { writeAlone, writeBatch, type AppendQuery, type AppendRow, type BatchResult, type PendingAppend } from './append-batch.js';
import { inTransaction } from '../../pg-checkout.js';
import { Listener } from './listener.js';
import { stderrLogger, errorInfo, type PostgresEventStoreLogger } from './log.js';
import {
  EVENT_ID_KEY,
  EXPECT_ANY,
  EXPECT_NO_STREAM,
  STREAM_REVISION_KEY,
  channelFor,
  isUniqueViolation,
  jsonArray,
  statements,
  type Statements,
} from './sql.js';
import { DEFAULT_PAGE, readAll, readHeadPosition, readStream, readSubscriptionPage } from './reads.js';
import { DEFAULT_READ_INTERVAL_MS, PgSubscription } from './subscription.js';

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
  /**
   * Streams whose appends go through a group-commit lane of their own, one batch in flight, so that
   * they never make other appends wait for a slot or ride in their batches: read marks, which come
   * about as often as messages (docs/architecture.md, "Read receipts").
   */
  backgroundStreams?: (streamId: string) => boolean;
  /** Least ms between two reads of a live subscription under a stream of commits (subscription.ts). Default 5. */
  subscriptionReadIntervalMs?: number;
}

const MAX_EVENTS_PER_APPEND = 0xffff;
/** Revisions are int4 in the tables. */
const MAX_REVISION = 0x7fffffff;
/** Appends per group-commit batch; events per batch share the 16 bits of the position's index. */
const MAX_APPENDS_PER_BATCH = 500;

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
  readonly #readIntervalMs: number;
  readonly #listener: Listener;
  readonly #subscriptions = new Set<PgSubscription>();
  #closed = false;
  /** Group commit; null when appends are written one per transaction (option, or the test hook). */
  readonly #batcher: AppendBatcher<PendingAppend, BatchResult> | null;
  /** The lane of `backgroundStreams`; null when there is none. */
  readonly #background: AppendBatcher<PendingAppend, BatchResult> | null;
  readonly #isBackground: (streamId: string) => boolean;

  private constructor(pool: pg.Pool, sql: Statements, listener: Listener, opts: PostgresEventStoreOptions, logger: PostgresEventStoreLogger) {
    this.#pool = pool;
    this.#sql = sql;
    this.#listener = listener;
    this.#logger = logger;
    this.#beforeCommit = opts.beforeCommit;
    this.#readIntervalMs = opts.subscriptionReadIntervalMs ?? DEFAULT_READ_INTERVAL_MS;
    const inFlight = opts.appendBatchesInFlight ?? 2;
    const batcher = (maxInFlight: number) => new AppendBatcher<PendingAppend, BatchResult>({
      write: (batch) => writeBatch(this.#pool, this.#sql, this.#logger, batch),
      maxInFlight,
      maxAppends: MAX_APPENDS_PER_BATCH,
      maxEvents: MAX_EVENTS_PER_APPEND,
    });
    const batching = inFlight > 0 && !opts.beforeCommit;
    this.#batcher = batching ? batcher(inFlight) : null;
    this.#background = batching && opts.backgroundStreams ? batcher(1) : null;
    this.#isBackground = opts.backgroundStreams ?? (() => false);
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
    const [a, b] = [this.#batcher?.stats, this.#background?.stats];
    const none = { batches: 0, appends: 0, largest: 0, writeMs: 0, maxWriteMs: 0 };
    if (!a) return none;
    if (!b) return { ...a };
    return {
      batches: a.batches + b.batches, appends: a.appends + b.appends, largest: Math.max(a.largest, b.largest),
      writeMs: a.writeMs + b.writeMs, maxWriteMs: Math.max(a.maxWriteMs, b.maxWriteMs),
    };
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
      // IF NOT EXISTS alone still races (two CREATEs can both pass the check); the advisory lock
      // makes concurrent starts take turns.
      await inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`event-store:${schema}`]);
        await client.query(sql.schema);
      });
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
    const want = checkExpected(expected, MAX_REVISION);
    checkEvents(streamId, events);
    if (events.length > MAX_EVENTS_PER_APPEND) {
      throw new RangeError(`Stream ${streamId}: at most ${MAX_EVENTS_PER_APPEND} events per append (got ${events.length})`);
    }
    if (events.length === 0) return this.#appendNothing(streamId, want, expected);

    const ids = events.map((e) => e.id);
    const types = events.map((e) => e.type);
    const data = events.map((e) => toJson(e.data ?? null, e));
    const metadata = events.map((e) => toJson(e.metadata ?? {}, e));
    const values: unknown[] = [streamId, events.length, ids, types, jsonArray(data), jsonArray(metadata)];
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

  /** Through group commit (see docs/architecture.md). */
  async #appendBatched(streamId: string, events: readonly EventData[], expected: ExpectedRevision, pending: PendingAppend): Promise<AppendResult> {
    // A stream always takes the same lane, so its appends are still written in the order they came.
    const lane = this.#background !== null && this.#isBackground(streamId) ? this.#background : this.#batcher!;
    const outcome = await lane.submit({ streamId, eventCount: events.length, item: pending });
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
      return pending.expected === EXPECT_ANY ? writeAlone(this.#pool, pending.query) : undefined;
    });
  }

  async #runAppend(streamId: string, events: readonly EventData[], query: AppendQuery): Promise<AppendRow | undefined> {
    const hook = this.#beforeCommit;
    if (!hook) return writeAlone(this.#pool, query);
    return inTransaction(this.#pool, async (client) => {
      const res = await client.query<AppendRow>(query);
      const row = res.rows[0];
      if (row) await hook(client, { streamId, events });
      return row;
    });
  }

  /** `committedThrough`: the highest position of the commit that woke us, when known. */
  #wakeAll(committedThrough: bigint | null): void {
    for (const sub of this.#subscriptions) sub.wake(committedThrough);
  }

  /** The original result when every event of this append is already stored in this stream; null when none is. */
  async #alreadyAppended(streamId: string, events: readonly EventData[]): Promise<AppendResult | null> {
    const res = await this.#pool.query<IdRow>({ name: 'es_by_ids', text: this.#sql.byIds, values: [events.map((e) => e.id)] });
    if (res.rows.length === 0) return null;
    checkRetry(streamId, events.length, res.rows);
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
    return readStream(this.#pool, this.#sql, streamId, options);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    return readAll(this.#pool, this.#sql, options);
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    this.#ensureOpen();
    const sub = new PgSubscription(
      {
        readPage: (after) => readSubscriptionPage(this.#pool, this.#sql, after, DEFAULT_PAGE),
        pageSize: DEFAULT_PAGE,
        readIntervalMs: Math.max(this.#readIntervalMs, options.readIntervalMs ?? 0),
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
    return readHeadPosition(this.#pool, this.#sql);
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
