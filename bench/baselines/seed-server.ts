// The seed's own architecture (Django Channels + Celery), built conventionally in Node for
// bench/e2e: a Socket.IO server that, for each message, pushes it to a Redis list trimmed to the
// last 100 (LPUSH + LTRIM), publishes a persistent task to RabbitMQ (confirm channel, durable
// queue) and waits for the broker's confirm, emits it to the chat's room (both participants) and
// acknowledges. A separate worker (seed-worker.ts) consumes the tasks and writes PostgreSQL.
// Sockets authenticate with the same session tokens as our gateway. One process: Socket.IO needs
// sticky sessions and its Redis adapter to run several, which this conventional setup does not have.
// Env: DATABASE_URL, DATABASE_SCHEMA, REDIS_URL, REDIS_KEY_PREFIX, AMQP_URL, SEED_QUEUE, PORT (0: any).
// Prints {"event":"listening","port":N} on stdout.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { env, serveSocketIoChat } from './socketio-chat.js';

const schema = env('DATABASE_SCHEMA', 'public');
const prefix = env('REDIS_KEY_PREFIX', 'bench:seed:');
const queue = env('SEED_QUEUE');

const redis = new Redis(env('REDIS_URL', 'redis://127.0.0.1:6379'));
const sessions = await PostgresSessionStore.open({ connectionString: env('DATABASE_URL'), schema });
const broker = await amqp.connect(env('AMQP_URL'));
const channel = await broker.createConfirmChannel();
await channel.assertQueue(queue, { durable: true });

/** A persistent task, resolved when the broker confirms it (a publisher confirm: it is on disk). */
const publish = (task: object): Promise<void> => new Promise((resolve, reject) => {
  channel.sendToQueue(queue, Buffer.from(JSON.stringify(task)), { persistent: true, contentType: 'application/json' }, (err) => (err ? reject(err as Error) : resolve()));
});

serveSocketIoChat({
  sessions,
  async store(m) {
    const msg = { id: randomUUID(), ...m, sentAt: new Date().toISOString() };
    const key = `${prefix}chat:${m.chatId}`;
    await redis.multi().lpush(key, JSON.stringify(msg)).ltrim(key, 0, 99).exec();
    await publish({ task: 'chat.save_message', args: msg });
    return msg;
  },
  async close() {
    await channel.close().catch(() => undefined);
    await broker.close().catch(() => undefined);
    redis.disconnect();
  },
});
