/**
 * The one place that reads the environment. Everything else receives a Config. Invalid values fail
 * at start with a message naming the variable, instead of surfacing later as a confusing error.
 */
import path from 'node:path';

export type EventStoreChoice =
  | { kind: 'eventstoredb'; url: string }
  | { kind: 'postgres'; url: string; schema: string }
  | { kind: 'embedded'; file: string };

export interface Config {
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  eventStore: EventStoreChoice;
  databaseUrl: string | undefined;
  /** A streaming replica for history reads (DATABASE_READ_URL); the event store and every write stay on DATABASE_URL. */
  databaseReadUrl: string | undefined;
  databaseSchema: string;
  redisUrl: string | undefined;
  /**
   * Redis through Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME): the clients ask the sentinels for
   * the current primary and follow a failover. REDIS_URL then gives only credentials, database and TLS
   * (it defaults to redis://<name>); every client is built by infra/redis-client.ts.
   */
  redisSentinel: RedisSentinelConfig | undefined;
  /** Prefix of every Redis key this deployment owns (tests use their own). */
  redisKeyPrefix: string;
  /** A cache read slower than this falls back to PostgreSQL. */
  redisCommandTimeoutMs: number;
  amqpUrl: string | undefined;
  /** AMQP_URL split at commas: the nodes of a RabbitMQ cluster, tried in turn (empty when unset). */
  amqpUrls: string[];
  /** Prefix of the exchange and queue names (tests use their own). */
  amqpPrefix: string;
  /** partitions: queues the projector work is split into by stream (1 = the single projector queue). */
  projector: { prefetch: number; deliveryLimit: number; batchSize: number; partitions: number };
  http: { host: string; port: number };
  sessions: { idleMinutes: number; absoluteHours: number };
  /** WebSocket gateway settings given in the environment; unset ones keep gateways/ws/config.ts defaults. */
  ws: WsEnv;
  web: { cookieSecure: boolean; allowedOrigins: string[]; trustProxy: boolean };
  loginThrottle: { perAccount: number; perAddress: number; windowMinutes: number; maxDelayMs: number };
  argon2: { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number; maxQueue: number };
  commandMaxRetries: number;
  /** Budget of the command handler's state cache, in remembered items (commands/state-cache.ts). */
  commandCacheItems: number;
  /** How long after sending its sender may edit a message (domain/chat.ts); deleting has no limit. */
  messageEditWindowSeconds: number;
  /** Presence across gateway processes (infra/presence/): a process's time to live, the reconnect grace, how long last-seen is kept. */
  presence: { ttlMs: number; graceMs: number; lastSeenDays: number };
  /** Typing notices a socket may send: a token bucket apart from the frame bucket. */
  typing: { ratePerSec: number; burst: number };
  /**
   * Key-encryption keys of the per-user data keys (docs/privacy.md). `current` unset: the process uses
   * (and on first start creates) DATA_DIR/data-key-encryption.key. `previous`: the KEK being rotated away from.
   */
  dataKeyEncryption: { current: Buffer | undefined; previous: Buffer | undefined };
}

export interface RedisSentinelConfig {
  sentinels: { host: string; port: number }[];
  /** The primary's name as the sentinels know it (`sentinel monitor <name> ...`). */
  name: string;
}

export interface WsEnv {
  host?: string;
  port?: number;
  path?: string;
  allowedOrigins: string[];
  sessionCookie?: string;
  maxPayloadBytes?: number;
  idleTimeoutSec?: number;
  maxBackpressureBytes?: number;
  ratePerSec?: number;
  rateBurst?: number;
  maxInFlightSends?: number;
  maxProcessInFlightSends?: number;
  sessionCheckMs?: number;
  maxPendingUpgrades?: number;
  maxSocketsPerUser?: number;
  maxConcurrentFills?: number;
  maxResumeChats?: number;
  listenRetryMs?: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.map((p) => p.replace(':', '://')).join(' or ')}, got ${parsed.protocol}//`);
  }
  return raw;
}

/** AMQP_URL: one URL, or several separated by commas (a cluster's nodes), each amqp:// or amqps://. */
function amqpUrls(env: Env): string[] {
  const raw = text(env, 'AMQP_URL');
  if (raw === undefined) return [];
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new ConfigError('AMQP_URL', 'holds an empty entry; separate node URLs with single commas');
  // url() returns undefined only for an empty value, ruled out above.
  return parts.map((p) => url({ AMQP_URL: p }, 'AMQP_URL', ['amqp:', 'amqps:']) ?? p);
}

function identifier(env: Env, name: string, fallback: string): string {
  const raw = text(env, name) ?? fallback;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) throw new ConfigError(name, 'must be a lower-case SQL identifier');
  return raw;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function origins(env: Env, name: string): string[] {
  const raw = text(env, name);
  if (raw === undefined) return [];
  return raw.split(',').map((o) => o.trim()).filter(Boolean).map((o) => {
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new ConfigError(name, `holds "${o}", which is not an origin like https://chat.example.com`);
    }
    if (!['http:', 'https:'].includes(u.protocol) || u.origin !== o.replace(/\/$/, '')) {
      throw new ConfigError(name, `holds "${o}", which is not an origin like https://chat.example.com`);
    }
    return u.origin;
  });
}

/** 32 bytes in standard base64 (`openssl rand -base64 32`); the value itself never appears in an error. */
function key32(env: Env, name: string): Buffer | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64') : Buffer.alloc(0);
  if (bytes.length !== 32 || bytes.toString('base64') !== raw) throw new ConfigError(name, 'must be 32 bytes in base64 (44 characters, e.g. from `openssl rand -base64 32`)');
  return bytes;
}

function optionalInt(env: Env, name: string, min: number, max: number): number | undefined {
  return text(env, name) === undefined ? undefined : int(env, name, 0, min, max);
}

function wsEnv(env: Env): WsEnv {
  const ws: WsEnv = { allowedOrigins: origins(env, 'WS_ALLOWED_ORIGINS') };
  const put = <K extends keyof WsEnv>(key: K, value: WsEnv[K] | undefined) => { if (value !== undefined) ws[key] = value; };
  put('host', text(env, 'WS_HOST'));
  put('port', optionalInt(env, 'WS_PORT', 0, 65535));
  const wsPath = text(env, 'WS_PATH');
  if (wsPath !== undefined && !/^\/[A-Za-z0-9/_-]*$/.test(wsPath)) throw new ConfigError('WS_PATH', 'must be a URL path like /ws');
  put('path', wsPath);
  put('sessionCookie', text(env, 'WS_SESSION_COOKIE'));
  put('maxPayloadBytes', optionalInt(env, 'WS_MAX_PAYLOAD_BYTES', 1024, 16 * 1024));
  put('idleTimeoutSec', optionalInt(env, 'WS_IDLE_TIMEOUT_SEC', 0, 960));
  put('maxBackpressureBytes', optionalInt(env, 'WS_MAX_BACKPRESSURE_BYTES', 16 * 1024, 64 * 1024 * 1024));
  put('ratePerSec', optionalInt(env, 'WS_RATE_PER_SEC', 1, 1_000_000));
  put('rateBurst', optionalInt(env, 'WS_RATE_BURST', 1, 1_000_000));
  put('maxInFlightSends', optionalInt(env, 'WS_MAX_INFLIGHT_SENDS', 1, 10_000));
  put('maxProcessInFlightSends', optionalInt(env, 'WS_MAX_PROCESS_INFLIGHT_SENDS', 1, 1_000_000));
  put('sessionCheckMs', optionalInt(env, 'WS_SESSION_CHECK_MS', 50, 60_000));
  put('maxPendingUpgrades', optionalInt(env, 'WS_MAX_PENDING_UPGRADES', 1, 100_000));
  put('maxSocketsPerUser', optionalInt(env, 'WS_MAX_SOCKETS_PER_USER', 1, 100_000));
  put('maxConcurrentFills', optionalInt(env, 'WS_MAX_CONCURRENT_FILLS', 1, 1000));
  put('maxResumeChats', optionalInt(env, 'WS_MAX_RESUME_CHATS', 1, 100_000));
  put('listenRetryMs', optionalInt(env, 'WS_LISTEN_RETRY_MS', 0, 600_000));
  return ws;
}

function redisSentinel(env: Env): RedisSentinelConfig | undefined {
  const raw = text(env, 'REDIS_SENTINELS');
  const name = text(env, 'REDIS_SENTINEL_NAME');
  if (raw === undefined && name === undefined) return undefined;
  if (raw === undefined) throw new ConfigError('REDIS_SENTINELS', 'must be set with REDIS_SENTINEL_NAME (host:port of each sentinel, comma-separated)');
  if (name === undefined) throw new ConfigError('REDIS_SENTINEL_NAME', 'must be set with REDIS_SENTINELS (the name the sentinels monitor)');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new ConfigError('REDIS_SENTINEL_NAME', 'must be letters, digits, dot, dash or underscore');
  const sentinels = raw.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new ConfigError('REDIS_SENTINELS', `holds "${entry}", which is not host:port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
  if (sentinels.length === 0) throw new ConfigError('REDIS_SENTINELS', 'must name at least one sentinel as host:port');
  return { sentinels, name };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(text(env, 'DATA_DIR') ?? 'data');
  const logLevel = (text(env, 'LOG_LEVEL') ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const databaseSchema = identifier(env, 'DATABASE_SCHEMA', 'public');
  const eventStoreUrl = url(env, 'EVENTSTORE_URL', ['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrent:']);
  const eventStore: EventStoreChoice = eventStoreUrl
    ? { kind: 'eventstoredb', url: eventStoreUrl }
    : databaseUrl
      ? { kind: 'postgres', url: databaseUrl, schema: databaseSchema }
      : { kind: 'embedded', file: path.join(dataDir, 'events.sqlite') };
  const sentinel = redisSentinel(env);
  return {
    dataDir,
    logLevel,
    eventStore,
    databaseUrl,
    databaseReadUrl: url(env, 'DATABASE_READ_URL', ['postgres:', 'postgresql:']),
    databaseSchema,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']) ?? (sentinel ? `redis://${sentinel.name}` : undefined),
    redisSentinel: sentinel,
    redisKeyPrefix: text(env, 'REDIS_KEY_PREFIX') ?? 'chat:',
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 200, 10, 60_000),
    amqpUrl: text(env, 'AMQP_URL') === undefined ? undefined : amqpUrls(env).join(','),
    amqpUrls: amqpUrls(env),
    amqpPrefix: identifier(env, 'AMQP_PREFIX', 'chat'),
    projector: {
      // Prefetch above the batch size, so the next batch is already delivered while one is applied (docs/performance.md).
      prefetch: int(env, 'PROJECTOR_PREFETCH', 1000, 1, 5000),
      deliveryLimit: int(env, 'PROJECTOR_DELIVERY_LIMIT', 5, 1, 100),
      // Above 1 needs the rabbitmq_consistent_hash_exchange plugin on the broker (docs/scaling.md).
      partitions: int(env, 'PROJECTOR_PARTITIONS', 1, 1, 64),
      batchSize: int(env, 'PROJECTOR_BATCH_SIZE', 500, 1, 5000),
    },
    http: { host: text(env, 'HTTP_HOST') ?? '127.0.0.1', port: int(env, 'HTTP_PORT', 3000, 0, 65535) },
    ws: wsEnv(env),
    sessions: {
      idleMinutes: int(env, 'SESSION_IDLE_MINUTES', 30, 1, 7 * 24 * 60),
      absoluteHours: int(env, 'SESSION_ABSOLUTE_HOURS', 12, 1, 24 * 90),
    },
    web: {
      cookieSecure: bool(env, 'COOKIE_SECURE', false),
      allowedOrigins: origins(env, 'HTTP_ALLOWED_ORIGINS'),
      trustProxy: bool(env, 'HTTP_TRUST_PROXY', false),
    },
    loginThrottle: {
      perAccount: int(env, 'LOGIN_MAX_PER_ACCOUNT', 10, 1, 100_000),
      perAddress: int(env, 'LOGIN_MAX_PER_ADDRESS', 100, 1, 1_000_000),
      windowMinutes: int(env, 'LOGIN_WINDOW_MINUTES', 15, 1, 24 * 60),
      // Cap of the growing wait on an account past LOGIN_MAX_PER_ACCOUNT failures; 0 turns the slowdown off.
      maxDelayMs: int(env, 'LOGIN_MAX_DELAY_MS', 8_000, 0, 60_000),
    },
    argon2: {
      // OWASP's floor for argon2id is m = 19 MiB, t = 2, p = 1; lower values are refused.
      memoryKiB: int(env, 'ARGON2_MEMORY_KIB', 19456, 19456, 4_194_304),
      timeCost: int(env, 'ARGON2_TIME_COST', 2, 2, 100),
      parallelism: int(env, 'ARGON2_PARALLELISM', 1, 1, 16),
      maxConcurrent: int(env, 'ARGON2_MAX_CONCURRENT', 4, 1, 256),
      // Hashes waiting for a slot; past it login and register answer 503 at once instead of queueing.
      maxQueue: int(env, 'ARGON2_MAX_QUEUE', 64, 0, 100_000),
    },
    commandMaxRetries: int(env, 'COMMAND_MAX_RETRIES', 10, 0, 100),
    commandCacheItems: int(env, 'COMMAND_CACHE_ITEMS', 1_000_000, 1_000, 100_000_000),
    messageEditWindowSeconds: int(env, 'CHAT_MESSAGE_EDIT_WINDOW_SECONDS', 24 * 60 * 60, 1, 365 * 24 * 60 * 60),
    presence: {
      // At most 20 s: with a heartbeat every third of it, a dead process's users are offline within 30 s.
      ttlMs: int(env, 'PRESENCE_TTL_MS', 15_000, 300, 20_000),
      graceMs: int(env, 'PRESENCE_GRACE_MS', 3_000, 0, 60_000),
      lastSeenDays: int(env, 'PRESENCE_LAST_SEEN_DAYS', 90, 1, 3650),
    },
    typing: {
      ratePerSec: int(env, 'TYPING_RATE_PER_SEC', 1, 1, 100),
      burst: int(env, 'TYPING_BURST', 3, 1, 100),
    },
    dataKeyEncryption: {
      current: key32(env, 'DATA_KEY_ENCRYPTION_KEY'),
      previous: key32(env, 'DATA_KEY_ENCRYPTION_KEY_PREVIOUS'),
    },
  };
}
