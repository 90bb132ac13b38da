/**
 * argon2id behind a small port. Hashing is deliberately expensive, so concurrent hashes are capped:
 * a burst of logins queues here instead of starving the event loop's thread pool.
 */
import argon2 from 'argon2';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or a malformed hash; never throws for either. */
  verify(hash: string, password: string): Promise<boolean>;
  needsRehash(hash: string): boolean;
  /** Burns the same time as a real verify, for unknown users, so timing does not reveal who exists. */
  verifyDummy(password: string): Promise<void>;
}

export interface Argon2Options {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  maxConcurrent: number;
}

class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export function createArgon2Hasher(opts: Argon2Options): PasswordHasher {
  const params = { type: argon2.argon2id, memoryCost: opts.memoryKiB, timeCost: opts.timeCost, parallelism: opts.parallelism };
  const gate = new Semaphore(opts.maxConcurrent);
  let dummy: Promise<string> | undefined;
  const verify = (hash: string, password: string): Promise<boolean> =>
    gate.run(() => argon2.verify(hash, password).catch(() => false));
  return {
    hash: (password) => gate.run(() => argon2.hash(password, params)),
    verify,
    needsRehash: (hash) => argon2.needsRehash(hash, params),
    async verifyDummy(password) {
      dummy ??= gate.run(() => argon2.hash('dummy-password-for-timing', params));
      await verify(await dummy, password);
    },
  };
}
