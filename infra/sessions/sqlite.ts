/**
 * Sessions in a SQLite file (better-sqlite3) under the data directory: the embedded default, next
 * to the embedded event store but in its own file so session writes never wait on event appends.
 * Times are stored as epoch milliseconds.
 */
import { ensurePrivateDir } from '../data-dir.js';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Role } from '../../domain/events.js';
import {
  isAlive, msLeft, needsTouch, sessionPolicy,
  type RedeemedTicket, type Session, type SessionEndListener, type SessionPolicy, type SessionStore, type Ticket,
} from '../../gateways/ports/sessions.js';
import { hashToken, looksLikeToken, newSession, newToken } from './tokens.js';

const BUSY_TIMEOUT_MS = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  token_hash          TEXT    PRIMARY KEY,
  id                  TEXT    NOT NULL UNIQUE,
  user_id             TEXT    NOT NULL,
  role                TEXT    NOT NULL,
  created_at          INTEGER NOT NULL,
  last_seen_at        INTEGER NOT NULL,
  absolute_expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);
CREATE TABLE IF NOT EXISTS ws_tickets (
  ticket_hash TEXT    PRIMARY KEY,
  session_id  TEXT    NOT NULL,
  expires_at  INTEGER NOT NULL
) STRICT;
`;

interface SessionRow {
  id: string;
  user_id: string;
  role: Role;
  created_at: number;
  last_seen_at: number;
  absolute_expires_at: number;
}

const COLUMNS = 'id, user_id, role, created_at, last_seen_at, absolute_expires_at';

const toSession = (r: SessionRow): Session => ({
  id: r.id, userId: r.user_id, role: r.role, createdAt: new Date(r.created_at),
  lastSeenAt: new Date(r.last_seen_at), absoluteExpiresAt: new Date(r.absolute_expires_at),
});

/**
 * Listeners per database file: the embedded store serves one process (role all), but two stores
 * opened on the same file in it (the API's and the gateway's) must hear each other's revocations.
 */
const listenersByFile = new Map<string, Set<SessionEndListener>>();

export interface SqliteSessionOptions {
  /** A file path, or ':memory:' for a private in-memory store (tests). */
  file: string;
  policy?: Partial<SessionPolicy>;
}

export class SqliteSessionStore implements SessionStore {
  readonly kind = 'sqlite' as const;
  readonly #db: Database;
  readonly #insert: Database.Statement;
  readonly #byHash: Database.Statement<SessionRow>;
  readonly #byId: Database.Statement<SessionRow>;
  readonly #deleteByHash: Database.Statement;
  readonly #touch: Database.Statement;
  readonly #insertTicket: Database.Statement;
  readonly #takeTicket: Database.Statement<{ session_id: string; expires_at: number }>;
  readonly #revokeByHash: Database.Statement<{ id: string }>;
  readonly #revokeByUser: Database.Statement<{ id: string }>;
  readonly #liveRows: Database.Statement<{ id: string; last_seen_at: number; absolute_expires_at: number }>;
  readonly #touchLive: Database.Statement;
  readonly #listeners: Set<SessionEndListener>;
  readonly #shared: string | null;

  private constructor(db: Database, readonly policy: SessionPolicy, shared: string | null) {
    this.#db = db;
    this.#shared = shared;
    let set = shared === null ? undefined : listenersByFile.get(shared);
    if (!set) {
      set = new Set();
      if (shared !== null) listenersByFile.set(shared, set);
    }
    this.#listeners = set;
    this.#revokeByHash = db.prepare<{ id: string }>('DELETE FROM sessions WHERE token_hash = ? RETURNING id');
    this.#revokeByUser = db.prepare<{ id: string }>('DELETE FROM sessions WHERE user_id = ? RETURNING id');
    // A JSON array as the one parameter: any number of ids without SQLite's bound-parameter limit.
    this.#liveRows = db.prepare<{ id: string; last_seen_at: number; absolute_expires_at: number }>(
      'SELECT id, last_seen_at, absolute_expires_at FROM sessions WHERE id IN (SELECT value FROM json_each(?))',
    );
    // Only rows not touched within the interval, and only live ones: an expired session is not revived.
    this.#touchLive = db.prepare(
      `UPDATE sessions SET last_seen_at = @now WHERE id IN (SELECT value FROM json_each(@ids))
       AND last_seen_at <= @touchedBefore AND last_seen_at > @idleSince AND absolute_expires_at > @now`,
    );
    this.#insert = db.prepare(`INSERT INTO sessions (token_hash, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.#byHash = db.prepare<SessionRow>(`SELECT ${COLUMNS} FROM sessions WHERE token_hash = ?`);
    this.#byId = db.prepare<SessionRow>(`SELECT ${COLUMNS} FROM sessions WHERE id = ?`);
    this.#deleteByHash = db.prepare('DELETE FROM sessions WHERE token_hash = ?');
    this.#touch = db.prepare('UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE token_hash = ?');
    this.#insertTicket = db.prepare('INSERT INTO ws_tickets (ticket_hash, session_id, expires_at) VALUES (?, ?, ?)');
    this.#takeTicket = db.prepare<{ session_id: string; expires_at: number }>(
      'DELETE FROM ws_tickets WHERE ticket_hash = ? RETURNING session_id, expires_at',
    );
  }

  static open(opts: SqliteSessionOptions): SqliteSessionStore {
    const inMemory = opts.file === ':memory:' || opts.file === '';
    if (!inMemory) ensurePrivateDir(dirname(opts.file));
    const db = new Database(opts.file, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      // Losing the last session writes in a power cut only logs someone out: NORMAL is enough here.
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      return new SqliteSessionStore(db, sessionPolicy(opts.policy), inMemory ? null : resolve(opts.file));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async create(input: { userId: string; role: Role }): Promise<{ token: string; session: Session }> {
    const { token, session } = newSession(input, this.policy);
    const now = session.createdAt.getTime();
    this.#insert.run(hashToken(token), session.id, session.userId, session.role, now, now, session.absoluteExpiresAt.getTime());
    return { token, session };
  }

  async authenticate(token: string): Promise<Session | null> {
    if (!looksLikeToken(token)) return null;
    const hash = hashToken(token);
    const row = this.#byHash.get(hash);
    if (!row) return null;
    const session = toSession(row);
    const now = this.policy.clock();
    if (!isAlive(session, this.policy, now)) {
      this.#deleteByHash.run(hash);
      return null;
    }
    if (needsTouch(session, this.policy, now)) {
      this.#touch.run(now.getTime(), hash);
      session.lastSeenAt = now;
    }
    return session;
  }

  async revoke(token: string): Promise<boolean> {
    if (!looksLikeToken(token)) return false;
    const ended = this.#revokeByHash.all(hashToken(token)).map((r) => r.id);
    this.#signal(ended);
    return ended.length > 0;
  }

  async revokeAllForUser(userId: string): Promise<number> {
    const ended = this.#revokeByUser.all(userId).map((r) => r.id);
    this.#signal(ended);
    return ended.length;
  }

  async liveSessions(ids: readonly string[]): Promise<ReadonlyMap<string, number>> {
    const out = new Map<string, number>();
    if (ids.length === 0) return out;
    const now = this.policy.clock();
    for (const r of this.#liveRows.all(JSON.stringify(ids))) {
      const left = msLeft({ lastSeenAt: new Date(r.last_seen_at), absoluteExpiresAt: new Date(r.absolute_expires_at) }, this.policy, now);
      if (left > 0) out.set(r.id, left);
    }
    return out;
  }

  async touchSessions(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const now = this.policy.clock().getTime();
    this.#touchLive.run({ ids: JSON.stringify(ids), now, touchedBefore: now - this.policy.touchIntervalMs, idleSince: now - this.policy.idleTimeoutMs });
  }

  /** In-process: the signal can never be lost, so a listener is ready at once. */
  onSessionsEnded(listener: SessionEndListener): () => void {
    this.#listeners.add(listener);
    listener.ready();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #signal(ids: string[]): void {
    if (ids.length === 0) return;
    for (const l of [...this.#listeners]) l.ended(ids);
  }

  async issueTicket(session: Session): Promise<Ticket> {
    const ticket = newToken();
    const expiresAt = new Date(this.policy.clock().getTime() + this.policy.ticketTtlMs);
    this.#insertTicket.run(hashToken(ticket), session.id, expiresAt.getTime());
    return { ticket, expiresAt };
  }

  async redeemTicket(ticket: string): Promise<RedeemedTicket | null> {
    if (!looksLikeToken(ticket)) return null;
    // DELETE … RETURNING consumes the ticket in one statement: a second redeemer finds nothing.
    const row = this.#takeTicket.get(hashToken(ticket));
    const now = this.policy.clock();
    if (!row || row.expires_at <= now.getTime()) return null;
    const found = this.#byId.get(row.session_id);
    const session = found ? toSession(found) : null;
    if (!session || !isAlive(session, this.policy, now)) return null;
    return { userId: session.userId, role: session.role, sessionId: session.id };
  }

  async purgeExpired(): Promise<number> {
    const now = this.policy.clock().getTime();
    const a = this.#db.prepare('DELETE FROM sessions WHERE absolute_expires_at <= ? OR last_seen_at <= ?').run(now, now - this.policy.idleTimeoutMs);
    const b = this.#db.prepare('DELETE FROM ws_tickets WHERE expires_at <= ?').run(now);
    return a.changes + b.changes;
  }

  async close(): Promise<void> {
    if (this.#shared !== null && this.#listeners.size === 0) listenersByFile.delete(this.#shared);
    if (this.#db.open) this.#db.close();
  }
}
