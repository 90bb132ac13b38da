/**
 * Who is knocking: the credential of an upgrade request and the identity it proves. Everything here
 * runs before a socket exists; a refusal is a plain HTTP answer (401/403/503).
 */
import { bearerToken } from '../bearer.js';

/** Longer than any token this service issues: refused before it reaches the session store. */
const MAX_TOKEN_LENGTH = 512;

/**
 * What the gateway needs from a session store, declared here by its user: both adapters
 * (infra/sessions/) have all of it, and the composition root hands one in. Without the
 * session-ended signal (onSessionsEnded) the gateway still works, but checks the session in the
 * database before every frame it serves (see session-watch.ts).
 */
export interface WsSessionPort {
  /** The live session of a bearer or cookie token; null when unknown, revoked or expired. */
  authenticate(token: string): Promise<{ id: string; userId: string } | null>;
  /** Consumes a one-time ticket: its session's user the first time, null after. */
  redeemTicket(ticket: string): Promise<{ userId: string; sessionId: string } | null>;
  /** Of these session ids, the live ones, each with the milliseconds it has left unless used. */
  liveSessions(ids: readonly string[]): Promise<ReadonlyMap<string, number>>;
  /** A socket's user actions are use: refreshes these live sessions' idle clocks (SessionStore.touchSessions). */
  touchSessions(ids: readonly string[]): Promise<void>;
  /** Ids of sessions ended by a revoke, from any process; between `lost` and `ready` some may be missed. Returns the unsubscribe. */
  onSessionsEnded?(listener: { ended(sessionIds: readonly string[]): void; ready(): void; lost(): void }): () => void;
}

export type Credential =
  | { kind: 'ticket'; secret: string }
  | { kind: 'bearer'; secret: string }
  | { kind: 'cookie'; secret: string };

export interface Identity {
  userId: string;
  sessionId: string;
  via: Credential['kind'];
  /** When (Date.now()) the database confirmed the session, and until when it lives unless used: the socket's first frames need no other check. */
  verifiedAt: number;
  liveUntil: number;
}

export interface UpgradeHeaders {
  origin: string;
  authorization: string;
  cookie: string;
  ticket: string;
}

function cookieValue(header: string, name: string): string | null {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/**
 * The credential the request presents: a ticket (explicit, so it wins over a cookie the browser
 * attaches on its own), else a bearer token, else the session cookie. A malformed Authorization
 * header counts as no credential (401), never as a reason to look at the cookie.
 */
export function pickCredential(h: UpgradeHeaders, cookieName: string): Credential | null {
  if (h.ticket !== '') return { kind: 'ticket', secret: h.ticket };
  if (h.authorization !== '') {
    const token = bearerToken(h.authorization);
    return token && token.length <= MAX_TOKEN_LENGTH ? { kind: 'bearer', secret: token } : null;
  }
  const cookie = h.cookie === '' ? null : cookieValue(h.cookie, cookieName);
  return cookie ? { kind: 'cookie', secret: cookie } : null;
}

/** Normalized allowlist: URL.origin lower-cases the host and drops default ports. */
export function originSet(origins: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const o of origins) {
    try {
      out.add(new URL(o).origin);
    } catch {
      // wsConfig validated the list; an unparseable entry can only never match.
    }
  }
  return out;
}

/** A missing Origin is a non-browser client (browsers always send it on a WebSocket upgrade). */
export function originAllowed(origin: string, allowed: ReadonlySet<string>): boolean {
  if (origin === '') return true;
  let normalized: string;
  try {
    normalized = new URL(origin).origin;
  } catch {
    return false; // includes the opaque "null" origin of sandboxed frames and file: pages
  }
  return allowed.has(normalized);
}

/**
 * An Origin on the host the request was addressed to (`host`, the Host header), at one of `ports`. A
 * page elsewhere cannot pass for it: its Origin names its own host. A host name rebound by DNS to
 * this address could, but its browser holds no session cookie of ours to send.
 */
export function sameHostOrigin(origin: string, host: string, ports: readonly number[]): boolean {
  if (ports.length === 0 || origin === '' || host === '') return false;
  let page: URL;
  let addressed: URL;
  try {
    page = new URL(origin);
    addressed = new URL(`http://${host}`);
  } catch {
    return false;
  }
  if (page.protocol !== 'http:' && page.protocol !== 'https:') return false;
  const port = Number(page.port || (page.protocol === 'https:' ? 443 : 80));
  return page.hostname === addressed.hostname && ports.includes(port);
}

export async function identify(sessions: WsSessionPort, credential: Credential): Promise<Identity | null> {
  let found: { userId: string; sessionId: string } | null;
  if (credential.kind === 'ticket') {
    found = await sessions.redeemTicket(credential.secret);
  } else {
    const session = await sessions.authenticate(credential.secret);
    found = session ? { userId: session.userId, sessionId: session.id } : null;
  }
  if (!found) return null;
  // How long the session has left, in the same terms as SessionWatch's checks.
  const verifiedAt = Date.now();
  const left = (await sessions.liveSessions([found.sessionId])).get(found.sessionId);
  if (left === undefined) return null;
  return { userId: found.userId, sessionId: found.sessionId, via: credential.kind, verifiedAt, liveUntil: verifiedAt + left };
}
