// Login throttling with its counters in Redis: limits hold across API processes sharing one Redis,
// and when Redis is unreachable the throttle keeps counting in each process (neither unlimited
// guessing nor a login outage; see gateways/http/rate-limit-store.ts and docs/http.md). Each limit
// on each store: login-throttle.test.ts.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { deadEndpoint } from '../support/dead-endpoint.js';
import { deleteRedisPrefix, json, register, startHarness, TEST_REDIS_URL } from './harness.js';

const MIN = 60_000;
const limits = { perAccount: { max: 4, windowMs: MIN }, perAddress: { max: 1000, windowMs: MIN } };

t.test('two API processes share the per-account+address limit through Redis', async (t) => {
  const prefix = `test:http-throttle:${randomUUID().slice(0, 8)}:`;
  t.teardown(() => deleteRedisPrefix(prefix));
  // A generous command timeout: on a loaded machine a take slower than the default 200 ms would be
  // counted in the process instead (the designed fallback), and this test is about sharing.
  const config = { loginRateLimit: limits, redisKeyPrefix: prefix, cacheTimeoutMs: 30_000 };
  const a = await startHarness('embedded', { config, throttleRedisUrl: TEST_REDIS_URL });
  const b = await startHarness('embedded', { config, throttleRedisUrl: TEST_REDIS_URL });
  t.teardown(async () => { await a.close(); await b.close(); });
  const attempt = (app: typeof a.app) => app.inject({ method: 'POST', url: '/api/login', payload: { username: 'shared-victim', password: 'guess-guess' } });
  const statuses = [await attempt(a.app), await attempt(b.app), await attempt(a.app), await attempt(b.app)].map((r) => r.statusCode);
  t.same(statuses, [401, 401, 401, 401], 'four failures, spread over two processes, are judged');
  const fifth = await attempt(a.app);
  t.equal(fifth.statusCode, 429, 'the fifth is refused: the processes counted together');
  t.equal(json<{ error: { code: string } }>(fifth).error.code, 'RATE_LIMITED');
  const redis = new Redis(TEST_REDIS_URL);
  t.teardown(() => redis.disconnect());
  t.equal(await redis.get(`${prefix}throttle:login-pair:127.0.0.1|shared-victim`), '4', 'failures of the pair live under the deployment prefix (a refusal is no failure)');
  t.equal(await redis.get(`${prefix}throttle:login-user:shared-victim`), '4', 'and so do the account\'s');
  t.equal(await redis.get(`${prefix}throttle:login-ip:127.0.0.1`), '5', 'the address counts every attempt');
});

t.test('Redis unreachable: logins still work and the limits still hold, per process', async (t) => {
  const deadRedis = await deadEndpoint('reset');
  const h = await startHarness('embedded', { config: { loginRateLimit: limits, cacheTimeoutMs: 150 }, throttleRedisUrl: deadRedis.url('redis') });
  t.teardown(async () => { await h.close(); await deadRedis.close(); });
  t.equal((await register(h.app, 'deadredis', 'password123')).statusCode, 201);
  // Each attempt is timed on its own: a password check on a loaded machine takes a while, but no
  // attempt may wait on the dead Redis for long (its commands time out after 150 ms).
  const took: number[] = [];
  const timed = async (password: string): Promise<number> => {
    const began = Date.now();
    const res = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'deadredis', password } });
    took.push(Date.now() - began);
    return res.statusCode;
  };
  t.equal(await timed('password123'), 200, 'a correct login succeeds while Redis is down');
  const wrong: number[] = [];
  for (let i = 0; i < 5; i++) wrong.push(await timed(`nope-${i}-xx`));
  t.same(wrong.slice(0, 4), [401, 401, 401, 401], 'the success did not count as a failure');
  t.equal(wrong[4], 429, 'the fifth failure from the address is refused: counted in memory');
  t.ok(took.every((ms) => ms <= 2_000), `no request waited on the dead Redis for long (${took.join(', ')} ms)`);
  const warnings = h.logs.filter((l) => l.includes('login throttle: Redis unavailable'));
  // The warning is repeated after 10 s at most, which a slow run may reach.
  t.ok(warnings.length >= 1 && warnings.length <= 2, `a warning, not one per attempt (${warnings.length})`);
});
