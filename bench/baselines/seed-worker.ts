// The Celery side of the seed's architecture (bench/baselines/seed-server.ts): consumes the
// message tasks from the durable queue and, per task, inserts the message and an activity-log row
// into PostgreSQL in one transaction, then acknowledges the task (at least once: a task redelivered
// after a crash is inserted again, as the seed's task would be). Up to SEED_WORKER_PREFETCH tasks
// run at once over a pool of SEED_WORKER_POOL connections.
// Env: DATABASE_URL, DATABASE_SCHEMA, AMQP_URL, SEED_QUEUE, SEED_WORKER_PREFETCH (16),
// SEED_WORKER_POOL (8). Prints {"event":"consuming"} on stdout.
import amqp from 'amqplib';
import pg from 'pg';

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};
const schema = `"${env('DATABASE_SCHEMA', 'public').replace(/"/g, '""')}"`;
const queue = env('SEED_QUEUE');

const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: Number(env('SEED_WORKER_POOL', '8')) });
pool.on('error', () => undefined);
await pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.seed_messages (
  id bigserial PRIMARY KEY,
  message_id uuid NOT NULL,
  chat_id text NOT NULL,
  sender_id text NOT NULL,
  client_message_id text NOT NULL,
  body text NOT NULL,
  sent_at timestamptz NOT NULL
)`);
await pool.query(`CREATE INDEX IF NOT EXISTS seed_messages_chat ON ${schema}.seed_messages (chat_id, id)`);
await pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.seed_activity (
  id bigserial PRIMARY KEY,
  user_id text NOT NULL,
  action text NOT NULL,
  chat_id text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
)`);

interface Task {
  args: { id: string; chatId: string; senderId: string; clientMessageId: string; body: string; sentAt: string };
}

async function save(t: Task): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query(
      `INSERT INTO ${schema}.seed_messages (message_id, chat_id, sender_id, client_message_id, body, sent_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [t.args.id, t.args.chatId, t.args.senderId, t.args.clientMessageId, t.args.body, t.args.sentAt],
    );
    await c.query(`INSERT INTO ${schema}.seed_activity (user_id, action, chat_id) VALUES ($1, 'message.sent', $2)`, [t.args.senderId, t.args.chatId]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

const broker = await amqp.connect(env('AMQP_URL'));
const channel = await broker.createChannel();
await channel.assertQueue(queue, { durable: true });
await channel.prefetch(Number(env('SEED_WORKER_PREFETCH', '16')));
await channel.consume(queue, (msg) => {
  if (!msg) return;
  save(JSON.parse(msg.content.toString()) as Task).then(
    () => channel.ack(msg),
    () => channel.nack(msg, false, true),
  );
}, { noAck: false });
process.stdout.write(`${JSON.stringify({ event: 'consuming' })}\n`);
process.on('SIGTERM', () => {
  void (async () => {
    await channel.close().catch(() => undefined);
    await broker.close().catch(() => undefined);
    await pool.end();
    process.exit(0);
  })();
});
