/**
 * Where browsers reach the WebSocket gateway. The gateway listens on its own port, so a page served
 * at http://HOST:3000 connects to ws://HOST:<port><path> with the same HOST the browser used (a user
 * on 127.0.0.1 and one on a LAN address both get a URL they can reach). Behind a proxy that puts
 * both on one origin, pass a fixed URL to the plugin instead.
 */
import type { FastifyRequest } from 'fastify';

/** A host name safe to put in a URL and a CSP header: letters, digits, dots, hyphens, or a bracketed IPv6 address. */
const SAFE_HOSTNAME = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;

export interface SameHostWsOptions {
  /** The gateway's port; a function when it is only known after the gateway started (port 0 in tests). */
  port: number | (() => number);
  /** The gateway's path (WsConfig.path), e.g. /ws. */
  path: string;
  /** Used when the request's Host header is missing or odd. */
  fallbackHost?: string;
}

export function sameHostWsUrl(opts: SameHostWsOptions): (request: FastifyRequest) => string {
  return (request) => {
    const port = typeof opts.port === 'function' ? opts.port() : opts.port;
    const hostname = SAFE_HOSTNAME.test(request.hostname) ? request.hostname : (opts.fallbackHost ?? '127.0.0.1');
    const scheme = request.protocol === 'https' ? 'wss' : 'ws';
    return `${scheme}://${hostname}:${port}${opts.path}`;
  };
}
