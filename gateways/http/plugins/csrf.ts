/**
 * CSRF protection for cookie-authenticated writes. Browsers attach cookies to cross-site requests,
 * so a state-changing request authenticated by the cookie must also prove it came from our page:
 *  - X-CSRF-Token must equal the session's CSRF token (an HMAC of the session token, also sent as
 *    the readable chat_csrf cookie: double submit, bound to the session), and
 *  - an Origin header, when sent, must be an allowed origin, and Sec-Fetch-Site must not say cross-site.
 * The Origin/Sec-Fetch-Site checks also guard login and registration (login CSRF). Bearer requests are
 * exempt: a browser never attaches an Authorization header on its own.
 * Runs in onRequest after authentication, so a refused request changes nothing and costs no body parse.
 */
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { csrfTokenFor, safeEqual } from '../csrf-token.js';
import type { HttpConfig } from '../config.js';
import { ApiError } from '../errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function originAllowed(origin: string, request: FastifyRequest, config: HttpConfig): boolean {
  if (config.allowedOrigins.length > 0) return config.allowedOrigins.includes(origin);
  const host = request.headers.host;
  if (!host) return false;
  try {
    // 'null' (sandboxed frames, some redirects) throws: refused. The Host header is read with the
    // Origin's scheme so default ports compare equal (localhost:80 is localhost for http).
    const o = new URL(origin);
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

export const csrfPlugin = fp<{ config: HttpConfig }>(
  async (app, { config }) => {
    app.addHook('onRequest', async (request) => {
      if (SAFE_METHODS.has(request.method) || request.auth?.via === 'bearer') return;
      const origin = request.headers.origin;
      // Said for what was wrong: a login or registration from another site has no cookie or token to blame.
      const foreign = 'Writes from a browser must come from a page of this site (an allowed Origin).';
      if (origin !== undefined && !originAllowed(origin, request, config)) throw new ApiError('CSRF_REJECTED', foreign);
      if (request.headers['sec-fetch-site'] === 'cross-site') throw new ApiError('CSRF_REJECTED', foreign);
      if (request.auth?.via !== 'cookie') return;
      const header = request.headers['x-csrf-token'];
      if (typeof header !== 'string' || !safeEqual(header, csrfTokenFor(request.auth.token))) {
        throw new ApiError('CSRF_REJECTED', 'A write with the session cookie needs the X-CSRF-Token header that login or GET /api/me gave.');
      }
    });
  },
  // Needs request.auth set first: onRequest hooks run in registration order, and fastify refuses to load this before auth.
  { name: 'csrf', dependencies: ['auth'] },
);
