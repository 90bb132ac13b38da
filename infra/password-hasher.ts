/**
 * argon2id behind a small port. Hashing is deliberately expensive, so concurrent hashes are capped:
 * a burst of logins queues here instead of starving the event loop's thread pool. The queue is
 * bounded too: past it a hash is refused at once (HasherBusyError), because a caller that would wait
 * for seconds is better told to come back (the API answers 503 with Retry-After).
 */
import argon2 from 'argon2';
import { HasherBusyError, type PasswordHasher } from '../commands/ports/password-hasher.js';

export interface Argon2Options {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  maxConcurrent: number;
  /** Hashes allowed to wait for a slot; more are refused with HasherBusyError. Default 64. */
  maxQueue?: number;
}

export const DEFAULT_ARGON2_MAX_QUEUE = 64;

class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number, private readonly maxWaiting: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) throw new HasherBusyError();
      // The finishing task hands its slot over (active stays counted), so no newcomer slips in between.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export function createArgon2Hasher(opts: Argon2Options): PasswordHasher {
  const params = { type: argon2.argon2id, memoryCost: opts.memoryKiB, timeCost: opts.timeCost, parallelism: opts.parallelism };
  const gate = new Semaphore(opts.maxConcurrent, opts.maxQueue ?? DEFAULT_ARGON2_MAX_QUEUE);
  let dummy: Promise<string> | undefined;
  const verify = (hash: string, password: string): Promise<boolean> =>
    gate.run(() => argon2.verify(hash, password).catch(() => false));
  return {
    hash: (password) => gate.run(() => argon2.hash(password, params)),
    verify,
    needsRehash: (hash) => argon2.needsRehash(hash, params),
    async verifyDummy(password) {
      // A refused first hash must not be remembered: the next caller tries again.
      dummy ??= gate.run(() => argon2.hash('dummy-password-for-timing', params)).catch((err: unknown) => {
        dummy = undefined;
        throw err;
      });
      await verify(await dummy, password);
    },
  };
}
