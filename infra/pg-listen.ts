/**
 * One LISTEN connection per process and database URL, shared by every channel the process listens on
 * (the event store's commits, the sessions store's ended sessions).
 *
 * Why share: PostgreSQL signals every backend that LISTENs in a database on each notifying commit
 * there, whatever its channels, and each signalled backend wakes, reads the notification queue and
 * sleeps again. On the 2-core machine of docs/performance.md that cost roughly 25–50 µs of PostgreSQL
 * CPU per listening connection per append, so a gateway holding two such connections paid twice.
 *
 * The connection reconnects with backoff whenever it fails. After each (re)connect every channel is
 * LISTENed again and its listeners get `ready()`; notifications sent while it was down are lost,
 * which is what `lost()` tells them. Callbacks are the caller's; a throwing callback is not caught here.
 */
import pg from 'pg';
import { FOREVER, retry, sleep, type RetryOptions } from './retry.js';

export interface ChannelListener {
  /** A notification on the channel (payload '' when it carried none). */
  notify(payload: string): void;
  /** LISTEN is in effect: the first time, and again after each `lost`. */
  ready(): void;
  /** The connection broke after `ready`: notifications may be missed until the next `ready`. */
  lost(error: unknown): void;
  /** An attempt to connect and LISTEN failed (it is retried with backoff). */
  failed?(error: unknown): void;
}

/** How the connection shows in pg_stat_activity (tests find it by this name). */
export const LISTEN_APPLICATION_NAME = 'chat-listener';
const RETRY_MIN_MS = 100;
const RETRY: RetryOptions = { ...FOREVER, minTimeout: RETRY_MIN_MS, maxTimeout: 5_000, randomize: false, unref: true };

class SharedListen {
  readonly #url: string;
  readonly #channels = new Map<string, Set<ChannelListener>>();
  /** Channels whose LISTEN is in effect on the current connection. */
  readonly #live = new Set<string>();
  readonly #onClosed: () => void;
  readonly #closed = new AbortController();
  #client: pg.Client | null = null;
  /** The current connection is up and may take LISTEN and UNLISTEN statements. */
  #connected = false;
  #syncing = false;
  #dirty = false;

  constructor(url: string, onClosed: () => void) {
    this.#url = url;
    this.#onClosed = onClosed;
    void this.#run();
  }

  add(channel: string, listener: ChannelListener): void {
    let set = this.#channels.get(channel);
    if (!set) this.#channels.set(channel, (set = new Set()));
    set.add(listener);
    if (this.#live.has(channel)) listener.ready();
    else this.#sync();
  }

  /** Resolves once the connection is closed, when this was its last listener. */
  async remove(channel: string, listener: ChannelListener): Promise<void> {
    const set = this.#channels.get(channel);
    if (!set?.delete(listener) || set.size > 0) return;
    this.#channels.delete(channel);
    if (this.#channels.size > 0) {
      this.#sync();
      return;
    }
    this.#onClosed();
    this.#closed.abort();
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => undefined);
  }

  async #run(): Promise<void> {
    const signal = this.#closed.signal;
    while (!signal.aborted) {
      await retry(() => this.#connectOnce(), {
        ...RETRY,
        signal,
        onFailedAttempt: ({ error }) => {
          if (!signal.aborted) this.#each((l) => l.failed?.(error));
        },
      }).catch(() => undefined);
      await sleep(RETRY_MIN_MS, signal);
    }
  }

  /** One connection's life: rejects if it cannot connect, resolves once it breaks after it did. */
  async #connectOnce(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url, application_name: LISTEN_APPLICATION_NAME, connectionTimeoutMillis: 10_000 });
    this.#client = client; // remove() ends it even while it is still connecting
    // A listener stays on 'error' for the client's whole life: an unheard 'error' would crash the process.
    const broken = new Promise<unknown>((resolve) => {
      client.on('error', resolve);
      client.on('end', () => resolve(new Error('LISTEN connection ended')));
    });
    client.on('notification', (msg) => {
      const set = this.#channels.get(msg.channel);
      if (set) for (const l of [...set]) l.notify(msg.payload ?? '');
    });
    try {
      await client.connect();
      if (this.#closed.signal.aborted || this.#client !== client) return;
      this.#connected = true;
      this.#sync();
      const error = await broken;
      if (!this.#closed.signal.aborted) {
        for (const channel of [...this.#live]) for (const l of [...(this.#channels.get(channel) ?? [])]) l.lost(error);
      }
    } finally {
      if (this.#client === client) {
        this.#client = null;
        this.#connected = false;
        this.#live.clear();
      }
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Brings the connection's LISTENs in line with the channels wanted, one statement at a time, and
   * tells the listeners of each channel that came into effect. The statement LISTENs every wanted
   * channel (a repeated LISTEN is a no-op), so pg_stat_activity's `query` names them all.
   */
  #sync(): void {
    const client = this.#client;
    if (!client || !this.#connected) return; // the connect will sync
    if (this.#syncing) {
      this.#dirty = true;
      return;
    }
    this.#syncing = true;
    void (async () => {
      try {
        do {
          this.#dirty = false;
          const wanted = [...this.#channels.keys()];
          const gone = [...this.#live].filter((c) => !this.#channels.has(c));
          const text = [...wanted.map((c) => `LISTEN ${pg.escapeIdentifier(c)}`), ...gone.map((c) => `UNLISTEN ${pg.escapeIdentifier(c)}`)].join('; ');
          if (text !== '') await client.query(text);
          if (this.#client !== client) return;
          for (const c of gone) {
            this.#live.delete(c);
            // Wanted again while its UNLISTEN was on the wire: its listeners were told ready, but
            // notifications were missed meanwhile. Say so, and LISTEN again.
            const back = this.#channels.get(c);
            if (back) {
              for (const l of [...back]) l.lost(new Error(`channel ${c} was unlistened for a moment`));
              this.#dirty = true;
            }
          }
          for (const c of wanted) {
            const set = this.#channels.get(c);
            if (!set || this.#live.has(c)) continue;
            this.#live.add(c);
            for (const l of [...set]) l.ready();
          }
        } while (this.#dirty);
      } catch {
        // A statement that fails on a live connection leaves the LISTENs unknown: start afresh.
        if (this.#client === client) await client.end().catch(() => undefined);
      } finally {
        this.#syncing = false;
        // Wanted meanwhile on a new connection (this one broke mid-statement): sync that one.
        if (this.#dirty) this.#sync();
      }
    })();
  }

  #each(f: (l: ChannelListener) => void): void {
    for (const set of this.#channels.values()) for (const l of [...set]) f(l);
  }
}

const shared = new Map<string, SharedListen>();

/**
 * Listens on `channel` through the process's connection for `connectionString` (opened on first use).
 * Returns the function that stops listening; the last one to stop closes the connection.
 */
export function listen(connectionString: string, channel: string, listener: ChannelListener): () => Promise<void> {
  let hub = shared.get(connectionString);
  if (!hub) {
    const created: SharedListen = new SharedListen(connectionString, () => {
      if (shared.get(connectionString) === created) shared.delete(connectionString);
    });
    shared.set(connectionString, created);
    hub = created;
  }
  hub.add(channel, listener);
  const owner = hub;
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    await owner.remove(channel, listener);
  };
}
