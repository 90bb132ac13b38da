/**
 * Per-socket state and the outbox every frame leaves through. The state of an idle socket is a
 * handful of fields: maps and queues are created on first use, so 10,000 idle sockets stay cheap.
 */
import type uWS from 'uWebSockets.js';
import type { Identity } from './auth.js';
import { newBucket, type Bucket } from './rate-limit.js';

/** Where one chat stands on one socket. */
export interface ChatCursor {
  /** Last revision sent on this socket (-1: none yet). Frames leave in order, so this is what the client will have. */
  delivered: number;
  /** Highest revision the live feed has shown while a fill ran: the fill goes on until it has sent it. */
  wantUpTo: number;
  /** The running backlog fill, if any; live events for the chat wait for it (they are read back from the store). */
  fill: Promise<FillOutcome> | null;
  /** A resume's claimed revision not yet shown to be within the chat (Delivery checks it). */
  claim?: number;
}

export type FillOutcome = 'done' | 'not-found' | 'closed';

/** An ack held until the socket has been sent the event of its message. */
export interface PendingAck {
  revision: number;
  frame: string;
  /** Called once the frame is handed to the outbox. */
  sent: () => void;
}

/** uWS copies the user-data object's properties, so the socket carries a holder and the Conn stays one instance. */
export interface SocketData {
  conn: Conn;
}

export type Socket = uWS.WebSocket<SocketData>;

export class Conn {
  ws: Socket | null = null;
  /** Set once the socket is closed or being closed: nothing may touch `ws` after that. */
  closed = false;
  readonly bucket: Bucket;
  inFlight = 0;
  /** False until the first resume frame: until then live events only mark where each chat starts. */
  resumed = false;
  /** A resume is being served (one at a time per socket). */
  resuming = false;
  cursors: Map<string, ChatCursor> | null = null;
  /** Before the first resume: the first revision seen live per chat, so nothing is missed in between. */
  firstSeen: Map<string, number> | null = null;
  /** Frames waiting for the next flush (see Outbox), and their size in bytes. */
  queue: string[] | null = null;
  queuedBytes = 0;
  drainWaiters: Array<() => void> | null = null;
  /** When (Date.now()) the database last confirmed the session, and until when it lives unless used (see SessionWatch). */
  verifiedAt = -Infinity;
  liveUntil = 0;
  /** When (Date.now()) the user last acted on this socket (a send, edit, delete, read or typing), and when SessionWatch last reported that as use. */
  usedAt = 0;
  touchedAt = Date.now();
  /** A session check that frames of this socket wait for. */
  pendingCheck: Promise<boolean> | null = null;
  /** Acks waiting for this socket's event of their message, per chat (Delivery.ack). */
  pendingAcks: Map<string, PendingAck[]> | null = null;

  constructor(readonly id: number, readonly identity: Identity, burst: number, now: number) {
    this.bucket = newBucket(burst, now);
  }

  get userId(): string {
    return this.identity.userId;
  }

  cursor(chatId: string): ChatCursor | undefined {
    return this.cursors?.get(chatId);
  }

  ensureCursor(chatId: string, delivered: number): ChatCursor {
    this.cursors ??= new Map();
    let c = this.cursors.get(chatId);
    if (!c) {
      c = { delivered, wantUpTo: delivered, fill: null };
      this.cursors.set(chatId, c);
    }
    return c;
  }

  /** Wakes fills waiting for room; they see `closed` and stop. */
  releaseWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = null;
    if (waiters) for (const w of waiters) w();
  }
}

export interface OutboxCounters {
  framesSent: number;
  slowClosed: number;
}

/**
 * Batches frames per socket and sends them in one corked write per socket on the next turn of the
 * event loop: one syscall per socket per batch of log events instead of one per frame. A send that
 * uWS drops for backpressure closes the socket (closeOnBackpressureLimit): the client reconnects
 * and resumes, so a slow reader is never silently skipped, never holds more than maxBackpressure,
 * and never delays anyone else. Backlogs never get there: they count the queued bytes and wait for
 * room (delivery.ts).
 */
export class Outbox {
  #pending: Conn[] = [];
  #scheduled = false;

  constructor(
    private readonly counters: OutboxCounters,
    private readonly onSlow: (conn: Conn) => void,
  ) {}

  send(conn: Conn, frame: string): void {
    if (conn.closed) return;
    conn.queuedBytes += Buffer.byteLength(frame);
    if (conn.queue) {
      conn.queue.push(frame);
      return;
    }
    conn.queue = [frame];
    this.#pending.push(conn);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends a socket's queued frames now (before a close frame, which must come last). */
  flushNow(conn: Conn): void {
    const frames = conn.queue;
    conn.queue = null; // a stale entry in #pending then finds nothing to send
    conn.queuedBytes = 0;
    const ws = conn.ws;
    if (!frames || conn.closed || !ws) return;
    ws.cork(() => {
      for (const f of frames) {
        if (ws.send(f, false, false) === 2) break;
        this.counters.framesSent++;
      }
    });
  }

  readonly flush = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (const conn of pending) {
      const frames = conn.queue;
      conn.queue = null;
      conn.queuedBytes = 0;
      const ws = conn.ws;
      if (!frames || conn.closed || !ws) continue;
      let dropped = false;
      ws.cork(() => {
        for (const f of frames) {
          // 0: sent with backpressure building up, 1: sent, 2: dropped (over maxBackpressure).
          if (ws.send(f, false, false) === 2) {
            dropped = true;
            break;
          }
          this.counters.framesSent++;
        }
      });
      if (dropped) {
        this.counters.slowClosed++;
        this.onSlow(conn);
      }
    }
  };
}
