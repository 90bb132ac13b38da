import t from 'tap';
import { ConfigError, loadConfig } from '../../infra/config.js';

t.test('defaults: the embedded store under ./data, OWASP argon2 minimum', async (t) => {
  const c = loadConfig({});
  t.equal(c.eventStore.kind, 'embedded');
  t.match(c.eventStore, { file: /data\/events\.sqlite$/ });
  t.same(c.argon2, { memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4 });
  t.equal(c.commandCacheItems, 1_000_000);
  t.equal(loadConfig({ COMMAND_CACHE_ITEMS: '50000' }).commandCacheItems, 50_000);
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
    [{ DATABASE_SCHEMA: 'Robert"); drop' }, /DATABASE_SCHEMA must be a lower-case SQL identifier/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL must use redis/],
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
});

t.test('WebSocket settings are read here too', async (t) => {
  const c = loadConfig({ WS_PORT: '4001', WS_PATH: '/live', WS_ALLOWED_ORIGINS: 'http://localhost:3000', WS_RATE_PER_SEC: '5', WS_MAX_PROCESS_INFLIGHT_SENDS: '100' });
  t.match(c.ws, { port: 4001, path: '/live', allowedOrigins: ['http://localhost:3000'], ratePerSec: 5, maxProcessInFlightSends: 100 });
  t.throws(() => loadConfig({ WS_MAX_PROCESS_INFLIGHT_SENDS: '0' }), { message: /WS_MAX_PROCESS_INFLIGHT_SENDS must be between 1/ });
  t.notOk('host' in c.ws, 'unset values are left to the gateway defaults');
  t.throws(() => loadConfig({ WS_MAX_PAYLOAD_BYTES: '70000' }), { message: /WS_MAX_PAYLOAD_BYTES must be between/ });
  t.throws(() => loadConfig({ WS_PATH: 'ws' }), { message: /WS_PATH must be a URL path/ });
});
