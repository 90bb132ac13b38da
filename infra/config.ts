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
  databaseSchema: string;
  redisUrl: string | undefined;
  /** Prefix of every Redis key this deployment owns (tests use their own). */
  redisKeyPrefix: string;
  /** A cache read slower than this falls back to PostgreSQL. */
  redisCommandTimeoutMs: number;
  amqpUrl: string | undefined;
  /** Prefix of the exchange and queue names (tests use their own). */
  amqpPrefix: string;
  projector: { prefetch: number; deliveryLimit: number; batchSize: number };
  http: { host: string; port: number };
  sessions: { idleMinutes: number; absoluteHours: number };
  /** WebSocket gateway settings given in the environment; unset ones keep gateways/ws/config.ts defaults. */
  ws: WsEnv;
  web: { cookieSecure: boolean; allowedOrigins: string[]; trustProxy: boolean };
  loginThrottle: { perAccount: number; perAddress: number; windowMinutes: number };
  argon2: { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number };
  commandMaxRetries: number;
  /** Budget of the command handler's state cache, in remembered items (commands/state-cache.ts). */
  commandCacheItems: number;
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
  put('maxConcurrentFills', optionalInt(env, 'WS_MAX_CONCURRENT_FILLS', 1, 1000));
  put('maxResumeChats', optionalInt(env, 'WS_MAX_RESUME_CHATS', 1, 100_000));
  put('listenRetryMs', optionalInt(env, 'WS_LISTEN_RETRY_MS', 0, 600_000));
  return ws;
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
  return {
    dataDir,
    logLevel,
    eventStore,
    databaseUrl,
    databaseSchema,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: text(env, 'REDIS_KEY_PREFIX') ?? 'chat:',
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 200, 10, 60_000),
    amqpUrl: url(env, 'AMQP_URL', ['amqp:', 'amqps:']),
    amqpPrefix: identifier(env, 'AMQP_PREFIX', 'chat'),
    projector: {
      prefetch: int(env, 'PROJECTOR_PREFETCH', 200, 1, 5000),
      deliveryLimit: int(env, 'PROJECTOR_DELIVERY_LIMIT', 5, 1, 100),
      batchSize: int(env, 'PROJECTOR_BATCH_SIZE', 200, 1, 5000),
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
    },
    argon2: {
      // OWASP's floor for argon2id is m = 19 MiB, t = 2, p = 1; lower values are refused.
      memoryKiB: int(env, 'ARGON2_MEMORY_KIB', 19456, 19456, 4_194_304),
      timeCost: int(env, 'ARGON2_TIME_COST', 2, 2, 100),
      parallelism: int(env, 'ARGON2_PARALLELISM', 1, 1, 16),
      maxConcurrent: int(env, 'ARGON2_MAX_CONCURRENT', 4, 1, 256),
    },
    commandMaxRetries: int(env, 'COMMAND_MAX_RETRIES', 10, 0, 100),
    commandCacheItems: int(env, 'COMMAND_CACHE_ITEMS', 1_000_000, 1_000, 100_000_000),
  };
}
