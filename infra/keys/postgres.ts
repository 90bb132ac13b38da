/**
 * Data keys in PostgreSQL, in the deployment's schema next to the event log. A destroyed key is
 * overwritten with NULL; the old row version stays in the table's file until vacuum, so destroy()
 * vacuums the table right after (docs/privacy.md: what this does not reach, such as WAL and backups).
 */
import pg from 'pg';
import type { KeyStore, StoredKey } from '../../commands/ports/keys.js';
import { inTransaction } from '../pg-checkout.js';

interface Row { user_id: string; wrapped: string | null; kek_id: string | null }

export class PostgresKeyStore implements KeyStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #table: string;

  private constructor(pool: pg.Pool, table: string) {
    this.#pool = pool;
    this.#table = table;
  }

  static async open(opts: { connectionString: string; schema?: string; poolSize?: number }): Promise<PostgresKeyStore> {
    const schema = opts.schema ?? 'public';
    const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 4 });
    pool.on('error', () => { /* an idle client's error; the next query reconnects and reports */ });
    const table = `${pg.escapeIdentifier(schema)}.data_keys`;
    try {
      // Two processes starting together would both try CREATE TABLE IF NOT EXISTS; one lock orders them.
      await inTransaction(pool, async (client) => {
        await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`data_keys:${schema}`]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
          user_id      text PRIMARY KEY,
          wrapped      text,
          kek_id       text,
          created_at   timestamptz NOT NULL DEFAULT now(),
          destroyed_at timestamptz,
          CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
        )`);
      });
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresKeyStore(pool, table);
  }

  async get(userIds: readonly string[]): Promise<Map<string, StoredKey>> {
    if (userIds.length === 0) return new Map();
    const { rows } = await this.#pool.query<Row>(`SELECT user_id, wrapped, kek_id FROM ${this.#table} WHERE user_id = ANY($1::text[])`, [userIds]);
    return new Map(rows.map((r) => [r.user_id, { wrapped: r.wrapped, kekId: r.kek_id }]));
  }

  async getOrCreate(offers: ReadonlyMap<string, { wrapped: string; kekId: string }>): Promise<Map<string, StoredKey>> {
    if (offers.size === 0) return new Map();
    const ids = [...offers.keys()];
    await this.#pool.query(
      `INSERT INTO ${this.#table} (user_id, wrapped, kek_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1
       ON CONFLICT (user_id) DO NOTHING`,
      [ids, ids.map((id) => offers.get(id)!.wrapped), ids.map((id) => offers.get(id)!.kekId)],
    );
    // A second statement: its snapshot sees a row a concurrent insert committed while ours waited on it.
    return this.get(ids);
  }

  async destroy(userId: string): Promise<boolean> {
    // A tombstone first, where there is no row: from then on no getOrCreate can give the user a key.
    await this.#pool.query(
      `INSERT INTO ${this.#table} (user_id, wrapped, kek_id, destroyed_at) VALUES ($1, NULL, NULL, now()) ON CONFLICT (user_id) DO NOTHING`,
      [userId],
    );
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#table} SET wrapped = NULL, kek_id = NULL, destroyed_at = now() WHERE user_id = $1 AND wrapped IS NOT NULL`,
      [userId],
    );
    // The old row version (with the wrapped key) lingers in the heap until vacuum: reclaim it now.
    await this.#pool.query(`VACUUM ${this.#table}`).catch(() => undefined);
    return (rowCount ?? 0) > 0;
  }

  async wrappedBy(notKekId: string, limit: number): Promise<Array<{ userId: string; wrapped: string; kekId: string | null }>> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT user_id, wrapped, kek_id FROM ${this.#table} WHERE wrapped IS NOT NULL AND kek_id IS DISTINCT FROM $1 ORDER BY user_id LIMIT $2`,
      [notKekId, limit],
    );
    return rows.map((r) => ({ userId: r.user_id, wrapped: r.wrapped!, kekId: r.kek_id }));
  }

  async rewrap(userId: string, oldWrapped: string, wrapped: string, kekId: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#table} SET wrapped = $3, kek_id = $4 WHERE user_id = $1 AND wrapped = $2`,
      [userId, oldWrapped, wrapped, kekId],
    );
    return (rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
