/**
 * Counter store for @fastify/rate-limit: Redis when configured (limits hold across every API
 * process), with the process's own memory as the fallback.
 *
 * When Redis is down or slow the throttle neither fails open nor closed: it degrades to counting
 * in this process. Failing open would hand an attacker unlimited guesses for as long as Redis is
 * unreachable (an outage they might even cause); failing closed would turn a cache outage into
 * nobody being able to log in. Per-process counting keeps every limit in force, at worst
 * multiplied by the number of API processes, and needs no Redis to do it.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from '../../infra/logger.js';

type IncrCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

// Fixed window: the first hit starts the window; later hits report its remaining time.
const INCR_LUA = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}
`;

/** In-process fixed-window counters, pruned as they expire so memory stays bounded by traffic. */
export class MemoryCounters {
  readonly #windows = new Map<string, { count: number; resetAt: number }>();
  #lastPrune = 0;

  incr(key: string, windowMs: number, now = Date.now()): { current: number; ttl: number } {
    if (now - this.#lastPrune > 60_000) this.#prune(now);
    let w = this.#windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + windowMs };
      this.#windows.set(key, w);
    }
    w.count++;
    return { current: w.count, ttl: w.resetAt - now };
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

/** Builds the store class @fastify/rate-limit instantiates (it takes a constructor, so options travel by closure). */
export function throttleStore(opts: ThrottleStoreOptions): FastifyRateLimitStoreCtor {
  const local = new MemoryCounters();
  let lastWarn = 0;
  const warn = (err: unknown): void => {
    const now = Date.now();
    if (now - lastWarn < 10_000) return; // one line per 10 s, not one per login attempt
    lastWarn = now;
    opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'login throttle: Redis unavailable, counting in this process');
  };

  class ThrottleStore implements FastifyRateLimitStore {
    incr(key: string, callback: IncrCallback, timeWindow: number): void {
      const redis = opts.redis;
      if (!redis) {
        callback(null, local.incr(key, timeWindow));
        return;
      }
      const redisKey = `${opts.keyPrefix}throttle:${key}`;
      withTimeout(redis.eval(INCR_LUA, 1, redisKey, String(timeWindow)) as Promise<[number, number]>, opts.timeoutMs).then(
        ([current, ttl]) => callback(null, { current: Number(current), ttl: Number(ttl) }),
        (err: unknown) => {
          warn(err);
          callback(null, local.incr(key, timeWindow));
        },
      );
    }

    child(): FastifyRateLimitStore {
      return this; // keys already name their limiter
    }
  }
  return ThrottleStore;
}
