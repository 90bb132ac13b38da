/**
 * Settings of the WebSocket gateway, with defaults. The composition root passes the WS_* variables
 * infra/config.ts read and validated (Config.ws); tests pass overrides directly.
 */

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
  /**
   * Also allowed: an Origin whose host is the one the upgrade was addressed to (its Host header) and
   * whose port is one of these: the pages' own origin when the service listens on every interface and
   * does not know the name it is reached by. `chat start` sets it, with no origins configured, to the
   * HTTP port; empty (the default) allows nothing more.
   */
  sameHostOriginPorts: number[];
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
  /**
   * Sends of the whole process awaiting their result at once; more get SERVICE_UNAVAILABLE at once.
   * Past its capacity a gateway then refuses work it cannot do soon, instead of queueing it.
   */
  maxProcessInFlightSends: number;
  /** How often the sessions of open sockets are re-checked (logout, revocation, expiry). */
  sessionCheckMs: number;
  /** Upgrades being authenticated at once; more get 503 (a flood must not queue unbounded work). */
  maxPendingUpgrades: number;
  /** Open sockets of one user on this process; one more is refused with 429 before the upgrade. */
  maxSocketsPerUser: number;
  /** Concurrent backlog reads (resume and gap fills) of the whole process, to spare the database pool. */
  maxConcurrentFills: number;
  /** Chats a single resume frame may name. */
  maxResumeChats: number;
  /** How long to keep retrying a busy port at start (see listenWithRetry in server.ts). */
  listenRetryMs: number;
  /**
   * A reader's `read` marks of one chat that come within this many ms of the last one this process
   * wrote for them are merged into one ChatRead of the highest revision, written when the window
   * ends (receipts.ts, read-coalescer.ts). 0 writes each mark at once.
   */
  readCoalesceMs: number;
}

export const MAX_PAYLOAD_CAP = 16 * 1024;

export const DEFAULT_WS_CONFIG: WsConfig = {
  host: '127.0.0.1',
  port: 3001,
  path: '/ws',
  allowedOrigins: [],
  sameHostOriginPorts: [],
  sessionCookie: 'chat_session',
  maxPayloadBytes: MAX_PAYLOAD_CAP,
  idleTimeoutSec: 60,
  maxBackpressureBytes: 256 * 1024,
  ratePerSec: 20,
  rateBurst: 60,
  maxInFlightSends: 32,
  maxProcessInFlightSends: 4096,
  sessionCheckMs: 500,
  maxPendingUpgrades: 512,
  maxSocketsPerUser: 20,
  maxConcurrentFills: 16,
  maxResumeChats: 1000,
  listenRetryMs: 75_000,
  readCoalesceMs: 500,
};

export function wsConfig(overrides: Partial<WsConfig> = {}): WsConfig {
  const c: WsConfig = { ...DEFAULT_WS_CONFIG, ...overrides };
  // infra/config.ts refuses such WS_* values at start; this guards settings passed in code.
  if (c.maxPayloadBytes > MAX_PAYLOAD_CAP) throw new RangeError(`WS_MAX_PAYLOAD_BYTES must be at most ${MAX_PAYLOAD_CAP}`);
  // uWS rounds idle timeouts to its 4 s timer granularity and refuses values below 8 s.
  if (c.idleTimeoutSec !== 0 && c.idleTimeoutSec < 8) throw new RangeError('WS_IDLE_TIMEOUT_SEC must be 0 or at least 8');
  return c;
}
