/**
 * The presence bus of a single process (the embedded default): who is online is who has a socket
 * here, and notices go straight to the handlers. Last-seen times live in memory unless a file is
 * given (the embedded service keeps them in DATA_DIR, so they survive a restart).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateDir } from '../data-dir.js';
import type { Logger } from '../logger.js';
import type { PresenceBus, PresenceBusHandlers, PresenceBusStats, PresenceState, TypingNotice } from '../../gateways/ports/presence.js';

export interface MemoryPresenceOptions {
  /** A JSON file of last-seen times, written (atomically, at most once a second) after changes. */
  lastSeenFile?: string;
  lastSeenDays?: number;
  logger?: Logger;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class MemoryPresenceBus implements PresenceBus {
  readonly kind = 'memory' as const;
  readonly #online = new Set<string>();
  readonly #lastSeen = new Map<string, number>();
  readonly #opts: MemoryPresenceOptions;
  #handlers: PresenceBusHandlers | null = null;
  #saveTimer: NodeJS.Timeout | null = null;
  readonly #stats: PresenceBusStats = { kind: 'memory', available: true, onlineCalls: 0, offlineCalls: 0, queries: 0, typingPublished: 0, failures: 0, reapedNodes: 0, commandsSent: 0 };

  constructor(opts: MemoryPresenceOptions = {}) {
    this.#opts = opts;
    if (opts.lastSeenFile) this.#load(opts.lastSeenFile);
  }

  /** Nothing to announce again: this process is the whole truth. */
  async start(handlers: PresenceBusHandlers, _localUsers?: () => Iterable<string>): Promise<void> {
    this.#handlers = handlers;
  }

  online(userId: string): void {
    this.#stats.onlineCalls++;
    if (this.#online.has(userId)) return;
    this.#online.add(userId);
    this.#emit(() => this.#handlers?.presence({ userId, online: true, lastSeen: this.#lastSeen.get(userId) ?? null }));
  }

  offline(userId: string, agoMs: number): void {
    this.#stats.offlineCalls++;
    if (!this.#online.delete(userId)) return;
    const now = Date.now() - agoMs;
    this.#lastSeen.set(userId, now);
    this.#scheduleSave();
    this.#emit(() => this.#handlers?.presence({ userId, online: false, lastSeen: now }));
  }

  async query(userIds: readonly string[]): Promise<Map<string, PresenceState>> {
    this.#stats.queries++;
    const out = new Map<string, PresenceState>();
    for (const u of userIds) out.set(u, { online: this.#online.has(u), lastSeen: this.#lastSeen.get(u) ?? null });
    return out;
  }

  publishTyping(notice: TypingNotice): void {
    this.#stats.typingPublished++;
    this.#emit(() => this.#handlers?.typing(notice));
  }

  stats(): PresenceBusStats {
    return { ...this.#stats };
  }

  /** No grace to give: no other process can take the users over. */
  async close(_graceMs?: number): Promise<void> {
    // Every socket of this process is gone: its users were last seen now.
    const now = Date.now();
    for (const u of this.#online) this.#lastSeen.set(u, now);
    this.#online.clear();
    this.#handlers = null;
    if (this.#saveTimer) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = null;
    }
    this.#save();
  }

  /** Later, like a notice from Redis would be: a caller never sees its own notice re-entrantly. */
  #emit(fn: () => void): void {
    queueMicrotask(fn);
  }

  #load(file: string): void {
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const oldest = Date.now() - (this.#opts.lastSeenDays ?? 90) * 86_400_000;
      for (const [u, at] of Object.entries(data)) if (typeof at === 'number' && at >= oldest) this.#lastSeen.set(u, at);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.#opts.logger?.warn({ err: errText(err) }, 'presence: last-seen file unreadable; starting without it');
    }
  }

  #scheduleSave(): void {
    if (!this.#opts.lastSeenFile || this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = null;
      this.#save();
    }, 1000);
    this.#saveTimer.unref();
  }

  #save(): void {
    const file = this.#opts.lastSeenFile;
    if (!file) return;
    try {
      // DATA_DIR exists only once something wrote to it: with PostgreSQL and no Redis, this may be the first.
      ensurePrivateDir(dirname(file));
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.#lastSeen)), { mode: 0o600 });
      renameSync(tmp, file);
    } catch (err) {
      this.#opts.logger?.warn({ err: errText(err) }, 'presence: last-seen file not written');
    }
  }
}
