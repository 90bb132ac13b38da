/**
 * The key store: one data key per user, stored wrapped by the key-encryption key. Erasure destroys a
 * user's key and leaves a tombstone in its place, so that no later write can create a new key for the
 * user (a send racing an erasure then fails instead of sealing under a key nobody destroys).
 * Two adapters: PostgreSQL and SQLite (the embedded default); test/keys/key-store.test.ts holds both.
 */

/** A stored row: the wrapped key, or null when the key was destroyed (the user was erased). */
export interface StoredKey {
  wrapped: string | null;
  kekId: string | null;
}

export interface KeyStore {
  readonly kind: 'postgres' | 'sqlite';
  /** The rows of these users; a user with no row is absent from the map. */
  get(userIds: readonly string[]): Promise<Map<string, StoredKey>>;
  /**
   * Stores each offered wrapped key unless the user already has a row (a live key, or a tombstone),
   * then returns the rows: the winner's key when two processes race, a tombstone for an erased user.
   */
  getOrCreate(offers: ReadonlyMap<string, { wrapped: string; kekId: string }>): Promise<Map<string, StoredKey>>;
  /** Destroys the user's key (or puts a tombstone where none was yet); true when a key was destroyed by this call. */
  destroy(userId: string): Promise<boolean>;
  /** Rows wrapped by another KEK than `kekId`, a page at a time (KEK rotation). */
  wrappedBy(notKekId: string, limit: number): Promise<Array<{ userId: string; wrapped: string; kekId: string | null }>>;
  /** Replaces a wrapped key if it is still the one read (a concurrent destroy wins). */
  rewrap(userId: string, oldWrapped: string, wrapped: string, kekId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The user's key was destroyed: their personal data can no longer be sealed or opened. */
export class KeyErasedError extends Error {
  readonly code = 'USER_ERASED';
  constructor(readonly userId: string) {
    super(`the data key of user ${userId} was destroyed (the user was erased)`);
    this.name = 'KeyErasedError';
  }
}
