// What the two conventional Socket.IO baselines (socketio-server.ts for bench/ws, seed-server.ts for
// bench/e2e) share, so that they differ only in how a message is stored: sockets authenticate with
// our session tokens, join a chat's room (participants only), and a send is stored, emitted to the
// room (both participants, like our gateway) and acknowledged.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import type { PostgresSessionStore } from '../../infra/sessions/postgres.js';

export const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};

export interface SendRequest { chatId: string; senderId: string; clientMessageId: string; body: string }
export interface ChatMessage extends SendRequest { id: string; sentAt: string }

export interface SocketIoChatOptions {
  sessions: PostgresSessionStore;
  /** Stores the message the way this baseline does; throws when it cannot (the send is refused). */
  store(m: SendRequest): Promise<ChatMessage>;
  /** Closes what the baseline opened besides the sessions, at SIGTERM. */
  close(): Promise<void>;
}

const isParticipant = (chatId: unknown, userId: string): chatId is string =>
  typeof chatId === 'string' && chatId.split(':').includes(userId);

/** Listens on PORT (0: any) and prints {"event":"listening","port":N} on stdout. */
export function serveSocketIoChat(opts: SocketIoChatOptions): void {
  const http = createServer();
  const io = new Server(http, { serveClient: false, maxHttpBufferSize: 16 * 1024 });

  io.use((socket, next) => {
    const token: unknown = socket.handshake.auth['token'];
    if (typeof token !== 'string') return next(new Error('unauthorized'));
    opts.sessions.authenticate(token).then((s) => {
      if (!s) return next(new Error('unauthorized'));
      socket.data = { userId: s.userId };
      next();
    }, () => next(new Error('unavailable')));
  });

  io.on('connection', (socket) => {
    const userId = (socket.data as { userId: string }).userId;
    socket.on('join', (chatId: unknown, cb: (ok: boolean) => void) => {
      if (!isParticipant(chatId, userId)) return cb(false);
      void socket.join(chatId);
      cb(true);
    });
    socket.on('send', async (m: { chatId?: unknown; body?: unknown; clientMessageId?: unknown }, cb: (r: { ok: boolean; id?: string }) => void) => {
      try {
        if (!isParticipant(m.chatId, userId) || typeof m.body !== 'string' || typeof m.clientMessageId !== 'string') return cb({ ok: false });
        const msg = await opts.store({ chatId: m.chatId, senderId: userId, clientMessageId: m.clientMessageId, body: m.body });
        io.to(m.chatId).emit('message', msg);
        cb({ ok: true, id: msg.id });
      } catch {
        cb({ ok: false });
      }
    });
  });

  http.listen(Number(env('PORT', '0')), '127.0.0.1', () => {
    const address = http.address();
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 })}\n`);
  });
  process.on('SIGTERM', () => {
    void (async () => {
      await io.close();
      await opts.sessions.close();
      await opts.close();
      process.exit(0);
    })();
  });
}
