/**
 * Login and registration throttling with @fastify/rate-limit: per address (request.ip, which
 * trustProxy decides) and per account (the normalized username, so case variants share a counter).
 * Every attempt counts, successful or not; the counters live in Redis when configured (see
 * ../rate-limit-store.ts for what happens when Redis is down).
 *
 * The hooks use createRateLimit rather than route-level rateLimit config because a route can only
 * carry one route-level limiter, and the per-account key needs the parsed body.
 */
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { normalizeUsername } from '../../../domain/username.js';
import type { Logger } from '../../../infra/logger.js';
import type { HttpConfig, RateLimitWindow } from '../config.js';
import { ApiError } from '../errors.js';
import { throttleStore } from '../rate-limit-store.js';

export type Throttle = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/** IPv6 clients are counted per /64, which one user (or attacker) typically holds whole. */
const addressOf = (request: FastifyRequest): string => normalizeIP(request.ip, 64);

const usernameOf = (request: FastifyRequest): string => {
  const body = request.body as { username?: unknown } | undefined;
  return typeof body?.username === 'string' ? normalizeUsername(body.username) : '';
};

export async function installThrottle(
  app: FastifyInstance,
  opts: { config: HttpConfig; redis: Redis | null; logger: Logger },
): Promise<{ login: Throttle; register: Throttle }> {
  const limits = opts.config.loginRateLimit;
  if (limits === false) {
    const none: Throttle = async () => {};
    return { login: none, register: none };
  }
  await app.register(rateLimit, {
    global: false,
    store: throttleStore({ redis: opts.redis, keyPrefix: opts.config.redisKeyPrefix, timeoutMs: opts.config.cacheTimeoutMs, logger: opts.logger }),
  });
  const limiter = (name: string, window: RateLimitWindow, key: (r: FastifyRequest) => string): Limiter =>
    app.createRateLimit({ max: window.max, timeWindow: window.windowMs, keyGenerator: (r) => `${name}:${key(r)}` });

  const check = async (request: FastifyRequest, reply: FastifyReply, limiters: Limiter[]): Promise<void> => {
    for (const limit of limiters) {
      const result = await limit(request);
      if (!result.isAllowed && result.isExceeded) {
        reply.header('retry-after', String(result.ttlInSeconds));
        throw new ApiError('RATE_LIMITED', `Too many attempts; retry in ${result.ttlInSeconds} s.`, { retryAfterSeconds: result.ttlInSeconds });
      }
    }
  };
  const loginLimiters = [
    limiter('login-ip', limits.perAddress, addressOf),
    limiter('login-user', limits.perAccount, usernameOf),
  ];
  const registerLimiters = [limiter('register-ip', limits.perAddress, addressOf)];
  return {
    login: (request, reply) => check(request, reply, loginLimiters),
    register: (request, reply) => check(request, reply, registerLimiters),
  };
}
