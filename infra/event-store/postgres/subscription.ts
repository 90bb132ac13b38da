/**
 * A live subscription to the PostgreSQL store: pages through the store until a short page (caught
 * up), then, once that page is handed out, sleeps until a notification or the fallback poll: one
 * read per wake-up. Each read also says whether committed events are held back behind an older open
 * transaction, and if so the wait is the held-back poll instead (see docs/architecture.md).
 */
import { PagedSubscription, wakeableSleep } from '../paged-subscription.js';
import type { RecordedEvent } from '../../../commands/ports/event-store.js';
import { errorInfo, type PostgresEventStoreLogger } from './log.js';

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
/**
 * Least time between the starts of two reads of a live subscription woken by commits. Under load a
 * commit lands every millisecond or so and each woke a read of one or two events: a query, its reply
 * and a scan in PostgreSQL per commit per subscriber (the log's readers were most of the pg driver's
 * and PostgreSQL's CPU in bench:e2e). Waiting out the rest of this interval lets one read take in
 * every commit of it. A wake after a quiet spell is read at once, so it costs latency only under load.
 */
export const DEFAULT_READ_INTERVAL_MS = 5;

export interface SubscriptionPage {
  events: RecordedEvent[];
  /** Committed events past the page's start wait behind an older open transaction. */
  heldBack: boolean;
}

export interface SubscriptionSource {
  readPage(after: bigint): Promise<SubscriptionPage>;
  /** A page shorter than this means the read reached what is visible. */
  pageSize: number;
  /** Least ms between the starts of two reads woken by notifications (DEFAULT_READ_INTERVAL_MS). */
  readIntervalMs: number;
  forget(sub: PgSubscription): void;
  logger: PostgresEventStoreLogger;
}

export class PgSubscription extends PagedSubscription {
  readonly #source: SubscriptionSource;
  /**
   * The highest position read so far (handed out or still buffered). Reads go in position order and
   * only below the visibility bound, so every commit at or below it has been read in full.
   */
  #readThrough: bigint;
  /**
   * Pages read, notifications skipped because their commit had been read already, and reads that found
   * committed events held back behind an older open transaction (for tests and stats).
   */
  readonly counts = { reads: 0, wakesSkipped: 0, heldBack: 0 };
  /** Counts notifications, so one that lands while a read is in flight is not slept through. */
  #wakes = 0;
  /** The current sleep: ended by stop(), and by a notification if it listens for them. */
  #sleeper: { listens: boolean; end: () => void } | null = null;
  /**
   * Set by a short page: once its events are handed out, wait before reading again. `wakes` is the
   * notification count taken before that read, so a notification that landed during it is not slept through.
   */
  #caughtUp: { heldBack: boolean; wakes: number } | null = null;
  /** When (performance.now()) the last read started. */
  #lastReadAt = -Infinity;

  constructor(source: SubscriptionSource, after: bigint) {
    super(after);
    this.#source = source;
    this.#readThrough = after;
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

  protected release(): void {
    this.#sleeper?.end();
    this.#source.forget(this);
  }

  /** Waits if the last page was short, then reads; until a page has events, or the subscription stops. */
  protected async nextPage(after: bigint): Promise<RecordedEvent[]> {
    let heldBackMs = HELD_BACK_POLL_MS;
    let heldBackFloorMs = HELD_BACK_FLOOR_MIN_MS;
    for (;;) {
      if (this.stopped) return [];
      const caughtUp = this.#caughtUp;
      if (caughtUp === null) {
        const wakesBefore = this.#wakes;
        let page: SubscriptionPage;
        try {
          this.counts.reads++;
          this.#lastReadAt = performance.now();
          page = await this.#source.readPage(after);
        } catch (err) {
          if (this.stopped) return [];
          // A failed read (database restart, network) must not end the subscription; try again.
          this.#source.logger.warn({ ...errorInfo(err), retryInMs: RETRY_MS }, 'event store: subscription read failed');
          await this.#sleep(RETRY_MS, this.#wakes);
          continue;
        }
        const last = page.events.at(-1);
        if (last && last.position > this.#readThrough) this.#readThrough = last.position;
        // A full page: read on at once. A short one: hand it out, then wait (below) before reading again.
        if (page.events.length < this.#source.pageSize) this.#caughtUp = { heldBack: page.heldBack, wakes: wakesBefore };
        if (page.events.length > 0) return page.events;
        continue;
      }
      this.#caughtUp = null;
      if (caughtUp.heldBack) {
        this.counts.heldBack++;
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
        // Not woken again by notifications meanwhile: they are what this read will take in.
        const rest = this.#lastReadAt + this.#source.readIntervalMs - performance.now();
        if (rest > 0) await this.#sleep(rest, null);
      }
    }
  }

  /**
   * Sleeps up to `ms`, returning early on stop() and, unless `since` is null, on any notification
   * counted after `since` (including one that came before the call).
   */
  #sleep(ms: number, since: number | null): Promise<void> {
    if (this.stopped || (since !== null && this.#wakes !== since)) return Promise.resolve();
    const sleeper = { listens: since !== null, end: (): void => undefined };
    const nap = wakeableSleep(ms, () => {
      if (this.#sleeper === sleeper) this.#sleeper = null;
    });
    sleeper.end = nap.end;
    this.#sleeper = sleeper;
    return nap.slept;
  }
}
