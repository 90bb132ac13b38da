/**
 * Presence and typing between gateway processes. Both are ephemeral: never domain events, never in
 * the event log. The gateway decides *when* a user is online on its process (first socket open,
 * last socket closed plus a grace); the bus merges that across processes, remembers when each
 * user was last seen, and carries presence changes and typing notices to every process.
 *
 * Adapters: memory.ts (one process: the embedded default) and redis.ts (many processes: a key per
 * process with a time to live, pub/sub for the fan-out).
 */

/** What a watcher may know of a user. */
export interface PresenceState {
  online: boolean;
  /** When (ms since the epoch) the user's last socket anywhere closed; null when not known. */
  lastSeen: number | null;
}

export interface PresenceChange extends PresenceState {
  userId: string;
}

export interface TypingNotice {
  chatId: string;
  /** Who is typing. */
  userId: string;
}

export interface PresenceBusHandlers {
  /** A user went online or offline somewhere (this process included). */
  presence(change: PresenceChange): void;
  /** Someone is typing in a chat, on whichever process. */
  typing(notice: TypingNotice): void;
  /** Changes may have been missed (the bus was unreachable and is back): watchers should ask again. */
  recovered(): void;
}

export interface PresenceBusStats {
  kind: 'memory' | 'redis';
  /** Whether the bus can be used right now (Redis connected). */
  available: boolean;
  onlineCalls: number;
  offlineCalls: number;
  queries: number;
  typingPublished: number;
  /** Operations that failed (Redis down); presence is re-announced when it is back. */
  failures: number;
  /** Dead processes whose users this process turned offline. */
  reapedNodes: number;
  /** Commands sent to Redis (a script counts once), heartbeats and re-announcements included. */
  commandsSent: number;
}

export interface PresenceBus {
  readonly kind: 'memory' | 'redis';
  /**
   * Starts: registers this process and listens for changes. `localUsers` lists the users that have
   * a socket on this process now; the bus re-announces them after it lost its state (Redis restart).
   */
  start(handlers: PresenceBusHandlers, localUsers: () => Iterable<string>): Promise<void>;
  /** The user's first socket on this process. Never throws; a failure is repaired later. */
  online(userId: string): void;
  /** The user's last socket on this process closed `agoMs` ago (its grace is over): last seen then. Never throws. */
  offline(userId: string, agoMs: number): void;
  /** Presence of these users; null when it cannot be known now (the bus is down). */
  query(userIds: readonly string[]): Promise<Map<string, PresenceState> | null>;
  /** Fire and forget: lost quietly when the bus is down. */
  publishTyping(notice: TypingNotice): void;
  stats(): PresenceBusStats;
  /**
   * Leaves: this process's users stay online for `graceMs` more (so clients moving to another
   * process do not flicker offline), then turn offline unless they are back elsewhere.
   */
  close(graceMs: number): Promise<void>;
}

export interface PresenceSettings {
  /** Time to live of a process's presence; refreshed every third of it while the process runs. */
  ttlMs: number;
  /** How long a user stays online after their last socket closed. */
  graceMs: number;
  /** How long "last seen" is kept. */
  lastSeenDays: number;
}

export const DEFAULT_PRESENCE_SETTINGS: PresenceSettings = { ttlMs: 15_000, graceMs: 3_000, lastSeenDays: 90 };
