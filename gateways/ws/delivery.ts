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
import type { EventStore } from '../../commands/ports/event-store.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { LastMessagesView } from '../../projections/ports/last-messages.js';
import type { Logger } from 'pino';
import { VIEW_PAGE, readBacklog } from './backlog.js';
import type { ChatCursor, Conn, FillOutcome, Outbox, PendingAck } from './connection.js';
import { encodeEvent } from './protocol.js';
import type { Semaphore } from './semaphore.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { errText } from './err-text.js';

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
  /**
   * A fill pauses before any frame that would find this much or more waiting for the client
   * (buffered in uWS plus queued in the outbox), and goes on when it drains.
   */
  fillHighWater: number;
  bufferedAmount: (conn: Conn) => number;
  /**
   * Closes a socket whose chat cannot be brought up to date now (the store is unreachable): better
   * than leaving it silently behind; the client reconnects and resumes.
   */
  abandon: (conn: Conn) => void;
  /** A chat's deleted message ids, for blanking their bodies in backlogs read from the store (deleted-bodies.ts). */
  deletedOf?: (chatId: string, fromRevision: number) => Promise<ReadonlySet<string>>;
  /**
   * The chat's newest revision (-1: no such chat), or any revision at or above `atLeast` it knows
   * of without a read (the command cache). Asked only for a resume's claim the store neither holds
   * nor has anything after (#checkClaim).
   */
  headOf?: (chatId: string, atLeast: number) => Promise<number>;
}

/** How long a fill waits for the store to show a revision the live feed already showed (should not happen). */
const CATCH_UP_RETRIES = 50;
const CATCH_UP_WAIT_MS = 20;


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
      if (conn.resuming && this.#full(conn)) {
        // A socket taking in a backlog at its own pace must not be closed as a slow reader for a
        // live event: the chat's fill sends it (from the store) when there is room.
        c.wantUpTo = revision;
        void this.fill(conn, chatId, c);
        return;
      }
      this.d.outbox.send(conn, frame);
      c.delivered = revision;
      c.wantUpTo = revision;
      if (conn.pendingAcks) this.#releaseAcks(conn, chatId, revision);
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
    // A client that says it has the revision of a held ack needs no event before it.
    if (conn.pendingAcks) this.#releaseAcks(conn, chatId, claimed);
    // Checked on the fill's first store page: a claim past the chat's newest revision would
    // otherwise drop every live event up to it as a duplicate.
    if (claimed >= 0 && this.d.headOf) c.claim = claimed;
    else delete c.claim;
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
        // A claim not yet checked: the store page says in the same read whether the claimed revision exists.
        const withAfter = c.claim !== undefined && c.claim === after;
        page = await this.d.limiter.run(() => readBacklog(this.d.store, this.d.view, chatId, after, tryView, this.d.deletedOf, withAfter));
      } catch (err) {
        // The store is unreachable: the socket cannot be kept exact, so it is closed; the client
        // reconnects and resumes once the store is back.
        this.d.logger.warn({ err: errText(err), chatId, conn: conn.id }, 'backlog read failed; closing socket');
        this.d.abandon(conn);
        return 'closed';
      }
      if (conn.closed) return 'closed';
      if (c.claim !== undefined && page.source === 'store') {
        const lowered = await this.#checkClaim(conn, chatId, c, page.records.length > 0 || page.afterSeen === true);
        if (lowered === 'closed' || lowered === 'not-found') return lowered;
        if (lowered) continue;
      }
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
      await this.#sendInOrder(conn, chatId, c, page.records);
      if (conn.closed) return 'closed';
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

  /**
   * A resume's claim, after the first store page: true when it was past the chat's newest revision
   * and the cursor now stands at that revision instead (the `resumed` frame then says so);
   * 'not-found' when the chat does not exist. A claim the store showed, or records after, is within
   * the chat; otherwise the chat's head is asked for (the command cache, else one read).
   */
  async #checkClaim(conn: Conn, chatId: string, c: ChatCursor, within: boolean): Promise<boolean | 'closed' | 'not-found'> {
    const claim = c.claim!;
    delete c.claim;
    // Shown within the chat, or a newer claim or delivery since: nothing to check.
    if (within || c.delivered !== claim) return false;
    let head: number;
    try {
      head = await this.d.headOf!(chatId, claim);
    } catch (err) {
      this.d.logger.warn({ err: errText(err), chatId, conn: conn.id }, 'head read failed; closing socket');
      this.d.abandon(conn);
      return 'closed';
    }
    if (conn.closed) return 'closed';
    if (head >= claim || c.delivered !== claim) return false;
    c.delivered = head;
    // A live event beyond the claim (the chat has grown past it meanwhile) stays the target.
    if (c.wantUpTo <= claim) c.wantUpTo = head;
    return head < 0 ? 'not-found' : true;
  }

  async #sendInOrder(conn: Conn, chatId: string, c: ChatCursor, records: readonly PublicRecord[]): Promise<void> {
    for (const r of records) {
      // Only the next revision may go: a page read before a new claim or overlapping what was sent is skipped.
      if (r.revision !== c.delivered + 1) continue;
      // Frame by frame, not page by page: one page of long messages is far more than the socket's limit.
      if (this.#full(conn)) {
        await this.#room(conn);
        if (conn.closed) return;
        if (r.revision !== c.delivered + 1) continue;
      }
      this.d.outbox.send(conn, encodeEvent(chatId, r));
      c.delivered = r.revision;
      if (conn.pendingAcks) this.#releaseAcks(conn, chatId, r.revision);
    }
  }

  /**
   * Sends the ack of a `send` after this socket's event of the same message, whichever store and
   * whichever of the append's result and the log's notification comes first: a client that holds
   * an ack holds the message's event, and every earlier one of the chat, already. `sent` is called
   * once the ack is handed to the outbox.
   */
  ack(conn: Conn, chatId: string, revision: number, duplicate: boolean, frame: string, sent: () => void): void {
    const c = conn.cursor(chatId);
    // Nothing to wait for: before the first resume no event flows (the resume's backlog brings it);
    // a duplicate's event was sent before and comes again only to a socket that follows the chat.
    const waits = conn.resumed && !conn.closed && (c ? c.delivered < revision : !duplicate);
    if (!waits) {
      this.d.outbox.send(conn, frame);
      sent();
      return;
    }
    conn.pendingAcks ??= new Map();
    const held: PendingAck = { revision, frame, sent };
    const list = conn.pendingAcks.get(chatId);
    if (list) list.push(held);
    else conn.pendingAcks.set(chatId, [held]);
  }

  #releaseAcks(conn: Conn, chatId: string, delivered: number): void {
    const acks = conn.pendingAcks;
    const list = acks?.get(chatId);
    if (!acks || !list) return;
    const due = list.filter((a) => a.revision <= delivered);
    if (due.length === 0) return;
    const rest = list.filter((a) => a.revision > delivered);
    if (rest.length > 0) acks.set(chatId, rest);
    else acks.delete(chatId);
    if (acks.size === 0) conn.pendingAcks = null;
    for (const a of due.sort((x, y) => x.revision - y.revision)) {
      this.d.outbox.send(conn, a.frame);
      a.sent();
    }
  }

  #full(conn: Conn): boolean {
    return this.d.bufferedAmount(conn) + conn.queuedBytes >= this.d.fillHighWater;
  }

  /**
   * Waits until the socket has room, so a backlog of any length streams at the client's pace
   * instead of tripping the slow-reader limit: queued frames are flushed on the next turn of the
   * event loop, and what uWS holds leaves as the client reads (the drain handler wakes the waiters).
   */
  async #room(conn: Conn): Promise<void> {
    while (!conn.closed && this.#full(conn)) {
      if (conn.queuedBytes > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise<void>((resolve) => {
        (conn.drainWaiters ??= []).push(resolve);
      });
    }
  }
}
