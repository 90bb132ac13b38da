/**
 * A budget for state-changing API requests per signed-in user (POST, PATCH, PUT, DELETE on routes that
 * need a session): sends, chats started, opens, read marks, edits, deletes, tickets. A socket is held
 * to WS_RATE_PER_SEC with a burst of WS_RATE_BURST; without this the same session could write through
 * HTTP without limit and every write appends to the log. Past the budget a write is 429 RATE_LIMITED
 * with Retry-After and changes nothing. Logging out is never limited (ending a session must always
 * work); login, registration and erasure have throttles of their own (plugins/throttle.ts).
 *
 * Counted in this process with @fastify/rate-limit's fixed windows, keyed by user id, after
 * authentication (preHandler): N API processes behind a balancer allow up to N budgets, as N gateway
 * processes do for sockets.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { HttpConfig } from '../config.js';
import { ApiError } from '../errors.js';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const UNLIMITED = new Set(['/api/logout']);

const isLimitedWrite = (request: FastifyRequest): boolean =>
  WRITES.has(request.method) && request.auth !== null && !UNLIMITED.has(request.routeOptions.url ?? '');

export const writeLimitPlugin = fp<{ config: HttpConfig }>(
  async (app, { config }) => {
    const limit = config.writeRateLimit;
    if (limit === false || limit.max <= 0) return;
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: limit.max,
      timeWindow: limit.windowMs,
      allowList: (request) => !isLimitedWrite(request),
      keyGenerator: (request) => request.auth?.session.userId ?? '',
      // Only the refusal's Retry-After: no counters on every write.
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
      errorResponseBuilder: (_request, context) => {
        const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
        return new ApiError('RATE_LIMITED', `Too many writes; retry in ${seconds} s.`, { retryAfterSeconds: seconds });
      },
    });
  },
  { name: 'write-limit', dependencies: ['auth'] },
);
