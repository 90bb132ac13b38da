// /readyz tells "cannot serve" (503) from "serves, without a cache" (200 degraded): a Redis outage
// only degrades an instance whose history still comes from PostgreSQL; a required check failing
// (event store, PostgreSQL) takes it out of the load balancer.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { degradesOnly } from '../../gateways/http/ops-wiring.js';
import { startService } from '../../gateways/service/start-service.js';
import { loadConfig } from '../../infra/config.js';
import { deadEndpoint } from '../support/dead-endpoint.js';
import { createTestSchema } from '../support/pg.js';
import { waitFor } from '../support/wait.js';
import { json, startHarness } from './harness.js';

interface Readiness {
  status: string;
  checks: Record<string, { ok: boolean; required: boolean; ms: number; error?: string }>;
}

t.test('ready, degraded, not ready: what fails decides', async (t) => {
  let redisUp = true;
  let storeUp = true;
  const h = await startHarness('embedded', {
    config: { readinessTimeoutMs: 300 },
    readiness: {
      eventStore: async () => { if (!storeUp) throw new Error('database is closed'); },
      redis: degradesOnly(async () => { if (!redisUp) throw new Error('Redis is not connected'); }),
    },
  });
  t.teardown(() => h.close());
  const readyz = async (): Promise<[number, Readiness]> => {
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    return [res.statusCode, json<Readiness>(res)];
  };

  const [okCode, ok] = await readyz();
  t.equal(okCode, 200);
  t.match(ok, { status: 'ready', checks: { eventStore: { ok: true, required: true }, redis: { ok: true, required: false } } });

  redisUp = false;
  const [degradedCode, degraded] = await readyz();
  t.equal(degradedCode, 200, 'an optional check failing keeps the instance in rotation');
  t.match(degraded, { status: 'degraded', checks: { eventStore: { ok: true, required: true }, redis: { ok: false, required: false, error: 'Redis is not connected' } } });

  storeUp = false;
  const [downCode, down] = await readyz();
  t.equal(downCode, 503, 'a required check failing takes it out');
  t.match(down, { status: 'not_ready', checks: { eventStore: { ok: false, error: 'database is closed' }, redis: { ok: false } } });

  redisUp = true;
  const [storeDownCode, storeDown] = await readyz();
  t.same([storeDownCode, storeDown.status], [503, 'not_ready'], 'whatever the optional checks say');
});

t.test('the service with Redis down: /readyz degraded, history from PostgreSQL', async (t) => {
  const ts = await createTestSchema('readyz');
  const deadRedis = await deadEndpoint('reset');
  // The WebSocket part of role `all` reads its settings from the environment: a port from the OS.
  process.env['WS_PORT'] = '0';
  const config = loadConfig({
    DATABASE_URL: ts.url,
    DATABASE_SCHEMA: ts.schema,
    REDIS_URL: deadRedis.url('redis'),
    REDIS_KEY_PREFIX: `test:readyz:${randomUUID().slice(0, 8)}:`,
    HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
  });
  const svc = await startService(config, 'all');
  t.teardown(async () => {
    await svc.stop();
    await deadRedis.close();
    await ts.drop();
  });
  const base = svc.url!;
  const call = async (method: string, path: string, body?: unknown, token?: string): Promise<Response> => fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

  const ready = await call('GET', '/readyz');
  const readiness = (await ready.json()) as Readiness;
  t.equal(ready.status, 200, 'Redis down is no reason to leave the load balancer');
  t.match(readiness, {
    status: 'degraded',
    checks: {
      eventStore: { ok: true, required: true },
      postgres: { ok: true, required: true },
      redis: { ok: false, required: false, error: 'Redis is not connected' },
    },
  });
  t.ok(deadRedis.connections > 0, 'the service did try the Redis it was given');

  // And it does serve: history comes from PostgreSQL.
  const alice = `alice${randomUUID().slice(0, 6)}`;
  const bob = `bob${randomUUID().slice(0, 6)}`;
  for (const u of [alice, bob]) t.equal((await call('POST', '/api/register', { username: u, password: 'password123' })).status, 201);
  const login = await call('POST', '/api/login', { username: alice, password: 'password123', bearer: true });
  t.equal(login.status, 200, 'login works (the throttle counts in memory)');
  const { token } = (await login.json()) as { token: string };
  let chatId = '';
  await waitFor('a chat with bob (once his account is projected)', async () => {
    const res = await call('POST', '/api/chats', { username: bob }, token);
    if (res.status !== 200 && res.status !== 201) return false;
    chatId = ((await res.json()) as { chatId: string }).chatId;
    return true;
  }, 60_000);
  const sent = await call('POST', `/api/chats/${encodeURIComponent(chatId)}/messages`, { body: 'hello while Redis is down', clientMessageId: randomUUID() }, token);
  t.equal(sent.status, 201);
  let source: string | null = null;
  await waitFor('the message in the history', async () => {
    const res = await call('GET', `/api/chats/${encodeURIComponent(chatId)}/messages`, undefined, token);
    source = res.headers.get('x-history-source');
    const page = (await res.json()) as { messages?: Array<{ body: string }> };
    return res.status === 200 && page.messages?.[0]?.body === 'hello while Redis is down';
  }, 60_000);
  t.equal(source, 'database', 'served from PostgreSQL');
});
