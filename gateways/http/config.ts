/**
 * Settings of the HTTP app, with defaults. The composition root fills them from infra/config.ts;
 * everything has a safe default so tests and the embedded default need to set nothing.
 */
export interface RateLimitWindow {
  max: number;
  windowMs: number;
}

/** Growing wait before judging a login on an account that is failing a lot (see plugins/throttle.ts). */
export interface LoginSlowdown {
  /** Wait at the first failure past the per-account limit; it doubles with each further failure. */
  baseMs: number;
  /** Longest wait; 0 turns the slowdown off. */
  maxMs: number;
}

export interface HttpConfig {
  /** Mark cookies Secure: set it whenever the service is reached over TLS (directly or via a proxy). */
  cookieSecure: boolean;
  sessionCookie: string;
  /** Readable by page scripts on purpose: the double-submit half of the CSRF check. */
  csrfCookie: string;
  /**
   * Origins (scheme://host[:port]) allowed to send cookie-authenticated writes. Empty: only the
   * origin whose host equals the request's Host header (same-origin deployment).
   */
  allowedOrigins: string[];
  /** Passed to fastify's trustProxy: decides what request.ip (the per-address throttle key) is. */
  trustProxy: boolean | string | string[];
  /**
   * Login (and registration) throttling; false disables it (only for tests that measure timing).
   * perAccount: failed logins per account+address pair before that pair is refused, and per account
   * (from any address) before its logins are slowed down. perAddress: login attempts, and
   * registrations, per address.
   */
  loginRateLimit: false | { perAccount: RateLimitWindow; perAddress: RateLimitWindow };
  loginSlowdown: LoginSlowdown;
  /**
   * State-changing API requests per signed-in user per window, counted in this process
   * (plugins/write-limit.ts); false (or max 0) disables it.
   */
  writeRateLimit: false | RateLimitWindow;
  /** Prefix of the Redis keys the throttle owns. */
  redisKeyPrefix: string;
  /** Budget of one cache read (history, throttle counters) before falling back. */
  cacheTimeoutMs: number;
  /**
   * How long a newest history page waits for the last-messages view (fed asynchronously) to reach the
   * chat's revision in the log before the database answers (history.ts).
   */
  historyFreshWaitMs: number;
  /** Budget of each readiness check. */
  readinessTimeoutMs: number;
  /** Serve the OpenAPI document and Swagger UI under /docs. */
  docs: boolean;
  /** Connections the listener holds at once, and per peer address (0: no such limit; not applied behind a trusted proxy). connection-limits.ts. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A request's headers must arrive within headersTimeoutMs, the whole request within requestTimeoutMs (else 408 REQUEST_TIMEOUT). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** How often expired sessions and tickets are deleted (0: never; every API process may do it, deletes are idempotent). */
  sessionPurgeIntervalMs: number;
}

export const BODY_LIMIT_BYTES = 64 * 1024;

export const DEFAULT_HTTP_CONFIG: HttpConfig = {
  cookieSecure: false,
  sessionCookie: 'chat_session',
  csrfCookie: 'chat_csrf',
  allowedOrigins: [],
  trustProxy: false,
  loginRateLimit: {
    // OWASP: throttle per account and per address. 10 failures per account and address per 15 minutes
    // stops online guessing; the address limit is higher because many users can share one NAT address.
    perAccount: { max: 10, windowMs: 15 * 60_000 },
    perAddress: { max: 100, windowMs: 15 * 60_000 },
  },
  // 250 ms, 500 ms, … 8 s: an attacker spread over many addresses gets few guesses a minute per
  // connection, and the owner waits at most 8 s instead of being locked out.
  loginSlowdown: { baseMs: 250, maxMs: 8_000 },
  // 60 per 3 s, 20 a second on average: the budget of a WebSocket's frames (WS_RATE_PER_SEC, WS_RATE_BURST).
  writeRateLimit: { max: 60, windowMs: 3_000 },
  redisKeyPrefix: 'chat:',
  cacheTimeoutMs: 200,
  historyFreshWaitMs: 1_000,
  readinessTimeoutMs: 2_000,
  docs: true,
  sessionPurgeIntervalMs: 60 * 60_000,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 256,
  // Bodies are at most 64 KiB: a client that needs longer than this is holding the connection, not sending.
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
};

export const httpConfig = (overrides: Partial<HttpConfig> = {}): HttpConfig => ({ ...DEFAULT_HTTP_CONFIG, ...overrides });
