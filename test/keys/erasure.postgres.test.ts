// Erasure end to end on the full services (PostgreSQL, Redis, RabbitMQ): after DELETE /api/me, a phrase
// the user sent is nowhere in the schema's tables, the prefix's Redis keys or the RabbitMQ messages, no
// usable key is left, rebuilt projections show the messages erased, and `chat audit verify` passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';
import t from 'tap';
import { startService } from '../../gateways/service/start-service.js';
import { loadConfig } from '../../infra/config.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { chat } from '../audit/support.js';
import { TEST_AMQP_URL } from '../support/broker.js';
import { TEST_DATABASE_URL, createTestSchema } from '../support/pg.js';
import { deleteKeysUnder, keysUnder } from '../support/redis-keys.js';
import { waitFor } from '../support/wait.js';
import { connect } from '../ws/support.js';
import { createServer } from 'node:net';
import { apiCaller, twoUsersInAChat } from '../support/api-call.js';

/** A port the OS hands out now (the gateway's listen address must be known to connect to it). */
const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const srv = createServer();
  srv.once('error', reject);
  srv.listen(0, '127.0.0.1', () => {
    const { port } = srv.address() as { port: number };
    srv.close(() => resolve(port));
  });
});

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'correct horse battery staple';

async function tablesHolding(schema: string, phrase: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [schema]);
    const hits: string[] = [];
    for (const { table_name } of rows) {
      const r = await c.query(`SELECT 1 FROM "${schema}"."${table_name}" t WHERE t::text LIKE $1 LIMIT 1`, [`%${phrase}%`]);
      if (r.rowCount) hits.push(table_name);
    }
    return hits;
  } finally {
    await c.end();
  }
}

async function redisValues(redis: Redis, prefix: string): Promise<string> {
  let out = '';
  for await (const keys of keysUnder(redis, prefix)) {
    for (const k of keys) {
      const type = await redis.type(k);
      const v = type === 'string' ? await redis.get(k)
        : type === 'zset' ? await redis.zrange(k, '0', '-1')
        : type === 'hash' ? await redis.hgetall(k)
        : type === 'set' ? await redis.smembers(k)
        : type === 'list' ? await redis.lrange(k, '0', '-1')
        : type === 'stream' ? await redis.xrange(k, '-', '+') : null;
      out += `${k}=${JSON.stringify(v)}\n`;
    }
  }
  return out;
}

t.test('erasing an account leaves its bodies and hash nowhere', async (t) => {
  const id = randomUUID().replace(/-/g, '').slice(0, 10);
  const schema = await createTestSchema('erase');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-erase-'));
  const redisPrefix = `test:erase:${id}:`;
  const amqpPrefix = `t_erase_${id}`;
  const kek = randomBytes(32).toString('base64');
  const wsPort = await freePort();
  // The composition root reads the gateway's settings from the environment (gateways/ws/config.ts); this file owns its process.
  process.env['WS_PORT'] = String(wsPort);
  process.env['WS_HOST'] = '127.0.0.1';
  const config = loadConfig({
    DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema, REDIS_URL, REDIS_KEY_PREFIX: redisPrefix,
    AMQP_URL: TEST_AMQP_URL, AMQP_PREFIX: amqpPrefix, DATA_DIR: dataDir, HTTP_PORT: '0', WS_PORT: String(wsPort),
    WS_HOST: '127.0.0.1', LOG_LEVEL: 'silent', DATA_KEY_ENCRYPTION_KEY: kek,
  });
  const redis = new Redis(REDIS_URL);
  const broker = await amqp.connect(TEST_AMQP_URL);
  const ch = await broker.createChannel();
  let svc: Awaited<ReturnType<typeof startService>> | null = await startService(config, 'all');
  t.teardown(async () => {
    await svc?.stop();
    for (const q of [`${amqpPrefix}.spy`, `${amqpPrefix}.projector`, `${amqpPrefix}.projector.dead`]) await ch.deleteQueue(q).catch(() => undefined);
    for (const x of [`${amqpPrefix}.events`, `${amqpPrefix}.events.dlx`]) await ch.deleteExchange(x).catch(() => undefined);
    await broker.close().catch(() => undefined);
    await deleteKeysUnder(redis, redisPrefix);
    redis.disconnect();
    await schema.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  // A spy queue on the events exchange keeps a copy of everything the relay publishes.
  await waitFor('the relay declared its exchange', async () => {
    const probe = await broker.createChannel();
    probe.on('error', () => undefined);
    try {
      await probe.checkExchange(`${amqpPrefix}.events`);
      await probe.close();
      return true;
    } catch {
      return false;
    }
  });
  await ch.assertQueue(`${amqpPrefix}.spy`, { durable: false });
  await ch.bindQueue(`${amqpPrefix}.spy`, `${amqpPrefix}.events`, '#');

  const url = svc.url!;
  const call = apiCaller(url);
  const { tokens: [alice, bob], chatId } = await twoUsersInAChat(t, call, ['alice', 'bob'], PASSWORD);
  const phrase = `unique-phrase-${randomUUID()}`;
  t.equal((await call('POST', `/api/chats/${encodeURIComponent(chatId)}/messages`, alice, { body: phrase, clientMessageId: 'a1' })).status, 201);
  t.equal((await call('POST', `/api/chats/${encodeURIComponent(chatId)}/messages`, bob, { body: 'hello alice', clientMessageId: 'b1' })).status, 201);
  t.equal((await call('POST', `/api/chats/${encodeURIComponent(chatId)}/messages`, alice, { body: `${phrase} again`, clientMessageId: 'a2' })).status, 201);
  const history = async () => (await call('GET', `/api/chats/${encodeURIComponent(chatId)}/messages`, bob)).body!['messages'] as Array<{ senderId: string; body: string; erased: boolean }>;
  await waitFor('bob reads the phrase', async () => (await history()).some((m) => m.body === phrase));
  await waitFor('the phrase reached the read model and the view', async () => (await tablesHolding(schema.schema, phrase)).includes('messages') && (await redisValues(redis, redisPrefix)).includes(phrase));
  t.same(await tablesHolding(schema.schema, phrase).then((h) => h.filter((x) => x === 'events')), [], 'the log never held the plaintext');

  const socket = await connect(`ws://127.0.0.1:${wsPort}/ws`, { token: alice });
  // Bob has the chat open: his socket is told of the erasure as it happens.
  const bobBefore = await connect(`ws://127.0.0.1:${wsPort}/ws`, { token: bob });
  t.teardown(() => bobBefore.close());
  await bobBefore.resume({ [chatId]: -1 });
  t.notOk(bobBefore.frames.some((f) => f.type === 'participant_erased'), 'no participant_erased before the erasure');
  t.equal((await call('DELETE', '/api/me', alice, { password: 'wrong password here' })).status, 401, 'a wrong password erases nothing');
  t.equal((await call('GET', '/api/me', alice)).status, 200);
  t.equal((await call('DELETE', '/api/me', alice, { password: PASSWORD })).status, 204);
  t.equal((await call('GET', '/api/me', alice)).status, 401, 'the sessions ended');
  const closed = await socket.closed;
  t.same([closed.code, closed.reason], [1008, 'SESSION_ENDED'], 'and the socket closed');
  t.equal((await call('POST', '/api/login', null, { username: 'alice', password: PASSWORD, bearer: true })).status, 401, 'no login any more');
  t.equal((await call('POST', '/api/register', null, { username: 'alice', password: PASSWORD })).status, 409, 'the username stays reserved');

  const page = await history();
  t.same(page.filter((m) => m.senderId === 'alice').map((m) => [m.body, m.erased]), [['', true], ['', true]], 'the other participant sees them erased at once, said in `erased`');
  t.same(page.filter((m) => m.senderId === 'bob').map((m) => [m.body, m.erased]), [['hello alice', false]], "bob's own message stays");
  t.same(await bobBefore.waitFor((f) => f.type === 'participant_erased'), { type: 'participant_erased', chatId, userId: 'alice' }, 'bob\'s open socket hears of it live');
  const bobSocket = await connect(`ws://127.0.0.1:${wsPort}/ws`, { token: bob });
  t.teardown(() => bobSocket.close());
  await bobSocket.resume({ [chatId]: -1 });
  t.ok(bobSocket.frames.some((f) => f.type === 'participant_erased' && f.chatId === chatId), 'and a new socket after its resume, before resumed');
  // The gateway learns of the erasure from the log; until then a send may still be stored (privacy.md).
  await waitFor('bob\'s sends to alice are refused', async () => {
    const f = await bobSocket.send(chatId, 'are you there?');
    return f.type === 'error' && f.code === 'PARTICIPANT_ERASED';
  });
  t.equal((await call('POST', `/api/chats/${encodeURIComponent(chatId)}/messages`, bob, { body: 'alice?', clientMessageId: 'b2' })).status, 410, 'over HTTP too');
  await waitFor('the projector applied UserErased', async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      return ((await c.query(`SELECT 1 FROM "${schema.schema}".activity_log WHERE action = 'erase_account' AND user_id = 'alice'`)).rowCount ?? 0) > 0;
    } finally {
      await c.end();
    }
  });
  t.same(await tablesHolding(schema.schema, phrase), [], 'no PostgreSQL table holds the phrase');
  t.notOk((await redisValues(redis, redisPrefix)).includes(phrase), 'no Redis key holds it');
  const keys = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await keys.connect();
  const row = (await keys.query(`SELECT wrapped FROM "${schema.schema}".data_keys WHERE user_id = 'alice'`)).rows[0] as { wrapped: string | null };
  const parked = (await keys.query(`SELECT count(*)::int AS n FROM "${schema.schema}".dead_letters`)).rows[0] as { n: number };
  await keys.end();
  t.equal(row.wrapped, null, 'no usable key left');
  t.equal(parked.n, 0, 'the projector behind RabbitMQ read every record (none parked)');

  await svc.stop();
  svc = null;
  // Every message published, and whatever is still queued: sealed.
  let published = 0;
  for (const q of [`${amqpPrefix}.spy`, `${amqpPrefix}.projector`, `${amqpPrefix}.projector.dead`]) {
    for (;;) {
      const m = await ch.get(q, { noAck: true });
      if (m === false) break;
      published++;
      t.notOk(m.content.toString('utf8').includes(phrase), `a message in ${q} does not hold the phrase`);
      t.notOk(m.content.toString('utf8').includes('$argon2'), 'nor a password hash');
    }
  }
  t.ok(published >= 8, 'the spy saw the traffic');

  const where = { kind: 'postgres' as const, schema: schema.schema };
  const env = { DATA_KEY_ENCRYPTION_KEY: kek };
  for (const p of SQL_PROJECTIONS) {
    const r = await chat(where, ['projections', 'rebuild', p.name], env);
    t.equal(r.code, 0, `rebuild ${p.name}: ${r.stderr}`);
  }
  t.same(await tablesHolding(schema.schema, phrase), [], 'after rebuilding every projection, still nowhere');
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  const bodies = (await c.query(`SELECT sender_id, body FROM "${schema.schema}".messages ORDER BY revision`)).rows;
  await c.end();
  t.same(bodies, [{ sender_id: 'alice', body: '' }, { sender_id: 'bob', body: 'hello alice' }, { sender_id: 'alice', body: '' }], 'rebuilt: erased');
  const verify = await chat(where, ['audit', 'verify'], env);
  t.equal(verify.code, 0, `audit verify passes: ${verify.stdout}${verify.stderr}`);
  const activity = await chat(where, ['audit', 'activity', '--user', 'alice', '--format', 'jsonl'], env);
  t.equal(activity.code, 0, activity.stderr);
  t.match(activity.stdout, /send_message/);
  t.match(activity.stdout, /erase_account/);
  t.notOk(activity.stdout.includes(phrase), 'activity lists the actions without their content');
});
