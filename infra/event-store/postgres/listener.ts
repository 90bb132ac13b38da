import { errorInfo, type PostgresEventStoreLogger } from './log.js';
import { listen } from '../../pg-listen.js';

/**
 * The store's LISTEN on its channel, through the process's shared LISTEN connection (pg-listen.ts),
 * which reconnects with backoff whenever it fails. After each (re)connect it wakes everyone, since
 * notifications sent while it was down are lost. Errors are logged, never thrown: the fallback poll
 * keeps subscriptions going.
 */
export class Listener {
  /** `committedThrough`: the position a notification carries, or null when it carries none we can read. */
  onNotify: (committedThrough: bigint | null) => void = () => undefined;
  readonly #connectionString: string;
  readonly #channel: string;
  readonly #logger: PostgresEventStoreLogger;
  #stop: (() => Promise<void>) | null = null;
  #closed = false;

  constructor(connectionString: string, channel: string, logger: PostgresEventStoreLogger) {
    this.#connectionString = connectionString;
    this.#channel = channel;
    this.#logger = logger;
  }

  /** Listens on first use: a store nobody subscribes to adds nothing to the connection. */
  start(): void {
    if (this.#stop || this.#closed) return;
    this.#stop = listen(this.#connectionString, this.#channel, {
      notify: (payload) => this.onNotify(positionIn(payload)),
      ready: () => this.onNotify(null), // whatever was appended while we were not listening
      lost: (error) => this.#logger.warn({ ...errorInfo(error) }, 'event store: LISTEN connection failed'),
      failed: (error) => this.#logger.warn({ ...errorInfo(error) }, 'event store: could not LISTEN'),
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const stop = this.#stop;
    this.#stop = null;
    await stop?.();
  }
}

/** The position a notification carries; null for anything else (an empty payload from an older version). */
function positionIn(payload: string): bigint | null {
  return /^[0-9]{1,19}$/.test(payload) ? BigInt(payload) : null;
}
