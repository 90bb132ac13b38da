/**
 * Session authentication. A route opts in with `config: { auth: true }`; its request then carries
 * `request.auth` or is refused with 401 UNAUTHENTICATED before its body is even parsed. The token
 * comes from `Authorization: Bearer …` (API clients, tests) or the HttpOnly session cookie
 * (browsers); the CSRF plugin treats the two differently, so which one was used is recorded.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { bearerToken } from '../../bearer.js';
import type { Session, SessionStore } from '../../ports/sessions.js';
import { csrfTokenFor } from '../csrf-token.js';
import type { HttpConfig } from '../config.js';
import { ApiError } from '../errors.js';

export interface AuthContext {
  session: Session;
  /** The presented secret; kept only for the request's lifetime (logout revokes it, CSRF derives from it). */
  token: string;
  via: 'cookie' | 'bearer';
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyContextConfig {
    /** True: the route needs a live session. */
    auth?: boolean;
  }
}

/** The token a request presents, if any. A malformed Authorization header counts as none (401), never as the cookie. */
export function presentedToken(request: FastifyRequest, config: HttpConfig): { token: string; via: 'cookie' | 'bearer' } | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const token = bearerToken(header);
    return token ? { token, via: 'bearer' } : null;
  }
  const cookie = request.cookies[config.sessionCookie];
  return cookie ? { token: cookie, via: 'cookie' } : null;
}

export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new ApiError('UNAUTHENTICATED');
  return request.auth;
}

export interface AuthOptions {
  sessions: SessionStore;
  config: HttpConfig;
}

/** Wrapped by fastify-plugin so its hook covers every route, whichever plugin registers it. */
export const authPlugin = fp<AuthOptions>(
  async (app, { sessions, config }) => {
    app.decorateRequest('auth', null);
    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.config.auth !== true) return;
      const presented = presentedToken(request, config);
      const session = presented ? await sessions.authenticate(presented.token) : null;
      if (!presented || !session) throw new ApiError('UNAUTHENTICATED');
      request.auth = { session, token: presented.token, via: presented.via };
    });
  },
  // The cookie token is read from request.cookies.
  { name: 'auth', dependencies: ['@fastify/cookie'] },
);

const cookieBase = (config: HttpConfig) => ({ path: '/', sameSite: 'strict' as const, secure: config.cookieSecure });

/** Sets the session cookie (HttpOnly) and its CSRF companion (readable by the page, by design). */
export function setSessionCookies(reply: FastifyReply, config: HttpConfig, token: string, session: Session): string {
  const maxAge = Math.max(0, Math.floor((session.absoluteExpiresAt.getTime() - session.createdAt.getTime()) / 1000));
  const csrf = csrfTokenFor(token);
  reply.setCookie(config.sessionCookie, token, { ...cookieBase(config), httpOnly: true, maxAge });
  reply.setCookie(config.csrfCookie, csrf, { ...cookieBase(config), httpOnly: false, maxAge });
  return csrf;
}

export function clearSessionCookies(reply: FastifyReply, config: HttpConfig): void {
  reply.clearCookie(config.sessionCookie, { ...cookieBase(config), httpOnly: true });
  reply.clearCookie(config.csrfCookie, cookieBase(config));
}
