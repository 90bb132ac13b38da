/**
 * The WebSocket gateway's typing and presence, from the Config: the bus it talks to and its settings.
 */
import type { Logger } from 'pino';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';
import type { PresenceBus } from '../ports/presence.js';
import { RedisPresenceBus } from '../../infra/presence/redis.js';
import type { EphemeralSettings } from '../ws/ephemeral.js';
import type { Config } from './config.js';

/** The gateway's typing and presence settings from the Config (PRESENCE_*, TYPING_*). */
export function ephemeralSettingsFrom(config: Pick<Config, 'presence' | 'typing'>): EphemeralSettings {
  return { typing: { ...config.typing }, graceMs: config.presence.graceMs };
}

/**
 * The presence bus a process should use: Redis when configured (every gateway process shares it),
 * else one in this process, keeping last-seen times in `lastSeenFile` when given (the embedded
 * service puts it in DATA_DIR, so they survive a restart).
 */
export function openPresenceBus(config: Pick<Config, 'redisUrl' | 'redisKeyPrefix' | 'redisCommandTimeoutMs' | 'presence'> & Partial<Pick<Config, 'redisSentinel'>>, logger: Logger, lastSeenFile?: string): PresenceBus {
  return RedisPresenceBus.fromConfig(config, logger)
    ?? new MemoryPresenceBus({ ...(lastSeenFile ? { lastSeenFile } : {}), lastSeenDays: config.presence.lastSeenDays, logger });
}
