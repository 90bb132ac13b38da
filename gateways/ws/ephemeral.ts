/**
 * Typing and presence for one gateway process, wired together: the bus (given, or an in-process one
 * for a gateway on its own), the presence hub and the typing notices. server.ts calls in on socket
 * open and close and for `typing` and `watch` frames.
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import type { Logger } from 'pino';
import { DEFAULT_PRESENCE_SETTINGS, type PresenceBus, type PresenceBusStats } from '../ports/presence.js';
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
  /** Redis across processes, or one in this process (the composition root chooses: gateways/service/ws-wiring.ts). */
  bus: PresenceBus;
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
  const bus = d.bus;
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
