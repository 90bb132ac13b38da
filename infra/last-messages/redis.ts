/**
 * Redis adapter of the last-messages view: a cache that may fail. Reads answer within the command
 * timeout or return null (the caller falls back to PostgreSQL or the log); an outage is logged,
 * never thrown at the process, and the client keeps reconnecting with capped backoff.
 *
 * Keys (all under the configured prefix, so a deployment, or a test, owns exactly its own):
 *   <p>view:epoch       random id of this incarnation of the view; gone after FLUSHALL / restart
 *   <p>view:state       'rebuilding' | 'ready'
 *   <p>view:checkpoint  last global position the projection applied
 *   <p>view:capacity    messages per chat the view was built for (LAST_MESSAGES_SIZE at its rebuild)
 *   <p>view:chat:<chatId>:last      last applied revision of the chat
 *   <p>view:chat:<chatId>:messages  sorted set, score = revision, member = message JSON (the newest `capacity`)
 *
 * Every write is a Lua script (redis-scripts.ts), so the revision guard, the add and the trim happen
 * atomically. A batch of events (catch-up, rebuild, and live traffic as it arrives) is one call of one
 * script: one round trip and one command, however many events, with the checkpoint saved in the same
 * atomic step.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config, RedisSentinelConfig } from '../config.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { Logger } from '../logger.js';
import { createRedisClient } from '../redis-client.js';
import { asApplyResult, defineViewScripts, memberOf, type Scripts } from './redis-scripts.js';
import {
  DEFAULT_VIEW_CAPACITY,
  chatChangeOf,
  isComplete,
  parseViewMessage,
  windowOf,
  type ApplyResult,
  type BatchProgress,
  type LastMessagesViewAdmin,
  type ReadOptions,
  type ViewMessage,
  type ViewPage,
  type ViewState,
  type ViewStateName,
} from '../../projections/ports/last-messages.js';

export interface RedisViewOptions {
  url: string;
  /** config.redisSentinel: connect to the primary the sentinels name (then `url` gives only credentials). */
  sentinel?: RedisSentinelConfig | undefined;
  /** config.redisKeyPrefix */
  keyPrefix: string;
  /** config.redisCommandTimeoutMs: a command slower than this fails (and a read returns null). */
  commandTimeoutMs: number;
  logger: Logger;
  /** config.lastMessagesSize: messages kept per chat. */
  capacity?: number;
  /** How long one connection attempt may take; short, so an unreachable Redis is noticed quickly. */
  connectTimeoutMs?: number;
  /** Upper bound of the reconnect backoff. */
  maxReconnectDelayMs?: number;
}

const WARN_EVERY_MS = 10_000;

/** Warns at most once per interval and says how many were swallowed: an outage must not flood the log. */
function rateLimitedWarn(logger: Logger, everyMs = WARN_EVERY_MS): (obj: Record<string, unknown>, msg: string) => void {
  let lastAt = 0;
  let suppressed = 0;
  return (obj, msg) => {
    const now = Date.now();
    if (now - lastAt < everyMs) {
      suppressed += 1;
      return;
    }
    logger.warn({ ...obj, suppressed }, msg);
    lastAt = now;
    suppressed = 0;
  };
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** SCAN MATCH treats * ? [ ] \ as glob syntax; a prefix must match only itself. */
const escapeGlob = (s: string): string => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

export class RedisLastMessagesView implements LastMessagesViewAdmin {
  readonly capacity: number;
  readonly #redis: Redis;
  readonly #scripts: Redis & Scripts;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  /** Separate limiters: a flood of failed reads must not hide the connection error that explains them. */
  readonly #warn: (obj: Record<string, unknown>, msg: string) => void;
  readonly #warnConnection: (obj: Record<string, unknown>, msg: string) => void;
  readonly #reconnectListeners = new Set<() => void>();
  #closed = false;
  #hadError = false;

  constructor(opts: RedisViewOptions) {
    this.capacity = opts.capacity ?? DEFAULT_VIEW_CAPACITY;
    this.#prefix = opts.keyPrefix;
    this.#timeoutMs = opts.commandTimeoutMs;
    this.#logger = opts.logger;
    this.#warn = rateLimitedWarn(opts.logger);
    this.#warnConnection = rateLimitedWarn(opts.logger);
    const maxDelay = opts.maxReconnectDelayMs ?? 2_000;
    this.#redis = createRedisClient({ url: opts.url, sentinel: opts.sentinel }, {
      // A cache with a fallback must fail fast rather than queue and retry (ioredis defaults wait long).
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: opts.connectTimeoutMs ?? 1_000,
      // Always a number: never give up reconnecting, but back off (capped, with jitter) so an outage is not a busy loop.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay) + Math.floor(Math.random() * 100),
    });
    // Without an 'error' listener an unreachable Redis would crash the process with an unhandled 'error' event.
    this.#redis.on('error', (err: unknown) => {
      this.#hadError = true;
      this.#warnConnection({ err: errText(err) }, 'redis (last-messages view) unavailable');
    });
    this.#redis.on('ready', () => {
      if (this.#hadError) this.#logger.info('redis (last-messages view) connection ready again');
      this.#hadError = false;
      for (const listener of this.#reconnectListeners) {
        try {
          listener();
        } catch (err) {
          this.#warn({ err: errText(err) }, 'last-messages reconnect listener failed');
        }
      }
    });
    this.#scripts = defineViewScripts(this.#redis);
  }

  /** The deployment's view: null when no REDIS_URL is configured (the in-memory view is the default then). */
  static fromConfig(config: Pick<Config, 'redisUrl' | 'redisKeyPrefix' | 'redisCommandTimeoutMs'> & Partial<Pick<Config, 'redisSentinel' | 'lastMessagesSize'>>, logger: Logger): RedisLastMessagesView | null {
    if (config.redisUrl === undefined) return null;
    return new RedisLastMessagesView({
      url: config.redisUrl, sentinel: config.redisSentinel, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.redisCommandTimeoutMs,
      capacity: config.lastMessagesSize, logger,
    });
  }

  // ---- keys ----
  get #epochKey(): string {
    return `${this.#prefix}view:epoch`;
  }
  get #stateKey(): string {
    return `${this.#prefix}view:state`;
  }
  get #checkpointKey(): string {
    return `${this.#prefix}view:checkpoint`;
  }
  get #capacityKey(): string {
    return `${this.#prefix}view:capacity`;
  }
  #lastKey(chatId: string): string {
    return `${this.#prefix}view:chat:${chatId}:last`;
  }
  #messagesKey(chatId: string): string {
    return `${this.#prefix}view:chat:${chatId}:messages`;
  }

  /** Resolves true once connected (false after timeoutMs): for start-up and tests; commands never wait. */
  async whenReady(timeoutMs: number): Promise<boolean> {
    if (this.#redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.#redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#redis.on('ready', onReady);
    });
  }

  /** Whether the client is connected right now (for health checks). */
  get connected(): boolean {
    return this.#redis.status === 'ready';
  }

  async apply(record: PublicRecord): Promise<ApplyResult> {
    const change = chatChangeOf(record);
    if (!change) return 'ignored';
    const member = memberOf(change);
    const reply = await this.#scripts.lmApply(
      this.#lastKey(change.chatId), this.#messagesKey(change.chatId), String(change.revision), member, String(this.capacity));
    return asApplyResult(reply);
  }

  async applyBatch(records: PublicRecord[], progress?: BatchProgress): Promise<ApplyResult[]> {
    const changes = records.map(chatChangeOf);
    const keys = [this.#epochKey, this.#checkpointKey];
    const args = [String(this.capacity), progress ? '1' : '0', progress?.epoch ?? '', progress?.checkpoint ?? ''];
    let queued = 0;
    for (const change of changes) {
      if (!change) continue;
      keys.push(this.#lastKey(change.chatId), this.#messagesKey(change.chatId));
      args.push(String(change.revision), memberOf(change));
      queued += 1;
    }
    if (queued === 0 && !progress) return changes.map(() => 'ignored');
    // One script: the applies and the checkpoint after them are one atomic step, so a saved
    // checkpoint always implies that every event up to it is in the view.
    const replies = await this.#scripts.lmApplyBatch(keys.length, ...keys, ...args);
    if (!Array.isArray(replies) || replies.length !== queued) throw new Error('unexpected reply from the last-messages batch script');
    let i = 0;
    return changes.map((change) => (change ? asApplyResult(replies[i++]) : 'ignored'));
  }

  async read(chatId: string, opts: ReadOptions): Promise<ViewPage | null> {
    const w = windowOf(opts);
    const min = `(${w.after}`;
    const max = Number.isFinite(w.before) ? `(${w.before}` : '+inf';
    try {
      const reply = await this.#bounded(this.#scripts.lmRead(
        this.#stateKey, this.#epochKey, this.#lastKey(chatId), this.#messagesKey(chatId), w.mode, min, max, String(w.limit)));
      if (!Array.isArray(reply) || reply[0] !== 'ok') return null;
      const [, epoch, last, lowest, ...members] = reply;
      const lastRevision = Number(last);
      const lowestHeld = lowest === '' ? null : Number(lowest);
      if (typeof epoch !== 'string' || !Number.isInteger(lastRevision) || (lowestHeld !== null && !Number.isInteger(lowestHeld))) return null;
      const messages: ViewMessage[] = [];
      for (const json of members) {
        const m = parseViewMessage(String(json));
        if (!m) return null; // a damaged entry: do not serve a page with a hole in it
        messages.push(m);
      }
      messages.sort((a, b) => a.revision - b.revision);
      return { epoch, messages, lastRevision, complete: isComplete(w, { lastRevision, lowestHeld, pageLength: messages.length }) };
    } catch (err) {
      this.#warn({ err: errText(err), chatId }, 'last-messages read failed; caller falls back');
      return null;
    }
  }

  async epoch(): Promise<string | null> {
    try {
      const [state, epoch] = await this.#bounded(this.#redis.mget(this.#stateKey, this.#epochKey));
      return state === 'ready' && typeof epoch === 'string' ? epoch : null;
    } catch (err) {
      this.#warn({ err: errText(err) }, 'last-messages epoch read failed');
      return null;
    }
  }

  async state(): Promise<ViewState> {
    const [epoch, state, checkpoint, capacity] = await this.#redis.mget(this.#epochKey, this.#stateKey, this.#checkpointKey, this.#capacityKey);
    const builtFor = capacity == null ? NaN : Number(capacity);
    return {
      epoch: epoch ?? null,
      state: state === 'ready' || state === 'rebuilding' ? (state satisfies ViewStateName) : null,
      checkpoint: checkpoint ?? null,
      capacity: Number.isInteger(builtFor) && builtFor > 0 ? builtFor : null,
    };
  }

  async beginRebuild(): Promise<string> {
    const epoch = randomUUID();
    // State first, in the same transaction: no reader may see the new epoch with old or half-built chats.
    const results = await this.#redis.multi()
      .set(this.#stateKey, 'rebuilding')
      .set(this.#epochKey, epoch)
      .set(this.#capacityKey, String(this.capacity))
      .del(this.#checkpointKey)
      .exec();
    for (const [err] of results ?? []) if (err) throw err;
    await this.#deleteMatching(`${escapeGlob(this.#prefix)}view:chat:*`);
    return epoch;
  }

  async replaceChat(chatId: string, messages: ViewMessage[], lastRevision: number): Promise<'applied' | 'stale'> {
    const newest = [...messages].sort((a, b) => a.revision - b.revision).slice(-this.capacity);
    const args = newest.flatMap((m) => [String(m.revision), JSON.stringify(m)]);
    const reply = await this.#scripts.lmReplace(this.#lastKey(chatId), this.#messagesKey(chatId), String(lastRevision), ...args);
    return reply === 'stale' ? 'stale' : 'applied';
  }

  async finishRebuild(epoch: string, checkpoint: string): Promise<boolean> {
    return (await this.#scripts.lmFinish(this.#epochKey, this.#stateKey, this.#checkpointKey, epoch, checkpoint)) === 1;
  }

  async heartbeat(epoch: string, checkpoint: string): Promise<boolean> {
    return (await this.#scripts.lmHeartbeat(this.#epochKey, this.#stateKey, this.#checkpointKey, epoch, checkpoint)) === 1;
  }

  async suspend(epoch: string): Promise<boolean> {
    return (await this.#scripts.lmSuspend(this.#epochKey, this.#stateKey, epoch)) === 1;
  }

  /**
   * Erasure (docs/privacy.md): forgets every chat of the user, as if its keys had been evicted. Reads
   * fall back to SQL; the chat's next message is a gap, backfilled from the log, where the bodies read as erased.
   */
  async forgetChatsOf(userId: string): Promise<void> {
    // ':' cannot occur in a user id, so the two patterns match exactly the chats the user is in.
    await this.#deleteMatching(`${escapeGlob(this.#prefix)}view:chat:${escapeGlob(userId)}:*`);
    await this.#deleteMatching(`${escapeGlob(this.#prefix)}view:chat:*:${escapeGlob(userId)}:*`);
  }

  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#reconnectListeners.clear();
    try {
      if (this.#redis.status === 'ready') await this.#redis.quit();
      // Also after QUIT: only disconnect() ends a Sentinel client's own connections to the sentinels.
      this.#redis.disconnect();
    } catch {
      this.#redis.disconnect(); // quit failed mid-outage: drop the socket, stop reconnecting
    }
  }

  /** SCAN + UNLINK in pages: never KEYS, which blocks a shared Redis. */
  async #deleteMatching(pattern: string): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await this.#redis.unlink(...keys);
    } while (cursor !== '0');
  }

  /** Belt and braces over commandTimeout: a read must come back within the timeout whatever the socket does. */
  #bounded<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis read exceeded ${this.#timeoutMs} ms`)), this.#timeoutMs + 50);
    });
    p.catch(() => undefined); // the loser of the race must not become an unhandled rejection
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}
