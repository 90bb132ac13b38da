// Shared by the WebSocket gateway tests: a PostgreSQL schema per test with the event store and the
// session store in it, users with live sessions, the gateway in-process or as child processes, and a
// `ws` client that checks every frame it receives against the protocol's schemas.
import { MarkedFrame, ReceiptFrame, UnreadFrame } from '../../gateways/ws/read-frames.js';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Compile } from 'typebox/compile';
import WebSocket from 'ws';
import { keepFresh } from '../../commands/handle-command.js';
import { commandDepsFor, loadConfig } from '../../gateways/service/wiring.js';
import type { CommandDeps } from '../../commands/deps.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import type { SessionPolicy } from '../../gateways/ports/sessions.js';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import type { WsSessionPort } from '../../gateways/ws/auth.js';
import type { WsConfig } from '../../gateways/ws/config.js';
import { AckFrame, ErrorFrame, EventFrame, IsTypingFrame, PresenceFrame, ResumedFrame, type ServerFrame } from '../../gateways/ws/protocol.js';
import { startWsGateway, type WsGateway } from '../../gateways/ws/server.js';
import { createTestSchema, holdOrderingLockShared, type TestSchema } from '../support/pg.js';
import { stubHasher } from '../support/stub-hasher.js';
import { settledHead, tracked } from '../support/tracked-store.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';
import { sleep, waitFor } from '../support/wait.js';

export { sleep } from '../support/wait.js';

/** wait.ts's waitFor, polling every 10 ms as the socket tests always have. */
export const waitUntil = (label: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> =>
  waitFor(label, cond, timeoutMs, 10);

export function memoryLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  return { logger: createLogger({ level, name: 'ws-test' }, sink), lines };
}

export interface TestUser {
  userId: string;
  token: string;
  sessionId: string;
  ticket(): Promise<string>;
}

export interface FixtureOptions {
  /** Feed an in-memory last-messages view with the real projection, so resumes can be served from it. */
  view?: boolean;
  policy?: Partial<SessionPolicy>;
}

export interface Fixture {
  ts: TestSchema;
  store: PostgresEventStore;
  sessions: PostgresSessionStore;
  commands: CommandDeps;
  view: MemoryLastMessagesView | null;
  logs: string[];
  gateway: WsGateway | null;
  startGateway(config?: Partial<WsConfig>, sessions?: WsSessionPort): Promise<WsGateway>;
  stopGateway(): Promise<void>;
  url(query?: string): string;
  user(name: string): Promise<TestUser>;
  chat(a: TestUser, b: TestUser): Promise<string>;
  /** Appends messages without the gateway (as another process would). */
  append(from: TestUser, chatId: string, count: number, tag?: string): Promise<void>;
  /** Waits until the log's head includes every append made through `commands` so far. */
  settle(): Promise<void>;
  /** The fixture's sessions port without the session-ended signal: the gateway then relies on its sweep and per-frame checks. */
  sessionsWithoutSignal(): WsSessionPort;
  close(): Promise<void>;
}

/**
 * How most tests begin: a fixture of the test's own (closed at its teardown), users alice and bob,
 * and their chat.
 */
export async function openChatFixture(
  t: { teardown(fn: () => unknown): void }, opts: FixtureOptions = {},
): Promise<{ fx: Fixture; alice: TestUser; bob: TestUser; chatId: string }> {
  const fx = await openFixture(opts);
  t.teardown(() => fx.close());
  const [alice, bob] = [await fx.user('alice'), await fx.user('bob')];
  return { fx, alice, bob, chatId: await fx.chat(alice, bob) };
}

/** Starts the gateway and connects each user by token (optionally resuming `chats` on each socket). */
export async function connectAll(fx: Fixture, users: TestUser[], chats?: Record<string, number>): Promise<TestClient[]> {
  await fx.startGateway();
  const clients: TestClient[] = [];
  for (const u of users) clients.push(await connect(fx.url(), { token: u.token }));
  if (chats) for (const c of clients) await c.resume(chats);
  return clients;
}

export async function openFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  // postgres-ordering.test.ts's long transactions would hide fresh appends from the gateway's feed.
  const releaseOrderingLock = await holdOrderingLockShared();
  const ts = await createTestSchema('ws');
  const { logger, lines } = memoryLogger(process.env['WS_TEST_LOG'] ?? 'info');
  const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 6, logger });
  const sessions = await PostgresSessionStore.open({ connectionString: ts.url, schema: ts.schema, ...(opts.policy ? { policy: opts.policy } : {}) });
  // Appends are tracked so that settle() can wait for them (test/support/tracked-store.ts).
  const appending = tracked(store);
  // The bus, clock and ids as the composition root makes them, with the defaults' settings.
  const commands: CommandDeps = commandDepsFor(appending, loadConfig({}), stubHasher);
  let view: MemoryLastMessagesView | null = null;
  let projection: LastMessagesProjection | null = null;
  if (opts.view) {
    view = new MemoryLastMessagesView();
    projection = new LastMessagesProjection({ store, view, logger });
    projection.start();
    const v = view;
    await waitUntil('view ready', async () => (await v.epoch()) !== null);
  }

  const fx: Fixture = {
    ts, store, sessions, commands, view, logs: lines, gateway: null,
    async settle() {
      await settledHead(appending);
    },
    async startGateway(config = {}, sessionsPort = sessions) {
      if (fx.gateway) await fx.stopGateway();
      // A gateway follows the log from its head: settle first, so what was written before is not seen live.
      await fx.settle();
      fx.gateway = await startWsGateway({
        store, commands, sessions: sessionsPort, lastMessages: view, logger,
        config: { port: 0, ratePerSec: 1000, rateBurst: 1000, ...config },
        // As the gateway and all roles do (gateways/service/roles.ts): its feed keeps the command cache fresh.
        observeLog: keepFresh(commands.bus),
        presence: new MemoryPresenceBus(),
      });
      return fx.gateway;
    },
    async stopGateway() {
      const g = fx.gateway;
      fx.gateway = null;
      await g?.close();
    },
    url(query = '') {
      if (!fx.gateway) throw new Error('gateway not started');
      return `ws://127.0.0.1:${fx.gateway.port}/ws${query}`;
    },
    async user(name) {
      const r = await register(commands, { username: name, password: 'password123' });
      if (!r.ok) throw new Error(`register ${name}: ${r.error.code}`);
      const { token, session } = await sessions.create({ userId: r.value.userId, role: 'user' });
      return {
        userId: r.value.userId, token, sessionId: session.id,
        ticket: async () => (await sessions.issueTicket(session)).ticket,
      };
    },
    async chat(a, b) {
      const r = await startChat(commands, { initiatorId: a.userId, otherUsername: b.userId });
      if (!r.ok) throw new Error(`startChat: ${r.error.code}`);
      return r.value.chatId;
    },
    async append(from, chatId, count, tag = 'direct') {
      for (let i = 0; i < count; i++) {
        const r = await sendMessage(commands, { senderId: from.userId, chatId, body: `${tag} ${i}`, clientMessageId: `m-${randomUUID()}` });
        if (!r.ok) throw new Error(`append: ${r.error.code}`);
      }
    },
    sessionsWithoutSignal() {
      return {
        authenticate: (token: string) => sessions.authenticate(token),
        redeemTicket: (ticket: string) => sessions.redeemTicket(ticket),
        liveSessions: (ids: readonly string[]) => sessions.liveSessions(ids),
        touchSessions: (ids: readonly string[]) => sessions.touchSessions(ids),
      };
    },
    async close() {
      // Sockets a failed test left open (a paused one would keep the process alive).
      for (const ws of openSockets) ws.terminate();
      await fx.stopGateway();
      await projection?.stop();
      await sessions.close();
      await store.close();
      await ts.drop();
      await releaseOrderingLock();
    },
  };
  return fx;
}

// ---- a checking client ----

const validators = {
  event: Compile(EventFrame), ack: Compile(AckFrame), error: Compile(ErrorFrame), resumed: Compile(ResumedFrame),
  is_typing: Compile(IsTypingFrame), presence: Compile(PresenceFrame),
  marked: Compile(MarkedFrame), receipt: Compile(ReceiptFrame), unread: Compile(UnreadFrame),
};

export interface Credentials {
  token?: string;
  cookie?: string;
  ticket?: string;
  origin?: string;
  authorization?: string;
}

const openSockets = new Set<WebSocket>();

export class TestClient {
  readonly frames: ServerFrame[] = [];
  /** Events per chat, in arrival order. */
  readonly events = new Map<string, EventFrame[]>();
  /** Frames that did not match their schema (must stay empty). */
  readonly invalid: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  isClosed = false;
  /** The client-side error that ended the socket, if any (for diagnostics). */
  lastError: string | null = null;
  #seq = 0;
  #waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    openSockets.add(ws);
    ws.once('close', () => openSockets.delete(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = data.toString('utf8');
      let frame: ServerFrame | null = null;
      try {
        frame = JSON.parse(text) as ServerFrame;
      } catch {
        this.invalid.push(text);
      }
      if (frame) {
        const v = validators[frame.type as keyof typeof validators];
        if (isBinary || !v || !v.Check(frame)) this.invalid.push(text);
        this.frames.push(frame);
        if (frame.type === 'event') {
          const list = this.events.get(frame.chatId);
          if (list) list.push(frame);
          else this.events.set(frame.chatId, [frame]);
        }
      }
      for (const w of this.#waiters) w();
    });
    ws.on('error', (err) => { this.lastError = err.message; });
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => {
      this.isClosed = true;
      resolve({ code, reason: reason.toString() });
      for (const w of this.#waiters) w();
    }));
  }

  revisionsOf(chatId: string): number[] {
    return (this.events.get(chatId) ?? []).map((e) => e.revision);
  }

  lastRevision(chatId: string): number {
    const list = this.events.get(chatId);
    return list && list.length > 0 ? list[list.length - 1]!.revision : -1;
  }

  /** Resolves with the first frame from index `from` on that matches. */
  waitFor<T extends ServerFrame>(pred: (f: ServerFrame) => f is T, timeoutMs?: number, from?: number): Promise<T>;
  waitFor(pred: (f: ServerFrame) => boolean, timeoutMs?: number, from?: number): Promise<ServerFrame>;
  waitFor(pred: (f: ServerFrame) => boolean, timeoutMs = 30_000, from = 0): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      let i = from;
      const check = (): void => {
        for (; i < this.frames.length; i++) {
          const f = this.frames[i]!;
          if (pred(f)) {
            done();
            resolve(f);
            return;
          }
        }
        if (this.isClosed) {
          done();
          reject(new Error('socket closed while waiting'));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a frame`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  async until(label: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
    await waitUntil(label, cond, timeoutMs);
  }

  raw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  async resume(chats: Record<string, number>, timeoutMs = 15_000): Promise<ServerFrame> {
    const ref = `r${++this.#seq}`;
    const from = this.frames.length;
    this.raw(JSON.stringify({ type: 'resume', ref, chats }));
    return this.waitFor((f) => f.type === 'resumed' && f.ref === ref, timeoutMs, from);
  }

  /** Sends a message; resolves with the ack or error frame answering it. */
  async send(chatId: string, body: string, clientMessageId = `c-${randomUUID()}`): Promise<AckFrame | ErrorFrame> {
    const ref = `s${++this.#seq}`;
    const from = this.frames.length;
    this.raw(JSON.stringify({ type: 'send', ref, chatId, body, clientMessageId }));
    const f = await this.waitFor((x) => (x.type === 'ack' || x.type === 'error') && x.ref === ref, 30_000, from);
    return f as AckFrame | ErrorFrame;
  }

  async close(): Promise<void> {
    if (!this.isClosed) this.ws.close(1000);
    await Promise.race([this.closed, sleep(2000).then(() => this.ws.terminate())]);
  }
}

function headersOf(c: Credentials): Record<string, string> {
  const h: Record<string, string> = {};
  if (c.token) h['authorization'] = `Bearer ${c.token}`;
  if (c.authorization) h['authorization'] = c.authorization;
  if (c.cookie) h['cookie'] = c.cookie;
  if (c.origin) h['origin'] = c.origin;
  return h;
}

/** Opens a socket; the HTTP status instead when the upgrade is refused. */
export function tryConnect(url: string, c: Credentials = {}): Promise<{ client: TestClient } | { status: number; body: string }> {
  const full = c.ticket ? `${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(c.ticket)}` : url;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(full, { headers: headersOf(c) });
    const client = new TestClient(ws);
    ws.once('open', () => resolve({ client }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}

export async function connect(url: string, c: Credentials): Promise<TestClient> {
  const r = await tryConnect(url, c);
  if ('status' in r) throw new Error(`upgrade refused: ${r.status} ${r.body}`);
  return r.client;
}

/** Every revision from `from` to `to` once, in order. */
export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

export { ROOT, spawnGateway, wsTransport, type GatewayProcess, type WsTransportFactory } from './processes.js';
