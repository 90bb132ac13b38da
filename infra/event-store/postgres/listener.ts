import pg from 'pg';
import { errorInfo, type PostgresEventStoreLogger } from './log.js';
import { quoteIdent } from './sql.js';

const LISTEN_RETRY_MIN_MS = 100;
const LISTEN_RETRY_MAX_MS = 5000;

/**
 * The store's LISTEN connection. It is not pooled (LISTEN belongs to a session); it reconnects with
 * backoff whenever it fails, and after each (re)connect wakes everyone, since notifications sent while
 * it was down are lost. Errors are logged, never thrown: the fallback poll keeps subscriptions going.
 */
export class Listener {
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
