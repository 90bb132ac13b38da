// Baseline for bench/ws: a conventional Socket.IO chat server. Each message is inserted into
// PostgreSQL, pushed to a Redis list trimmed to the last 100, then emitted to the chat's room (both
// participants, like our gateway) and acknowledged. Sockets authenticate with the same session
// tokens as our gateway. One process: Socket.IO needs sticky sessions and its Redis adapter to run
// several, which this conventional setup does not have.
// Env: DATABASE_URL, DATABASE_SCHEMA, REDIS_URL, REDIS_KEY_PREFIX, PORT (0: any). Prints
// {"event":"listening","port":N} on stdout.
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Server } from 'socket.io';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};
const schema = env('DATABASE_SCHEMA', 'public');
const table = `"${schema.replace(/"/g, '""')}".baseline_messages`;
const prefix = env('REDIS_KEY_PREFIX', 'bench:sio:');

const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 10 });
pool.on('error', () => undefined);
await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
  id bigserial PRIMARY KEY,
  chat_id text NOT NULL,
  sender_id text NOT NULL,
  client_message_id text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chat_id, sender_id, client_message_id)
)`);
const redis = new Redis(env('REDIS_URL', 'redis://127.0.0.1:6379'));
const sessions = await PostgresSessionStore.open({ connectionString: env('DATABASE_URL'), schema });

const http = createServer();
const io = new Server(http, { serveClient: false, maxHttpBufferSize: 16 * 1024 });

io.use((socket, next) => {
  const token: unknown = socket.handshake.auth['token'];
  if (typeof token !== 'string') return next(new Error('unauthorized'));
  sessions.authenticate(token).then((s) => {
    if (!s) return next(new Error('unauthorized'));
    socket.data = { userId: s.userId };
    next();
  }, () => next(new Error('unavailable')));
});

const isParticipant = (chatId: unknown, userId: string): chatId is string =>
  typeof chatId === 'string' && chatId.split(':').includes(userId);

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
      const { rows } = await pool.query<{ id: string; created_at: Date }>(
        `INSERT INTO ${table} (chat_id, sender_id, client_message_id, body) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
        [m.chatId, userId, m.clientMessageId, m.body],
      );
      const row = rows[0]!;
      const msg = { id: row.id, chatId: m.chatId, senderId: userId, clientMessageId: m.clientMessageId, body: m.body, sentAt: row.created_at.toISOString() };
      const key = `${prefix}chat:${m.chatId}`;
      await redis.multi().lpush(key, JSON.stringify(msg)).ltrim(key, 0, 99).exec();
      io.to(m.chatId).emit('message', msg);
      cb({ ok: true, id: row.id });
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
    await sessions.close();
    await pool.end();
    redis.disconnect();
    process.exit(0);
  })();
});
