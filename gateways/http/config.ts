/**
 * Settings of the HTTP app, with defaults. The composition root fills them from infra/config.ts;
 * everything has a safe default so tests and the embedded default need to set nothing.
 */
export interface RateLimitWindow {
  max: number;
  windowMs: number;
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
  /** Login (and registration) throttling; false disables it (only for tests that measure timing). */
  loginRateLimit: false | { perAccount: RateLimitWindow; perAddress: RateLimitWindow };
  /** Prefix of the Redis keys the throttle owns. */
  redisKeyPrefix: string;
  /** Budget of one cache read (history, throttle counters) before falling back. */
  cacheTimeoutMs: number;
  /** Budget of each readiness check. */
  readinessTimeoutMs: number;
  /** Serve the OpenAPI document and Swagger UI under /docs. */
  docs: boolean;
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
    // OWASP: throttle per account and per address. 10 tries per account per 15 minutes stops online
    // guessing; the address limit is higher because many users can share one NAT address.
    perAccount: { max: 10, windowMs: 15 * 60_000 },
    perAddress: { max: 100, windowMs: 15 * 60_000 },
  },
  redisKeyPrefix: 'chat:',
  cacheTimeoutMs: 200,
  readinessTimeoutMs: 2_000,
  docs: true,
  sessionPurgeIntervalMs: 60 * 60_000,
};

export const httpConfig = (overrides: Partial<HttpConfig> = {}): HttpConfig => ({ ...DEFAULT_HTTP_CONFIG, ...overrides });
