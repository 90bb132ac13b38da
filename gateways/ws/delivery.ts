/**
 * Exact delivery per socket and chat. Each socket keeps, per chat, the last revision it was sent;
 * frames leave in order, so that is what the client has. A live event
 *   - at or below it is a duplicate (a re-delivered or already backfilled event): dropped;
 *   - exactly one above it is sent;
 *   - further above it means something is missing: a fill reads the gap back from the view or the
 *     store and sends it, in order, and live events for the chat wait for the fill (they are in the
 *     store by the time the live feed shows them, so the fill picks them up).
 * A resume is the same fill, from the revision the client says it has. So every event reaches the
 * socket once, in order, with no gap, however long the client was away and whichever gateway
 * process it comes back to.
 */
import type { EventStore } from '../../infra/event-store/port.js';
import type { PublicRecord } from '../../infra/event-store/public-record.js';
import type { LastMessagesView } from '../../infra/last-messages/port.js';
import type { Logger } from '../../infra/logger.js';
import { VIEW_PAGE, readBacklog } from './backlog.js';
import type { ChatCursor, Conn, FillOutcome, Outbox } from './connection.js';
import { encodeEvent } from './protocol.js';
import type { Semaphore } from './semaphore.js';

export interface DeliveryCounters {
  fills: number;
  backlogFromView: number;
  backlogFromStore: number;
  liveDuplicatesDropped: number;
}

export interface DeliveryDeps {
  store: EventStore;
  view: LastMessagesView | null;
  outbox: Outbox;
  limiter: Semaphore;
  counters: DeliveryCounters;
  logger: Logger;
  /** A fill pauses while the socket has more than this buffered, and goes on when it drains. */
  fillHighWater: number;
  bufferedAmount: (conn: Conn) => number;
  /**
   * Closes a socket whose chat cannot be brought up to date now (the store is unreachable): better
   * than leaving it silently behind; the client reconnects and resumes.
   */
  abandon: (conn: Conn) => void;
}

/** How long a fill waits for the store to show a revision the live feed already showed (should not happen). */
const CATCH_UP_RETRIES = 50;
const CATCH_UP_WAIT_MS = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Delivery {
  constructor(private readonly d: DeliveryDeps) {}

  /** A live event for a chat this socket's user takes part in. `frame` is shared by all recipients. */
  live(conn: Conn, chatId: string, revision: number, frame: string): void {
    if (conn.closed) return;
    if (!conn.resumed) {
      // The client has not said what it has yet: remember where this chat's live feed started so
      // the coming resume can send from there if it does not name the chat.
      conn.firstSeen ??= new Map();
      const seen = conn.firstSeen.get(chatId);
      if (seen === undefined || revision < seen) conn.firstSeen.set(chatId, revision);
      return;
    }
    let c = conn.cursor(chatId);
    // A chat the client did not name (new, or not of interest before): it is followed from here.
    if (!c) c = conn.ensureCursor(chatId, revision - 1);
    if (c.fill) {
      if (revision > c.wantUpTo) c.wantUpTo = revision;
      return;
    }
    if (revision <= c.delivered) {
      this.d.counters.liveDuplicatesDropped++;
      return;
    }
    if (revision === c.delivered + 1) {
      this.d.outbox.send(conn, frame);
      c.delivered = revision;
      c.wantUpTo = revision;
      return;
    }
    c.wantUpTo = revision;
    void this.fill(conn, chatId, c);
  }

  /**
   * The client says it has `claimed` of the chat: everything after it is sent (again if need be:
   * the client's word is what counts). Resolves when the backlog has been handed to the socket.
   */
  resumeChat(conn: Conn, chatId: string, claimed: number): Promise<FillOutcome> {
    const c = conn.ensureCursor(chatId, claimed);
    c.delivered = claimed;
    // Whatever the live feed showed before is in the store and the fill reads to its end anyway;
    // keeping an older, higher target would make a lowered claim wait for revisions already sent.
    c.wantUpTo = claimed;
    // A running fill re-reads `delivered` on each page, so it serves the new claim too.
    return c.fill ?? this.fill(conn, chatId, c, claimed === -1);
  }

  fill(conn: Conn, chatId: string, c: ChatCursor, mustExist = false): Promise<FillOutcome> {
    const p = this.#fill(conn, chatId, c, mustExist).finally(() => {
      if (c.fill === p) c.fill = null;
    });
    c.fill = p;
    this.d.counters.fills++;
    return p;
  }

  async #fill(conn: Conn, chatId: string, c: ChatCursor, mustExist: boolean): Promise<FillOutcome> {
    let tryView = true;
    let stalls = 0;
    let first = true;
    for (;;) {
      if (conn.closed) return 'closed';
      await this.#room(conn);
      if (conn.closed) return 'closed';
      const after = c.delivered;
      let page;
      try {
        page = await this.d.limiter.run(() => readBacklog(this.d.store, this.d.view, chatId, after, tryView));
      } catch (err) {
        // The store is unreachable: the socket cannot be kept exact, so it is closed; the client
        // reconnects and resumes once the store is back.
        this.d.logger.warn({ err: err instanceof Error ? err.message : String(err), chatId, conn: conn.id }, 'backlog read failed; closing socket');
        this.d.abandon(conn);
        return 'closed';
      }
      if (conn.closed) return 'closed';
      if (first && mustExist && page.source === 'store' && page.records.length === 0 && c.delivered === -1) return 'not-found';
      first = false;
      if (page.source === 'view') {
        this.d.counters.backlogFromView += page.records.length;
        // A view page shorter than asked means the view has nothing newer: go to the store next.
        if (page.records.length < VIEW_PAGE) tryView = false;
      } else {
        this.d.counters.backlogFromStore += page.records.length;
      }
      const before = c.delivered;
      this.#sendInOrder(conn, chatId, c, page.records);
      if (page.source === 'store' && page.exhausted && c.delivered >= c.wantUpTo) return 'done';
      const progressed = c.delivered > before || c.delivered !== after;
      if (page.source === 'store' && !progressed) {
        // The live feed showed a revision the store does not return yet (or the page did not join
        // up with what was sent): give it a moment, but never spin for ever.
        if (++stalls > CATCH_UP_RETRIES) {
          this.d.logger.error({ chatId, delivered: c.delivered, wanted: c.wantUpTo }, 'store does not show a revision the log delivered; closing socket');
          this.d.abandon(conn);
          return 'closed';
        }
        await sleep(CATCH_UP_WAIT_MS);
      }
    }
  }

  #sendInOrder(conn: Conn, chatId: string, c: ChatCursor, records: readonly PublicRecord[]): void {
    for (const r of records) {
      // Only the next revision may go: a page read before a new claim or overlapping what was sent is skipped.
      if (r.revision !== c.delivered + 1) continue;
      this.d.outbox.send(conn, encodeEvent(chatId, r));
      c.delivered = r.revision;
    }
  }

  /** Waits until the socket has room, so a large backlog streams at the client's pace instead of tripping the slow-reader limit. */
  #room(conn: Conn): Promise<void> {
    if (conn.closed || this.d.bufferedAmount(conn) < this.d.fillHighWater) return Promise.resolve();
    return new Promise((resolve) => {
      (conn.drainWaiters ??= []).push(resolve);
    });
  }
}
