import t from 'tap';
import { ConfigError, loadConfig } from '../../infra/config.js';

t.test('defaults: the embedded store under ./data, OWASP argon2 minimum', async (t) => {
  const c = loadConfig({});
  t.equal(c.eventStore.kind, 'embedded');
  t.match(c.eventStore, { file: /data\/events\.sqlite$/ });
  t.same(c.argon2, { memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4, maxQueue: 64 });
  t.equal(c.loginThrottle.maxDelayMs, 8_000);
  t.equal(c.commandCacheItems, 1_000_000);
  t.equal(loadConfig({ COMMAND_CACHE_ITEMS: '50000' }).commandCacheItems, 50_000);
  t.equal(loadConfig({}).messageEditWindowSeconds, 86_400, 'edits allowed for 24 h by default');
  t.equal(loadConfig({ CHAT_MESSAGE_EDIT_WINDOW_SECONDS: '600' }).messageEditWindowSeconds, 600);
});

t.test('the configuration picks the adapter', async (t) => {
  t.match(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).eventStore, { kind: 'postgres', url: 'postgres://u@h/db', schema: 'public' });
  t.match(loadConfig({ DATABASE_URL: 'postgres://u@h/db', EVENTSTORE_URL: 'esdb://h:2113?tls=false' }).eventStore, { kind: 'eventstoredb' });
});

t.test('bad values fail naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must use postgres/],
    [{ DATABASE_URL: 'not a url' }, /DATABASE_URL is not a valid URL/],
    [{ HTTP_PORT: 'eighty' }, /HTTP_PORT must be a whole number/],
    [{ HTTP_PORT: '70000' }, /HTTP_PORT must be between/],
    [{ ARGON2_MEMORY_KIB: '1024' }, /ARGON2_MEMORY_KIB must be between 19456/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ COMMAND_CACHE_ITEMS: '10' }, /COMMAND_CACHE_ITEMS must be between 1000/],
    [{ CHAT_MESSAGE_EDIT_WINDOW_SECONDS: '0' }, /CHAT_MESSAGE_EDIT_WINDOW_SECONDS must be between 1/],
    [{ DATABASE_SCHEMA: 'Robert"); drop' }, /DATABASE_SCHEMA must be a lower-case SQL identifier/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL must use redis/],
    [{ DATABASE_READ_URL: 'mysql://x' }, /DATABASE_READ_URL must use postgres/],
  ];
  for (const [env, msg] of cases) t.throws(() => loadConfig(env), { name: 'ConfigError', message: msg });
  t.ok(new ConfigError('X', 'y') instanceof Error);
});

t.test('web, session and throttle settings', async (t) => {
  const c = loadConfig({ HTTP_ALLOWED_ORIGINS: 'https://chat.example.com, http://localhost:3000', COOKIE_SECURE: 'true', SESSION_IDLE_MINUTES: '5' });
  t.same(c.web.allowedOrigins, ['https://chat.example.com', 'http://localhost:3000']);
  t.equal(c.web.cookieSecure, true);
  t.equal(c.sessions.idleMinutes, 5);
  t.throws(() => loadConfig({ HTTP_ALLOWED_ORIGINS: 'chat.example.com' }), { message: /HTTP_ALLOWED_ORIGINS holds/ });
  t.throws(() => loadConfig({ HTTP_ALLOWED_ORIGINS: 'https://x.com/path' }), { message: /HTTP_ALLOWED_ORIGINS holds/ });
  t.throws(() => loadConfig({ COOKIE_SECURE: 'maybe' }), { message: /COOKIE_SECURE must be true or false/ });
  const tuned = loadConfig({ ARGON2_MAX_QUEUE: '0', LOGIN_MAX_DELAY_MS: '0' });
  t.same([tuned.argon2.maxQueue, tuned.loginThrottle.maxDelayMs], [0, 0], 'no queue and no slowdown are valid choices');
  t.throws(() => loadConfig({ ARGON2_MAX_QUEUE: '-1' }), { message: /ARGON2_MAX_QUEUE must be a whole number/ });
  t.throws(() => loadConfig({ ARGON2_MAX_QUEUE: '100001' }), { message: /ARGON2_MAX_QUEUE must be between 0 and 100000/ });
  t.throws(() => loadConfig({ LOGIN_MAX_DELAY_MS: '60001' }), { message: /LOGIN_MAX_DELAY_MS must be between 0 and 60000/ });
});

t.test('WebSocket settings are read here too', async (t) => {
  const c = loadConfig({ WS_PORT: '4001', WS_PATH: '/live', WS_ALLOWED_ORIGINS: 'http://localhost:3000', WS_RATE_PER_SEC: '5', WS_MAX_PROCESS_INFLIGHT_SENDS: '100' });
  t.match(c.ws, { port: 4001, path: '/live', allowedOrigins: ['http://localhost:3000'], ratePerSec: 5, maxProcessInFlightSends: 100 });
  t.throws(() => loadConfig({ WS_MAX_PROCESS_INFLIGHT_SENDS: '0' }), { message: /WS_MAX_PROCESS_INFLIGHT_SENDS must be between 1/ });
  t.notOk('host' in c.ws, 'unset values are left to the gateway defaults');
  t.throws(() => loadConfig({ WS_MAX_PAYLOAD_BYTES: '70000' }), { message: /WS_MAX_PAYLOAD_BYTES must be between/ });
  t.throws(() => loadConfig({ WS_PATH: 'ws' }), { message: /WS_PATH must be a URL path/ });
  t.equal(loadConfig({ WS_MAX_SOCKETS_PER_USER: '5' }).ws.maxSocketsPerUser, 5);
  t.throws(() => loadConfig({ WS_MAX_SOCKETS_PER_USER: '0' }), { message: /WS_MAX_SOCKETS_PER_USER must be between 1 and 100000/ });
  t.throws(() => loadConfig({ WS_MAX_SOCKETS_PER_USER: 'many' }), { message: /WS_MAX_SOCKETS_PER_USER must be/ });
});

t.test('presence and typing settings', async (t) => {
  const d = loadConfig({});
  t.same(d.presence, { ttlMs: 15_000, graceMs: 3_000, lastSeenDays: 90 });
  t.same(d.typing, { ratePerSec: 1, burst: 3 });
  const c = loadConfig({ PRESENCE_TTL_MS: '1500', PRESENCE_GRACE_MS: '0', PRESENCE_LAST_SEEN_DAYS: '7', TYPING_RATE_PER_SEC: '2', TYPING_BURST: '5' });
  t.same([c.presence, c.typing], [{ ttlMs: 1500, graceMs: 0, lastSeenDays: 7 }, { ratePerSec: 2, burst: 5 }]);
  // Above 20 s a dead gateway's users could stay online longer than 30 s (TTL plus a third of it).
  t.throws(() => loadConfig({ PRESENCE_TTL_MS: '20001' }), { message: /PRESENCE_TTL_MS must be between 300 and 20000/ });
  t.throws(() => loadConfig({ TYPING_BURST: '0' }), { message: /TYPING_BURST must be between 1 and 100/ });
});

t.test('RabbitMQ: AMQP_URL lists a cluster, PROJECTOR_PARTITIONS splits the projector queue', async (t) => {
  const d = loadConfig({});
  t.same([d.amqpUrl, d.amqpUrls, d.projector.partitions], [undefined, [], 1], 'unset: no broker, one projector queue');
  t.same(loadConfig({ AMQP_URL: 'amqp://g:g@h1:5672' }).amqpUrls, ['amqp://g:g@h1:5672']);
  const c = loadConfig({ AMQP_URL: 'amqp://g:g@h1:5672, amqp://g:g@h2:5673,amqps://g:g@h3', PROJECTOR_PARTITIONS: '8' });
  t.same(c.amqpUrls, ['amqp://g:g@h1:5672', 'amqp://g:g@h2:5673', 'amqps://g:g@h3'], 'comma-separated node URLs, in order');
  t.equal(c.projector.partitions, 8);
  t.throws(() => loadConfig({ AMQP_URL: 'amqp://h1,,amqp://h2' }), { name: 'ConfigError', message: /AMQP_URL holds an empty entry/ });
  t.throws(() => loadConfig({ AMQP_URL: 'amqp://h1,http://h2' }), { name: 'ConfigError', message: /AMQP_URL must use amqp:\/\/ or amqps:\/\// });
  t.throws(() => loadConfig({ AMQP_URL: 'amqp://h1,not a url' }), { name: 'ConfigError', message: /AMQP_URL is not a valid URL/ });
  t.throws(() => loadConfig({ PROJECTOR_PARTITIONS: '0' }), { name: 'ConfigError', message: /PROJECTOR_PARTITIONS must be between 1 and 64/ });
});
