/**
 * The real-time gateway on uWebSockets.js. Sockets are authenticated in the upgrade handler, before
 * they exist; each process follows the event log with one subscription and sends every chat event
 * to the sockets of the chat's two participants, exactly once and in order per chat (delivery.ts);
 * clients send messages through it (sendMessage) and resume after a reconnect. The protocol is in
 * docs/websocket.md.
 */
import uWS from 'uWebSockets.js';
import type { CommandDeps } from '../../commands/deps.js';
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import type { LastMessagesView } from '../../projections/ports/last-messages.js';
import type { Logger } from 'pino';
import { identify, originAllowed, originSet, pickCredential, type Identity, type WsSessionPort } from './auth.js';
import { wsConfig, type WsConfig } from './config.js';
import { createFrameHandler, errorCodeOf } from './client-frames.js';
import { createChangeHandler } from './change-frames.js';
import { deletedMessagesOf } from './deleted-bodies.js';
import { createReceipts, type ReceiptCounters } from './receipts.js';
import { Conn, Outbox, type SocketData } from './connection.js';
import { Delivery, type DeliveryCounters } from './delivery.js';
import { createEphemeral, type EphemeralSettings, type EphemeralStats } from './ephemeral.js';
import type { PresenceBus } from '../ports/presence.js';
import { followLog } from './log-feed.js';
import { encodeAck, encodeError, encodeEvent, participantsOf, type WsErrorCode } from './protocol.js';
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
  /** Typing and presence: across processes (Redis) or within this one, as the composition root chose. The gateway starts and closes it. */
  presence: PresenceBus;
  ephemeral?: Partial<EphemeralSettings>;
  /**
   * Called with every event the gateway's log feed reads, in log order. The composition root passes
   * the command cache's observer here (keepFresh) where its role says so; the gateway itself does
   * not change how the command bus decides.
   */
  observeLog?: (recorded: RecordedEvent) => void;
}

export interface WsStats {
  runtime: UwsRuntime;
  sockets: number;
  users: number;
  pendingUpgrades: number;
  /** `tooMany`: refused because the user had WS_MAX_SOCKETS_PER_USER sockets open on this process; `badRequest`: not a WebSocket handshake (400). */
  upgrades: { accepted: number; badRequest: number; unauthorized: number; forbidden: number; unavailable: number; tooMany: number };
  /**
   * Sockets closed, by who ended them: the gateway (with a close frame and a code of docs/websocket.md),
   * the client (its close frame), or nobody's close frame (`dropped`, 1006: the network, the idle
   * timeout, a frame over the payload limit, a reader past the backpressure limit).
   */
  closes: { byGateway: number; byClient: number; dropped: number };
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
  /** Typing notices and presence (docs/websocket.md, "Typing and presence"). */
  ephemeral: EphemeralStats;
  /** Read receipts (receipts.ts). */
  receipts: ReceiptCounters;
}

export interface WsGateway {
  port: number;
  close(): Promise<void>;
  stats(): WsStats;
}

const JSON_TYPE = 'application/json';
const refusal = (code: string, message: string): string => JSON.stringify({ error: { code, message } });
const REFUSALS = {
  400: ['400 Bad Request', refusal('BAD_REQUEST', 'Not a WebSocket handshake: the Connection header must include "Upgrade".')],
  401: ['401 Unauthorized', refusal('UNAUTHENTICATED', 'Log in first: no valid session token or ticket was sent, or it expired.')],
  403: ['403 Forbidden', refusal('FORBIDDEN', 'This origin may not open a socket.')],
  429: ['429 Too Many Requests', refusal('RATE_LIMITED', 'Too many open sockets for this user; close one first.')],
  503: ['503 Service Unavailable', refusal('SERVICE_UNAVAILABLE', 'Too many connection attempts or a backing service is down; try again shortly.')],
} as const;

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * uWS (this build) listens with SO_REUSEPORT, so a gateway restarted on its fixed port binds at
 * once, beside the TIME_WAIT connections of a process killed a moment ago and even beside a
 * predecessor that still runs (test/ws/restart.test.ts). One case still fails the bind: the
 * previous process had asked for port 0 and been given this port, whose TIME_WAIT connections then
 * block an explicit bind for up to 60 s. So a busy port is retried for a while instead of failing.
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
  const bySession = new Map<string, Set<Conn>>();
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  };

  const counters = {
    framesSent: 0, slowClosed: 0, eventsSeen: 0, rateLimitedClosed: 0, sessionClosed: 0,
    sendsAccepted: 0, sendsRejected: 0, sendsInFlight: 0, sendsShed: 0, badFrames: 0,
    upgrades: { accepted: 0, badRequest: 0, unauthorized: 0, forbidden: 0, unavailable: 0, tooMany: 0 },
    closes: { byGateway: 0, byClient: 0, dropped: 0 },
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
    deletedOf: (chatId, fromRevision) => deletedMessagesOf(commands.bus, chatId, fromRevision),
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
    connsOfSession: (sessionId) => bySession.get(sessionId) ?? [],
    end: (conn) => {
      counters.sessionClosed++;
      outbox.flushNow(conn);
      end(conn, 1008, 'SESSION_ENDED');
    },
    intervalMs: config.sessionCheckMs,
    logger,
  });

  // ---- fan-out from the log ----
  // The same feed may keep the command cache current (deps.observeLog), so a send on a chat it holds skips its read.
  const observeLog = deps.observeLog ?? null;
  const receipts = createReceipts({ commands, outbox, logger, errorCodeOf, connsOf: (userId) => byUser.get(userId) ?? [], coalesceMs: config.readCoalesceMs });
  const onEvent = (e: RecordedEvent): void => {
    counters.eventsSeen++;
    if (observeLog) observeLog(e);
    if (e.streamId.startsWith('chat-')) {
      const chatId = e.streamId.slice(5);
      const pair = participantsOf(chatId);
      if (!pair) return;
      const a = byUser.get(pair[0]);
      const b = byUser.get(pair[1]);
      // Most events concern nobody on this process: skip the encoding for them.
      if (!a && !b) return;
      if (e.type === 'MessageDeleted') receipts.onEvent(e);
      const frame = encodeEvent(chatId, toPublicRecord(e));
      if (a) for (const conn of a) delivery.live(conn, chatId, e.revision, frame);
      if (b) for (const conn of b) delivery.live(conn, chatId, e.revision, frame);
    } else if (e.type === 'UserLoggedOut' && e.streamId.startsWith('user-')) {
      watch.userLoggedOut(e.streamId.slice(5));
    } else if (e.streamId.startsWith('reads-')) {
      receipts.onEvent(e);
    }
  };
  const head = await store.headPosition();
  const feed = followLog(store, head, onEvent, logger);

  // ---- client frames ----
  const ephemeral = createEphemeral({
    store, bus: deps.presence, outbox, logger, connsOf: (userId) => byUser.get(userId) ?? [],
    ...(deps.ephemeral ? { settings: deps.ephemeral } : {}),
  });

  const onMessage = createFrameHandler({
    config, commands, outbox, delivery, counters, logger, track,
    admit: (conn) => watch.admit(conn),
    end: (conn) => end(conn, 1008, 'RATE_LIMITED'),
    ephemeral: (conn, frame) => ephemeral.frame(conn, frame),
    read: (conn, frame) => receipts.frame(conn, frame),
    afterResume: (conn, chatIds) => receipts.afterResume(conn, chatIds),
    change: createChangeHandler({
      config, commands, outbox, delivery, logger, encodeAck, errorCodeOf, participantsOf,
      encodeError: (code, opts) => encodeError(code as WsErrorCode, opts),
    }),
  });

  // ---- registry ----
  const addTo = (index: Map<string, Set<Conn>>, key: string, conn: Conn): void => {
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    set.add(conn);
  };
  const removeFrom = (index: Map<string, Set<Conn>>, key: string, conn: Conn): void => {
    const set = index.get(key);
    if (set) {
      set.delete(conn);
      if (set.size === 0) index.delete(key);
    }
  };
  const register = (conn: Conn): void => {
    conns.add(conn);
    addTo(byUser, conn.userId, conn);
    addTo(bySession, conn.identity.sessionId, conn);
    ephemeral.connected(conn);
  };
  const unregister = (conn: Conn): void => {
    // A socket closed before it was registered (the gateway was closing) was never online.
    if (conns.delete(conn)) ephemeral.disconnected(conn);
    removeFrom(byUser, conn.userId, conn);
    removeFrom(bySession, conn.identity.sessionId, conn);
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
      const connection = req.getHeader('connection');
      const headers = {
        origin: req.getHeader('origin'),
        authorization: req.getHeader('authorization'),
        cookie: req.getHeader('cookie'),
        ticket: req.getQuery('ticket') ?? '',
      };
      const refuse = (status: 400 | 401 | 403 | 429 | 503): void => {
        const [line, body] = REFUSALS[status];
        res.writeStatus(line).writeHeader('content-type', JSON_TYPE);
        if (status === 429) res.writeHeader('retry-after', '1');
        res.end(body);
      };
      // RFC 6455 asks for it, and the upgrade below depends on it: uWS marks a request whose
      // Connection header is five characters long ("close") as closing, and would drop the
      // socket right after an uncorked upgrade without ever reporting it closed.
      if (!/(^|[\s,])upgrade($|[\s,])/i.test(connection)) {
        counters.upgrades.badRequest++;
        return refuse(400);
      }
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
        const refused = (status: 401 | 429 | 503): void => {
          res.cork(() => refuse(status));
        };
        if (identity === 'error' || closing) {
          counters.upgrades.unavailable++;
          return refused(503);
        }
        if (!identity || watch.endedLately(identity.sessionId)) {
          counters.upgrades.unauthorized++;
          return refused(401);
        }
        // Counted exactly: uWS runs `open` (which registers the socket) inside res.upgrade.
        if ((byUser.get(identity.userId)?.size ?? 0) >= config.maxSocketsPerUser) {
          counters.upgrades.tooMany++;
          return refused(429);
        }
        counters.upgrades.accepted++;
        const conn = new Conn(nextConnId++, identity, config.rateBurst, performance.now());
        conn.verifiedAt = identity.verifiedAt;
        conn.liveUntil = identity.liveUntil;
        // Not inside res.cork, although uWS.js asks for it (and prints a warning on stderr for each
        // upgrade without it): in this uWS build, cork() runs its HTTP keep-alive logic after an
        // upgrade on the socket's memory, which is then the WebSocket's, and now and then reads it
        // as "close the connection": the client got its 101, then lost the socket with no close
        // frame (1006) before any answer; about one upgrade in a thousand under load (fixed upstream
        // in uNetworking/uWebSockets#1929). test/ws/connect-storm.test.ts.
        // No subprotocol is negotiated: the protocol is the one in docs/websocket.md.
        res.upgrade<SocketData>({ conn }, key, '', extensions, context);
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
      // `closed` is already set when the gateway ended the socket (end()).
      const by = conn.closed ? 'gateway' : code === 1006 ? 'dropped' : 'client';
      if (by === 'gateway') counters.closes.byGateway++;
      else if (by === 'dropped') counters.closes.dropped++;
      else counters.closes.byClient++;
      if (logger.isLevelEnabled('debug')) logger.debug({ conn: conn.id, userId: conn.userId, code, by, reason: Buffer.from(message).toString('utf8').slice(0, 100) }, 'ws closed');
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
    // Before the first socket: with the session-ended signal ready, frames need no database check.
    await watch.start();
    await ephemeral.start();
    listenSocket = await listenWithRetry(app, config, logger);
  } catch (err) {
    await ephemeral.close();
    await watch.stop();
    await feed.stop();
    throw err;
  }
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
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
      closes: { ...counters.closes },
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
      ephemeral: ephemeral.stats(),
      receipts: { ...receipts.counters },
    }),
    async close() {
      if (closing) return;
      closing = true;
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = null;
      await watch.stop();
      await feed.stop();
      // Marks waiting for their window are written now, before the sockets that wait for them go.
      receipts.flush();
      for (const conn of [...conns]) {
        outbox.flushNow(conn);
        end(conn, 1001, 'GOING_AWAY');
      }
      // Its users stay online for the grace (they may come back on another process), then go offline.
      await ephemeral.close();
      // Sends and fills in flight finish (or fail) before the caller closes the store under them.
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 5_000).unref())]);
      logger.info({ port }, 'ws gateway closed');
    },
  };
}
