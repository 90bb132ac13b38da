/**
 * Leadership and checkpoint of the relay, both on ONE dedicated PostgreSQL session.
 *
 * Leadership is a session advisory lock (pg_try_advisory_lock): it lives exactly as long as the
 * session, so a crashed or partitioned leader loses it without anyone cleaning up, and a standby's
 * next poll takes over. Writing the checkpoint through that same session fences it: a write can only
 * succeed while the session, and with it the lock, is alive. A deposed leader that is still
 * publishing may put duplicates on the broker (consumers de-duplicate), but it can never move the
 * checkpoint. The update is also a compare-and-set (Marten's `where last_seq_id = :floor`), so even a
 * second writer by mistake could not move it backwards.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

/** Signed 64-bit lock key from the deployment's identity; advisory locks are database-wide. */
export function relayLockKey(schema: string, name: string): string {
  return createHash('sha256').update(`chat-relay\0${schema}\0${name}`).digest().readBigInt64BE(0).toString();
}

export class CheckpointConflictError extends Error {
  constructor(readonly expected: bigint) {
    super(`relay checkpoint is no longer ${expected}: another relay moved it`);
    this.name = 'CheckpointConflictError';
  }
}

export class LeadershipLostError extends Error {
  constructor(cause: unknown) {
    super(`relay leadership lost: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'LeadershipLostError';
  }
}

/**
 * One PostgreSQL session that tries to become the leader. Create it, call tryLead() until true;
 * `lost` turns true (and `signal` aborts) the moment the session fails.
 */
export class RelaySession {
  readonly #client: pg.Client;
  readonly #table: string;
  readonly #schema: string;
  readonly #name: string;
  readonly #lockKey: string;
  readonly #lost = new AbortController();
  #lostReason: unknown = null;
  #leading = false;

  private constructor(client: pg.Client, schema: string, name: string) {
    this.#client = client;
    this.#schema = schema;
    this.#name = name;
    this.#table = `${pg.escapeIdentifier(schema)}.relay_checkpoint`;
    this.#lockKey = relayLockKey(schema, name);
    // A session error means the lock is gone (or soon will be): never an unhandled 'error' event.
    client.on('error', (err) => this.#markLost(err));
    client.on('end', () => this.#markLost(new Error('leadership connection ended')));
  }

  static async open(connectionString: string, schema: string, name: string): Promise<RelaySession> {
    // keepAlive: a silently dead peer is noticed by TCP, not only at the next query.
    const client = new pg.Client({ connectionString, keepAlive: true, application_name: `relay:${name}` });
    const session = new RelaySession(client, schema, name);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return session;
  }

  get lost(): boolean {
    return this.#lost.signal.aborted;
  }

  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  get leading(): boolean {
    return this.#leading && !this.lost;
  }

  /** Tries once to take the lock; on success makes sure the checkpoint table and row exist. */
  async tryLead(): Promise<boolean> {
    const res = await this.#query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [this.#lockKey]);
    if (res.rows[0]?.locked !== true) return false;
    this.#leading = true;
    // Only the leader creates the table, so two relays starting at once do not race on CREATE.
    await this.#createTable();
    await this.#query(`INSERT INTO ${this.#table} (name, position, updated_at) VALUES ($1, 0, now()) ON CONFLICT (name) DO NOTHING`, [this.#name]);
    return true;
  }

  async readCheckpoint(): Promise<bigint> {
    const res = await this.#query<{ position: string }>(`SELECT position::text AS position FROM ${this.#table} WHERE name = $1`, [this.#name]);
    return BigInt(res.rows[0]?.position ?? '0');
  }

  /** Moves the checkpoint from `from` to `to`; CheckpointConflictError when it is no longer `from`. */
  async advance(from: bigint, to: bigint): Promise<void> {
    const res = await this.#query(
      `UPDATE ${this.#table} SET position = $2::bigint, updated_at = now() WHERE name = $1 AND position = $3::bigint`,
      [this.#name, to.toString(), from.toString()],
    );
    if (res.rowCount !== 1) throw new CheckpointConflictError(from);
  }

  /** Cheap liveness probe while idle, so a dead session is noticed before the next write. */
  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  /** Ends the session, which releases the lock. */
  async close(): Promise<void> {
    this.#leading = false;
    this.#markLost(new Error('closed'));
    await this.#client.end().catch(() => undefined);
  }

  async #createTable(): Promise<void> {
    const ddl = [
      `CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(this.#schema)}`,
      `CREATE TABLE IF NOT EXISTS ${this.#table} (name text PRIMARY KEY, position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
    ];
    for (const sql of ddl) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#query(sql);
          break;
        } catch (err) {
          // IF NOT EXISTS is not atomic: a concurrent CREATE (another deployment's relay) can still
          // fail with a unique violation on the catalog; the object then exists, so once more is enough.
          const code = (err as { code?: unknown }).code;
          if (attempt < 2 && (code === '23505' || code === '42P07' || code === '42P06')) continue;
          throw err;
        }
      }
    }
  }

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.lost) throw new LeadershipLostError(this.#lostReason);
    try {
      return await this.#client.query<R>(text, values);
    } catch (err) {
      if (this.lost) throw new LeadershipLostError(this.#lostReason ?? err);
      throw err;
    }
  }

  #markLost(reason: unknown): void {
    if (this.lost) return;
    this.#lostReason = reason;
    this.#leading = false;
    this.#lost.abort(reason);
  }
}
