/**
 * The real-time gateway on uWebSockets.js. Sockets are authenticated in the upgrade handler, before
 * they exist; each process follows the event log with one subscription and sends every chat event
 * to the sockets of the chat's two participants, exactly once and in order per chat (delivery.ts);
 * clients send messages through it (sendMessage) and resume after a reconnect. The protocol is in
 * docs/websocket.md.
 */
import uWS from 'uWebSockets.js';
import type { CommandDeps } from '../../commands/deps.js';
import { keepFresh } from '../../commands/handle-command.js';
import type { EventStore, RecordedEvent } from '../../infra/event-store/port.js';
import { toPublicRecord } from '../../infra/event-store/public-record.js';
import type { LastMessagesView } from '../../infra/last-messages/port.js';
import type { Logger } from '../../infra/logger.js';
import { identify, originAllowed, originSet, pickCredential, type Identity, type WsSessionPort } from './auth.js';
import { wsConfig, type WsConfig } from './config.js';
import { createFrameHandler } from './client-frames.js';
import { Conn, Outbox, type SocketData } from './connection.js';
import { Delivery, type DeliveryCounters } from './delivery.js';
import { followLog } from './log-feed.js';
import { encodeEvent, participantsOf } from './protocol.js';
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
  /** Sends awaiting their result now; sends refused because the process had too many (WS_MAX_PROCESS_INFLIGHT_SENDS). */
  sendsInFlight: number;
  sendsShed: number;
  badFrames: number;
  /** Last log position the subscription delivered, decimal string. */
  logPosition: string;
  logRestarts: number;
  logLastEventAt: string | null;
  /** Sends decided on the log-fed command cache without a read, how many of those met a conflict; what the cache holds. */
  commands: { unreadDecisions: number; unreadConflicts: number; cachedStreams: number; cachedWeight: number };
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
    sendsAccepted: 0, sendsRejected: 0, sendsInFlight: 0, sendsShed: 0, badFrames: 0,
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
    abandon: (conn) => {
      outbox.flushNow(conn);
      end(conn, 1011, 'BACKLOG_UNAVAILABLE');
    },
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
  // The same feed keeps the command cache current, so a send on a chat it holds skips its read.
  const refreshCommandState = keepFresh(commands.bus);
  const onEvent = (e: RecordedEvent): void => {
    counters.eventsSeen++;
    refreshCommandState(e);
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
  const onMessage = createFrameHandler({
    config, commands, outbox, delivery, counters, logger, track,
    end: (conn) => end(conn, 1008, 'RATE_LIMITED'),
  });

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
          // No subprotocol is negotiated: the protocol is the one in docs/websocket.md.
          res.upgrade<SocketData>({ conn }, key, '', extensions, context);
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
      sendsInFlight: counters.sendsInFlight,
      sendsShed: counters.sendsShed,
      badFrames: counters.badFrames,
      logPosition: String(feed.position()),
      logRestarts: feed.restarts(),
      logLastEventAt: ((at) => (at === null ? null : new Date(at).toISOString()))(feed.lastEventAt()),
      commands: { ...commands.bus.stats, cachedStreams: commands.bus.cache.size.streams, cachedWeight: commands.bus.cache.size.weight },
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
