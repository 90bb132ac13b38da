/**
 * Data keys in a SQLite file under the data directory (the embedded default), apart from the event
 * log. secure_delete overwrites a destroyed key's old bytes in the file, and destroy() checkpoints the
 * WAL so the page that held it does not linger there either.
 */
import { ensurePrivateDir } from '../data-dir.js';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { KeyStore, StoredKey } from '../../commands/ports/keys.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS data_keys (
  user_id      TEXT PRIMARY KEY,
  wrapped      TEXT,
  kek_id       TEXT,
  created_at   INTEGER NOT NULL,
  destroyed_at INTEGER
) STRICT;
`;

interface Row { user_id: string; wrapped: string | null; kek_id: string | null }

export class SqliteKeyStore implements KeyStore {
  readonly kind = 'sqlite' as const;
  readonly #db: Database;

  private constructor(db: Database) {
    this.#db = db;
  }

  static open(opts: { file: string }): SqliteKeyStore {
    const file = resolve(opts.file);
    ensurePrivateDir(dirname(file));
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    return new SqliteKeyStore(db);
  }

  async get(userIds: readonly string[]): Promise<Map<string, StoredKey>> {
    const out = new Map<string, StoredKey>();
    const stmt = this.#db.prepare('SELECT user_id, wrapped, kek_id FROM data_keys WHERE user_id = ?');
    for (const id of userIds) {
      const r = stmt.get(id) as Row | undefined;
      if (r) out.set(r.user_id, { wrapped: r.wrapped, kekId: r.kek_id });
    }
    return out;
  }

  async getOrCreate(offers: ReadonlyMap<string, { wrapped: string; kekId: string }>): Promise<Map<string, StoredKey>> {
    const insert = this.#db.prepare('INSERT INTO data_keys (user_id, wrapped, kek_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING');
    const now = Date.now();
    this.#db.transaction(() => {
      for (const [id, o] of offers) insert.run(id, o.wrapped, o.kekId, now);
    })();
    return this.get([...offers.keys()]);
  }

  async destroy(userId: string): Promise<boolean> {
    const destroyed = this.#db.transaction(() => {
      const r = this.#db.prepare('SELECT wrapped FROM data_keys WHERE user_id = ?').get(userId) as { wrapped: string | null } | undefined;
      this.#db.prepare(
        `INSERT INTO data_keys (user_id, wrapped, kek_id, created_at, destroyed_at) VALUES (?, NULL, NULL, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET wrapped = NULL, kek_id = NULL, destroyed_at = COALESCE(destroyed_at, excluded.destroyed_at)`,
      ).run(userId, Date.now(), Date.now());
      return r?.wrapped != null;
    })();
    // The WAL still holds the page with the key until a checkpoint copies it back and truncates the file.
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    return destroyed;
  }

  async wrappedBy(notKekId: string, limit: number): Promise<Array<{ userId: string; wrapped: string; kekId: string | null }>> {
    const rows = this.#db.prepare('SELECT user_id, wrapped, kek_id FROM data_keys WHERE wrapped IS NOT NULL AND (kek_id IS NULL OR kek_id <> ?) ORDER BY user_id LIMIT ?').all(notKekId, limit) as Row[];
    return rows.map((r) => ({ userId: r.user_id, wrapped: r.wrapped!, kekId: r.kek_id }));
  }

  async rewrap(userId: string, oldWrapped: string, wrapped: string, kekId: string): Promise<boolean> {
    return this.#db.prepare('UPDATE data_keys SET wrapped = ?, kek_id = ? WHERE user_id = ? AND wrapped = ?').run(wrapped, kekId, userId, oldWrapped).changes > 0;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
