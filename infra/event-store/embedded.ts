// Embedded event store: one SQLite file (better-sqlite3), no server. For a single machine, tests and demos.
//
// Ordering: position is the table's INTEGER PRIMARY KEY (AUTOINCREMENT, so numbers are never reused).
// SQLite serializes writers (one write transaction at a time per file, across processes), and a row id is
// taken inside the write transaction, so commit order equals position order: a reader that has seen
// position p can never later find a newly committed event at or below p. That is the gap problem the
// PostgreSQL adapter must solve with transaction ids; here it cannot occur.
//
// Durability: WAL with synchronous=FULL. In WAL mode NORMAL only syncs at checkpoints, so a commit
// acknowledged just before a power loss or OS crash can roll back; FULL fsyncs the WAL on every commit,
// so an acknowledged append survives any crash. The cost is one fsync per append, which we accept for
// a source of truth.
import { EventEmitter } from 'node:events';
import { ensurePrivateDir } from '../data-dir.js';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { checkEvents, checkExpected, checkRetry, toJson } from './append-checks.js';
import { PagedSubscription, wakeableSleep } from './paged-subscription.js';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
} from '../../commands/ports/event-store.js';

const SCHEMA_VERSION = 1;
const DEFAULT_PAGE = 1000;
/** Fallback poll for appends made by another process on the same file (no wake-up crosses processes). */
const POLL_MS = 500;
const BUSY_TIMEOUT_MS = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position   INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id   TEXT    NOT NULL UNIQUE,
  stream_id  TEXT    NOT NULL,
  revision   INTEGER NOT NULL,
  type       TEXT    NOT NULL,
  data       TEXT    NOT NULL,
  metadata   TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (stream_id, revision)
) STRICT;
`;

/** A row as better-sqlite3 returns it with safe integers on (INTEGER columns come back as bigint). */
interface EventRow {
  position: bigint;
  event_id: string;
  stream_id: string;
  revision: bigint;
  type: string;
  data: string;
  metadata: string;
  created_at: bigint;
}

interface IdRow {
  stream_id: string;
  revision: bigint;
  position: bigint;
}

const COLUMNS = 'position, event_id, stream_id, revision, type, data, metadata, created_at';

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    type: row.type,
    revision: Number(row.revision),
    position: row.position,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    createdAt: new Date(Number(row.created_at)),
  };
}

export class EmbeddedEventStore implements EventStore {
  readonly kind = 'embedded' as const;
  readonly #db: Database;
  /** Fired after each committed append in this process: wakes live subscriptions at once. */
  readonly #appended = new EventEmitter();
  readonly #subscriptions = new Set<EmbeddedSubscription>();
  #closed = false;

  readonly #byId: Database.Statement<IdRow>;
  readonly #streamHead: Database.Statement<{ revision: bigint | null }>;
  readonly #insert: Database.Statement;
  readonly #readForwards: Database.Statement<EventRow>;
  readonly #readBackwards: Database.Statement<EventRow>;
  readonly #readAll: Database.Statement<EventRow>;
  readonly #head: Database.Statement<{ position: bigint | null }>;
  readonly #appendTx: Database.Transaction<(streamId: string, events: EventData[], expected: ExpectedRevision) => AppendResult>;

  private constructor(db: Database) {
    this.#db = db;
    this.#appended.setMaxListeners(0); // one listener per waiting subscription; no leak warning

    this.#byId = db.prepare<IdRow>('SELECT stream_id, revision, position FROM events WHERE event_id = ?');
    this.#streamHead = db.prepare<{ revision: bigint | null }>('SELECT MAX(revision) AS revision FROM events WHERE stream_id = ?');
    this.#insert = db.prepare(
      'INSERT INTO events (event_id, stream_id, revision, type, data, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#readForwards = db.prepare<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`,
    );
    this.#readBackwards = db.prepare<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
    );
    this.#readAll = db.prepare<EventRow>(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`);
    this.#head = db.prepare<{ position: bigint | null }>('SELECT MAX(position) AS position FROM events');
    this.#appendTx = db.transaction((streamId: string, events: EventData[], expected: ExpectedRevision) =>
      this.#appendInTransaction(streamId, events, expected),
    );
  }

  /** Opens (creating if needed) the store in `file`; ':memory:' gives a private in-memory store. */
  static open(opts: { file: string }): EmbeddedEventStore {
    const { file } = opts;
    const inMemory = file === ':memory:' || file === '';
    if (!inMemory) ensurePrivateDir(dirname(file));
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      // busy_timeout first, so the WAL switch and schema creation wait for another process's lock.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (!inMemory && mode !== 'wal') {
        throw new Error(`SQLite could not switch ${file} to WAL mode (got ${String(mode)}); is it on a network filesystem?`);
      }
      db.pragma('synchronous = FULL');
      // Positions and revisions are bigint in the port; read every INTEGER as bigint, never a lossy double.
      db.defaultSafeIntegers(true);
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version > SCHEMA_VERSION) {
        throw new Error(`${file} has event store schema version ${version}; this build knows up to ${SCHEMA_VERSION}`);
      }
      db.exec(SCHEMA);
      if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return new EmbeddedEventStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async append(streamId: string, events: EventData[], expected: ExpectedRevision): Promise<AppendResult> {
    this.#ensureOpen();
    // IMMEDIATE takes the write lock before the revision check, so check-then-insert cannot race
    // with another process; in this process better-sqlite3 is synchronous, so appends never interleave.
    const result = this.#appendTx.immediate(streamId, events, expected);
    if (events.length > 0) this.#appended.emit('append');
    return result;
  }

  #appendInTransaction(streamId: string, events: EventData[], expected: ExpectedRevision): AppendResult {
    const want = checkExpected(expected);
    checkEvents(streamId, events);

    // Idempotency: the same events appended again (a retry) return the original result, whatever the
    // expected revision now is. Anything in between is a caller bug and must not be half-applied.
    const existing = events.map((e) => this.#byId.get(e.id));
    const found = existing.filter((r): r is IdRow => r !== undefined);
    if (found.length > 0) {
      checkRetry(streamId, events.length, found);
      const last = found[found.length - 1]!;
      return { nextRevision: Number(last.revision), position: last.position, alreadyStored: true };
    }

    const head = this.#streamHead.get(streamId)?.revision ?? null;
    const current = head === null ? -1 : Number(head);
    const ok = want === 'any' || (want === 'no_stream' ? current === -1 : current === want);
    if (!ok) throw new WrongExpectedRevisionError(streamId, expected, current === -1 ? 'no_stream' : current);

    if (events.length === 0) {
      // Nothing to write: report the stream's last event (0n when the stream does not exist).
      const last = current >= 0 ? this.#readBackwards.get(streamId, current, 1) : undefined;
      return { nextRevision: current, position: last?.position ?? 0n };
    }

    const createdAt = Date.now();
    let revision = current;
    let position = 0n;
    for (const e of events) {
      revision += 1;
      const res = this.#insert.run(e.id, streamId, revision, e.type, toJson(e.data ?? null, e), toJson(e.metadata ?? {}, e), createdAt);
      position = BigInt(res.lastInsertRowid);
    }
    return { nextRevision: revision, position };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    const limit = options.maxCount ?? -1; // LIMIT -1: no limit; aggregates load whole streams
    if (options.maxCount !== undefined && options.maxCount < 1) return [];
    const rows =
      options.direction === 'backwards'
        ? this.#readBackwards.all(streamId, options.fromRevision ?? Number.MAX_SAFE_INTEGER, limit)
        : this.#readForwards.all(streamId, options.fromRevision ?? 0, limit);
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    return this.#readPage(options.after ?? 0n, options.maxCount ?? DEFAULT_PAGE);
  }

  /** Synchronous page read: the subscription reads and registers its wake-up in one tick, so no append slips between. */
  #readPage(after: bigint, maxCount: number): RecordedEvent[] {
    if (maxCount < 1) return [];
    return this.#readAll.all(after, maxCount).map(toRecorded);
  }

  subscribeToAll(options: { after?: bigint } = {}): Subscription {
    this.#ensureOpen();
    const sub = new EmbeddedSubscription(
      {
        readPage: (after) => this.#readPage(after, DEFAULT_PAGE),
        appended: this.#appended,
        forget: (s) => this.#subscriptions.delete(s),
      },
      options.after ?? 0n,
    );
    this.#subscriptions.add(sub);
    return sub;
  }

  async headPosition(): Promise<bigint> {
    this.#ensureOpen();
    return this.#head.get()?.position ?? 0n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    this.#db.close();
  }

  #ensureOpen(): void {
    if (this.#closed) throw new Error('EmbeddedEventStore is closed');
  }
}

interface SubscriptionSource {
  readPage(after: bigint): RecordedEvent[];
  appended: EventEmitter;
  forget(sub: EmbeddedSubscription): void;
}

/** Pages readAll until caught up, then sleeps until an append in this process or the fallback poll. */
class EmbeddedSubscription extends PagedSubscription {
  readonly #source: SubscriptionSource;
  #wake: (() => void) | null = null;

  constructor(source: SubscriptionSource, after: bigint) {
    super(after);
    this.#source = source;
  }

  protected release(): void {
    this.#wake?.();
    this.#source.forget(this);
  }

  protected async nextPage(after: bigint): Promise<RecordedEvent[]> {
    for (;;) {
      if (this.stopped) return [];
      const page = this.#source.readPage(after);
      if (page.length > 0) return page;
      // Called at once: it listens for appends in the tick of the read, so none slips between.
      await this.#sleep();
    }
  }

  #sleep(): Promise<void> {
    const nap = wakeableSleep(POLL_MS, () => {
      this.#source.appended.off('append', nap.end);
      this.#wake = null;
    });
    this.#source.appended.on('append', nap.end);
    this.#wake = nap.end;
    return nap.slept;
  }
}
