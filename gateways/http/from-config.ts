/**
 * The HTTP settings and session policy that infra/config.ts already provides. Settings without an
 * environment variable yet keep their defaults (gateways/http/config.ts, infra/sessions/port.ts).
 */
import type { Config } from '../../infra/config.js';
import type { HttpConfig } from './config.js';

export function httpConfigFrom(config: Config): Partial<HttpConfig> {
  return {
    redisKeyPrefix: config.redisKeyPrefix,
    cacheTimeoutMs: config.redisCommandTimeoutMs,
  };
}
