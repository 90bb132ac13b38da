/**
 * Sessions port. A session is found by its bearer token, but only sha256(token) is ever stored, so
 * a leaked table (or a log line of a row) cannot be replayed as a login. Two adapters implement it:
 * PostgreSQL (pg) and SQLite (better-sqlite3, the embedded default); one contract suite holds both
 * (test/http/sessions.test.ts).
 */
import type { Role } from '../../domain/events.js';

export interface Session {
  /** Public id of the session (not the token): safe to log, to reference from tickets, to show a user. */
  id: string;
  userId: string;
  role: Role;
  createdAt: Date;
  lastSeenAt: Date;
  /** Hard end of the session, whatever the activity. */
  absoluteExpiresAt: Date;
}

export interface SessionPolicy {
  /** A session unused for this long is dead. */
  idleTimeoutMs: number;
  /** A session older than this is dead, however active. */
  absoluteTimeoutMs: number;
  /**
   * lastSeenAt is written at most this often: one write per request would turn every read endpoint
   * into a database write. The idle timeout is therefore exact to within this interval.
   */
  touchIntervalMs: number;
  /** WebSocket tickets live this long and work once. */
  ticketTtlMs: number;
  clock: () => Date;
}

export const DEFAULT_SESSION_POLICY: Omit<SessionPolicy, 'clock'> = {
  idleTimeoutMs: 30 * 60_000,
  absoluteTimeoutMs: 12 * 60 * 60_000,
  touchIntervalMs: 60_000,
  ticketTtlMs: 30_000,
};

export function sessionPolicy(overrides: Partial<SessionPolicy> = {}): SessionPolicy {
  const policy: SessionPolicy = { ...DEFAULT_SESSION_POLICY, clock: () => new Date(), ...overrides };
  // Touching less often than the idle timeout would let an active session expire between touches.
  policy.touchIntervalMs = Math.min(policy.touchIntervalMs, Math.floor(policy.idleTimeoutMs / 2));
  return policy;
}

export interface Ticket {
  /** The one-time secret the client presents to the WebSocket gateway. */
  ticket: string;
  expiresAt: Date;
}

export interface RedeemedTicket {
  userId: string;
  role: Role;
  sessionId: string;
}

export interface SessionStore {
  readonly kind: 'postgres' | 'sqlite';
  readonly policy: SessionPolicy;
  /** A fresh session with a new random token; the token is returned once and never stored. */
  create(input: { userId: string; role: Role }): Promise<{ token: string; session: Session }>;
  /** The live session for a token, refreshing its idle clock; null when unknown, revoked or expired. */
  authenticate(token: string): Promise<Session | null>;
  /** Ends the session of this token; false when there was none. */
  revoke(token: string): Promise<boolean>;
  /** Ends every session of a user (password change, compromise); returns how many ended. */
  revokeAllForUser(userId: string): Promise<number>;
  /** A short-lived single-use ticket for the WebSocket handshake, tied to a live session. */
  issueTicket(session: Session): Promise<Ticket>;
  /** Consumes a ticket: the first call within its lifetime gets the session's user, every other call null. */
  redeemTicket(ticket: string): Promise<RedeemedTicket | null>;
  /** Deletes expired sessions and tickets; returns how many rows went. */
  purgeExpired(): Promise<number>;
  /**
   * Of the given session ids, the live ones, each with the milliseconds it has left unless it is
   * used again (the earlier of its absolute expiry and lastSeenAt + idle timeout). One query for
   * the whole list: the WebSocket gateway checks the sessions of all its sockets with it.
   */
  liveSessions(ids: readonly string[]): Promise<ReadonlyMap<string, number>>;
  /**
   * What a socket's user does (sending, editing, deleting, marking read, typing) is use: refreshes the
   * idle clock of these sessions as authenticate does for a request, at most every touchIntervalMs,
   * and only while each is still live (an expired session stays expired). One statement for the list.
   */
  touchSessions(ids: readonly string[]): Promise<void>;
  /**
   * Tells `listener` the ids of sessions ended by revoke or revokeAllForUser, through this store or
   * (PostgreSQL) any process on the same schema. Expiry sends no signal: liveSessions reports it.
   * Returns the unsubscribe function.
   */
  onSessionsEnded(listener: SessionEndListener): () => void;
  close(): Promise<void>;
}

/**
 * Receives the session-ended signal. Between `lost` and the next `ready` signals may be missed, so
 * a receiver must not trust what it learnt about sessions before `ready` (re-check them instead).
 */
export interface SessionEndListener {
  ended(sessionIds: readonly string[]): void;
  /** Signals now flow (the first time, and again after each `lost`). */
  ready(): void;
  lost(): void;
}

/** Milliseconds a live session has left unless used again. */
export function msLeft(row: { lastSeenAt: Date; absoluteExpiresAt: Date }, policy: SessionPolicy, now: Date): number {
  return Math.min(row.absoluteExpiresAt.getTime(), row.lastSeenAt.getTime() + policy.idleTimeoutMs) - now.getTime();
}

/** Shared expiry rule, so both adapters decide "alive" the same way. */
export function isAlive(row: { lastSeenAt: Date; absoluteExpiresAt: Date }, policy: SessionPolicy, now: Date): boolean {
  return now.getTime() < row.absoluteExpiresAt.getTime() && now.getTime() - row.lastSeenAt.getTime() < policy.idleTimeoutMs;
}

export function needsTouch(row: { lastSeenAt: Date }, policy: SessionPolicy, now: Date): boolean {
  return now.getTime() - row.lastSeenAt.getTime() >= policy.touchIntervalMs;
}
