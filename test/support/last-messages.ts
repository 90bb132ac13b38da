// Shared by the last-messages tests: a key prefix per test on the shared Redis (never FLUSHALL it),
// record builders, a quiet logger that keeps its lines, a Redis view of a test's own, and a TCP proxy
// that can cut or stall Redis.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { Test } from 'tap';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { isDeepStrictEqual } from 'node:util';
import type { EventStore } from '../../commands/ports/event-store.js';
import { chatStreamId } from '../../domain/events.js';
import { chatChangeOf, type LastMessagesView, type LastMessagesViewAdmin } from '../../projections/ports/last-messages.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import { deleteKeysUnder } from './redis-keys.js';

export const TEST_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const newPrefix = (label: string): string => `test:${label}:${randomUUID().slice(0, 8)}:`;

/** Deletes every key under the prefix: what FLUSHALL (or a restart without persistence) does to this deployment. */
export const deletePrefix = (prefix: string): Promise<number> => deleteKeysUnder(TEST_REDIS_URL, prefix);

/** Runs fn with a plain client (for looking at the raw keys). */
export async function withRedis<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    return await fn(redis);
  } finally {
    await redis.quit();
  }
}

/** A pino logger writing to memory: tests stay quiet and can assert on what was logged. */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', name: 'test' }, sink), lines };
}

let position = 1000;

export function chatStarted(chatId: string): PublicRecord {
  return {
    id: randomUUID(), streamId: `chat-${chatId}`, revision: 0, position: String(position++), type: 'ChatStarted', version: 1,
    data: { chatId, participants: chatId.split(':'), startedBy: chatId.split(':')[0], at: '2026-01-01T00:00:00.000Z' },
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

export function messageSent(chatId: string, revision: number, body = `message ${revision}`): PublicRecord {
  return {
    id: randomUUID(), streamId: `chat-${chatId}`, revision, position: String(position++), type: 'MessageSent', version: 2,
    data: { chatId, messageId: randomUUID(), senderId: chatId.split(':')[0], clientMessageId: `c${revision}`, body, sentAt: '2026-01-01T00:00:00.000Z' },
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

export { sleep, waitFor } from './wait.js';

export interface RedisViewHarness {
  view: RedisLastMessagesView;
  prefix: string;
  /** Loses everything, as FLUSHALL or a restart without persistence would. */
  flush(): Promise<void>;
  /** Loses one chat, as an eviction would. */
  forgetChat(chatId: string): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A Redis last-messages view under a key prefix of its own, with ways to lose data behind its back.
 * `prefix`: reopen the keys of an earlier harness (a restart); `capacity`: LAST_MESSAGES_SIZE.
 */
export async function openRedisView(label: string, commandTimeoutMs = 10_000, opts: { prefix?: string; capacity?: number } = {}): Promise<RedisViewHarness> {
  const prefix = opts.prefix ?? newPrefix(label);
  const { logger } = memoryLogger();
  const view = new RedisLastMessagesView({ url: TEST_REDIS_URL, keyPrefix: prefix, commandTimeoutMs, logger, capacity: opts.capacity });
  if (!(await view.whenReady(3_000))) throw new Error(`Redis not reachable at ${TEST_REDIS_URL}`);
  return {
    view,
    prefix,
    flush: async () => void (await deletePrefix(prefix)),
    forgetChat: (chatId) => withRedis(async (r) => void (await r.del(`${prefix}view:chat:${chatId}:last`, `${prefix}view:chat:${chatId}:messages`))),
    async cleanup() {
      await view.close();
      await deletePrefix(prefix);
    },
  };
}

/** Whether the view serves exactly the newest 100 messages of the chat's stream in the log. */
export async function viewEqualsLog(store: EventStore, view: LastMessagesView, chatId: string): Promise<boolean> {
  const want = (await store.readStream(chatStreamId(chatId))).flatMap((e) => {
    const c = chatChangeOf(toPublicRecord(e));
    return c?.kind === 'message' ? [c.message] : [];
  }).slice(-100);
  const page = await view.read(chatId, { limit: 100 });
  return page !== null && isDeepStrictEqual(page.messages, want);
}

export type OpenView = () => Promise<{ view: LastMessagesViewAdmin; cleanup: () => Promise<void> }>;

/**
 * For a suite of forBothAdapters: its view opened before its tests, ready and empty (a rebuild begun
 * and finished at checkpoint 0), handed over with that rebuild's epoch, and closed after them.
 */
export function withReadyView(t: Test, open: OpenView, got: (view: LastMessagesViewAdmin, epoch: string) => void): void {
  let cleanup = async (): Promise<void> => undefined;
  t.teardown(() => cleanup());
  t.before(async () => {
    const h = await open();
    cleanup = h.cleanup;
    const epoch = await h.view.beginRebuild();
    t.equal(await h.view.finishRebuild(epoch, '0'), true);
    got(h.view, epoch);
  });
}

/** Runs one suite against both adapters: the in-memory view, and a Redis view under a prefix of its own. */
export function forBothAdapters(t: Test, label: string, suite: (t: Test, open: OpenView) => void): void {
  t.test('memory adapter', async (t) => {
    suite(t, async () => {
      const view = new MemoryLastMessagesView();
      return { view, cleanup: () => view.close() };
    });
  });
  t.test('redis adapter', async (t) => {
    suite(t, () => openRedisView(label, 10_000));
  });
}

/**
 * A TCP proxy in front of the real Redis. 'down' refuses connections and drops the open ones (Redis
 * stopped); 'stall' keeps sockets open but forwards nothing (a hung Redis or a black-holed network).
 */
export class RedisProxy {
  readonly #server: net.Server;
  readonly #target: URL;
  readonly #pairs = new Set<{ client: net.Socket; upstream: net.Socket; held: Array<() => void> }>();
  #mode: 'up' | 'down' | 'stall' = 'up';
  port = 0;

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = net.createServer((client) => this.#accept(client));
  }

  static async start(target = TEST_REDIS_URL): Promise<RedisProxy> {
    const proxy = new RedisProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as net.AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  #accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.#mode === 'down') {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(this.#target.port || 6379), this.#target.hostname);
    upstream.on('error', () => client.destroy());
    const pair = { client, upstream, held: [] as Array<() => void> };
    this.#pairs.add(pair);
    // While stalled, bytes are held back, not dropped: a slow Redis answers late but in order.
    const forward = (to: net.Socket, d: Buffer): void => {
      if (this.#mode === 'stall') pair.held.push(() => to.write(d));
      else to.write(d);
    };
    client.on('data', (d: Buffer) => forward(upstream, d));
    upstream.on('data', (d: Buffer) => forward(client, d));
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on('close', drop);
    upstream.on('close', drop);
  }

  /** Redis goes away: open connections drop, new ones are refused. */
  down(): void {
    this.#mode = 'down';
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  stall(): void {
    this.#mode = 'stall';
  }

  up(): void {
    this.#mode = 'up';
    for (const pair of this.#pairs) for (const send of pair.held.splice(0)) send();
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
