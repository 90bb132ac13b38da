/**
 * Settings of the WebSocket gateway, with defaults. The composition root fills them from the
 * environment (WS_* variables, see wsConfigFromEnv); tests pass overrides directly.
 */
import { ConfigError } from '../../infra/config.js';

export interface WsConfig {
  host: string;
  /** 0 picks a free port (tests); startWsGateway returns the one it got. */
  port: number;
  /** URL path of the WebSocket endpoint. */
  path: string;
  /**
   * Browser origins (scheme://host[:port]) allowed to open a socket. A request without an Origin
   * header (a non-browser client) is allowed; any other origin is refused with 403.
   */
  allowedOrigins: string[];
  /** Name of the HTTP API's session cookie (HttpConfig.sessionCookie): browsers send it on the upgrade. */
  sessionCookie: string;
  /** Largest frame a client may send; uWS drops the connection beyond it. At most 16 KiB. */
  maxPayloadBytes: number;
  /** Seconds without traffic before uWS closes a socket; pings go out automatically before that. */
  idleTimeoutSec: number;
  /** Bytes buffered for one socket before it counts as a slow reader and is closed. */
  maxBackpressureBytes: number;
  /** Token bucket per socket: sustained frames per second … */
  ratePerSec: number;
  /** … and the burst a socket may send at once. */
  rateBurst: number;
  /** Sends of one socket awaiting their result at once; more get RATE_LIMITED. */
  maxInFlightSends: number;
  /** How often the sessions of open sockets are re-checked (logout, revocation, expiry). */
  sessionCheckMs: number;
  /** Upgrades being authenticated at once; more get 503 (a flood must not queue unbounded work). */
  maxPendingUpgrades: number;
  /** Concurrent backlog reads (resume and gap fills) of the whole process, to spare the database pool. */
  maxConcurrentFills: number;
  /** Chats a single resume frame may name. */
  maxResumeChats: number;
  /** How long to keep retrying a busy port at start (see listenWithRetry in server.ts). */
  listenRetryMs: number;
}

export const MAX_PAYLOAD_CAP = 16 * 1024;

export const DEFAULT_WS_CONFIG: WsConfig = {
  host: '127.0.0.1',
  port: 3001,
  path: '/ws',
  allowedOrigins: [],
  sessionCookie: 'chat_session',
  maxPayloadBytes: MAX_PAYLOAD_CAP,
  idleTimeoutSec: 60,
  maxBackpressureBytes: 256 * 1024,
  ratePerSec: 20,
  rateBurst: 60,
  maxInFlightSends: 32,
  sessionCheckMs: 500,
  maxPendingUpgrades: 512,
  maxConcurrentFills: 16,
  maxResumeChats: 1000,
  listenRetryMs: 75_000,
};

export function wsConfig(overrides: Partial<WsConfig> = {}): WsConfig {
  const c: WsConfig = { ...DEFAULT_WS_CONFIG, ...overrides };
  if (c.maxPayloadBytes > MAX_PAYLOAD_CAP) throw new ConfigError('WS_MAX_PAYLOAD_BYTES', `must be at most ${MAX_PAYLOAD_CAP}`);
  // uWS rounds idle timeouts to its 4 s timer granularity and refuses values below 8 s.
  if (c.idleTimeoutSec !== 0 && c.idleTimeoutSec < 8) throw new ConfigError('WS_IDLE_TIMEOUT_SEC', 'must be 0 or at least 8');
  return c;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function origins(env: Env, name: string): string[] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new ConfigError(name, `has an invalid origin "${s}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(name, `origins must be http(s), got "${s}"`);
    return u.origin;
  });
}

/** The WS_* variables (to move into infra/config.ts when the gateway is wired into `chat start`). */
export function wsConfigFromEnv(env: Env = process.env): WsConfig {
  const d = DEFAULT_WS_CONFIG;
  return wsConfig({
    host: env['WS_HOST']?.trim() || d.host,
    port: int(env, 'WS_PORT', d.port, 0, 65535),
    path: env['WS_PATH']?.trim() || d.path,
    allowedOrigins: origins(env, 'WS_ALLOWED_ORIGINS'),
    sessionCookie: env['WS_SESSION_COOKIE']?.trim() || d.sessionCookie,
    maxPayloadBytes: int(env, 'WS_MAX_PAYLOAD_BYTES', d.maxPayloadBytes, 1024, MAX_PAYLOAD_CAP),
    idleTimeoutSec: int(env, 'WS_IDLE_TIMEOUT_SEC', d.idleTimeoutSec, 0, 960),
    maxBackpressureBytes: int(env, 'WS_MAX_BACKPRESSURE_BYTES', d.maxBackpressureBytes, 16 * 1024, 64 * 1024 * 1024),
    ratePerSec: int(env, 'WS_RATE_PER_SEC', d.ratePerSec, 1, 1_000_000),
    rateBurst: int(env, 'WS_RATE_BURST', d.rateBurst, 1, 1_000_000),
    maxInFlightSends: int(env, 'WS_MAX_INFLIGHT_SENDS', d.maxInFlightSends, 1, 10_000),
    sessionCheckMs: int(env, 'WS_SESSION_CHECK_MS', d.sessionCheckMs, 50, 60_000),
    maxPendingUpgrades: int(env, 'WS_MAX_PENDING_UPGRADES', d.maxPendingUpgrades, 1, 100_000),
    maxConcurrentFills: int(env, 'WS_MAX_CONCURRENT_FILLS', d.maxConcurrentFills, 1, 1000),
    maxResumeChats: int(env, 'WS_MAX_RESUME_CHATS', d.maxResumeChats, 1, 100_000),
    listenRetryMs: int(env, 'WS_LISTEN_RETRY_MS', d.listenRetryMs, 0, 600_000),
  });
}
