/**
 * KeyRing: a process's access to data keys. It unwraps keys with the KEK and keeps them in memory for a
 * short while (a send or a projected batch must not cost a key-store round trip per event). Staleness
 * is bounded three ways: entries expire after `ttlMs`; this process forgets a key at once when it
 * erases the user or sees the user's UserErased in the log (forget()); and a user this process knows
 * to be erased is never looked up again. A body sealed under a key another process still had cached is
 * sealed under a destroyed key all the same: nothing kept can open it (docs/privacy.md).
 *
 * A key in use is read again in the background during the last part of its life (refresh-ahead), so an
 * active sender's key does not expire under a send: before, every 30 s each active sender's next send
 * waited for a key-store round trip (and wrapped a fresh key only to throw it away). The bound holds as
 * before: no key is used past its expiry; a refresh only moves the expiry on when the store still has
 * the key, and a refresh that finds a tombstone forgets the key at once.
 */
import { KeyErasedError, type KeyStore, type StoredKey } from '../../commands/ports/keys.js';
import type { DataCipher } from '../config.js';
import { kekIdOf, newDataKey, unwrapKey, wrapKey } from './crypto.js';

export const DEFAULT_KEY_TTL_MS = 30_000;
/** Past this many cached entries, expired keys are swept on the next lookup. */
const MAX_CACHED = 100_000;
/** A key used in the last this-much of its life is read again in the background. */
const REFRESH_AHEAD = 1 / 3;

interface Entry { key: Buffer | null; expires: number }

export interface KeyRingOptions {
  store: KeyStore;
  /** The key-encryption key (32 bytes). */
  kek: Buffer;
  /** The KEK being rotated away from: keys it wrapped still open until rotate() re-wrapped them. */
  previousKek?: Buffer;
  ttlMs?: number;
  now?: () => number;
  /** The cipher new values are sealed with (`DATA_CIPHER`; crypto.ts). */
  cipher?: DataCipher;
}

/** An unwrap that fails says what to check, instead of OpenSSL's "unable to authenticate data". */
function unwrapWith(kek: Buffer, wrapped: string, userId: string): Buffer {
  try {
    return unwrapKey(kek, wrapped, userId);
  } catch (err) {
    throw new Error(
      `a data key in the key store does not open with the configured key-encryption key (user ${userId}): ` +
        'DATA_KEY_ENCRYPTION_KEY (or DATA_DIR/data-key-encryption.key) is not the key that wrapped it; after a rotation, ' +
        'set the old one as DATA_KEY_ENCRYPTION_KEY_PREVIOUS (docs/privacy.md)',
      { cause: err },
    );
  }
}

export class KeyRing {
  readonly store: KeyStore;
  readonly cipher: DataCipher;
  readonly #kek: Buffer;
  readonly #kekId: string;
  readonly #previous: { kek: Buffer; id: string } | null;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Entry>();
  /** Users erased as far as this process knows: permanent, so a stale lookup can never revive a key. */
  readonly #erased = new Set<string>();
  /** Keys due for a refresh-ahead, read together in one lookup at the next turn of the event loop. */
  readonly #refreshing = new Set<string>();
  #refreshQueue: string[] = [];

  constructor(opts: KeyRingOptions) {
    if (opts.kek.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
    this.store = opts.store;
    this.#kek = opts.kek;
    this.#kekId = kekIdOf(opts.kek);
    this.#previous = opts.previousKek ? { kek: opts.previousKek, id: kekIdOf(opts.previousKek) } : null;
    this.#ttlMs = opts.ttlMs ?? DEFAULT_KEY_TTL_MS;
    this.#now = opts.now ?? Date.now;
    this.cipher = opts.cipher ?? 'aes-256-gcm';
  }

  /**
   * The id of a KEK other than this ring's (and its previous one) that wrapped keys in the store, or
   * null when every key the check reads opens here. Reads at most 100 rows: a guard at start, not an audit.
   */
  async foreignKekId(): Promise<string | null> {
    const rows = await this.store.wrappedBy(this.#kekId, 100);
    // A row without a KEK id (written before ids were kept) tells nothing either way.
    return rows.find((r) => r.kekId !== null && r.kekId !== this.#previous?.id)?.kekId ?? null;
  }

  get kekId(): string {
    return this.#kekId;
  }

  /** Keys for sealing: created for users who have none; a KeyErasedError for an erased user. */
  async keysForSealing(userIds: Iterable<string>): Promise<Map<string, Buffer>> {
    const { found, missing } = this.#fromCache(userIds);
    if (missing.length > 0) {
      const offers = new Map(missing.map((id) => [id, { wrapped: wrapKey(this.#kek, newDataKey(), id), kekId: this.#kekId }]));
      this.#remember(await this.store.getOrCreate(offers), missing, found);
    }
    const out = new Map<string, Buffer>();
    for (const [id, key] of found) {
      if (key === null) throw new KeyErasedError(id);
      out.set(id, key);
    }
    return out;
  }

  /**
   * The cached sealing key of one user, without a promise or a lookup structure: the common case of an
   * append (one event, a sender whose key is cached) stays synchronous. Undefined: ask keysForSealing.
   */
  cachedSealingKey(userId: string): Buffer | undefined {
    const e = this.#cache.get(userId);
    if (!e || e.key === null) return undefined;
    const now = this.#now();
    if (e.expires <= now) return undefined;
    this.#refreshIfDue(userId, e, now);
    return e.key;
  }

  /** Keys for opening: null for an erased user; absent for one the key store has no row of (never sealed for). */
  async keysForOpening(userIds: Iterable<string>): Promise<Map<string, Buffer | null>> {
    const { found, missing } = this.#fromCache(userIds);
    if (missing.length > 0) this.#remember(await this.store.get(missing), missing, found);
    return found;
  }

  /** Destroys the user's key in the store and forgets it here. */
  async destroy(userId: string): Promise<boolean> {
    this.forget(userId);
    const destroyed = await this.store.destroy(userId);
    this.forget(userId);
    return destroyed;
  }

  /**
   * KEK rotation: re-wraps every key the previous KEK (or any other than the current one) wrapped, a page
   * at a time; a key destroyed meanwhile stays destroyed (rewrap only replaces the row it read).
   * Returns how many keys were re-wrapped. Keys wrapped by a KEK this ring does not hold are reported.
   */
  async rotate(pageSize = 500): Promise<{ rewrapped: number; unreadable: string[] }> {
    let rewrapped = 0;
    const unreadable: string[] = [];
    const skip = new Set<string>();
    for (;;) {
      const rows = (await this.store.wrappedBy(this.#kekId, pageSize + skip.size)).filter((r) => !skip.has(r.userId));
      if (rows.length === 0) return { rewrapped, unreadable };
      for (const r of rows.slice(0, pageSize)) {
        const kek = this.#previous && r.kekId === this.#previous.id ? this.#previous.kek : null;
        if (kek === null) {
          unreadable.push(r.userId);
          skip.add(r.userId);
          continue;
        }
        const key = unwrapKey(kek, r.wrapped, r.userId);
        if (await this.store.rewrap(r.userId, r.wrapped, wrapKey(this.#kek, key, r.userId), this.#kekId)) rewrapped++;
        else skip.add(r.userId);
      }
    }
  }

  /** The user was erased (here or, as the log says, elsewhere): drop the cached key for good. */
  forget(userId: string): void {
    this.#erased.add(userId);
    this.#cache.set(userId, { key: null, expires: Number.POSITIVE_INFINITY });
  }

  #fromCache(userIds: Iterable<string>): { found: Map<string, Buffer | null>; missing: string[] } {
    const found = new Map<string, Buffer | null>();
    const missing: string[] = [];
    const now = this.#now();
    if (this.#cache.size > MAX_CACHED) this.#sweep(now);
    for (const id of new Set(userIds)) {
      const e = this.#cache.get(id);
      if (e && e.expires > now) {
        found.set(id, e.key);
        this.#refreshIfDue(id, e, now);
      } else {
        if (e) this.#cache.delete(id);
        missing.push(id);
      }
    }
    return { found, missing };
  }

  #refreshIfDue(id: string, e: Entry, now: number): void {
    if (e.key === null || e.expires - now > this.#ttlMs * REFRESH_AHEAD || this.#refreshing.has(id)) return;
    this.#refreshing.add(id);
    this.#refreshQueue.push(id);
    if (this.#refreshQueue.length === 1) setImmediate(() => void this.#refresh());
  }

  /**
   * A failed refresh is left alone: the key then expires as it would have, and the next use asks the
   * store in the foreground, where a fault reaches the caller. #remember checks #erased first, so an
   * erasure seen while the read was on the wire is not undone by it.
   */
  async #refresh(): Promise<void> {
    const ids = this.#refreshQueue;
    this.#refreshQueue = [];
    try {
      this.#remember(await this.store.get(ids), ids, new Map());
    } catch {
      // see above
    } finally {
      for (const id of ids) this.#refreshing.delete(id);
    }
  }

  /** Drops expired keys; tombstones stay (they are what keeps a stale lookup from reviving a key). */
  #sweep(now: number): void {
    for (const [id, e] of this.#cache) if (e.key !== null && e.expires <= now) this.#cache.delete(id);
  }

  #remember(rows: Map<string, StoredKey>, asked: string[], into: Map<string, Buffer | null>): void {
    const expires = this.#now() + this.#ttlMs;
    for (const id of asked) {
      const row = rows.get(id);
      if (this.#erased.has(id) || (row && row.wrapped === null)) {
        this.forget(id);
        into.set(id, null);
        continue;
      }
      // No row: nothing sealed for this user yet. Not cached, so a key created a moment later is found.
      if (!row) continue;
      // A wrapped key that does not open is a configuration fault (wrong KEK), never "erased": throw.
      const kek = this.#previous && row.kekId === this.#previous.id ? this.#previous.kek : this.#kek;
      const fresh = unwrapWith(kek, row.wrapped!, id);
      // The same key read again keeps its object: what crypto.ts derived from it stays with it.
      const held = this.#cache.get(id)?.key;
      const key = held && held.equals(fresh) ? held : fresh;
      this.#cache.set(id, { key, expires });
      into.set(id, key);
    }
  }
}
