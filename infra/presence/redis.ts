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
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisSentinelConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedisClient } from '../redis-client.js';
import type { PresenceBus, PresenceBusHandlers, PresenceBusStats, PresenceSettings, PresenceState, TypingNotice } from '../../gateways/ports/presence.js';

// Shared by the scripts: the Redis clock (every process judges expiry by the same clock), and
// whether any process in a user's set is alive.
const LIB = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function alive_in(nodes_key, user_key, now, except)
  for _, n in ipairs(redis.call('SMEMBERS', user_key)) do
    if n ~= except then
      local exp = redis.call('ZSCORE', nodes_key, n)
      if exp and tonumber(exp) > now then return true end
    end
  end
  return false
end
`;

// KEYS: nodes, node:<id>, user:<u>. ARGV: node id, user id, channel, set ttl ms.
const ONLINE_LUA = `${LIB}
local now = now_ms()
local before = alive_in(KEYS[1], KEYS[3], now, ARGV[1])
local added = redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if added == 1 and not before then
  redis.call('PUBLISH', ARGV[3], '{"t":"p","on":1,"u":' .. cjson.encode(ARGV[2]) .. '}')
  return 1
end
return 0
`;

// KEYS: nodes, node:<id>, user:<u>, seen:<u>. ARGV: node id, user id, channel, last-seen ttl ms,
// how long ago the user's last socket closed (last seen then, not when the grace ended).
const OFFLINE_LUA = `${LIB}
local now = now_ms()
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then return 0 end
if alive_in(KEYS[1], KEYS[3], now, nil) then return 0 end
local seen = string.format('%d', now - tonumber(ARGV[5]))
redis.call('SET', KEYS[4], seen, 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[3], '{"t":"p","on":0,"seen":' .. seen .. ',"u":' .. cjson.encode(ARGV[2]) .. '}')
return 1
`;

// KEYS: nodes, beat, node:<id>. ARGV: node id, ttl ms, set ttl ms.
// 1: the process was registered; 0: it was not (first beat, reaped, or Redis lost its data).
const BEAT_LUA = `${LIB}
local now = now_ms()
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', now))
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if known then return 1 end
return 0
`;

// KEYS: nodes, beat. ARGV: key prefix (…presence:), channel, last-seen ttl ms, max nodes per call.
// Reaps expired processes; returns how many.
const REAP_LUA = `${LIB}
local now = now_ms()
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, node in ipairs(dead) do
  local beat = redis.call('HGET', KEYS[2], node) or string.format('%d', now)
  local node_key = ARGV[1] .. 'node:' .. node
  for _, u in ipairs(redis.call('SMEMBERS', node_key)) do
    local user_key = ARGV[1] .. 'user:' .. u
    redis.call('SREM', user_key, node)
    if not alive_in(KEYS[1], user_key, now, nil) then
      redis.call('SET', ARGV[1] .. 'seen:' .. u, beat, 'PX', ARGV[3])
      redis.call('PUBLISH', ARGV[2], '{"t":"p","on":0,"seen":' .. beat .. ',"u":' .. cjson.encode(u) .. '}')
    end
  end
  redis.call('DEL', node_key)
  redis.call('ZREM', KEYS[1], node)
  redis.call('HDEL', KEYS[2], node)
end
return #dead
`;

// KEYS: nodes, beat. ARGV: key prefix, then user ids. Returns online (0/1) and last-seen ('' if
// unknown) per user; a user whose processes all expired but are not reaped yet was last seen at
// the latest of their final heartbeats.
const QUERY_LUA = `${LIB}
local now = now_ms()
local out = {}
for i = 2, #ARGV do
  local user_key = ARGV[1] .. 'user:' .. ARGV[i]
  local on = 0
  local seen = tonumber(redis.call('GET', ARGV[1] .. 'seen:' .. ARGV[i]) or '0')
  for _, n in ipairs(redis.call('SMEMBERS', user_key)) do
    local exp = redis.call('ZSCORE', KEYS[1], n)
    if exp and tonumber(exp) > now then
      on = 1
    else
      local beat = tonumber(redis.call('HGET', KEYS[2], n) or '0')
      if beat > seen then seen = beat end
    end
  end
  out[#out + 1] = on
  out[#out + 1] = seen > 0 and string.format('%d', seen) or ''
end
return out
`;

// KEYS: nodes, beat. ARGV: node id, grace ms. A process leaving on purpose: it expires after the grace.
const LEAVE_LUA = `${LIB}
local now = now_ms()
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', now))
return 1
`;

interface Scripts {
  prOnline(nodes: string, node: string, user: string, nodeId: string, userId: string, channel: string, setTtl: string): Promise<number>;
  prOffline(nodes: string, node: string, user: string, seen: string, nodeId: string, userId: string, channel: string, seenTtl: string, agoMs: string): Promise<number>;
  prBeat(nodes: string, beat: string, node: string, nodeId: string, ttl: string, setTtl: string): Promise<number>;
  prReap(nodes: string, beat: string, prefix: string, channel: string, seenTtl: string, max: string): Promise<number>;
  prQuery(nodes: string, beat: string, prefix: string, ...users: string[]): Promise<Array<number | string>>;
  prLeave(nodes: string, beat: string, nodeId: string, grace: string): Promise<number>;
}

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
    this.#redis = createRedisClient(endpoint, { ...common, commandTimeout: Math.max(o.commandTimeoutMs, 1000) }) as Redis & Scripts;
    // The subscriber needs its offline queue: ioredis re-subscribes through it after a reconnect.
    this.#sub = createRedisClient(endpoint, { lazyConnect: true, retryStrategy: common.retryStrategy, maxRetriesPerRequest: null });
    this.#redis.defineCommand('prOnline', { numberOfKeys: 3, lua: ONLINE_LUA });
    this.#redis.defineCommand('prOffline', { numberOfKeys: 4, lua: OFFLINE_LUA });
    this.#redis.defineCommand('prBeat', { numberOfKeys: 3, lua: BEAT_LUA });
    this.#redis.defineCommand('prReap', { numberOfKeys: 2, lua: REAP_LUA });
    this.#redis.defineCommand('prQuery', { numberOfKeys: 2, lua: QUERY_LUA });
    this.#redis.defineCommand('prLeave', { numberOfKeys: 2, lua: LEAVE_LUA });
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
