/**
 * The one place that reads the environment. Everything else receives a Config. Invalid values fail
 * at start with a message naming the variable, instead of surfacing later as a confusing error.
 */
import path from 'node:path';
import { Type, type Static } from 'typebox';
// typebox/schema, not typebox/value: the checker alone, a third less to load at every start (defaults are set below).
import { Check, Errors } from 'typebox/schema';

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
  /** Messages the last-messages view keeps per chat (LAST_MESSAGES_SIZE); a change rebuilds the view at start. */
  lastMessagesSize: number;
  amqpUrl: string | undefined;
  /** AMQP_URL split at commas: the nodes of a RabbitMQ cluster, tried in turn (empty when unset). */
  amqpUrls: string[];
  /** Prefix of the exchange and queue names (tests use their own). */
  amqpPrefix: string;
  /** partitions: queues the projector work is split into by stream (1 = the single projector queue). */
  projector: { prefetch: number; deliveryLimit: number; batchSize: number; partitions: number };
  /** maxConnections and maxConnectionsPerAddress: gateways/http/connection-limits.ts. */
  http: { host: string; port: number; maxConnections: number; maxConnectionsPerAddress: number; writeLimit: { max: number; windowMs: number } };
  sessions: { idleMinutes: number; absoluteHours: number };
  /** WebSocket gateway settings given in the environment; unset ones keep gateways/ws/config.ts defaults. */
  ws: WsSettings;
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
   * `cipher` (DATA_CIPHER): what new values are sealed with; every value opens whichever it was sealed with.
   */
  dataKeyEncryption: { current: Buffer | undefined; previous: Buffer | undefined; cipher: DataCipher };
}

export interface RedisSentinelConfig {
  sentinels: { host: string; port: number }[];
  /** The primary's name as the sentinels know it (`sentinel monitor <name> ...`). */
  name: string;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** Ciphers of personal data (infra/keys/crypto.ts): AES-256-GCM (`g1.` values) unless told otherwise. */
const DATA_CIPHERS = ['aes-256-gcm', 'xchacha20-poly1305'] as const;
export type DataCipher = (typeof DATA_CIPHERS)[number];

const whole = (fallback: number, minimum: number, maximum: number) => Type.Integer({ default: fallback, minimum, maximum });
const optionalWhole = (minimum: number, maximum: number) => Type.Optional(Type.Integer({ minimum, maximum }));
const flag = (fallback: boolean) => Type.Boolean({ default: fallback });
const matching = (pattern: RegExp, problem: string, fallback?: string) =>
  Type.Refine(Type.String(fallback === undefined ? {} : { default: fallback }), (v) => pattern.test(v), () => problem);

const protocolOf = (value: string): string | null => {
  try {
    return new URL(value).protocol;
  } catch {
    return null;
  }
};
const url = (...protocols: string[]) => Type.Refine(
  Type.String(),
  (v) => protocols.includes(protocolOf(v) ?? ''),
  (v) => {
    const protocol = protocolOf(v);
    if (v === '') return 'holds an empty entry; separate node URLs with single commas';
    if (protocol === null) return 'is not a valid URL';
    return `must use ${protocols.map((p) => p.replace(':', '://')).join(' or ')}, got ${protocol}//`;
  },
);

const isOrigin = (o: string): boolean => ['http:', 'https:'].includes(protocolOf(o) ?? '') && new URL(o).origin === o.replace(/\/$/, '');
/** Browser origins, comma-separated (empty entries ignored). */
const origins = () => Type.Array(
  Type.Refine(Type.String(), isOrigin, (o) => `holds "${o}", which is not an origin like https://chat.example.com`),
  { default: [], separator: ',' },
);

/** 32 bytes in standard base64 (`openssl rand -base64 32`); the value itself never appears in an error. */
const key32 = () => Type.Optional(Type.Refine(
  Type.String(),
  (v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32 && Buffer.from(v, 'base64').toString('base64') === v,
  () => 'must be 32 bytes in base64 (44 characters, e.g. from `openssl rand -base64 32`)',
));

const SENTINEL = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/;
const sentinelPort = (entry: string): number => Number(SENTINEL.exec(entry)?.[2] ?? 0);

/**
 * Every variable the service reads, with its type, default and allowed values: the one declaration
 * loadConfig validates against. Lists (`separator`) are split at commas first; a ConfigError names the
 * variable. The README's settings table and deploy/compose.yaml's x-chat-env list the same names.
 */
const ENV_SCHEMA = Type.Object({
  DATA_DIR: Type.String({ default: 'data' }),
  LOG_LEVEL: Type.Enum(LOG_LEVELS, { default: 'info' }),
  DATABASE_URL: Type.Optional(url('postgres:', 'postgresql:')),
  DATABASE_READ_URL: Type.Optional(url('postgres:', 'postgresql:')),
  DATABASE_SCHEMA: matching(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier', 'public'),
  EVENTSTORE_URL: Type.Optional(url('esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrent:')),
  REDIS_URL: Type.Optional(url('redis:', 'rediss:')),
  // host:port of each sentinel; with REDIS_SENTINEL_NAME (checked together in redisSentinel()).
  REDIS_SENTINELS: Type.Optional(Type.Refine(
    Type.Array(
      Type.Refine(Type.String(), (e) => sentinelPort(e) >= 1 && sentinelPort(e) <= 65535, (e) => `holds "${e}", which is not host:port`),
      { separator: ',' },
    ),
    (list) => list.length > 0,
    () => 'must name at least one sentinel as host:port',
  )),
  REDIS_SENTINEL_NAME: Type.Optional(matching(/^[A-Za-z0-9._-]{1,64}$/, 'must be letters, digits, dot, dash or underscore')),
  REDIS_KEY_PREFIX: Type.String({ default: 'chat:' }),
  REDIS_COMMAND_TIMEOUT_MS: whole(200, 10, 60_000),
  // 10,000 per chat at ~300 bytes is ~3 MB per chat in Redis, and the most a backfill reads at once.
  LAST_MESSAGES_SIZE: whole(100, 1, 10_000),
  // One URL, or several separated by commas (a cluster's nodes), each amqp:// or amqps://.
  AMQP_URL: Type.Optional(Type.Array(url('amqp:', 'amqps:'), { separator: ',', keepEmpty: true })),
  AMQP_PREFIX: matching(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier', 'chat'),
  // Prefetch above the batch size, so the next batch is already delivered while one is applied (docs/performance.md).
  PROJECTOR_PREFETCH: whole(1000, 1, 5000),
  PROJECTOR_DELIVERY_LIMIT: whole(5, 1, 100),
  // Above 1 needs the rabbitmq_consistent_hash_exchange plugin on the broker (docs/scaling.md).
  PROJECTOR_PARTITIONS: whole(1, 1, 64),
  PROJECTOR_BATCH_SIZE: whole(500, 1, 5000),
  HTTP_HOST: Type.String({ default: '127.0.0.1' }),
  HTTP_PORT: whole(3000, 0, 65535),
  HTTP_ALLOWED_ORIGINS: origins(),
  HTTP_TRUST_PROXY: flag(false),
  HTTP_MAX_CONNECTIONS: whole(10_000, 1, 1_000_000),
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: whole(256, 0, 1_000_000),
  // Writes one user may make through the API per window (0: no limit): as a socket's frame budget.
  API_WRITE_MAX: whole(60, 0, 1_000_000),
  API_WRITE_WINDOW_MS: whole(3_000, 100, 3_600_000),
  COOKIE_SECURE: flag(false),
  SESSION_IDLE_MINUTES: whole(30, 1, 7 * 24 * 60),
  SESSION_ABSOLUTE_HOURS: whole(12, 1, 24 * 90),
  // Unset WS_* settings keep gateways/ws/config.ts's defaults (DEFAULT_WS_CONFIG).
  WS_HOST: Type.Optional(Type.String()),
  WS_PORT: optionalWhole(0, 65535),
  WS_PATH: Type.Optional(matching(/^\/[A-Za-z0-9/_-]*$/, 'must be a URL path like /ws')),
  WS_ALLOWED_ORIGINS: origins(),
  WS_SESSION_COOKIE: Type.Optional(Type.String()),
  WS_MAX_PAYLOAD_BYTES: optionalWhole(1024, 16 * 1024),
  // uWS rounds idle timeouts to its 4 s timer granularity and refuses values below 8 s.
  WS_IDLE_TIMEOUT_SEC: Type.Optional(Type.Refine(Type.Integer({ minimum: 0, maximum: 960 }), (s) => s === 0 || s >= 8, () => 'must be 0 or at least 8')),
  WS_MAX_BACKPRESSURE_BYTES: optionalWhole(16 * 1024, 64 * 1024 * 1024),
  WS_RATE_PER_SEC: optionalWhole(1, 1_000_000),
  WS_RATE_BURST: optionalWhole(1, 1_000_000),
  WS_MAX_INFLIGHT_SENDS: optionalWhole(1, 10_000),
  WS_MAX_PROCESS_INFLIGHT_SENDS: optionalWhole(1, 1_000_000),
  WS_SESSION_CHECK_MS: optionalWhole(50, 60_000),
  WS_MAX_PENDING_UPGRADES: optionalWhole(1, 100_000),
  WS_MAX_SOCKETS_PER_USER: optionalWhole(1, 100_000),
  WS_MAX_CONCURRENT_FILLS: optionalWhole(1, 1000),
  WS_MAX_RESUME_CHATS: optionalWhole(1, 100_000),
  WS_LISTEN_RETRY_MS: optionalWhole(0, 600_000),
  WS_READ_COALESCE_MS: optionalWhole(0, 60_000),
  LOGIN_MAX_PER_ACCOUNT: whole(10, 1, 100_000),
  LOGIN_MAX_PER_ADDRESS: whole(100, 1, 1_000_000),
  LOGIN_WINDOW_MINUTES: whole(15, 1, 24 * 60),
  // Cap of the growing wait on an account past LOGIN_MAX_PER_ACCOUNT failures; 0 turns the slowdown off.
  LOGIN_MAX_DELAY_MS: whole(8_000, 0, 60_000),
  // OWASP's floor for argon2id is m = 19 MiB, t = 2, p = 1; lower values are refused.
  ARGON2_MEMORY_KIB: whole(19456, 19456, 4_194_304),
  ARGON2_TIME_COST: whole(2, 2, 100),
  ARGON2_PARALLELISM: whole(1, 1, 16),
  ARGON2_MAX_CONCURRENT: whole(4, 1, 256),
  // Hashes waiting for a slot; past it login and register answer 503 at once instead of queueing.
  ARGON2_MAX_QUEUE: whole(64, 0, 100_000),
  COMMAND_MAX_RETRIES: whole(10, 0, 100),
  COMMAND_CACHE_ITEMS: whole(1_000_000, 1_000, 100_000_000),
  CHAT_MESSAGE_EDIT_WINDOW_SECONDS: whole(24 * 60 * 60, 1, 365 * 24 * 60 * 60),
  // At most 20 s: with a heartbeat every third of it, a dead process's users are offline within 30 s.
  PRESENCE_TTL_MS: whole(15_000, 300, 20_000),
  PRESENCE_GRACE_MS: whole(3_000, 0, 60_000),
  PRESENCE_LAST_SEEN_DAYS: whole(90, 1, 3650),
  TYPING_RATE_PER_SEC: whole(1, 1, 100),
  TYPING_BURST: whole(3, 1, 100),
  DATA_KEY_ENCRYPTION_KEY: key32(),
  DATA_KEY_ENCRYPTION_KEY_PREVIOUS: key32(),
  DATA_CIPHER: Type.Enum(DATA_CIPHERS, { default: 'aes-256-gcm' }),
});

type EnvValues = Static<typeof ENV_SCHEMA>;
type Variable = keyof EnvValues & string;

/** The names of every variable loadConfig reads (the deployment kit's tests check each is set and documented). */
export const CONFIG_VARIABLES: readonly Variable[] = Object.keys(ENV_SCHEMA.properties) as Variable[];

/** The WebSocket gateway's settings and the variable of each. */
const WS_VARIABLES = {
  host: 'WS_HOST', port: 'WS_PORT', path: 'WS_PATH', sessionCookie: 'WS_SESSION_COOKIE', maxPayloadBytes: 'WS_MAX_PAYLOAD_BYTES',
  idleTimeoutSec: 'WS_IDLE_TIMEOUT_SEC', maxBackpressureBytes: 'WS_MAX_BACKPRESSURE_BYTES', ratePerSec: 'WS_RATE_PER_SEC',
  rateBurst: 'WS_RATE_BURST', maxInFlightSends: 'WS_MAX_INFLIGHT_SENDS', maxProcessInFlightSends: 'WS_MAX_PROCESS_INFLIGHT_SENDS',
  sessionCheckMs: 'WS_SESSION_CHECK_MS', maxPendingUpgrades: 'WS_MAX_PENDING_UPGRADES', maxSocketsPerUser: 'WS_MAX_SOCKETS_PER_USER',
  maxConcurrentFills: 'WS_MAX_CONCURRENT_FILLS', maxResumeChats: 'WS_MAX_RESUME_CHATS', listenRetryMs: 'WS_LISTEN_RETRY_MS',
  readCoalesceMs: 'WS_READ_COALESCE_MS',
} as const satisfies Record<string, Variable>;

/** The WS_* settings given in the environment (an unset one is absent), and the allowed origins. */
export type WsSettings = { -readonly [K in keyof typeof WS_VARIABLES]?: NonNullable<EnvValues[(typeof WS_VARIABLES)[K]]> } & { allowedOrigins: string[] };

/** The environment as the schema's types: trimmed, empty as unset, whole numbers, flags and comma lists converted. */
function converted(env: Env, defaults: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env[name]?.trim() || defaults[name];
    if (value === undefined) continue;
    const schema = ENV_SCHEMA.properties[name] as { type?: string; separator?: string; keepEmpty?: boolean };
    if (schema.type === 'integer') out[name] = /^\d+$/.test(value) ? Number(value) : value;
    else if (schema.type === 'boolean') {
      const word = value.toLowerCase();
      out[name] = ['1', 'true', 'yes', 'on'].includes(word) ? true : ['0', 'false', 'no', 'off'].includes(word) ? false : value;
    } else if (schema.separator !== undefined) {
      const items = value.split(schema.separator).map((i) => i.trim());
      out[name] = schema.keepEmpty ? items : items.filter(Boolean);
    } else out[name] = value;
  }
  return out;
}

/** The first schema violation, as a ConfigError naming the variable (never its value where it may be a secret). */
function firstProblem(raw: Record<string, unknown>, values: Record<string, unknown>): ConfigError | null {
  const [, [error]] = Errors(ENV_SCHEMA, values);
  if (!error) return null;
  const name = error.instancePath.split('/')[1] ?? '';
  const schema = (ENV_SCHEMA.properties as Record<string, { type?: string; minimum?: number; maximum?: number }>)[name] ?? {};
  const params = error.params as { message?: string; allowedValues?: unknown[] };
  if (error.keyword === '~refine' && params.message) return new ConfigError(name, params.message);
  if (error.keyword === 'enum') return new ConfigError(name, `must be one of ${(params.allowedValues ?? []).join(', ')}`);
  if (error.keyword === 'minimum' || error.keyword === 'maximum') return new ConfigError(name, `must be between ${schema.minimum} and ${schema.maximum}, got ${String(values[name])}`);
  if (schema.type === 'integer') return new ConfigError(name, `must be a whole number, got "${String(raw[name])}"`);
  if (schema.type === 'boolean') return new ConfigError(name, `must be true or false, got "${String(raw[name])}"`);
  return new ConfigError(name, error.message);
}

function redisSentinel(env: EnvValues): RedisSentinelConfig | undefined {
  const { REDIS_SENTINELS: list, REDIS_SENTINEL_NAME: name } = env;
  if (list === undefined && name === undefined) return undefined;
  if (list === undefined) throw new ConfigError('REDIS_SENTINELS', 'must be set with REDIS_SENTINEL_NAME (host:port of each sentinel, comma-separated)');
  if (name === undefined) throw new ConfigError('REDIS_SENTINEL_NAME', 'must be set with REDIS_SENTINELS (the name the sentinels monitor)');
  const sentinels = list.map((entry) => ({ host: SENTINEL.exec(entry)![1]!.replace(/^\[|\]$/g, ''), port: sentinelPort(entry) }));
  return { sentinels, name };
}

const originsOf = (list: string[]): string[] => list.map((o) => new URL(o).origin);
const keyOf = (base64: string | undefined): Buffer | undefined => (base64 === undefined ? undefined : Buffer.from(base64, 'base64'));

/**
 * The Config from the environment, validated against ENV_SCHEMA. `defaults` stand in for unset
 * variables before the schema's own defaults (the CLI logs at warn unless LOG_LEVEL says otherwise).
 */
export function loadConfig(env: Env = process.env, defaults: Partial<Record<Variable, string>> = {}): Config {
  const raw = converted(env, defaults);
  const values: Record<string, unknown> = { ...raw };
  for (const [name, schema] of Object.entries(ENV_SCHEMA.properties)) {
    if (values[name] === undefined && 'default' in schema) values[name] = structuredClone(schema.default);
  }
  if (!Check(ENV_SCHEMA, values)) throw firstProblem(raw, values) ?? new ConfigError('environment', 'is invalid');
  const e = values as EnvValues;
  const dataDir = path.resolve(e.DATA_DIR);
  const eventStore: EventStoreChoice = e.EVENTSTORE_URL
    ? { kind: 'eventstoredb', url: e.EVENTSTORE_URL }
    : e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, schema: e.DATABASE_SCHEMA }
      : { kind: 'embedded', file: path.join(dataDir, 'events.sqlite') };
  const sentinel = redisSentinel(e);
  const ws: WsSettings = { allowedOrigins: originsOf(e.WS_ALLOWED_ORIGINS) };
  for (const [key, name] of Object.entries(WS_VARIABLES)) if (e[name] !== undefined) Object.assign(ws, { [key]: e[name] });
  return {
    dataDir,
    logLevel: e.LOG_LEVEL,
    eventStore,
    databaseUrl: e.DATABASE_URL,
    databaseReadUrl: e.DATABASE_READ_URL,
    databaseSchema: e.DATABASE_SCHEMA,
    redisUrl: e.REDIS_URL ?? (sentinel ? `redis://${sentinel.name}` : undefined),
    redisSentinel: sentinel,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    lastMessagesSize: e.LAST_MESSAGES_SIZE,
    amqpUrl: e.AMQP_URL?.join(','),
    amqpUrls: e.AMQP_URL ?? [],
    amqpPrefix: e.AMQP_PREFIX,
    projector: {
      prefetch: e.PROJECTOR_PREFETCH,
      deliveryLimit: e.PROJECTOR_DELIVERY_LIMIT,
      partitions: e.PROJECTOR_PARTITIONS,
      batchSize: e.PROJECTOR_BATCH_SIZE,
    },
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, maxConnections: e.HTTP_MAX_CONNECTIONS, maxConnectionsPerAddress: e.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
      writeLimit: { max: e.API_WRITE_MAX, windowMs: e.API_WRITE_WINDOW_MS } },
    ws,
    sessions: { idleMinutes: e.SESSION_IDLE_MINUTES, absoluteHours: e.SESSION_ABSOLUTE_HOURS },
    web: { cookieSecure: e.COOKIE_SECURE, allowedOrigins: originsOf(e.HTTP_ALLOWED_ORIGINS), trustProxy: e.HTTP_TRUST_PROXY },
    loginThrottle: {
      perAccount: e.LOGIN_MAX_PER_ACCOUNT,
      perAddress: e.LOGIN_MAX_PER_ADDRESS,
      windowMinutes: e.LOGIN_WINDOW_MINUTES,
      maxDelayMs: e.LOGIN_MAX_DELAY_MS,
    },
    argon2: {
      memoryKiB: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      maxConcurrent: e.ARGON2_MAX_CONCURRENT,
      maxQueue: e.ARGON2_MAX_QUEUE,
    },
    commandMaxRetries: e.COMMAND_MAX_RETRIES,
    commandCacheItems: e.COMMAND_CACHE_ITEMS,
    messageEditWindowSeconds: e.CHAT_MESSAGE_EDIT_WINDOW_SECONDS,
    presence: { ttlMs: e.PRESENCE_TTL_MS, graceMs: e.PRESENCE_GRACE_MS, lastSeenDays: e.PRESENCE_LAST_SEEN_DAYS },
    typing: { ratePerSec: e.TYPING_RATE_PER_SEC, burst: e.TYPING_BURST },
    dataKeyEncryption: { current: keyOf(e.DATA_KEY_ENCRYPTION_KEY), previous: keyOf(e.DATA_KEY_ENCRYPTION_KEY_PREVIOUS), cipher: e.DATA_CIPHER },
  };
}
