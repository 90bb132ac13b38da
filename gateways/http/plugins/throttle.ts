/**
 * Login and registration throttling, after OWASP's authentication guidance: an attacker must not be
 * able to lock an owner out of their account by failing on purpose. So login counts
 *
 * - every attempt per address (request.ip, which trustProxy decides): spraying many usernames from
 *   one address runs into this limit, and so does burning argon2 time with one known password;
 * - failures per account+address pair: an address that keeps failing on one account is refused
 *   (429) for the rest of the window, other addresses are not;
 * - failures per account, from any address: past the per-account limit each further attempt on the
 *   account waits before its password is checked, twice as long per failure (capped). The owner's
 *   correct password from an address that is not itself throttled still succeeds, only later.
 *
 * Accounts are keyed by the normalized username whether or not the account exists, so neither a
 * refusal nor a delay tells who exists. Registrations count every attempt per address.
 */
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { normalizeUsername } from '../../../domain/username.js';
import type { Logger } from 'pino';
import type { HttpConfig, LoginSlowdown } from '../config.js';
import { ApiError } from '../errors.js';
import { throttleStore, type Counter, type ThrottleCounters } from '../rate-limit-store.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoginAttempt {
  /** Call once the password was judged: a failure stays counted, anything else is given back. */
  settle(failed: boolean): Promise<void>;
}

export interface Throttles {
  /**
   * Counts a login attempt, or throws 429 RATE_LIMITED (with Retry-After); may wait first (slowdown).
   * `username` is the account when it is not in the body: a password re-entered to erase one's
   * account is a login attempt too, or a stolen session could guess the password through it.
   */
  login(request: FastifyRequest, reply: FastifyReply, username?: string): Promise<LoginAttempt>;
  /** A preHandler for registration. */
  register(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/** IPv6 clients are counted per /64, which one user (or attacker) typically holds whole. */
const addressOf = (request: FastifyRequest): string => normalizeIP(request.ip, 64);

const usernameOf = (request: FastifyRequest): string => {
  const body = request.body as { username?: unknown } | undefined;
  return typeof body?.username === 'string' ? normalizeUsername(body.username) : '';
};

/** The wait before judging an attempt on an account that already has `failures` in the window. */
export function slowdownMs(failures: number, freeFailures: number, slowdown: LoginSlowdown): number {
  if (failures < freeFailures || slowdown.maxMs <= 0) return 0;
  // The exponent is capped only so the arithmetic stays finite; maxMs is the real cap.
  return Math.min(slowdown.baseMs * 2 ** Math.min(failures - freeFailures, 30), slowdown.maxMs);
}


const settled: LoginAttempt = { settle: async () => {} };

export interface ThrottleOptions {
  config: HttpConfig;
  redis: Redis | null;
  logger: Logger;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The login and registration throttles (plugins/throttle.ts); routes reach them as RouteContext.throttle. */
    throttle: Throttles;
  }
}

/** Decorates the app with `throttle`; the counters live in Redis when one is given, else in this process. */
export const throttlePlugin = fp<ThrottleOptions>(
  async (app, opts) => {
    app.decorate('throttle', createThrottles(opts));
  },
  { name: 'throttle' },
);

export function createThrottles(opts: ThrottleOptions): Throttles {
  const limits = opts.config.loginRateLimit;
  if (limits === false) return { login: async () => settled, register: async () => {} };
  const store: ThrottleCounters = throttleStore({
    redis: opts.redis, keyPrefix: opts.config.redisKeyPrefix, timeoutMs: opts.config.cacheTimeoutMs, logger: opts.logger,
  });

  const take = async (reply: FastifyReply, counters: Counter[], windowMs: number) => {
    const result = await store.take(counters, windowMs);
    if (!result.allowed) {
      const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      reply.header('retry-after', String(seconds));
      throw new ApiError('RATE_LIMITED', `Too many attempts; retry in ${seconds} s.`, { retryAfterSeconds: seconds });
    }
    return result;
  };

  return {
    async login(request, reply, username) {
      const address = addressOf(request);
      const user = username !== undefined ? normalizeUsername(username) : usernameOf(request);
      // The address's own window may differ from the account's; each take uses one window, so two takes.
      await take(reply, [{ key: `login-ip:${address}`, max: limits.perAddress.max }], limits.perAddress.windowMs);
      // normalizeIP never yields '|', so the pair key is unambiguous whatever the username holds.
      const pairKey = `login-pair:${address}|${user}`;
      const userKey = `login-user:${user}`;
      const counted = await take(reply, [{ key: pairKey, max: limits.perAccount.max }, { key: userKey, max: 0 }], limits.perAccount.windowMs);
      const wait = slowdownMs(counted.before[1] ?? 0, limits.perAccount.max, opts.config.loginSlowdown);
      if (wait > 0) await sleep(wait);
      return { settle: async (failed) => { if (!failed) await counted.refund([pairKey, userKey]); } };
    },
    async register(request, reply) {
      await take(reply, [{ key: `register-ip:${addressOf(request)}`, max: limits.perAddress.max }], limits.perAddress.windowMs);
    },
  };
}
