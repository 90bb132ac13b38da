/**
 * Bounds on the HTTP listener's connections, so that one client cannot hold every file descriptor of
 * the process: idle or half-sent connections used to be kept 60 to 90 s each, and about 20,000 of them
 * from one address made the API unreachable (found by checking the service as an attacker would).
 * - `maxConnections`: Node drops connections past it, so the process keeps descriptors for its own
 *   work (the event store, the read models, the broker);
 * - `perAddress`: one peer address may hold this many at once; one more is answered 429 RATE_LIMITED
 *   and closed. Not applied behind a trusted proxy (HTTP_TRUST_PROXY), whose one address carries
 *   every client: the proxy limits them there.
 * The timeouts (app.ts) close what is held without progress: headers within 10 s, a whole request
 * within 30 s, checked every second.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { answerOnSocket } from './plugins/errors.js';

export interface ConnectionLimits {
  maxConnections: number;
  /** 0: no limit per address. */
  perAddress: number;
}

export function limitConnections(server: Server, limits: ConnectionLimits): void {
  server.maxConnections = limits.maxConnections;
  if (limits.perAddress <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const held = open.get(address) ?? 0;
    if (held >= limits.perAddress) {
      answerOnSocket(socket, 'RATE_LIMITED', 'Retry-After: 1\r\n');
      return;
    }
    open.set(address, held + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
