/**
 * Sessions in PostgreSQL (pg). Tables live in the configured schema and are created idempotently;
 * creation runs under an advisory lock because two processes starting together can otherwise both
 * attempt CREATE TABLE IF NOT EXISTS and one fails on the catalog's unique index.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { listen } from '../pg-listen.js';
import { inTransaction } from '../pg-checkout.js';
import type { Role } from '../../domain/events.js';
import {
  isAlive, msLeft, needsTouch, sessionPolicy,
  type RedeemedTicket, type Session, type SessionEndListener, type SessionPolicy, type SessionStore, type Ticket,
} from '../../gateways/ports/sessions.js';
import { hashToken, looksLikeToken, newSession, newToken } from './tokens.js';

interface SessionRow {
  id: string;
  user_id: string;
  role: Role;
  created_at: Date;
  last_seen_at: Date;
  absolute_expires_at: Date;
}

const toSession = (r: SessionRow): Session => ({
  id: r.id, userId: r.user_id, role: r.role, createdAt: r.created_at, lastSeenAt: r.last_seen_at, absoluteExpiresAt: r.absolute_expires_at,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The NOTIFY channel of a schema's ended sessions: a hash keeps it within PostgreSQL's 63-byte
 * identifier limit whatever the schema is called, and schemas (tests, deployments) apart.
 */
const channelOf = (schema: string): string =>
  `sessions_ended_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;

export interface PostgresSessionOptions {
  connectionString: string;
  schema?: string;
  poolSize?: number;
  policy?: Partial<SessionPolicy>;
}

export class PostgresSessionStore implements SessionStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #sessions: string;
  readonly #tickets: string;
  readonly #channel: string;
  readonly #connectionString: string;
  readonly #listeners = new Set<SessionEndListener>();
  /** Stops this store's LISTEN, while anyone listens. */
  #unlisten: (() => Promise<void>) | null = null;
  /** The session-ended signal is up (LISTEN in effect). */
  #signalUp = false;

  private constructor(pool: pg.Pool, schema: string, connectionString: string, readonly policy: SessionPolicy) {
    this.#pool = pool;
    this.#sessions = `${pg.escapeIdentifier(schema)}.sessions`;
    this.#tickets = `${pg.escapeIdentifier(schema)}.ws_tickets`;
    this.#channel = channelOf(schema);
    this.#connectionString = connectionString;
  }

  static async open(opts: PostgresSessionOptions): Promise<PostgresSessionStore> {
    const schema = opts.schema ?? 'public';
    const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 5 });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const store = new PostgresSessionStore(pool, schema, opts.connectionString, sessionPolicy(opts.policy));
    try {
      await store.#migrate(schema);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return store;
  }

  async #migrate(schema: string): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('chat-sessions-schema:' || $1))`, [schema]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.#sessions} (
          token_hash          text PRIMARY KEY,
          id                  uuid NOT NULL UNIQUE,
          user_id             text NOT NULL,
          role                text NOT NULL,
          created_at          timestamptz NOT NULL,
          last_seen_at        timestamptz NOT NULL,
          absolute_expires_at timestamptz NOT NULL
        )`);
      await client.query(`CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON ${this.#sessions} (user_id)`);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.#tickets} (
          ticket_hash text PRIMARY KEY,
          session_id  uuid NOT NULL,
          expires_at  timestamptz NOT NULL
        )`);
    });
  }

  async create(input: { userId: string; role: Role }): Promise<{ token: string; session: Session }> {
    const { token, session } = newSession(input, this.policy);
    await this.#pool.query(
      `INSERT INTO ${this.#sessions} (token_hash, id, user_id, role, created_at, last_seen_at, absolute_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [hashToken(token), session.id, session.userId, session.role, session.createdAt, session.lastSeenAt, session.absoluteExpiresAt],
    );
    return { token, session };
  }

  async authenticate(token: string): Promise<Session | null> {
    if (!looksLikeToken(token)) return null;
    const hash = hashToken(token);
    const { rows } = await this.#pool.query<SessionRow>(
      `SELECT id, user_id, role, created_at, last_seen_at, absolute_expires_at FROM ${this.#sessions} WHERE token_hash = $1`, [hash],
    );
    const row = rows[0];
    if (!row) return null;
    const session = toSession(row);
    const now = this.policy.clock();
    if (!isAlive(session, this.policy, now)) {
      await this.#pool.query(`DELETE FROM ${this.#sessions} WHERE token_hash = $1`, [hash]);
      return null;
    }
    if (needsTouch(session, this.policy, now)) {
      // GREATEST: two concurrent requests must never move lastSeenAt backwards.
      await this.#pool.query(`UPDATE ${this.#sessions} SET last_seen_at = GREATEST(last_seen_at, $2) WHERE token_hash = $1`, [hash, now]);
      session.lastSeenAt = now;
    }
    return session;
  }

  // The NOTIFY is part of the DELETE's statement, so it goes out exactly when the deletion commits.
  async revoke(token: string): Promise<boolean> {
    if (!looksLikeToken(token)) return false;
    const { rowCount } = await this.#pool.query(
      `WITH d AS (DELETE FROM ${this.#sessions} WHERE token_hash = $1 RETURNING id) SELECT pg_notify($2, id::text) FROM d`,
      [hashToken(token), this.#channel],
    );
    return (rowCount ?? 0) > 0;
  }

  async revokeAllForUser(userId: string): Promise<number> {
    const { rowCount } = await this.#pool.query(
      `WITH d AS (DELETE FROM ${this.#sessions} WHERE user_id = $1 RETURNING id) SELECT pg_notify($2, id::text) FROM d`,
      [userId, this.#channel],
    );
    return rowCount ?? 0;
  }

  async liveSessions(ids: readonly string[]): Promise<ReadonlyMap<string, number>> {
    const out = new Map<string, number>();
    const wanted = ids.filter((id) => UUID.test(id));
    if (wanted.length === 0) return out;
    const { rows } = await this.#pool.query<{ id: string; last_seen_at: Date; absolute_expires_at: Date }>(
      `SELECT id::text AS id, last_seen_at, absolute_expires_at FROM ${this.#sessions} WHERE id = ANY($1::uuid[])`, [wanted],
    );
    const now = this.policy.clock();
    for (const r of rows) {
      const left = msLeft({ lastSeenAt: r.last_seen_at, absoluteExpiresAt: r.absolute_expires_at }, this.policy, now);
      if (left > 0) out.set(r.id, left);
    }
    return out;
  }

  async touchSessions(ids: readonly string[]): Promise<void> {
    const wanted = ids.filter((id) => UUID.test(id));
    if (wanted.length === 0) return;
    const now = this.policy.clock();
    // Only rows not touched within the interval, and only live ones: an expired session is not revived.
    await this.#pool.query(
      `UPDATE ${this.#sessions} SET last_seen_at = $2
       WHERE id = ANY($1::uuid[]) AND last_seen_at <= $3 AND last_seen_at > $4 AND absolute_expires_at > $2`,
      [wanted, now, new Date(now.getTime() - this.policy.touchIntervalMs), new Date(now.getTime() - this.policy.idleTimeoutMs)],
    );
  }

  onSessionsEnded(listener: SessionEndListener): () => void {
    this.#listeners.add(listener);
    if (!this.#unlisten) this.#startListening();
    else if (this.#signalUp) listener.ready();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) void this.#stopListening();
    };
  }

  /** Through the process's shared LISTEN connection (pg-listen.ts), which reconnects by itself. */
  #startListening(): void {
    const each = (f: (l: SessionEndListener) => void): void => {
      for (const l of [...this.#listeners]) f(l);
    };
    this.#unlisten = listen(this.#connectionString, this.#channel, {
      notify: (payload) => {
        if (payload !== '') each((l) => l.ended(payload.split(',')));
      },
      ready: () => {
        this.#signalUp = true;
        each((l) => l.ready());
      },
      lost: () => {
        this.#signalUp = false;
        each((l) => l.lost());
      },
    });
  }

  async #stopListening(): Promise<void> {
    const unlisten = this.#unlisten;
    this.#unlisten = null;
    this.#signalUp = false;
    await unlisten?.();
  }

  async issueTicket(session: Session): Promise<Ticket> {
    const ticket = newToken();
    const expiresAt = new Date(this.policy.clock().getTime() + this.policy.ticketTtlMs);
    await this.#pool.query(`INSERT INTO ${this.#tickets} (ticket_hash, session_id, expires_at) VALUES ($1, $2, $3)`, [hashToken(ticket), session.id, expiresAt]);
    return { ticket, expiresAt };
  }

  async redeemTicket(ticket: string): Promise<RedeemedTicket | null> {
    if (!looksLikeToken(ticket)) return null;
    // DELETE … RETURNING makes redemption atomic: of two concurrent redeemers exactly one gets the row.
    const { rows } = await this.#pool.query<{ session_id: string; expires_at: Date }>(
      `DELETE FROM ${this.#tickets} WHERE ticket_hash = $1 RETURNING session_id, expires_at`, [hashToken(ticket)],
    );
    const row = rows[0];
    const now = this.policy.clock();
    if (!row || row.expires_at.getTime() <= now.getTime()) return null;
    const found = await this.#pool.query<SessionRow>(
      `SELECT id, user_id, role, created_at, last_seen_at, absolute_expires_at FROM ${this.#sessions} WHERE id = $1`, [row.session_id],
    );
    const session = found.rows[0] ? toSession(found.rows[0]) : null;
    // A ticket outlives nothing: a session revoked or expired since the ticket was issued makes it worthless.
    if (!session || !isAlive(session, this.policy, now)) return null;
    return { userId: session.userId, role: session.role, sessionId: session.id };
  }

  async purgeExpired(): Promise<number> {
    const now = this.policy.clock();
    const idleCutoff = new Date(now.getTime() - this.policy.idleTimeoutMs);
    const a = await this.#pool.query(`DELETE FROM ${this.#sessions} WHERE absolute_expires_at <= $1 OR last_seen_at <= $2`, [now, idleCutoff]);
    const b = await this.#pool.query(`DELETE FROM ${this.#tickets} WHERE expires_at <= $1`, [now]);
    return (a.rowCount ?? 0) + (b.rowCount ?? 0);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#stopListening();
    await this.#pool.end();
  }
}
