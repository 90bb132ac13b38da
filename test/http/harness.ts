// Builds the HTTP app on real adapters for tests: PostgreSQL (per-test schema) or the embedded
// default (temp dir), optional Redis (per-test key prefix), a hand-moved session clock, and a
// logger whose every line is kept so tests can assert nothing secret was written.
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import type { CommandDeps } from '../../commands/deps.js';
import { buildHttpApp, type HttpDeps } from '../../gateways/http/app.js';
import { commandDepsFor, loadConfig } from '../../gateways/service/wiring.js';
import { exportActivity } from '../../projections/audit/export.js';
import type { HttpConfig } from '../../gateways/http/config.js';
import type { HttpReadModels } from '../../gateways/http/read-port.js';
import type { MessageCountsQuery } from '../../gateways/http/read-port.js';
import { messageCountsPerDay } from '../../projections/messages-per-user-per-day.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import type { LastMessagesView } from '../../projections/ports/last-messages.js';
import { createLogger } from '../../infra/logger.js';
import { createArgon2Hasher } from '../../infra/password-hasher.js';
import type { SessionPolicy, SessionStore } from '../../gateways/ports/sessions.js';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';
import { createTestSchema } from '../support/pg.js';
import { deleteKeysUnder } from '../support/redis-keys.js';
import { newestAppended, tracked } from '../support/tracked-store.js';
import { openTestReads, type TestReads, type ViewOnRedis } from './reads.js';

export const TEST_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export type Kind = 'postgres' | 'embedded';

// The real OWASP minimum, as production runs it: timing and enumeration tests must see real costs.
const hasher = createArgon2Hasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4 });

export interface ManualClock {
  now: () => Date;
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => { t += ms; } };
}

/** A fast-failing client, configured the way the composition root should configure the throttle's. */
export function throttleRedis(url = TEST_REDIS_URL, commandTimeout = 200): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout, connectTimeout: 500, lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 100, 1000) });
  redis.on('error', () => undefined); // reported by the store's fallback warning instead
  return redis;
}

export interface Harness {
  kind: Kind;
  app: FastifyInstance;
  /** What the app was built from: build variants (another view, say) over the same stores. */
  deps: HttpDeps;
  store: EventStore;
  commands: CommandDeps;
  sessions: SessionStore;
  clock: ManualClock;
  /** Every log line the app and the adapters wrote, as text. */
  logs: string[];
  redisPrefix: string;
  /** Writes error-log rows as the error-log destination would. */
  logErrors: TestReads['logErrors'];
  /** Waits until the read models (and the view, if any) have caught up with the event store. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  config?: Partial<HttpConfig>;
  policy?: Partial<Omit<SessionPolicy, 'clock'>>;
  /** A Redis URL for the throttle counters (a dead port tests the fallback); none: in memory. */
  throttleRedisUrl?: string;
  /** Whether to build the last-messages view (Redis for postgres when viewRedisUrl is set, memory otherwise). */
  view?: 'none' | 'memory' | ViewOnRedis;
  metrics?: HttpDeps['metrics'];
  readiness?: HttpDeps['readiness'];
  /** Wraps the read models (e.g. to make one fail on purpose). */
  wrapReads?: (reads: HttpReadModels) => HttpReadModels;
  /** Serve GET /api/stats/messages-per-day from the read models, as the composition root does. */
  messageCounts?: boolean;
}

export async function startHarness(kind: Kind, opts: HarnessOptions = {}): Promise<Harness> {
  const logs: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { logs.push(chunk.toString()); cb(); } });
  const logger = createLogger({ level: 'info', name: 'http-test' }, sink);
  const clock = manualClock();
  const policy = { ...opts.policy, clock: clock.now };
  const cleanups: Array<() => Promise<void>> = [];
  const redisPrefix = `test:http:${randomUUID().slice(0, 8)}:`;

  let store: EventStore;
  let sessions: SessionStore;
  let readsTarget: Parameters<typeof openTestReads>[0];
  if (kind === 'postgres') {
    const schema = await createTestSchema('http');
    cleanups.push(() => schema.drop());
    store = await PostgresEventStore.open({ connectionString: schema.url, schema: schema.schema, poolSize: 5 });
    sessions = await PostgresSessionStore.open({ connectionString: schema.url, schema: schema.schema, policy });
    readsTarget = { kind: 'postgresql', connectionString: schema.url, schema: schema.schema };
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-http-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    store = EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
    sessions = SqliteSessionStore.open({ file: path.join(dir, 'sessions.sqlite'), policy });
    readsTarget = { kind: 'sqlite', file: path.join(dir, 'read-models.sqlite') };
  }
  // settle() waits for the newest position an append returned, not the head (test/support/tracked-store.ts).
  const rawStore = store;
  store = tracked(rawStore);
  const appendedStore = store;
  // The bus, clock and ids as the composition root makes them, with the defaults' settings.
  const commands: CommandDeps = commandDepsFor(store, loadConfig({}), hasher);
  const reads = await openTestReads(readsTarget, rawStore, logger, opts.view ?? 'none', redisPrefix, () => newestAppended(appendedStore));

  let rateLimitRedis: Redis | null = null;
  if (opts.throttleRedisUrl) {
    // The client's own timeout follows the store's (cacheTimeoutMs), so a test that gives a healthy
    // Redis room is not undone by the client's 200 ms.
    rateLimitRedis = throttleRedis(opts.throttleRedisUrl, Math.max(200, opts.config?.cacheTimeoutMs ?? 200));
    const r = rateLimitRedis;
    cleanups.push(async () => { r.disconnect(); });
    // Without an offline queue a take before the connection is up counts in the process: a test of
    // the real Redis starts once it is connected.
    if (opts.throttleRedisUrl === TEST_REDIS_URL && r.status !== 'ready') await once(r, 'ready');
  }

  const deps: HttpDeps = {
    commands,
    sessions,
    reads: opts.wrapReads ? opts.wrapReads(reads.reads) : reads.reads,
    lastMessages: reads.view,
    readiness: opts.readiness ?? {},
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.messageCounts ? { messageCounts: (q: MessageCountsQuery) => messageCountsPerDay(reads.orm.db, q) } : {}),
    rateLimitRedis,
    auditExport: (filter, format) => exportActivity(rawStore, filter, format),
    config: { redisKeyPrefix: redisPrefix, docs: true, ...opts.config },
    logger,
  };
  const app = await buildHttpApp(deps);
  return {
    kind, app, deps, store, commands, sessions, clock, logs, redisPrefix,
    settle: reads.settle,
    logErrors: reads.logErrors,
    async close() {
      await app.close();
      await reads.close();
      await sessions.close();
      await rawStore.close();
      for (const c of cleanups.reverse()) await c();
      if (opts.throttleRedisUrl === TEST_REDIS_URL || (typeof opts.view === 'object' && opts.view.redisUrl === TEST_REDIS_URL)) {
        await deleteRedisPrefix(redisPrefix);
      }
    },
  };
}

/** Deletes this test's keys (never FLUSHALL: other tests share the Redis). */
export const deleteRedisPrefix = (prefix: string): Promise<number> => deleteKeysUnder(TEST_REDIS_URL, prefix);

// ---- request helpers ----

export type Res = LightMyRequestResponse;

export interface Client {
  token: string;
  userId: string;
  /** A request with the bearer token. */
  req(opts: InjectOptions): Promise<Res>;
}

export const json = <T = Record<string, unknown>>(res: Res): T => res.json<T>();

export async function register(app: FastifyInstance, username: string, password = 'password123'): Promise<Res> {
  return app.inject({ method: 'POST', url: '/api/register', payload: { username, password } });
}

/** Every token the helpers obtained in this process, for the no-secrets-in-logs checks. */
export const issuedSecrets: string[] = [];

export async function loginBearer(app: FastifyInstance, username: string, password = 'password123'): Promise<Client> {
  const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username, password, bearer: true } });
  if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`);
  const body = json<{ token: string; user: { userId: string } }>(res);
  issuedSecrets.push(body.token);
  return {
    token: body.token,
    userId: body.user.userId,
    req: (o) => app.inject({ ...o, headers: { ...(o.headers ?? {}), authorization: `Bearer ${body.token}` } }),
  };
}

export async function newUser(app: FastifyInstance, base: string): Promise<Client> {
  const name = `${base}${randomUUID().slice(0, 6)}`;
  const r = await register(app, name);
  if (r.statusCode !== 201) throw new Error(`register ${name}: ${r.statusCode} ${r.body}`);
  return loginBearer(app, name);
}

/** Fails the test's expectation text if a read model never catches up. */
export async function eventually(label: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export type { LastMessagesView, HttpReadModels };
