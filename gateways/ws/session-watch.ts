/**
 * Keeps every socket tied to a live session. A session ends by logout, rotation at login,
 * revocation, or idle or absolute expiry; its sockets (and only its sockets) are then closed within
 * a second, and no frame of theirs is served meanwhile:
 *   - the sessions port's session-ended signal (PostgreSQL NOTIFY from whichever process revoked,
 *     or in-process for SQLite) closes the session's sockets as soon as it arrives;
 *   - every `intervalMs` a sweep checks in batches (liveSessions) the sockets whose session runs out
 *     before the next sweep, and, while the signal is down or absent, all of them (see #sweep); a
 *     UserLoggedOut in the log triggers the same check for that user's sockets at once;
 *   - before a frame is served, `admit` trusts what the last check learnt only while the signal is
 *     up and was up before that check (so no revocation since can have gone unheard) and the
 *     session's time left has not run out; otherwise it asks the database first.
 * What the user does on a socket (Conn.usedAt) is use of the session, as an HTTP request is: each
 * sweep reports the sessions used since their last report (touchSessions), so someone chatting only
 * over the socket is not logged out by the idle timeout. A session is reported at most every
 * TOUCH_REPORT_MS (sooner when it has little time left); the store writes at most every touchIntervalMs.
 */
import type { Logger } from 'pino';
import type { WsSessionPort } from './auth.js';
import type { Conn } from './connection.js';
import { errText } from './err-text.js';

const BATCH = 1000;
/** How long an ended session's id is remembered: longer than any upgrade takes to authenticate. */
const REMEMBER_ENDED_MS = 60_000;
/** With the signal up, every open socket is still re-checked at least this often (a rotating slice per tick). */
const BACKSTOP_MS = 30_000;
/** A session used on a socket is reported as used at most this often (and at least every quarter of its time left). */
const TOUCH_REPORT_MS = 10_000;

export interface SessionWatchDeps {
  sessions: WsSessionPort;
  conns: () => Iterable<Conn>;
  connsOf: (userId: string) => Iterable<Conn>;
  connsOfSession: (sessionId: string) => Iterable<Conn>;
  /** Ends a socket whose session is over. */
  end: (conn: Conn) => void;
  intervalMs: number;
  logger: Logger;
}


export class SessionWatch {
  readonly #d: SessionWatchDeps;
  #timer: NodeJS.Timeout | null = null;
  #sweeping: Promise<void> | null = null;
  /** Sweeps started: picks the backstop slice. */
  #tick = 0;
  #stopped = false;
  /** When the session-ended signal last became ready (Date.now()); null while it is down or absent. */
  #signalSince: number | null = null;
  #unsubscribe: (() => void) | null = null;
  /** Sessions the signal reported ended, with when (oldest first), for upgrades authenticated just before. */
  readonly #ended = new Map<string, number>();

  constructor(deps: SessionWatchDeps) {
    this.#d = deps;
  }

  /** Resolves once the session-ended signal is ready (or after `readyWaitMs` without it: frames are then checked in the database until it is). */
  start(readyWaitMs = 5_000): Promise<void> {
    const { sessions, logger } = this.#d;
    let firstReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => { firstReady = resolve; });
    if (sessions.onSessionsEnded) {
      this.#unsubscribe = sessions.onSessionsEnded({
        ended: (ids) => {
          this.#remember(ids);
          for (const id of ids) for (const conn of [...this.#d.connsOfSession(id)]) if (!conn.closed) this.#d.end(conn);
        },
        ready: () => {
          this.#signalSince = Date.now();
          firstReady();
        },
        lost: () => {
          this.#signalSince = null;
          logger.warn('session-ended signal lost; checking sessions in the database until it is back');
        },
      });
    }
    this.#timer = setInterval(() => {
      // One sweep at a time: a slow database must not pile up overlapping sweeps.
      if (!this.#sweeping) this.#sweeping = this.#sweep().finally(() => { this.#sweeping = null; });
    }, this.#d.intervalMs);
    this.#timer.unref();
    if (!sessions.onSessionsEnded) return Promise.resolve();
    return Promise.race([ready, new Promise<void>((resolve) => setTimeout(resolve, readyWaitMs).unref())]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer) clearInterval(this.#timer);
    await this.#sweeping;
  }

  /**
   * Whether the signal reported this session ended lately: an upgrade whose check ran just before
   * the revocation must not open a socket after it.
   */
  endedLately(sessionId: string): boolean {
    return this.#ended.has(sessionId);
  }

  #remember(ids: readonly string[]): void {
    const now = Date.now();
    for (const [id, at] of this.#ended) {
      if (now - at < REMEMBER_ENDED_MS) break;
      this.#ended.delete(id);
    }
    for (const id of ids) this.#ended.set(id, now);
  }

  userLoggedOut(userId: string): void {
    const conns = [...this.#d.connsOf(userId)];
    if (conns.length === 0) return;
    void this.#check(conns).catch((err: unknown) => {
      this.#d.logger.warn({ err: errText(err) }, 'session re-check after logout failed');
    });
  }

  /**
   * May a frame of this socket be served? `true` at once when the cached check can be trusted;
   * otherwise a promise of the database's answer (the socket is closed when the session is over;
   * it rejects when the database cannot answer).
   */
  admit(conn: Conn): true | Promise<boolean> {
    const since = this.#signalSince;
    if (since !== null && conn.verifiedAt > since && Date.now() < conn.liveUntil) return true;
    // Frames arriving while a check runs wait for that same check.
    conn.pendingCheck ??= this.#check([conn]).then(
      () => !conn.closed,
    ).finally(() => {
      conn.pendingCheck = null;
    });
    return conn.pendingCheck;
  }

  /**
   * Each tick checks the sockets whose cached check admit() would not trust, or will not within the
   * next tick: all of them while the signal is down (or absent), those checked before it last came up,
   * and those whose session runs out before the next tick (so expiry closes them in time). With the
   * signal up, a revocation is announced, so the other sockets need no query each tick; they are
   * re-checked in a rotating slice, all of them every BACKSTOP_MS, as a backstop. Checking every
   * socket every tick cost a query per 1,000 sockets and a burst of work every 500 ms, which showed
   * as periodic send latency spikes (bench:e2e with 4,000 sockets: p99 58-64 ms against 36 ms).
   */
  async #sweep(): Promise<void> {
    const now = Date.now();
    const since = this.#signalSince;
    const slices = Math.max(1, Math.round(BACKSTOP_MS / this.#d.intervalMs));
    const slice = this.#tick++ % slices;
    const due = new Set<Conn>();
    const used: Conn[] = [];
    for (const conn of this.#d.conns()) {
      if (conn.closed) continue;
      if (conn.usedAt > conn.touchedAt && now - conn.touchedAt >= Math.min(TOUCH_REPORT_MS, (conn.liveUntil - now) / 4)) used.push(conn);
      const trusted = since !== null && conn.verifiedAt > since && conn.liveUntil > now + this.#d.intervalMs;
      if (!trusted || conn.id % slices === slice) due.add(conn);
    }
    if (used.length > 0) {
      try {
        await this.#touch(used, now);
        // Checked again now, so that admit and the next sweeps see the time the use bought.
        for (const conn of used) due.add(conn);
      } catch (err) {
        // Reported again next sweep (touchedAt did not move); the session keeps the time it had.
        this.#d.logger.warn({ err: errText(err) }, 'reporting socket use of sessions failed');
      }
    }
    if (due.size === 0) return;
    try {
      await this.#check([...due]);
    } catch (err) {
      // Fail open for this sweep: a database hiccup must not disconnect everyone. The next sweep
      // retries; meanwhile frames whose cached check ran out are refused by admit.
      this.#d.logger.warn({ err: errText(err) }, 'session sweep failed');
    }
  }

  async #touch(conns: Conn[], now: number): Promise<void> {
    const ids = [...new Set(conns.map((c) => c.identity.sessionId))];
    for (let i = 0; i < ids.length; i += BATCH) await this.#d.sessions.touchSessions(ids.slice(i, i + BATCH));
    for (const conn of conns) conn.touchedAt = now;
  }

  async #check(conns: Conn[]): Promise<void> {
    const started = Date.now();
    const ids = [...new Set(conns.map((c) => c.identity.sessionId))];
    const left = new Map<string, number>();
    for (let i = 0; i < ids.length; i += BATCH) {
      for (const [id, ms] of await this.#d.sessions.liveSessions(ids.slice(i, i + BATCH))) left.set(id, ms);
      if (this.#stopped) return;
    }
    for (const conn of conns) {
      if (conn.closed) continue;
      const ms = left.get(conn.identity.sessionId);
      if (ms === undefined) {
        this.#d.end(conn);
        continue;
      }
      // Measured from before the query: the session can only have had less time left by its answer.
      conn.verifiedAt = started;
      conn.liveUntil = started + ms;
    }
  }
}
