/**
 * The HTTP settings and session policy, from infra/config.ts. Settings without an environment
 * variable keep their defaults (gateways/http/config.ts, infra/sessions/port.ts).
 */
import type { Config } from '../../infra/config.js';
import { DEFAULT_HTTP_CONFIG, type HttpConfig } from '../http/config.js';

export function httpConfigFrom(config: Config): Partial<HttpConfig> {
  return {
    redisKeyPrefix: config.redisKeyPrefix,
    cacheTimeoutMs: config.redisCommandTimeoutMs,
    cookieSecure: config.web.cookieSecure,
    allowedOrigins: config.web.allowedOrigins,
    trustProxy: config.web.trustProxy,
    maxConnections: config.http.maxConnections,
    maxConnectionsPerAddress: config.http.maxConnectionsPerAddress,
    loginRateLimit: {
      perAccount: { max: config.loginThrottle.perAccount, windowMs: config.loginThrottle.windowMinutes * 60_000 },
      perAddress: { max: config.loginThrottle.perAddress, windowMs: config.loginThrottle.windowMinutes * 60_000 },
    },
    loginSlowdown: { ...DEFAULT_HTTP_CONFIG.loginSlowdown, maxMs: config.loginThrottle.maxDelayMs },
    // API_WRITE_MAX=0 turns it off (plugins/write-limit.ts).
    writeRateLimit: config.http.writeLimit,
  };
}

export function sessionPolicyFrom(config: Config): { idleTimeoutMs: number; absoluteTimeoutMs: number } {
  return { idleTimeoutMs: config.sessions.idleMinutes * 60_000, absoluteTimeoutMs: config.sessions.absoluteHours * 3_600_000 };
}
