/**
 * Who is knocking: the credential of an upgrade request and the identity it proves. Everything here
 * runs before a socket exists; a refusal is a plain HTTP answer (401/403/503).
 */
import type { SessionStore } from '../../infra/sessions/port.js';

/**
 * What the gateway needs from the sessions port. `liveSessionIds` is optional so that a store
 * without it still works: open sockets are then re-checked when the log shows a UserLoggedOut
 * (see session-watch.ts) instead of by a periodic batch query.
 */
export type WsSessionPort = Pick<SessionStore, 'authenticate' | 'redeemTicket'> & {
  /** Of the given session ids, those whose session is still alive (not revoked, not expired). */
  liveSessionIds?(ids: readonly string[]): Promise<ReadonlySet<string>>;
};

export type Credential =
  | { kind: 'ticket'; secret: string }
  | { kind: 'bearer'; secret: string }
  | { kind: 'cookie'; secret: string };

export interface Identity {
  userId: string;
  sessionId: string;
  via: Credential['kind'];
  /**
   * The session token, kept only for sockets opened with one (bearer or cookie) and only when the
   * sessions port cannot check session ids in bulk: it is then the one way to re-check the session.
   */
  token: string | null;
  /** Absolute end of the session (ms since epoch), when known: the socket is closed then. */
  expiresAt: number | null;
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
    const m = /^Bearer ([A-Za-z0-9_-]{1,512})$/.exec(h.authorization);
    return m?.[1] ? { kind: 'bearer', secret: m[1] } : null;
  }
  const cookie = h.cookie === '' ? null : cookieValue(h.cookie, cookieName);
  return cookie ? { kind: 'cookie', secret: cookie } : null;
}

/** Normalized allowlist: URL.origin lower-cases the host and drops default ports. */
export function originSet(origins: readonly string[]): ReadonlySet<string> {
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

export async function identify(sessions: WsSessionPort, credential: Credential): Promise<Identity | null> {
  const keepToken = sessions.liveSessionIds === undefined;
  if (credential.kind === 'ticket') {
    const redeemed = await sessions.redeemTicket(credential.secret);
    return redeemed ? { userId: redeemed.userId, sessionId: redeemed.sessionId, via: 'ticket', token: null, expiresAt: null } : null;
  }
  const session = await sessions.authenticate(credential.secret);
  if (!session) return null;
  return {
    userId: session.userId,
    sessionId: session.id,
    via: credential.kind,
    token: keepToken ? credential.secret : null,
    expiresAt: session.absoluteExpiresAt.getTime(),
  };
}
