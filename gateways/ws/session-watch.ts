/**
 * Closes sockets whose session has ended (logout, revocation, expiry) within about a second:
 *   - every `intervalMs`, sockets past their session's absolute expiry are closed, and, when the
 *     sessions port can check ids in bulk (liveSessionIds), the session ids of all open sockets are
 *     checked in batches and the dead ones' sockets closed;
 *   - a UserLoggedOut in the log triggers an immediate check of that user's sockets. Without the
 *     bulk check, a socket opened with a token re-authenticates that token; one opened with a ticket
 *     (whose token the gateway never saw) is closed, and its client reconnects with a new ticket if
 *     its session is still alive.
 */
import type { Logger } from '../../infra/logger.js';
import type { WsSessionPort } from './auth.js';
import type { Conn } from './connection.js';

const BATCH = 1000;

export interface SessionWatchDeps {
  sessions: WsSessionPort;
  conns: () => Iterable<Conn>;
  connsOf: (userId: string) => Iterable<Conn>;
  /** Ends a socket whose session is over. */
  end: (conn: Conn) => void;
  intervalMs: number;
  logger: Logger;
}

export class SessionWatch {
  readonly #d: SessionWatchDeps;
  #timer: NodeJS.Timeout | null = null;
  #sweeping: Promise<void> | null = null;
  #stopped = false;

  constructor(deps: SessionWatchDeps) {
    this.#d = deps;
  }

  start(): void {
    this.#timer = setInterval(() => {
      // One sweep at a time: a slow database must not pile up overlapping sweeps.
      if (!this.#sweeping) this.#sweeping = this.#sweep().finally(() => { this.#sweeping = null; });
    }, this.#d.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#sweeping;
  }

  userLoggedOut(userId: string): void {
    const conns = [...this.#d.connsOf(userId)];
    if (conns.length === 0) return;
    void this.#check(conns).catch((err: unknown) => {
      this.#d.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'session re-check after logout failed');
    });
  }

  async #sweep(): Promise<void> {
    const now = Date.now();
    const open: Conn[] = [];
    for (const conn of this.#d.conns()) {
      if (conn.closed) continue;
      if (conn.identity.expiresAt !== null && conn.identity.expiresAt <= now) this.#d.end(conn);
      else open.push(conn);
    }
    if (!this.#d.sessions.liveSessionIds || open.length === 0) return;
    try {
      await this.#check(open);
    } catch (err) {
      // Fail open for this sweep: a database hiccup must not disconnect everyone. The next sweep retries.
      this.#d.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'session sweep failed');
    }
  }

  async #check(conns: Conn[]): Promise<void> {
    const { sessions } = this.#d;
    if (sessions.liveSessionIds) {
      const ids = [...new Set(conns.map((c) => c.identity.sessionId))];
      const alive = new Set<string>();
      for (let i = 0; i < ids.length; i += BATCH) {
        for (const id of await sessions.liveSessionIds(ids.slice(i, i + BATCH))) alive.add(id);
        if (this.#stopped) return;
      }
      for (const conn of conns) if (!conn.closed && !alive.has(conn.identity.sessionId)) this.#d.end(conn);
      return;
    }
    const byToken = new Map<string, Conn[]>();
    for (const conn of conns) {
      const token = conn.identity.token;
      if (token === null) {
        this.#d.end(conn);
        continue;
      }
      const list = byToken.get(token);
      if (list) list.push(conn);
      else byToken.set(token, [conn]);
    }
    for (const [token, list] of byToken) {
      const session = await sessions.authenticate(token);
      if (!session) for (const conn of list) if (!conn.closed) this.#d.end(conn);
    }
  }
}
