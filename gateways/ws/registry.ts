/**
 * The sockets of one gateway process, indexed by user (fan-out, receipts, presence, the per-user
 * socket limit) and by session (a logout or an expiry ends exactly that session's sockets).
 */
import type { Conn } from './connection.js';

const NONE: ReadonlySet<Conn> = new Set();

export class ConnRegistry {
  readonly all = new Set<Conn>();
  readonly #byUser = new Map<string, Set<Conn>>();
  readonly #bySession = new Map<string, Set<Conn>>();

  /** The user's sockets on this process; the same empty set for a user with none (no allocation per event). */
  ofUser(userId: string): ReadonlySet<Conn> {
    return this.#byUser.get(userId) ?? NONE;
  }

  /** Undefined when the user has no socket here: the fan-out skips encoding for such events. */
  ofUserIfAny(userId: string): ReadonlySet<Conn> | undefined {
    return this.#byUser.get(userId);
  }

  ofSession(sessionId: string): ReadonlySet<Conn> {
    return this.#bySession.get(sessionId) ?? NONE;
  }

  get users(): number {
    return this.#byUser.size;
  }

  add(conn: Conn): void {
    this.all.add(conn);
    addTo(this.#byUser, conn.userId, conn);
    addTo(this.#bySession, conn.identity.sessionId, conn);
  }

  /** True when the socket was registered (a socket closed before it was, during a shutdown, was never online). */
  remove(conn: Conn): boolean {
    const was = this.all.delete(conn);
    removeFrom(this.#byUser, conn.userId, conn);
    removeFrom(this.#bySession, conn.identity.sessionId, conn);
    return was;
  }
}

function addTo(index: Map<string, Set<Conn>>, key: string, conn: Conn): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(conn);
}

function removeFrom(index: Map<string, Set<Conn>>, key: string, conn: Conn): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(conn);
  if (set.size === 0) index.delete(key);
}
