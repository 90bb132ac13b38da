// Baseline for bench/ws: a conventional Socket.IO chat server. Each message is inserted into
// PostgreSQL, pushed to a Redis list trimmed to the last 100, then emitted to the chat's room (both
// participants, like our gateway) and acknowledged. Sockets authenticate with the same session
// tokens as our gateway. One process: Socket.IO needs sticky sessions and its Redis adapter to run
// several, which this conventional setup does not have.
// Env: DATABASE_URL, DATABASE_SCHEMA, REDIS_URL, REDIS_KEY_PREFIX, PORT (0: any). Prints
// {"event":"listening","port":N} on stdout.
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { env, serveSocketIoChat } from './socketio-chat.js';

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

serveSocketIoChat({
  sessions,
  async store(m) {
    const { rows } = await pool.query<{ id: string; created_at: Date }>(
      `INSERT INTO ${table} (chat_id, sender_id, client_message_id, body) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
      [m.chatId, m.senderId, m.clientMessageId, m.body],
    );
    const row = rows[0]!;
    const msg = { id: row.id, ...m, sentAt: row.created_at.toISOString() };
    const key = `${prefix}chat:${m.chatId}`;
    await redis.multi().lpush(key, JSON.stringify(msg)).ltrim(key, 0, 99).exec();
    return msg;
  },
  async close() {
    await pool.end();
    redis.disconnect();
  },
});
