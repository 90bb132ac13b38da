/**
 * The real-time gateway on uWebSockets.js. Sockets are authenticated in the upgrade handler, before
 * they exist; each process follows the event log with one subscription and sends every chat event
 * to the sockets of the chat's two participants, exactly once and in order per chat (delivery.ts);
 * clients send messages through it (sendMessage) and resume after a reconnect. The protocol is in
 * docs/websocket.md.
 */
import uWS from 'uWebSockets.js';
import type { CommandDeps } from '../../commands/deps.js';
import { sendMessage } from '../../commands/send-message.js';
import type { EventStore, RecordedEvent } from '../../infra/event-store/port.js';
import { toPublicRecord } from '../../infra/event-store/public-record.js';
import type { LastMessagesView } from '../../infra/last-messages/port.js';
import type { Logger } from '../../infra/logger.js';
import { identify, originAllowed, originSet, pickCredential, type Identity, type WsSessionPort } from './auth.js';
import { wsConfig, type WsConfig } from './config.js';
import { Conn, Outbox, type FillOutcome, type SocketData } from './connection.js';
import { Delivery, type DeliveryCounters } from './delivery.js';
import { followLog } from './log-feed.js';
import {
  encodeAck, encodeError, encodeEvent, encodeResumed, parseClientFrame, participantsOf,
  type ResumeFrame, type SendFrame, type WsErrorCode,
} from './protocol.js';
import { take } from './rate-limit.js';
import { Semaphore } from './semaphore.js';
import { SessionWatch } from './session-watch.js';
import { uwsRuntime, type UwsRuntime } from './uws-runtime.js';

export interface WsDeps {
  store: EventStore;
  commands: CommandDeps;
  /** The sessions port (SessionStore fits); see auth.ts for the optional bulk liveness check. */
  sessions: WsSessionPort;
  /** The last-100-messages view; null: every backlog is read from the event store. */
  lastMessages: LastMessagesView | null;
  config?: Partial<WsConfig>;
  logger: Logger;
}

export interface WsStats {
  runtime: UwsRuntime;
  sockets: number;
  users: number;
  pendingUpgrades: number;
  upgrades: { accepted: number; unauthorized: number; forbidden: number; unavailable: number };
  eventsSeen: number;
  framesSent: number;
  fills: number;
  backlogFromView: number;
  backlogFromStore: number;
  liveDuplicatesDropped: number;
  slowClosed: number;
  rateLimitedClosed: number;
  sessionClosed: number;
  sendsAccepted: number;
  sendsRejected: number;
  badFrames: number;
  /** Last log position the subscription delivered, decimal string. */
  logPosition: string;
  logRestarts: number;
  logLastEventAt: string | null;
}

export interface WsGateway {
  port: number;
  close(): Promise<void>;
  stats(): WsStats;
}

const JSON_TYPE = 'application/json';
const refusal = (code: string, message: string): string => JSON.stringify({ error: { code, message } });
const REFUSALS = {
  401: ['401 Unauthorized', refusal('UNAUTHENTICATED', 'Log in first: no valid session token or ticket was sent, or it expired.')],
  403: ['403 Forbidden', refusal('FORBIDDEN', 'This origin may not open a socket.')],
  503: ['503 Service Unavailable', refusal('SERVICE_UNAVAILABLE', 'Too many connection attempts or a backing service is down; try again shortly.')],
} as const;

/** Codes of errors that mean "the database or network is down", not a bug. */
const UNAVAILABLE = /^(ECONN|ETIMEDOUT|ENOTFOUND|EPIPE|57P|08|53)/;

function errorCodeOf(err: unknown): WsErrorCode {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'CONCURRENCY_CONFLICT') return 'CONCURRENCY_CONFLICT';
  if (typeof code === 'string' && UNAVAILABLE.test(code)) return 'SERVICE_UNAVAILABLE';
  if (err instanceof Error && /pool|closed|terminat|connect/i.test(err.message)) return 'SERVICE_UNAVAILABLE';
  return 'INTERNAL';
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * uWS (this build) does not set SO_REUSEADDR on its listening socket, and closes connections first,
 * so every connection of a previous process on the port sits in TIME_WAIT for 60 s and blocks the
 * bind. A restarted gateway on a fixed port therefore retries for a while instead of failing.
 */
async function listenWithRetry(app: uWS.TemplatedApp, config: WsConfig, logger: Logger): Promise<uWS.us_listen_socket> {
  const until = Date.now() + config.listenRetryMs;
  let warned = false;
  for (;;) {
    const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => app.listen(config.host, config.port, resolve));
    if (socket) return socket;
    if (config.port === 0 || Date.now() >= until) throw new Error(`ws gateway cannot listen on ${config.host}:${config.port}`);
    if (!warned) logger.warn({ host: config.host, port: config.port, retryForMs: config.listenRetryMs }, 'ws port busy (connections of a previous process in TIME_WAIT?); retrying');
    warned = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function startWsGateway(deps: WsDeps): Promise<WsGateway> {
  const config = wsConfig(deps.config);
  const { store, commands, sessions, logger } = deps;
  const runtime = uwsRuntime();
  const origins = originSet(config.allowedOrigins);

  const conns = new Set<Conn>();
  const byUser = new Map<string, Set<Conn>>();
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  };

  const counters = {
    framesSent: 0, slowClosed: 0, eventsSeen: 0, rateLimitedClosed: 0, sessionClosed: 0,
    sendsAccepted: 0, sendsRejected: 0, badFrames: 0,
    upgrades: { accepted: 0, unauthorized: 0, forbidden: 0, unavailable: 0 },
  };
  const deliveryCounters: DeliveryCounters = { fills: 0, backlogFromView: 0, backlogFromStore: 0, liveDuplicatesDropped: 0 };
  let pendingUpgrades = 0;
  let nextConnId = 1;
  let closing = false;

  /** Ends a socket with a close frame; safe on one uWS already closed. */
  const end = (conn: Conn, code: number, reason: string): void => {
    const ws = conn.ws;
    conn.closed = true;
    conn.releaseWaiters();
    if (!ws) return;
    try {
      ws.end(code, reason);
    } catch {
      // Already closed by uWS (backpressure limit, timeout): its close handler cleans up.
    }
  };

  const outbox = new Outbox(counters, (conn) => end(conn, 1013, 'SLOW_READER'));
  const fillHighWater = Math.floor(config.maxBackpressureBytes / 2);
  const delivery = new Delivery({
    store, view: deps.lastMessages, outbox, counters: deliveryCounters, logger,
    limiter: new Semaphore(config.maxConcurrentFills),
    fillHighWater,
    bufferedAmount: (conn) => (conn.ws && !conn.closed ? conn.ws.getBufferedAmount() : 0),
  });

  const watch = new SessionWatch({
    sessions,
    conns: () => conns,
    connsOf: (userId) => byUser.get(userId) ?? [],
    end: (conn) => {
      counters.sessionClosed++;
      outbox.flushNow(conn);
      end(conn, 1008, 'SESSION_ENDED');
    },
    intervalMs: config.sessionCheckMs,
    logger,
  });

  // ---- fan-out from the log ----
  const onEvent = (e: RecordedEvent): void => {
    counters.eventsSeen++;
    if (e.streamId.startsWith('chat-')) {
      const chatId = e.streamId.slice(5);
      const pair = participantsOf(chatId);
      if (!pair) return;
      const a = byUser.get(pair[0]);
      const b = byUser.get(pair[1]);
      // Most events concern nobody on this process: skip the encoding for them.
      if (!a && !b) return;
      const frame = encodeEvent(chatId, toPublicRecord(e));
      if (a) for (const conn of a) delivery.live(conn, chatId, e.revision, frame);
      if (b) for (const conn of b) delivery.live(conn, chatId, e.revision, frame);
    } else if (e.type === 'UserLoggedOut' && e.streamId.startsWith('user-')) {
      watch.userLoggedOut(e.streamId.slice(5));
    }
  };
  const head = await store.headPosition();
  const feed = followLog(store, head, onEvent, logger);

  // ---- client frames ----
  const reply = (conn: Conn, frame: string): void => outbox.send(conn, frame);

  const handleSend = async (conn: Conn, f: SendFrame): Promise<void> => {
    const pair = participantsOf(f.chatId);
    // Membership is a property of the id (the sorted pair), so an outsider is refused without a read.
    if (!pair) return reply(conn, encodeError('CHAT_NOT_FOUND', { ref: f.ref }));
    if (pair[0] !== conn.userId && pair[1] !== conn.userId) return reply(conn, encodeError('NOT_A_PARTICIPANT', { ref: f.ref }));
    if (conn.inFlight >= config.maxInFlightSends) {
      return reply(conn, encodeError('RATE_LIMITED', { ref: f.ref, detail: 'too many sends awaiting their ack' }));
    }
    conn.inFlight++;
    try {
      const r = await sendMessage(commands, { senderId: conn.userId, chatId: f.chatId, body: f.body, clientMessageId: f.clientMessageId });
      if (r.ok) {
        counters.sendsAccepted++;
        const v = r.value;
        reply(conn, encodeAck({ ref: f.ref, chatId: v.chatId, messageId: v.messageId, revision: v.revision, position: v.position.toString(), duplicate: v.duplicate }));
      } else {
        counters.sendsRejected++;
        reply(conn, encodeError(r.error.code, { ref: f.ref }));
      }
    } catch (err) {
      counters.sendsRejected++;
      const code = errorCodeOf(err);
      // The chat and user only: never the body (user content) or anything secret.
      logger.error({ err: errText(err), code, chatId: f.chatId, userId: conn.userId }, 'ws send failed');
      reply(conn, encodeError(code, { ref: f.ref }));
    } finally {
      conn.inFlight--;
    }
  };

  const handleResume = async (conn: Conn, f: ResumeFrame): Promise<void> => {
    const entries = Object.entries(f.chats);
    if (entries.length > config.maxResumeChats) {
      return reply(conn, encodeError('VALIDATION_FAILED', { ref: f.ref, detail: `at most ${config.maxResumeChats} chats per resume` }));
    }
    // One resume at a time per socket: each may cost up to maxResumeChats store reads, and the
    // rate limit alone would let one socket queue them faster than the store serves them.
    if (conn.resuming) return reply(conn, encodeError('RATE_LIMITED', { ref: f.ref, detail: 'one resume at a time; wait for resumed' }));
    conn.resuming = true;
    try {
      await resume(conn, f, entries);
    } finally {
      conn.resuming = false;
    }
  };

  const resume = async (conn: Conn, f: ResumeFrame, entries: Array<[string, number]>): Promise<void> => {
    const first = !conn.resumed;
    conn.resumed = true;
    const jobs: Array<{ chatId: string; outcome: Promise<FillOutcome> }> = [];
    const named = new Set<string>();
    for (const [chatId, claimed] of entries) {
      // Keys are at most 200 characters (parseClientFrame), so echoing them is cheap.
      const pair = participantsOf(chatId);
      if (!pair) {
        reply(conn, encodeError('CHAT_NOT_FOUND', { ref: f.ref, chatId }));
        continue;
      }
      if (pair[0] !== conn.userId && pair[1] !== conn.userId) {
        reply(conn, encodeError('NOT_A_PARTICIPANT', { ref: f.ref, chatId }));
        continue;
      }
      named.add(chatId);
      jobs.push({ chatId, outcome: delivery.resumeChat(conn, chatId, claimed) });
    }
    if (first && conn.firstSeen) {
      // Chats whose live events arrived between the upgrade and this first resume, not named in it:
      // sent from the first of those events, so nothing that came in meanwhile is lost.
      for (const [chatId, rev] of conn.firstSeen) {
        if (!named.has(chatId)) jobs.push({ chatId, outcome: delivery.resumeChat(conn, chatId, rev - 1) });
      }
      conn.firstSeen = null;
    }
    const outcomes = await Promise.all(jobs.map((j) => j.outcome));
    if (conn.closed) return;
    const chats = Object.create(null) as Record<string, number>;
    jobs.forEach(({ chatId }, i) => {
      const cursor = conn.cursor(chatId);
      if (outcomes[i] === 'not-found') {
        reply(conn, encodeError('CHAT_NOT_FOUND', { ref: f.ref, chatId }));
        // Forget it, so that if the chat starts later its events are followed from ChatStarted.
        if (cursor && !cursor.fill && cursor.delivered === -1) conn.cursors?.delete(chatId);
        return;
      }
      if (cursor) chats[chatId] = cursor.delivered;
    });
    reply(conn, encodeResumed(f.ref, chats));
  };

  const onMessage = (conn: Conn, message: ArrayBuffer, isBinary: boolean): void => {
    if (conn.closed) return;
    if (!take(conn.bucket, config.ratePerSec, config.rateBurst, performance.now())) {
      counters.rateLimitedClosed++;
      // The error frame goes out before the close frame; then the socket is gone (policy violation).
      outbox.send(conn, encodeError('RATE_LIMITED'));
      outbox.flushNow(conn);
      end(conn, 1008, 'RATE_LIMITED');
      return;
    }
    if (isBinary) {
      counters.badFrames++;
      return reply(conn, encodeError('BAD_REQUEST', { detail: 'binary frames are not supported' }));
    }
    // Decoded at once: uWS invalidates the buffer when this callback returns. uWS has already
    // checked the UTF-8 (it drops the connection on invalid text).
    const parsed = parseClientFrame(Buffer.from(message).toString('utf8'));
    if (!parsed.ok) {
      counters.badFrames++;
      return reply(conn, encodeError(parsed.code, { ref: parsed.ref, detail: parsed.detail }));
    }
    const frame = parsed.frame;
    if (frame.type === 'send') void track(handleSend(conn, frame));
    else void track(handleResume(conn, frame));
  };

  // ---- registry ----
  const register = (conn: Conn): void => {
    conns.add(conn);
    let set = byUser.get(conn.userId);
    if (!set) byUser.set(conn.userId, (set = new Set()));
    set.add(conn);
  };
  const unregister = (conn: Conn): void => {
    conns.delete(conn);
    const set = byUser.get(conn.userId);
    if (set) {
      set.delete(conn);
      if (set.size === 0) byUser.delete(conn.userId);
    }
  };

  // ---- the uWS app ----
  const app = uWS.App();
  app.ws<SocketData>(config.path, {
    compression: uWS.DISABLED,
    maxPayloadLength: config.maxPayloadBytes,
    idleTimeout: config.idleTimeoutSec,
    sendPingsAutomatically: true,
    maxBackpressure: config.maxBackpressureBytes,
    // Typed as a number in the package's declarations; uWS reads it as a boolean.
    closeOnBackpressureLimit: 1,
    maxLifetime: 0,

    upgrade: (res, req, context) => {
      // Everything needed from req is read now: it is invalid after this function returns or awaits.
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const headers = {
        origin: req.getHeader('origin'),
        authorization: req.getHeader('authorization'),
        cookie: req.getHeader('cookie'),
        ticket: req.getQuery('ticket') ?? '',
      };
      const refuse = (status: 401 | 403 | 503): void => {
        const [line, body] = REFUSALS[status];
        res.writeStatus(line).writeHeader('content-type', JSON_TYPE).end(body);
      };
      if (!originAllowed(headers.origin, origins)) {
        counters.upgrades.forbidden++;
        return refuse(403);
      }
      const credential = pickCredential(headers, config.sessionCookie);
      if (!credential) {
        counters.upgrades.unauthorized++;
        return refuse(401);
      }
      if (closing || pendingUpgrades >= config.maxPendingUpgrades) {
        counters.upgrades.unavailable++;
        return refuse(503);
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      pendingUpgrades++;
      void identify(sessions, credential).then(
        (identity): Identity | 'error' | null => identity,
        (err: unknown): 'error' => {
          logger.warn({ err: errText(err), via: credential.kind }, 'ws upgrade: session lookup failed');
          return 'error';
        },
      ).then((identity) => {
        pendingUpgrades--;
        if (aborted) return;
        res.cork(() => {
          if (identity === 'error' || closing) {
            counters.upgrades.unavailable++;
            return refuse(503);
          }
          if (!identity) {
            counters.upgrades.unauthorized++;
            return refuse(401);
          }
          counters.upgrades.accepted++;
          const conn = new Conn(nextConnId++, identity, config.rateBurst, performance.now());
          res.upgrade<SocketData>({ conn }, key, protocol, extensions, context);
        });
      });
    },

    open: (ws) => {
      const conn = ws.getUserData().conn;
      conn.ws = ws;
      if (closing) {
        end(conn, 1001, 'GOING_AWAY');
        return;
      }
      register(conn);
    },

    message: (ws, message, isBinary) => onMessage(ws.getUserData().conn, message, isBinary),

    drain: (ws) => {
      const conn = ws.getUserData().conn;
      if (conn.drainWaiters && ws.getBufferedAmount() < fillHighWater) conn.releaseWaiters();
    },

    close: (ws, code, message) => {
      const conn = ws.getUserData().conn;
      if (logger.isLevelEnabled('debug')) logger.debug({ conn: conn.id, userId: conn.userId, code, reason: Buffer.from(message).toString('utf8').slice(0, 100) }, 'ws closed');
      conn.closed = true;
      conn.ws = null;
      conn.queue = null;
      unregister(conn);
      conn.releaseWaiters();
    },
  });
  app.get('/healthz', (res) => {
    res.writeHeader('content-type', JSON_TYPE).end(JSON.stringify({ ok: true, sockets: conns.size }));
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', JSON_TYPE).end(refusal('NOT_FOUND', 'No such route.'));
  });

  let listenSocket: uWS.us_listen_socket | null = null;
  try {
    listenSocket = await listenWithRetry(app, config, logger);
  } catch (err) {
    await feed.stop();
    throw err;
  }
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  watch.start();
  if (runtime === 'fallback') logger.warn({ uws: runtime }, 'uWebSockets.js native build not available for this Node; running the slow JS fallback');
  logger.info({ uws: runtime, host: config.host, port, path: config.path, allowedOrigins: config.allowedOrigins, from: String(head) }, 'ws gateway listening');

  return {
    port,
    stats: (): WsStats => ({
      runtime,
      sockets: conns.size,
      users: byUser.size,
      pendingUpgrades,
      upgrades: { ...counters.upgrades },
      eventsSeen: counters.eventsSeen,
      framesSent: counters.framesSent,
      ...deliveryCounters,
      slowClosed: counters.slowClosed,
      rateLimitedClosed: counters.rateLimitedClosed,
      sessionClosed: counters.sessionClosed,
      sendsAccepted: counters.sendsAccepted,
      sendsRejected: counters.sendsRejected,
      badFrames: counters.badFrames,
      logPosition: String(feed.position()),
      logRestarts: feed.restarts(),
      logLastEventAt: ((at) => (at === null ? null : new Date(at).toISOString()))(feed.lastEventAt()),
    }),
    async close() {
      if (closing) return;
      closing = true;
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = null;
      await watch.stop();
      await feed.stop();
      for (const conn of [...conns]) {
        outbox.flushNow(conn);
        end(conn, 1001, 'GOING_AWAY');
      }
      // Sends and fills in flight finish (or fail) before the caller closes the store under them.
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 5_000).unref())]);
      logger.info({ port }, 'ws gateway closed');
    },
  };
}
