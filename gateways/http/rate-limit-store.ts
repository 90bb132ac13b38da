/**
 * Counters of the login throttle: Redis when configured (limits hold across every API process),
 * with the process's own memory as the fallback. Fixed windows: the first count starts a key's
 * window, later ones report its remaining time.
 *
 * A take checks every limited counter and, only if none is full, counts one on each, in one atomic
 * step: concurrent attempts cannot all pass a check made before any of them was counted. A failure
 * count is therefore taken up front and given back (refund) when the attempt turns out not to be a
 * failure, so attempts in flight count as failures until they are judged.
 *
 * When Redis is down or slow the throttle neither fails open nor closed: it degrades to counting
 * in this process. Failing open would hand an attacker unlimited guesses for as long as Redis is
 * unreachable (an outage they might even cause); failing closed would turn a cache outage into
 * nobody being able to log in. Per-process counting keeps every limit in force, at worst
 * multiplied by the number of API processes, and needs no Redis to do it.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface Counter {
  key: string;
  /** The take is refused while the count is at this; 0: counted, never refused. */
  max: number;
}

export type Take =
  | {
      allowed: true;
      /** Each counter's value before this take, in the order given. */
      before: number[];
      /** Gives back this take's count on the named keys (the attempt was not a failure). */
      refund(keys: string[]): Promise<void>;
    }
  | { allowed: false; /** The full counter. */ key: string; retryAfterMs: number };

export interface ThrottleCounters {
  take(counters: Counter[], windowMs: number): Promise<Take>;
}

// KEYS: the counters; ARGV[1]: window ms; ARGV[i + 1]: the max of KEYS[i].
const TAKE_LUA = `
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[i + 1])
  if max > 0 and tonumber(redis.call('GET', key) or '0') >= max then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = window end
    return {0, i, ttl}
  end
end
local out = {1}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
  out[i + 1] = n - 1
end
return out
`;

// Never below zero: a window that ended in between starts a new count, which the refund leaves alone.
const REFUND_LUA = `
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
`;

/** In-process fixed-window counters, pruned as they expire so memory stays bounded by traffic. */
export class MemoryCounters {
  readonly #windows = new Map<string, { count: number; resetAt: number }>();
  #lastPrune = 0;

  take(counters: Counter[], windowMs: number, now = Date.now()): Take {
    if (now - this.#lastPrune > 60_000) this.#prune(now);
    for (const c of counters) {
      const w = this.#live(c.key, now);
      if (c.max > 0 && w && w.count >= c.max) return { allowed: false, key: c.key, retryAfterMs: w.resetAt - now };
    }
    const before = counters.map((c) => {
      let w = this.#live(c.key, now);
      if (!w) {
        w = { count: 0, resetAt: now + windowMs };
        this.#windows.set(c.key, w);
      }
      return w.count++;
    });
    return { allowed: true, before, refund: async (keys) => this.refund(keys) };
  }

  refund(keys: string[], now = Date.now()): void {
    for (const key of keys) {
      const w = this.#live(key, now);
      if (w && w.count > 0) w.count--;
    }
  }

  #live(key: string, now: number): { count: number; resetAt: number } | undefined {
    const w = this.#windows.get(key);
    return w && w.resetAt > now ? w : undefined;
  }

  #prune(now: number): void {
    this.#lastPrune = now;
    for (const [k, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(k);
  }
}

export interface ThrottleStoreOptions {
  redis: Redis | null;
  keyPrefix: string;
  timeoutMs: number;
  logger: Logger;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}

export function throttleStore(opts: ThrottleStoreOptions): ThrottleCounters {
  const local = new MemoryCounters();
  let lastWarn = 0;
  const warn = (err: unknown): void => {
    const now = Date.now();
    if (now - lastWarn < 10_000) return; // one line per 10 s, not one per login attempt
    lastWarn = now;
    opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'login throttle: Redis unavailable, counting in this process');
  };
  const redisKey = (key: string): string => `${opts.keyPrefix}throttle:${key}`;

  return {
    async take(counters, windowMs) {
      const redis = opts.redis;
      if (!redis) return local.take(counters, windowMs);
      let reply: number[];
      try {
        const keys = counters.map((c) => redisKey(c.key));
        const args = [String(windowMs), ...counters.map((c) => String(c.max))];
        reply = (await withTimeout(redis.eval(TAKE_LUA, keys.length, ...keys, ...args) as Promise<number[]>, opts.timeoutMs)).map(Number);
      } catch (err) {
        warn(err);
        return local.take(counters, windowMs);
      }
      if (reply[0] === 0) return { allowed: false, key: counters[reply[1]! - 1]!.key, retryAfterMs: reply[2]! };
      return {
        allowed: true,
        before: reply.slice(1),
        async refund(keys) {
          if (keys.length === 0) return;
          try {
            await withTimeout(redis.eval(REFUND_LUA, keys.length, ...keys.map(redisKey)), opts.timeoutMs);
          } catch (err) {
            // The attempt stays counted as a failure: the safe side of a lost refund.
            warn(err);
          }
        },
      };
    },
  };
}
