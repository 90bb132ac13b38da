/**
 * Presence on one gateway process: when a user is online *here* (first socket open; offline once
 * the last one has been closed for the grace, so a reconnect does not flicker), told to the
 * presence bus, which merges every process; and who watches whom. A socket watches the other
 * participant of chats it names in a `watch` frame (chats it is in and that exist: presence is only
 * for people who share a chat), gets their state at once and every change after, as `presence`
 * frames.
 */
import type { Logger } from 'pino';
import type { PresenceBus, PresenceChange, PresenceState } from '../ports/presence.js';
import type { ChatExists } from './chat-exists.js';
import type { Conn, Outbox } from './connection.js';
import { encodeError, encodePresence, otherParticipant, type PresenceFrame, type WatchFrame } from './protocol.js';
import { errText } from './err-text.js';

export interface PresenceCounters {
  watches: number;
  presenceFramesSent: number;
}

export interface PresenceHubDeps {
  bus: PresenceBus;
  outbox: Outbox;
  exists: ChatExists;
  graceMs: number;
  counters: PresenceCounters;
  logger: Logger;
}

interface Watched {
  conns: Set<Conn>;
  /** The last change the bus reported, and its sequence number (to tell a query answer that is older). */
  last: PresenceState | null;
  seq: number;
}

/** Existence checks of one watch frame run this many at a time (each may be a store read). */
const CHECK_CONCURRENCY = 8;
/** Users per bus query when everything is asked again after an outage. */
const REQUERY_BATCH = 500;

const wire = (s: PresenceState): PresenceFrame['users'][string] => ({
  online: s.online,
  lastSeen: s.lastSeen === null ? null : new Date(s.lastSeen).toISOString(),
});

export class PresenceHub {
  readonly #d: PresenceHubDeps;
  /** Open sockets per user on this process. */
  readonly #local = new Map<string, number>();
  /** Users whose last socket here closed, waiting out the grace. */
  readonly #leaving = new Map<string, NodeJS.Timeout>();
  readonly #watched = new Map<string, Watched>();
  /** Who each watching socket watches (only sockets that sent a watch frame are here). */
  readonly #watching = new Map<Conn, string[]>();
  /** Sockets with a watch frame being served (one at a time per socket). */
  readonly #busy = new WeakSet<Conn>();
  #seq = 0;
  #closed = false;

  constructor(deps: PresenceHubDeps) {
    this.#d = deps;
  }

  /** Users this process holds online: with a socket, or within their grace. */
  *localUsers(): Iterable<string> {
    yield* this.#local.keys();
    for (const u of this.#leaving.keys()) if (!this.#local.has(u)) yield u;
  }

  get watchedUsers(): number {
    return this.#watched.size;
  }

  connected(conn: Conn): void {
    const u = conn.userId;
    const n = this.#local.get(u) ?? 0;
    this.#local.set(u, n + 1);
    if (n > 0) return;
    const leaving = this.#leaving.get(u);
    if (leaving) {
      // Back within the grace: nobody saw them go.
      clearTimeout(leaving);
      this.#leaving.delete(u);
      return;
    }
    this.#d.bus.online(u);
  }

  disconnected(conn: Conn): void {
    this.#unwatch(conn);
    const u = conn.userId;
    const n = this.#local.get(u) ?? 0;
    if (n > 1) {
      this.#local.set(u, n - 1);
      return;
    }
    this.#local.delete(u);
    if (this.#closed || this.#leaving.has(u)) return;
    const closedAt = Date.now();
    const timer = setTimeout(() => {
      this.#leaving.delete(u);
      if (!this.#local.has(u)) this.#d.bus.offline(u, Date.now() - closedAt);
    }, this.#d.graceMs);
    timer.unref();
    this.#leaving.set(u, timer);
  }

  /** A `watch` frame: replaces what the socket watches, then answers with their presence. */
  async watch(conn: Conn, f: WatchFrame): Promise<void> {
    const { outbox } = this.#d;
    if (this.#busy.has(conn)) return outbox.send(conn, encodeError('RATE_LIMITED', { ref: f.ref, detail: 'one watch at a time; wait for its presence answer' }));
    this.#busy.add(conn);
    try {
      const users = await this.#allowed(conn, f);
      if (conn.closed || this.#closed) return;
      this.#d.counters.watches++;
      this.#setWatch(conn, users);
      const seq = this.#seq;
      const states = users.length === 0 ? new Map<string, PresenceState>() : await this.#d.bus.query(users);
      if (conn.closed) return;
      if (!states) return this.#send(conn, encodePresence(f.ref, false, {}));
      // No prototype: a user named __proto__ must be a key like any other, not set the object's prototype.
      const out = Object.create(null) as PresenceFrame['users'];
      for (const u of users) {
        const w = this.#watched.get(u);
        // A change that arrived while the query ran was already sent, and is newer than its answer.
        const s = w && w.seq > seq && w.last ? w.last : states.get(u);
        if (s) out[u] = wire(s);
      }
      this.#send(conn, encodePresence(f.ref, true, out));
    } finally {
      this.#busy.delete(conn);
    }
  }

  /** A change from the bus (this process's or another's). */
  readonly onChange = (c: PresenceChange): void => {
    const w = this.#watched.get(c.userId);
    if (!w) return;
    w.last = { online: c.online, lastSeen: c.lastSeen };
    w.seq = ++this.#seq;
    const frame = encodePresence(undefined, true, { [c.userId]: wire(w.last) });
    for (const conn of w.conns) this.#send(conn, frame);
  };

  /** The bus was away and may have missed changes: everyone watched is asked for again. */
  readonly recovered = (): void => {
    void this.#requery().catch((err: unknown) => this.#d.logger.warn({ err: errText(err) }, 'presence: asking again after an outage failed'));
  };

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#leaving.values()) clearTimeout(t);
    // Users within their grace stay in localUsers() for the bus's own leave grace.
    await this.#d.bus.close(this.#d.graceMs);
    this.#leaving.clear();
  }

  // ---- internals ----

  /** The other participants of the named chats the socket may watch; an error frame for each other chat. */
  async #allowed(conn: Conn, f: WatchFrame): Promise<string[]> {
    const { outbox, exists } = this.#d;
    const refuse = (chatId: string, code: 'CHAT_NOT_FOUND' | 'NOT_A_PARTICIPANT' | 'SERVICE_UNAVAILABLE'): void =>
      outbox.send(conn, encodeError(code, { ref: f.ref, chatId }));
    const candidates: Array<[string, string]> = [];
    for (const chatId of new Set(f.chats)) {
      const member = otherParticipant(chatId, conn.userId);
      if ('refused' in member) refuse(chatId, member.refused);
      else candidates.push([chatId, member.other]);
    }
    const users = new Set<string>();
    for (let i = 0; i < candidates.length; i += CHECK_CONCURRENCY) {
      await Promise.all(candidates.slice(i, i + CHECK_CONCURRENCY).map(async ([chatId, other]) => {
        try {
          if (await exists(conn, chatId)) users.add(other);
          else refuse(chatId, 'CHAT_NOT_FOUND');
        } catch (err) {
          this.#d.logger.warn({ err: errText(err), chatId }, 'presence: the chat could not be checked');
          refuse(chatId, 'SERVICE_UNAVAILABLE');
        }
      }));
      if (conn.closed) return [];
    }
    return [...users];
  }

  #setWatch(conn: Conn, users: string[]): void {
    this.#unwatch(conn);
    if (users.length === 0) return;
    this.#watching.set(conn, users);
    for (const u of users) {
      let w = this.#watched.get(u);
      if (!w) this.#watched.set(u, (w = { conns: new Set(), last: null, seq: 0 }));
      w.conns.add(conn);
    }
  }

  #unwatch(conn: Conn): void {
    const users = this.#watching.get(conn);
    if (!users) return;
    this.#watching.delete(conn);
    for (const u of users) {
      const w = this.#watched.get(u);
      if (!w) continue;
      w.conns.delete(conn);
      if (w.conns.size === 0) this.#watched.delete(u);
    }
  }

  async #requery(): Promise<void> {
    const users = [...this.#watched.keys()];
    for (let i = 0; i < users.length; i += REQUERY_BATCH) {
      const batch = users.slice(i, i + REQUERY_BATCH);
      const seq = this.#seq;
      const states = await this.#d.bus.query(batch);
      if (!states) return; // still away: the next recovery asks again
      for (const u of batch) {
        const w = this.#watched.get(u);
        const s = states.get(u);
        if (!w || !s || w.seq > seq) continue;
        const frame = encodePresence(undefined, true, { [u]: wire(s) });
        for (const conn of w.conns) this.#send(conn, frame);
      }
    }
  }

  #send(conn: Conn, frame: string): void {
    this.#d.counters.presenceFramesSent++;
    this.#d.outbox.send(conn, frame);
  }
}
