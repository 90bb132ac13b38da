/**
 * Presence across gateway processes in Redis (7.0: no per-field TTL, so liveness is one sorted set
 * of processes by expiry time), with pub/sub for the fan-out of changes and typing notices.
 *
 * Keys (under the deployment's prefix; one Redis, not a cluster: the scripts build key names):
 *   <p>presence:nodes         sorted set: process id → expiry (ms, Redis clock); refreshed every ttl/3
 *   <p>presence:beat          hash: process id → its last heartbeat (ms): the last-seen of its users if it dies
 *   <p>presence:node:<id>     set: users with a socket on that process
 *   <p>presence:user:<u>      set: processes the user has a socket on
 *   <p>presence:seen:<u>      last-seen (ms), with a long TTL (PRESENCE_LAST_SEEN_DAYS)
 *   channel <p>presence:events  JSON: {"t":"p","u":…,"on":0|1,"seen":ms?} and {"t":"t","c":chatId,"u":…}
 *
 * A user is online while one of the processes in their set has not expired. Each script runs
 * atomically and publishes the change itself, so exactly one "online" and one "offline" go out per
 * transition, whichever process causes it. A process that dies stops refreshing its expiry; the next
 * heartbeat of any other process reaps it (its users without another live process go offline, last
 * seen at its final heartbeat). A process whose entry vanished (reaped after a long pause, or Redis
 * restarted empty) finds out at its next heartbeat and announces its users again.
 *
 * The scripts are in redis-scripts.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisSentinelConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedisClient } from '../redis-client.js';
import { definePresenceScripts, type Scripts } from './redis-scripts.js';
import type { PresenceBus, PresenceBusHandlers, PresenceBusStats, PresenceSettings, PresenceState, TypingNotice } from '../../gateways/ports/presence.js';

export interface RedisPresenceOptions {
  url: string;
  /** config.redisSentinel: connect to the primary the sentinels name (then `url` gives only credentials). */
  sentinel?: RedisSentinelConfig | undefined;
  keyPrefix: string;
  commandTimeoutMs: number;
  settings: PresenceSettings;
  logger: Logger;
  /** For tests and the benchmark; a random UUID by default. */
  nodeId?: string;
}

/** How long the per-process and per-user sets outlive their last refresh: garbage of a process nobody reaped. */
const SET_TTL_MS = 24 * 3600_000;
const REAP_BATCH = 20;

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface BusMessage {
  t?: unknown;
  u?: unknown;
  on?: unknown;
  seen?: unknown;
  c?: unknown;
}

export class RedisPresenceBus implements PresenceBus {
  readonly kind = 'redis' as const;
  readonly nodeId: string;
  readonly #redis: Redis & Scripts;
  readonly #sub: Redis;
  readonly #o: RedisPresenceOptions;
  readonly #p: string;
  readonly #channel: string;
  readonly #nodesKey: string;
  readonly #beatKey: string;
  #handlers: PresenceBusHandlers | null = null;
  #localUsers: () => Iterable<string> = () => [];
  #timer: NodeJS.Timeout | null = null;
  #beating: Promise<void> | null = null;
  /** An operation failed since the last full announcement: announce again at the next heartbeat. */
  #dirty = false;
  /** The subscriber was disconnected: notices may have been missed. */
  #subLost = false;
  #closed = false;
  #warnedDown = false;
  readonly #stats: PresenceBusStats = { kind: 'redis', available: false, onlineCalls: 0, offlineCalls: 0, queries: 0, typingPublished: 0, failures: 0, reapedNodes: 0, commandsSent: 0 };

  constructor(o: RedisPresenceOptions) {
    this.#o = o;
    this.nodeId = o.nodeId ?? randomUUID();
    this.#p = `${o.keyPrefix}presence:`;
    this.#channel = `${this.#p}events`;
    this.#nodesKey = `${this.#p}nodes`;
    this.#beatKey = `${this.#p}beat`;
    const common = {
      lazyConnect: true,
      // Presence must never hold anything up: a command fails at once while Redis is away.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
    };
    const endpoint = { url: o.url, sentinel: o.sentinel };
    this.#redis = definePresenceScripts(createRedisClient(endpoint, { ...common, commandTimeout: Math.max(o.commandTimeoutMs, 1000) }));
    // The subscriber needs its offline queue: ioredis re-subscribes through it after a reconnect.
    this.#sub = createRedisClient(endpoint, { lazyConnect: true, retryStrategy: common.retryStrategy, maxRetriesPerRequest: null });
    this.#redis.on('error', (err: unknown) => this.#down(err));
    this.#sub.on('error', (err: unknown) => this.#down(err));
    this.#sub.on('close', () => { this.#subLost = true; });
    this.#sub.on('ready', () => {
      if (this.#subLost) {
        this.#subLost = false;
        this.#handlers?.recovered();
      }
    });
    this.#sub.on('message', (_channel: string, text: string) => this.#onMessage(text));
  }

  static fromConfig(
    config: { redisUrl: string | undefined; redisSentinel?: RedisSentinelConfig | undefined; redisKeyPrefix: string; redisCommandTimeoutMs: number; presence: PresenceSettings },
    logger: Logger,
  ): RedisPresenceBus | null {
    if (config.redisUrl === undefined) return null;
    return new RedisPresenceBus({ url: config.redisUrl, sentinel: config.redisSentinel, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.redisCommandTimeoutMs, settings: config.presence, logger });
  }

  async start(handlers: PresenceBusHandlers, localUsers: () => Iterable<string>): Promise<void> {
    this.#handlers = handlers;
    this.#localUsers = localUsers;
    // Redis being down at start must not stop the gateway: presence comes up when Redis does. The
    // subscription waits in the subscriber's queue until it connects, and ioredis renews it after
    // every reconnect.
    const subConnected = this.#sub.connect().then(() => true, (err: unknown) => { this.#down(err); return false; });
    const subscribed = this.#sub.subscribe(this.#channel).catch((err: unknown) => this.#down(err));
    await Promise.all([this.#redis.connect().catch((err: unknown) => this.#down(err)), subConnected]);
    if (await subConnected) await subscribed;
    else this.#subLost = true; // a `ready` later means notices may have been missed: ask again then
    await this.#beat();
    const every = Math.max(100, Math.floor(this.#o.settings.ttlMs / 3));
    this.#timer = setInterval(() => { if (!this.#beating) this.#beating = this.#beat().finally(() => { this.#beating = null; }); }, every);
    this.#timer.unref();
  }

  online(userId: string): void {
    this.#stats.onlineCalls++;
    if (this.#dirty) return; // the next heartbeat announces every local user
    this.#stats.commandsSent++;
    this.#redis.prOnline(this.#nodesKey, this.#nodeKey, this.#userKey(userId), this.nodeId, userId, this.#channel, String(SET_TTL_MS))
      .catch((err: unknown) => this.#failed(err));
  }

  offline(userId: string, agoMs: number): void {
    this.#stats.offlineCalls++;
    if (this.#dirty) return;
    this.#stats.commandsSent++;
    this.#redis.prOffline(this.#nodesKey, this.#nodeKey, this.#userKey(userId), `${this.#p}seen:${userId}`, this.nodeId, userId, this.#channel, String(this.#seenTtlMs), String(Math.max(0, Math.round(agoMs))))
      .catch((err: unknown) => this.#failed(err));
  }

  async query(userIds: readonly string[]): Promise<Map<string, PresenceState> | null> {
    this.#stats.queries++;
    const out = new Map<string, PresenceState>();
    if (userIds.length === 0) return out;
    this.#stats.commandsSent++;
    try {
      const r = await this.#redis.prQuery(this.#nodesKey, this.#beatKey, this.#p, ...userIds);
      userIds.forEach((u, i) => {
        const seen = r[i * 2 + 1];
        out.set(u, { online: r[i * 2] === 1, lastSeen: seen === '' || seen === undefined ? null : Number(seen) });
      });
      return out;
    } catch (err) {
      // A read changes nothing: no need to announce again.
      this.#failed(err, false);
      return null;
    }
  }

  publishTyping(notice: TypingNotice): void {
    this.#stats.typingPublished++;
    this.#stats.commandsSent++;
    this.#redis.publish(this.#channel, JSON.stringify({ t: 't', c: notice.chatId, u: notice.userId }))
      .catch((err: unknown) => this.#failed(err, false));
  }

  stats(): PresenceBusStats {
    return { ...this.#stats, available: this.#redis.status === 'ready' };
  }

  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#beating;
    this.#handlers = null;
    try {
      if (this.#redis.status === 'ready') await this.#redis.prLeave(this.#nodesKey, this.#beatKey, this.nodeId, String(graceMs));
    } catch (err) {
      this.#o.logger.warn({ err: errText(err) }, 'presence: could not leave; this process\'s users turn offline when its entry expires');
    }
    this.#redis.disconnect();
    this.#sub.disconnect();
  }

  // ---- internals ----

  get #nodeKey(): string {
    return `${this.#p}node:${this.nodeId}`;
  }
  #userKey(userId: string): string {
    return `${this.#p}user:${userId}`;
  }
  get #seenTtlMs(): number {
    return this.#o.settings.lastSeenDays * 86_400_000;
  }

  /** Refreshes this process's expiry, re-announces its users if needed, and reaps dead processes. */
  async #beat(): Promise<void> {
    if (this.#closed) return;
    try {
      const wasDirty = this.#dirty;
      this.#stats.commandsSent += 2; // the heartbeat and the reap
      const known = await this.#redis.prBeat(this.#nodesKey, this.#beatKey, this.#nodeKey, this.nodeId, String(this.#o.settings.ttlMs), String(SET_TTL_MS));
      if (known === 0 || wasDirty) await this.#announce();
      const reaped = await this.#redis.prReap(this.#nodesKey, this.#beatKey, this.#p, this.#channel, String(this.#seenTtlMs), String(REAP_BATCH));
      this.#stats.reapedNodes += reaped;
      if (reaped > 0) this.#o.logger.info({ reaped }, 'presence: expired gateway processes reaped; their users are offline');
      if (this.#warnedDown) {
        this.#warnedDown = false;
        this.#o.logger.info('presence: Redis is back');
      }
      if (wasDirty) this.#handlers?.recovered();
    } catch (err) {
      this.#failed(err);
    }
  }

  /** Makes Redis's set of this process's users equal to the local one (after a loss or an outage). */
  async #announce(): Promise<void> {
    this.#dirty = false;
    const local = new Set(this.#localUsers());
    const remote = new Set(await this.#redis.smembers(this.#nodeKey));
    this.#stats.commandsSent++;
    const pipe = this.#redis.pipeline() as unknown as { exec(): Promise<Array<[Error | null, unknown]> | null> } & {
      prOnline: (...a: string[]) => unknown;
      prOffline: (...a: string[]) => unknown;
    };
    let n = 0;
    for (const u of local) {
      // Also for users already listed: their own set may have lost this process (a reap).
      pipe.prOnline(this.#nodesKey, this.#nodeKey, this.#userKey(u), this.nodeId, u, this.#channel, String(SET_TTL_MS));
      n++;
    }
    for (const u of remote) {
      if (local.has(u)) continue;
      // Gone while Redis was away: last seen is not known better than now.
      pipe.prOffline(this.#nodesKey, this.#nodeKey, this.#userKey(u), `${this.#p}seen:${u}`, this.nodeId, u, this.#channel, String(this.#seenTtlMs), '0');
      n++;
    }
    if (n === 0) return;
    this.#stats.commandsSent += n;
    const results = await pipe.exec();
    const failed = results?.find(([e]) => e !== null);
    if (failed) throw failed[0];
  }

  #onMessage(text: string): void {
    const h = this.#handlers;
    if (!h) return;
    let m: BusMessage;
    try {
      m = JSON.parse(text) as BusMessage;
    } catch {
      return;
    }
    if (typeof m.u !== 'string') return;
    if (m.t === 'p') {
      h.presence({ userId: m.u, online: m.on === 1, lastSeen: typeof m.seen === 'number' ? m.seen : null });
    } else if (m.t === 't' && typeof m.c === 'string') {
      h.typing({ chatId: m.c, userId: m.u });
    }
  }

  /** An operation failed: presence is announced again in full once Redis answers. */
  #failed(err: unknown, markDirty = true): void {
    this.#stats.failures++;
    if (markDirty) this.#dirty = true;
    this.#down(err);
  }

  #down(err: unknown): void {
    if (this.#warnedDown || this.#closed) return;
    this.#warnedDown = true;
    this.#o.logger.warn({ err: errText(err) }, 'presence: Redis unreachable; typing and presence are off until it is back');
  }
}
