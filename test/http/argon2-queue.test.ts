// The argon2 wait queue is bounded: with one hash at a time and two waiting, a burst of logins and
// registrations gets 503 SERVICE_UNAVAILABLE with Retry-After at once for what does not fit, instead
// of waiting seconds in line; nothing else fails, refused requests change nothing, and the service
// answers normally afterwards.
import t from 'tap';
import { buildHttpApp } from '../../gateways/http/app.js';
import { createArgon2Hasher } from '../../infra/password-hasher.js';
import { json, register, startHarness, type Res } from './harness.js';

t.test('past ARGON2_MAX_QUEUE, login and register answer 503 with Retry-After at once', async (t) => {
  const h = await startHarness('embedded', { config: { loginSlowdown: { baseMs: 0, maxMs: 0 } } });
  t.teardown(() => h.close());
  const hasher = createArgon2Hasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 1, maxQueue: 2 });
  const app = await buildHttpApp({ ...h.deps, commands: { ...h.commands, hasher } });
  t.teardown(() => app.close());
  t.equal((await register(app, 'queued', 'the real password')).statusCode, 201);

  const timed = async (run: () => Promise<Res>) => {
    const started = performance.now();
    const res = await run();
    return { res, ms: performance.now() - started };
  };
  // Distinct addresses, so the throttle has no say; some of the burst are unknown users (the dummy verify).
  const login = (i: number) => timed(() => app.inject({
    method: 'POST', url: '/api/login', remoteAddress: `10.50.0.${i + 1}`,
    payload: { username: i % 4 === 3 ? `nobody${i}` : 'queued', password: 'the real password' },
  }));
  const burst = await Promise.all(Array.from({ length: 16 }, (_, i) => login(i)));
  const refused = burst.filter((b) => b.res.statusCode === 503);
  const served = burst.filter((b) => b.res.statusCode !== 503);
  t.ok(served.every((b) => b.res.statusCode === 200 || b.res.statusCode === 401), 'the rest are judged as usual: 200, or 401 for unknown users');
  t.ok(served.some((b) => b.res.statusCode === 200), 'the owner got in');
  t.ok(burst.some((b, i) => i % 4 === 3 && b.res.statusCode === 503), 'unknown users are refused alike (the dummy verify queues too)');
  t.ok(refused.length >= 1 && served.length >= 3, `one hashing, two waiting, the rest refused (${served.length} served, ${refused.length} refused)`);
  for (const r of refused) {
    t.equal(json<{ error: { code: string } }>(r.res).error.code, 'SERVICE_UNAVAILABLE');
    t.equal(r.res.headers['retry-after'], '1');
  }
  const slowestRefusal = Math.max(...refused.map((r) => r.ms));
  const slowestServed = Math.max(...served.map((r) => r.ms));
  t.ok(slowestRefusal < slowestServed, `refusals came without waiting for the queue (${slowestRefusal.toFixed(0)} ms vs ${slowestServed.toFixed(0)} ms)`);

  const names = Array.from({ length: 8 }, (_, i) => `burstreg${i}`);
  const regs = await Promise.all(names.map((n, i) => app.inject({ method: 'POST', url: '/api/register', remoteAddress: `10.51.0.${i + 1}`, payload: { username: n, password: 'password123' } })));
  const regStatuses = regs.map((r) => r.statusCode);
  t.ok(regStatuses.every((s) => s === 201 || s === 503) && regStatuses.includes(503), `registrations: created or refused (${regStatuses.join(' ')})`);
  t.ok(regs.filter((r) => r.statusCode === 503).every((r) => r.headers['retry-after'] === '1'), 'each refusal says when to retry');

  // Afterwards: a refused registration created nothing (the name is free), and everything works.
  const refusedName = names[regStatuses.indexOf(503)]!;
  t.equal((await register(app, refusedName, 'password123')).statusCode, 201, 'a refused registration left the name free');
  const after = await app.inject({ method: 'POST', url: '/api/login', remoteAddress: '10.50.0.1', payload: { username: 'queued', password: 'the real password' } });
  t.equal(after.statusCode, 200, 'a login after the burst succeeds, from an address that was refused');
  t.notOk(h.logs.some((l) => /"level":50/.test(l)), 'no refusal was logged as an error');
});
