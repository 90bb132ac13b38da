/**
 * The WebSocket handshake: every check happens here, before a socket exists (docs/websocket.md,
 * "Connecting"): the Upgrade header, the origin, a credential, the process's pending-upgrade limit,
 * the session (one database or cache lookup), and the per-user socket limit. A refusal is a plain
 * HTTP answer with a JSON error body.
 */
import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import { identify, originAllowed, pickCredential, sameHostOrigin, type Identity, type WsSessionPort } from './auth.js';
import type { WsConfig } from './config.js';
import { Conn, type SocketData } from './connection.js';
import { errText } from './err-text.js';

export const JSON_TYPE = 'application/json';
export const refusal = (code: string, message: string): string => JSON.stringify({ error: { code, message } });
const REFUSALS = {
  400: ['400 Bad Request', refusal('BAD_REQUEST', 'Not a WebSocket handshake: the Connection header must include "Upgrade".')],
  401: ['401 Unauthorized', refusal('UNAUTHENTICATED', 'Log in first: no valid session token or ticket was sent, or it expired.')],
  403: ['403 Forbidden', refusal('FORBIDDEN', 'This origin may not open a socket.')],
  429: ['429 Too Many Requests', refusal('RATE_LIMITED', 'Too many open sockets for this user; close one first.')],
  503: ['503 Service Unavailable', refusal('SERVICE_UNAVAILABLE', 'Too many connection attempts or a backing service is down; try again shortly.')],
} as const;
/** RFC 6455 4.2.2: a version the server does not speak is refused, naming the one it does. */
const WS_VERSION = '13';
const BAD_VERSION = refusal('BAD_REQUEST', `Not a WebSocket handshake this server speaks: Sec-WebSocket-Version must be ${WS_VERSION}.`);

/** Requests uWS does not hand to the upgrade handler (server.ts's catch-all route). */
export const NOT_UPGRADED = {
  /** To the socket path, asking for an upgrade, without a valid Sec-WebSocket-Key. */
  badHandshake: ['400 Bad Request', refusal('BAD_REQUEST', 'Not a WebSocket handshake: Sec-WebSocket-Key is missing or malformed.')],
  noRoute: ['404 Not Found', refusal('NOT_FOUND', 'No such route.')],
} as const;

export interface UpgradeCounters {
  accepted: number;
  badRequest: number;
  unauthorized: number;
  forbidden: number;
  unavailable: number;
  tooMany: number;
}

export interface UpgradeDeps {
  config: WsConfig;
  origins: ReadonlySet<string>;
  sessions: WsSessionPort;
  logger: Logger;
  counters: UpgradeCounters;
  /** The gateway is closing: new sockets are refused (503). */
  closing(): boolean;
  /** A session this process saw end a moment ago (its logout may not have reached the session store's cache). */
  endedLately(sessionId: string): boolean;
  socketsOf(userId: string): number;
}

export interface Upgrader {
  handler: (res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t) => void;
  /** Handshakes waiting for their session lookup. */
  pending(): number;
}

export function createUpgrader(d: UpgradeDeps): Upgrader {
  const { config, counters, logger } = d;
  let pending = 0;
  let nextConnId = 1;

  const handler: Upgrader['handler'] = (res, req, context) => {
    // Everything needed from req is read now: it is invalid after this function returns or awaits.
    const key = req.getHeader('sec-websocket-key');
    const extensions = req.getHeader('sec-websocket-extensions');
    const connection = req.getHeader('connection');
    const version = req.getHeader('sec-websocket-version');
    const headers = {
      origin: req.getHeader('origin'),
      host: req.getHeader('host'),
      authorization: req.getHeader('authorization'),
      cookie: req.getHeader('cookie'),
      ticket: req.getQuery('ticket') ?? '',
    };
    // A browser sends one Origin (RFC 6454); getHeader reads the first only, so two could pair an
    // allowed one with another.
    let origins = 0;
    req.forEach((name) => { if (name === 'origin') origins++; });
    const refuse = (status: 400 | 401 | 403 | 429 | 503, body: string = REFUSALS[status][1], header?: readonly [string, string]): void => {
      res.writeStatus(REFUSALS[status][0]).writeHeader('content-type', JSON_TYPE);
      if (status === 429) res.writeHeader('retry-after', '1');
      if (header) res.writeHeader(header[0], header[1]);
      res.end(body);
    };
    // RFC 6455 asks for it, and the upgrade below depends on it: uWS marks a request whose
    // Connection header is five characters long ("close") as closing, and would drop the
    // socket right after an uncorked upgrade without ever reporting it closed.
    if (!/(^|[\s,])upgrade($|[\s,])/i.test(connection)) {
      counters.badRequest++;
      return refuse(400);
    }
    if (version !== WS_VERSION) {
      counters.badRequest++;
      return refuse(400, BAD_VERSION, ['sec-websocket-version', WS_VERSION]);
    }
    if (origins > 1 || (!originAllowed(headers.origin, d.origins) && !sameHostOrigin(headers.origin, headers.host, config.sameHostOriginPorts))) {
      counters.forbidden++;
      return refuse(403);
    }
    const credential = pickCredential(headers, config.sessionCookie);
    if (!credential) {
      counters.unauthorized++;
      return refuse(401);
    }
    if (d.closing() || pending >= config.maxPendingUpgrades) {
      counters.unavailable++;
      return refuse(503);
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    pending++;
    void identify(d.sessions, credential).then(
      (identity): Identity | 'error' | null => identity,
      (err: unknown): 'error' => {
        logger.warn({ err: errText(err), via: credential.kind }, 'ws upgrade: session lookup failed');
        return 'error';
      },
    ).then((identity) => {
      pending--;
      if (aborted) return;
      const refused = (status: 401 | 429 | 503): void => {
        res.cork(() => refuse(status));
      };
      if (identity === 'error' || d.closing()) {
        counters.unavailable++;
        return refused(503);
      }
      if (!identity || d.endedLately(identity.sessionId)) {
        counters.unauthorized++;
        return refused(401);
      }
      // Counted exactly: uWS runs `open` (which registers the socket) inside res.upgrade.
      if (d.socketsOf(identity.userId) >= config.maxSocketsPerUser) {
        counters.tooMany++;
        return refused(429);
      }
      counters.accepted++;
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
  };
  return { handler, pending: () => pending };
}
