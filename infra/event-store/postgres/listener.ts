import pg from 'pg';
import { errorInfo, type PostgresEventStoreLogger } from './log.js';
import { quoteIdent } from './sql.js';
import { FOREVER, retry, sleep, type RetryOptions } from '../../retry.js';

const LISTEN_RETRY_MIN_MS = 100;
/** Failed set-ups of the LISTEN connection are retried with this backoff, until closed. */
const LISTEN_RETRY: RetryOptions = { ...FOREVER, minTimeout: LISTEN_RETRY_MIN_MS, maxTimeout: 5000, randomize: false, unref: true };

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
  readonly #closed = new AbortController();

  constructor(connectionString: string, channel: string, logger: PostgresEventStoreLogger) {
    this.#connectionString = connectionString;
    this.#channel = channel;
    this.#logger = logger;
  }

  /** Connects on first use: a store nobody subscribes to holds no extra connection. */
  start(): void {
    if (this.#started || this.#closed.signal.aborted) return;
    this.#started = true;
    void this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#closed.signal;
    while (!signal.aborted) {
      await retry(() => this.#listenOnce(), {
        ...LISTEN_RETRY,
        signal,
        onFailedAttempt: ({ error }) => {
          if (!signal.aborted) this.#logger.warn({ ...errorInfo(error) }, 'event store: could not LISTEN');
        },
      }).catch(() => undefined);
      await sleep(LISTEN_RETRY_MIN_MS, signal);
    }
  }

  /** One connection's life: rejects if it cannot LISTEN, resolves (logged) once it breaks after it did. */
  async #listenOnce(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: 'event-store-listener',
      connectionTimeoutMillis: 10_000,
    });
    this.#client = client; // close() ends it even while it is still connecting
    // A listener stays on 'error' for the client's whole life: an unheard 'error' would crash the process.
    const broken = new Promise<[unknown, string]>((resolve) => {
      client.on('error', (err) => resolve([err, 'event store: LISTEN connection failed']));
      client.on('end', () => resolve([new Error('connection ended'), 'event store: LISTEN connection closed']));
    });
    client.on('notification', (msg) => this.onNotify(positionIn(msg.payload)));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
      if (this.#closed.signal.aborted) return;
      this.onNotify(null); // whatever was appended while we were not listening
      const [err, msg] = await broken;
      if (!this.#closed.signal.aborted) this.#logger.warn({ ...errorInfo(err), retryInMs: LISTEN_RETRY_MIN_MS }, msg);
    } finally {
      if (this.#client === client) this.#client = null;
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.#closed.abort();
    const client = this.#client;
    this.#client = null;
    // Not waiting for the loop: a connect under way ends with its client (or its 10 s timeout), and then the loop sees the abort.
    if (client) await client.end().catch(() => undefined);
  }
}

/** The position a notification carries; null for anything else (an empty payload from an older version). */
function positionIn(payload: string | undefined): bigint | null {
  return payload !== undefined && /^[0-9]{1,19}$/.test(payload) ? BigInt(payload) : null;
}
