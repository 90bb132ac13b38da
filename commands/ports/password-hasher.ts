/**
 * The password hasher as commands use it. Hashing is slow and bounded: an adapter may refuse a hash at
 * once (HasherBusyError) rather than queue it for seconds; gateways answer that with 503 + Retry-After.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or a malformed hash; never throws for either. */
  verify(hash: string, password: string): Promise<boolean>;
  needsRehash(hash: string): boolean;
  /** Burns the same time as a real verify, for unknown users, so timing does not reveal who exists. */
  verifyDummy(password: string): Promise<void>;
}

/** Every slot is busy and the queue is full: nothing was hashed or checked; retry shortly. */
export class HasherBusyError extends Error {
  constructor() {
    super('password hasher busy: too many hashes waiting');
    this.name = 'HasherBusyError';
  }
}
