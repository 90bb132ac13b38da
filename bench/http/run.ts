// HTTP throughput and tail latency of the two hot endpoints: message sends and history reads.
//
//   node --import tsx bench/http/run.ts                       embedded default (SQLite files, in-memory view)
//   BENCH_DATABASE_URL=postgres://… BENCH_REDIS_URL=redis://… node --import tsx bench/http/run.ts
//   BENCH_SECONDS=10 BENCH_CONCURRENCY=32 …
//
// The load comes from autocannon (fixed concurrency, keep-alive connections, each sending its next
// request as soon as the previous one answers). The app listens on a real port, so parsing, hooks
// and the socket are all measured. Sends spread over 16 chats (one chat serializes its writers by design);
// history reads cover the first page (served by the last-messages view) and an older page (SQL).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import autocannon, { type RawRequest } from 'autocannon';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createCommandBus } from '../../commands/handle-command.js';
import { sendMessage } from '../../commands/send-message.js';
import { buildHttpApp } from '../../gateways/http/app.js';
import { sqlReadModels } from '../../gateways/service/http-read-models.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import type { LastMessagesViewAdmin } from '../../projections/ports/last-messages.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { createLogger } from '../../infra/logger.js';
import { createArgon2Hasher } from '../../infra/password-hasher.js';
import { openReadModelOrm, type ReadModelTarget } from '../../infra/read-models/orm.js';
import type { SessionStore } from '../../gateways/ports/sessions.js';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 32);
const databaseUrl = process.env['BENCH_DATABASE_URL'];
const redisUrl = process.env['BENCH_REDIS_URL'];
const CHATS = 16;
const SEEDED = 150;

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const logger = createLogger({ level: 'error', name: 'bench-http' });

async function compose() {
  const cleanups: Array<() => Promise<void>> = [];
  let store: EventStore;
  let sessions: SessionStore;
  let target: ReadModelTarget;
  let view: LastMessagesViewAdmin;
  const prefix = `bench:http:${randomUUID().slice(0, 8)}:`;
  if (databaseUrl) {
    const schema = `bench_http_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    cleanups.push(async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    });
    store = await PostgresEventStore.open({ connectionString: databaseUrl, schema });
    sessions = await PostgresSessionStore.open({ connectionString: databaseUrl, schema });
    target = { kind: 'postgresql', connectionString: databaseUrl, schema };
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-http-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    store = EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
    sessions = SqliteSessionStore.open({ file: path.join(dir, 'sessions.sqlite') });
    target = { kind: 'sqlite', file: path.join(dir, 'read-models.sqlite') };
  }
  if (redisUrl) {
    view = new RedisLastMessagesView({ url: redisUrl, keyPrefix: prefix, commandTimeoutMs: 200, logger });
    cleanups.push(async () => {
      // Loaded only here: a run without Redis needs no client.
      const { deleteKeysUnder } = await import('../../test/support/redis-keys.js');
      await deleteKeysUnder(redisUrl, prefix);
    });
  } else {
    view = new MemoryLastMessagesView();
  }
  const orm = await openReadModelOrm(target, logger);
  const feed = createStoreFeed({ store, projector: createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger }), logger });
  await feed.start();
  const projection = new LastMessagesProjection({ store, view, logger });
  projection.start();
  const commands = {
    bus: createCommandBus(store),
    hasher: createArgon2Hasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4 }),
    clock: () => new Date(),
    newId: randomUUID,
  };
  const app = await buildHttpApp({
    commands, sessions, reads: sqlReadModels(orm), lastMessages: view, readiness: {}, rateLimitRedis: null, logger,
    config: { docs: false, loginRateLimit: false, writeRateLimit: false },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app, store, commands, feed, projection,
    port: (app.server.address() as AddressInfo).port,
    async close() {
      // autocannon resolves at the deadline while its last requests may still be in flight.
      await new Promise((r) => setTimeout(r, 1000));
      await app.close();
      await projection.stop();
      await feed.stop();
      await view.close();
      await orm.close(true);
      await sessions.close();
      await store.close();
      for (const c of cleanups) await c();
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });

function request(port: number, method: string, url: string, token: string | null, body?: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path: url, agent,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

interface Result {
  name: string;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  sources: Record<string, number>;
}


/** autocannon at `concurrency` connections for `seconds`; `next` shapes each request (auth, body). */
async function load(name: string, port: number, next: (n: number) => RawRequest): Promise<Result> {
  let n = 0;
  const sources: Record<string, number> = {};
  const r = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: concurrency,
    duration: seconds,
    requests: [{
      setupRequest: () => next(n++),
      onResponse: (_status, _body, _ctx, headers) => {
        // Raw headers come as a flat [name, value, …] list or as an object, by autocannon version.
        let src: string | undefined;
        if (Array.isArray(headers)) {
          const i = headers.findIndex((h) => h.toLowerCase() === 'x-history-source');
          src = i >= 0 ? headers[i + 1] : undefined;
        } else if (headers) {
          src = headers['x-history-source'];
        }
        if (src) sources[src] = (sources[src] ?? 0) + 1;
      },
    }],
  });
  return { name, requests: r.requests.total, errors: r.errors + r.timeouts + r.non2xx, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, sources };
}

const authed = (method: string, path: string, token: string, body?: unknown): RawRequest => ({
  method, path,
  headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

async function main(): Promise<void> {
  const sys = await compose();
  try {
    const { port } = sys;
    // Users and chats: 2 users per chat, every worker sending as one of them.
    const users: Array<{ name: string; token: string }> = [];
    for (let i = 0; i < CHATS * 2; i++) {
      const name = `bench${i}${randomUUID().slice(0, 4)}`;
      await request(port, 'POST', '/api/register', null, { username: name, password: 'bench-password-1' });
      const login = await request(port, 'POST', '/api/login', null, { username: name, password: 'bench-password-1', bearer: true });
      users.push({ name, token: (JSON.parse(login.body) as { token: string }).token });
    }
    const chats: string[] = [];
    for (let c = 0; c < CHATS; c++) {
      const res = await request(port, 'POST', '/api/chats', users[2 * c]!.token, { username: users[2 * c + 1]!.name });
      chats.push((JSON.parse(res.body) as { chatId: string }).chatId);
    }
    // 150 messages in the first chat: page 1 fits the view, page 2 is older than the view holds.
    for (let i = 0; i < SEEDED; i++) {
      await sendMessage(sys.commands, { senderId: users[0]!.name, chatId: chats[0]!, body: `seed ${i}`, clientMessageId: `seed-${i}` });
    }
    const head = await sys.store.headPosition();
    await sys.feed.waitFor(head, 30_000);
    while (BigInt(sys.projection.status().checkpoint) < head || sys.projection.status().state !== 'live') await new Promise((r) => setTimeout(r, 20));

    out(`# HTTP bench: ${databaseUrl ? 'PostgreSQL' : 'embedded SQLite'} + ${redisUrl ? 'Redis' : 'in-memory'} view, ` +
      `${concurrency} concurrent clients, ${seconds} s per case, ${availableParallelism()} CPUs, node ${process.version}`);
    out('');
    const results: Result[] = [];
    const run = Date.now().toString(36);
    results.push(await load('POST message', port, (n) => {
      const chat = n % CHATS;
      const sender = users[2 * chat + (Math.floor(n / CHATS) % 2)]!;
      return authed('POST', `/api/chats/${chats[chat]}/messages`, sender.token, { body: `bench message ${n}`, clientMessageId: `b${run}-${n}` });
    }));
    await sys.feed.waitFor(await sys.store.headPosition(), 60_000).catch(() => undefined);
    // The sends above added messages to chat 0 too; read its newest page and a page older than the view's 100.
    const reader = users[0]!.token;
    const headPage = JSON.parse((await request(port, 'GET', `/api/chats/${chats[0]}/messages?limit=50`, reader)).body) as { messages: Array<{ revision: number }> };
    const newest = headPage.messages[0]?.revision ?? SEEDED;
    const old = Math.max(2, newest - 120);
    results.push(await load('GET history, newest 50', port, () => authed('GET', `/api/chats/${chats[0]}/messages?limit=50`, reader)));
    results.push(await load('GET history, older 50', port, () => authed('GET', `/api/chats/${chats[0]}/messages?limit=50&before=${old}`, reader)));

    out('| case | requests | errors | req/s | p50 ms | p99 ms | source |');
    out('|---|---|---|---|---|---|---|');
    for (const r of results) {
      const src = Object.entries(r.sources).map(([k, v]) => `${k} ${v}`).join(', ') || '–';
      out(`| ${r.name} | ${r.requests} | ${r.errors} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${src} |`);
    }
  } finally {
    agent.destroy();
    await sys.close();
  }
}

await main();
