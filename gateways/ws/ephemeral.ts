/**
 * Typing and presence for one gateway process, wired together: the bus (given, or an in-process one
 * for a gateway on its own), the presence hub and the typing notices. server.ts calls in on socket
 * open and close and for `typing` and `watch` frames.
 */
import type { Config } from '../../infra/config.js';
import type { EventStore } from '../../infra/event-store/port.js';
import type { Logger } from '../../infra/logger.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';
import { DEFAULT_PRESENCE_SETTINGS, type PresenceBus, type PresenceBusStats } from '../../infra/presence/port.js';
import { RedisPresenceBus } from '../../infra/presence/redis.js';
import { chatExistence } from './chat-exists.js';
import type { Conn, Outbox } from './connection.js';
import { PresenceHub, type PresenceCounters } from './presence.js';
import type { TypingFrame, WatchFrame } from './protocol.js';
import { DEFAULT_TYPING_SETTINGS, Typing, type TypingCounters, type TypingSettings } from './typing.js';

export interface EphemeralSettings {
  typing: TypingSettings;
  /** How long a user stays online after their last socket here closed (PRESENCE_GRACE_MS). */
  graceMs: number;
}

export interface EphemeralStats extends TypingCounters, PresenceCounters {
  bus: PresenceBusStats;
  localUsers: number;
  watchedUsers: number;
}

export interface EphemeralDeps {
  store: EventStore;
  /** Null: an in-process bus (presence and typing within this process only). */
  bus: PresenceBus | null;
  settings?: Partial<EphemeralSettings>;
  outbox: Outbox;
  connsOf: (userId: string) => Iterable<Conn>;
  logger: Logger;
}

export interface Ephemeral {
  start(): Promise<void>;
  connected(conn: Conn): void;
  disconnected(conn: Conn): void;
  frame(conn: Conn, frame: TypingFrame | WatchFrame): Promise<void>;
  stats(): EphemeralStats;
  close(): Promise<void>;
}

export function createEphemeral(d: EphemeralDeps): Ephemeral {
  const settings: EphemeralSettings = { typing: DEFAULT_TYPING_SETTINGS, graceMs: DEFAULT_PRESENCE_SETTINGS.graceMs, ...d.settings };
  const bus = d.bus ?? new MemoryPresenceBus();
  const exists = chatExistence(d.store);
  const counters: TypingCounters & PresenceCounters = { typingAccepted: 0, typingRefused: 0, typingDelivered: 0, watches: 0, presenceFramesSent: 0 };
  const hub = new PresenceHub({ bus, outbox: d.outbox, exists, graceMs: settings.graceMs, counters, logger: d.logger });
  const typing = new Typing({ bus, outbox: d.outbox, exists, connsOf: d.connsOf, settings: settings.typing, counters, logger: d.logger });
  let localUsers = 0;
  return {
    start: () => bus.start({ presence: hub.onChange, typing: typing.deliver, recovered: hub.recovered }, () => hub.localUsers()),
    connected: (conn) => hub.connected(conn),
    disconnected: (conn) => hub.disconnected(conn),
    frame: (conn, frame) => (frame.type === 'typing' ? typing.handle(conn, frame) : hub.watch(conn, frame)),
    stats: () => {
      localUsers = 0;
      for (const _ of hub.localUsers()) localUsers++;
      return { ...counters, bus: bus.stats(), localUsers, watchedUsers: hub.watchedUsers };
    },
    close: () => hub.close(),
  };
}

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
