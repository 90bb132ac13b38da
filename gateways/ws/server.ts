/**
 * The real-time gateway on uWebSockets.js. Sockets are authenticated in the upgrade handler, before
 * they exist; each process follows the event log with one subscription and sends every chat event
 * to the sockets of the chat's two participants, exactly once and in order per chat (delivery.ts);
 * clients send messages through it (sendMessage) and resume after a reconnect. The protocol is in
 * docs/websocket.md.
 */
import uWS from 'uWebSockets.js';
import type { CommandDeps } from '../../commands/deps.js';
import { chatStreamId } from '../../domain/events.js';
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import type { LastMessagesView } from '../../projections/ports/last-messages.js';
import type { Logger } from 'pino';
import { originSet, type WsSessionPort } from './auth.js';
import { wsConfig, type WsConfig } from './config.js';
import { createFrameHandler, errorCodeOf } from './client-frames.js';
import { createChangeHandler } from './change-frames.js';
import { deletedMessagesOf } from './deleted-bodies.js';
import { createErasureNotices } from './erasures.js';
import { createReceipts, type ReceiptCounters } from './receipts.js';
import { Outbox, type Conn, type SocketData } from './connection.js';
import { Delivery, type DeliveryCounters } from './delivery.js';
import { createEphemeral, type EphemeralSettings, type EphemeralStats } from './ephemeral.js';
import type { PresenceBus } from '../ports/presence.js';
import { listenWithRetry } from './listen.js';
import { followLog } from './log-feed.js';
import { encodeAck, encodeError, encodeEvent, participantsOf, type WsErrorCode } from './protocol.js';
import { ConnRegistry } from './registry.js';
import { Semaphore } from './semaphore.js';
import { SessionWatch } from './session-watch.js';
import { createUpgrader, JSON_TYPE, NOT_UPGRADED } from './upgrade.js';
import { uwsRuntime } from './uws-runtime.js';
import type { WsStats } from './stats.js';

export type { WsStats } from './stats.js';

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

export interface WsGateway {
  port: number;
  close(): Promise<void>;
  stats(): WsStats;
  /** Lets in more page origins from now on: those of an HTTP listener that got its port after the gateway started (HTTP_PORT=0). */
  allowOrigins(more: readonly string[]): void;
}

export async function startWsGateway(deps: WsDeps): Promise<WsGateway> {
  const config = wsConfig(deps.config);
  const { store, commands, sessions, logger } = deps;
  const runtime = uwsRuntime();
  const origins = originSet(config.allowedOrigins);

  const registry = new ConnRegistry();
  const connsOf = (userId: string): Iterable<Conn> => registry.ofUser(userId);
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
    headOf: async (chatId, atLeast) => {
      // The command cache follows the log where the role says so: a revision it holds exists.
      const cached = commands.bus.cache.get(chatStreamId(chatId));
      if (cached && cached.revision >= atLeast) return cached.revision;
      const [last] = await store.readStream(chatStreamId(chatId), { direction: 'backwards', maxCount: 1 });
      return last?.revision ?? -1;
    },
    fillHighWater,
    bufferedAmount: (conn) => (conn.ws && !conn.closed ? conn.ws.getBufferedAmount() : 0),
    abandon: (conn) => {
      outbox.flushNow(conn);
      end(conn, 1011, 'BACKLOG_UNAVAILABLE');
    },
  });

  const endSession = (conn: Conn): void => {
    counters.sessionClosed++;
    outbox.flushNow(conn);
    end(conn, 1008, 'SESSION_ENDED');
  };
  const watch = new SessionWatch({
    sessions,
    conns: () => registry.all,
    connsOf,
    connsOfSession: (sessionId) => registry.ofSession(sessionId),
    end: endSession,
    intervalMs: config.sessionCheckMs,
    logger,
  });

  // ---- fan-out from the log ----
  // The same feed may keep the command cache current (deps.observeLog), so a send on a chat it holds skips its read.
  const observeLog = deps.observeLog ?? null;
  const receipts = createReceipts({ commands, outbox, logger, errorCodeOf, connsOf, coalesceMs: config.readCoalesceMs });
  const erasures = createErasureNotices({ commands, outbox, logger, conns: () => registry.all });
  const onEvent = (e: RecordedEvent): void => {
    counters.eventsSeen++;
    if (observeLog) observeLog(e);
    if (e.streamId.startsWith('chat-')) {
      const chatId = e.streamId.slice(5);
      const pair = participantsOf(chatId);
      if (!pair) return;
      const a = registry.ofUserIfAny(pair[0]);
      const b = registry.ofUserIfAny(pair[1]);
      // Most events concern nobody on this process: skip the encoding for them.
      if (!a && !b) return;
      if (e.type === 'MessageDeleted') receipts.onEvent(e);
      const frame = encodeEvent(chatId, toPublicRecord(e));
      if (a) for (const conn of a) delivery.live(conn, chatId, e.revision, frame);
      if (b) for (const conn of b) delivery.live(conn, chatId, e.revision, frame);
    } else if (e.type === 'UserLoggedOut' && e.streamId.startsWith('user-')) {
      watch.userLoggedOut(e.streamId.slice(5));
    } else if (e.type === 'UserErased' && e.streamId.startsWith('user-')) {
      const userId = e.streamId.slice(5);
      erasures.userErased(userId);
      // The account is gone, whichever process erased it (`chat users erase` beside an embedded
      // service has no session signal to send): its sockets end as the log says so, not at the next check.
      for (const conn of [...connsOf(userId)]) if (!conn.closed) endSession(conn);
    } else if (e.streamId.startsWith('reads-')) {
      receipts.onEvent(e);
    }
  };
  const head = await store.headPosition();
  const feed = followLog(store, head, onEvent, logger);

  // ---- client frames ----
  const ephemeral = createEphemeral({
    store, bus: deps.presence, outbox, logger, connsOf,
    ...(deps.ephemeral ? { settings: deps.ephemeral } : {}),
  });

  const onMessage = createFrameHandler({
    config, commands, outbox, delivery, counters, logger, track,
    admit: (conn) => watch.admit(conn),
    end: (conn) => end(conn, 1008, 'RATE_LIMITED'),
    ephemeral: (conn, frame) => ephemeral.frame(conn, frame),
    read: (conn, frame) => receipts.frame(conn, frame),
    afterResume: async (conn, chatIds) => {
      await Promise.all([receipts.afterResume(conn, chatIds), erasures.afterResume(conn, chatIds)]);
    },
    change: createChangeHandler({
      config, commands, outbox, delivery, logger, encodeAck, errorCodeOf,
      encodeError: (code, opts) => encodeError(code as WsErrorCode, opts),
    }),
  });

  // ---- registry ----
  const register = (conn: Conn): void => {
    registry.add(conn);
    ephemeral.connected(conn);
  };
  const unregister = (conn: Conn): void => {
    // A socket closed before it was registered (the gateway was closing) was never online.
    if (registry.remove(conn)) ephemeral.disconnected(conn);
  };
  const upgrader = createUpgrader({
    config, origins, sessions, logger, counters: counters.upgrades,
    closing: () => closing,
    endedLately: (sessionId) => watch.endedLately(sessionId),
    socketsOf: (userId) => registry.ofUser(userId).size,
  });

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

    upgrade: upgrader.handler,

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
    res.writeHeader('content-type', JSON_TYPE).end(JSON.stringify({ ok: true, sockets: registry.all.size }));
  });
  app.any('/*', (res, req) => {
    // uWS hands the upgrade handler only requests it can take as a handshake: one to the socket path
    // that asks for an upgrade without a valid Sec-WebSocket-Key lands here, and is a bad request.
    const badHandshake = req.getUrl() === config.path && req.getHeader('upgrade') !== '';
    if (badHandshake) counters.upgrades.badRequest++;
    const [status, body] = badHandshake ? NOT_UPGRADED.badHandshake : NOT_UPGRADED.noRoute;
    res.writeStatus(status).writeHeader('content-type', JSON_TYPE).end(body);
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
    allowOrigins(more) {
      for (const o of originSet(more)) origins.add(o);
      logger.info({ allowedOrigins: [...origins] }, 'ws gateway origins');
    },
    stats: (): WsStats => ({
      runtime,
      sockets: registry.all.size,
      users: registry.users,
      pendingUpgrades: upgrader.pending(),
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
      for (const conn of [...registry.all]) {
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
