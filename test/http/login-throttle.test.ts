// The login throttle counts failures, not attempts, so nobody can lock an owner out by failing on
// purpose: an address that keeps failing on an account is refused, the account itself is only slowed
// down (a growing, capped wait before its passwords are checked), and one address trying many
// usernames still runs into its own limit. Every case runs on both counter stores: in memory and
// Redis (the API processes' shared store). Addresses come from X-Forwarded-For (trustProxy on) or
// the connection's address.
import t, { type Test } from 'tap';
import type { HttpConfig } from '../../gateways/http/config.js';
import { slowdownMs } from '../../gateways/http/plugins/throttle.js';
import { json, register, startHarness, TEST_REDIS_URL, type Harness } from './harness.js';

const MIN = 60_000;
const STORES = ['memory', 'redis'] as const;
type Store = (typeof STORES)[number];

async function harness(t: Test, store: Store, config: Partial<HttpConfig>): Promise<Harness> {
  // A Redis answer later than the cache timeout falls back to this process's own counters (by design,
  // rate-limit-store.ts), which would make a count here depend on how loaded the machine is: these
  // tests are about counting, so Redis gets all the time it needs.
  const h = await startHarness('embedded', { config: { cacheTimeoutMs: 30_000, ...config }, ...(store === 'redis' ? { throttleRedisUrl: TEST_REDIS_URL } : {}) });
  t.teardown(() => h.close());
  return h;
}

// Timers may fire a millisecond early by the wall clock: a wait of N ms is checked as at least N - 5.
const waited = (ms: number, atLeast: number): boolean => ms >= atLeast - 5;
const SLOW = 3_000;

const code = (res: { json: <T>() => T }): string => res.json<{ error: { code: string } }>().error.code;

t.test('the slowdown doubles per failure past the limit, up to its cap', async (t) => {
  const s = { baseMs: 250, maxMs: 8_000 };
  t.same([0, 9, 10, 11, 12, 15, 1000].map((f) => slowdownMs(f, 10, s)), [0, 0, 250, 500, 1000, 8000, 8000]);
  t.equal(slowdownMs(50, 10, { baseMs: 250, maxMs: 0 }), 0, 'a cap of 0 turns it off');
});

for (const store of STORES) {
  t.test(`${store}: 11 wrong passwords from one address do not lock the owner out`, async (t) => {
    const slowdown = { baseMs: 150, maxMs: 600 };
    const h = await harness(t, store, {
      trustProxy: true,
      loginRateLimit: { perAccount: { max: 10, windowMs: MIN }, perAddress: { max: 100, windowMs: MIN } },
      loginSlowdown: slowdown,
    });
    t.equal((await register(h.app, 'lockvictim', 'the real password')).statusCode, 201);
    const attempt = async (username: string, password: string, from: string) => {
      const started = Date.now();
      const res = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username, password }, headers: { 'x-forwarded-for': from } });
      return Object.assign(res, { ms: Date.now() - started });
    };

    const attacker = '203.0.113.7';
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await attempt('lockvictim', `guess-${i}-xx`, attacker)).statusCode);
    t.same(statuses, [...Array(10).fill(401), 429], 'ten failures are judged; the 11th from that address is refused');
    const pair = await attempt('LockVictim', 'the real password', attacker);
    t.equal(pair.statusCode, 429, 'the throttled address is refused even with the right password (any case of the name)');
    t.equal(code(pair), 'RATE_LIMITED');
    t.ok(Number(pair.headers['retry-after']) > 0 && Number(pair.headers['retry-after']) <= 60, `Retry-After says when (${pair.headers['retry-after']})`);

    const owner = await attempt('lockvictim', 'the real password', '198.51.100.20');
    t.equal(owner.statusCode, 200, 'the owner logs in from another address');
    t.ok(waited(owner.ms, slowdown.baseMs), `but only after the account's slowdown (${owner.ms} ms)`);

    // More failures from fresh addresses: each is judged (no lockout), each waits longer, up to the cap.
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await attempt('lockvictim', `spread-${i}-xx`, `192.0.2.${i + 1}`);
      t.equal(r.statusCode, 401, `failure from a fresh address ${i + 1} is judged, not refused`);
      waits.push(r.ms);
    }
    t.ok(waited(waits[2]!, slowdown.maxMs), `the wait grows to the cap (${waits.join(', ')} ms)`);
    const again = await attempt('lockvictim', 'the real password', '198.51.100.20');
    t.equal(again.statusCode, 200, 'the owner still gets in, after the capped wait');
    t.ok(waited(again.ms, slowdown.maxMs), `(${again.ms} ms)`);
  });

  t.test(`${store}: rotating usernames from one address hits the per-address limit`, async (t) => {
    const h = await harness(t, store, {
      loginRateLimit: { perAccount: { max: 5, windowMs: MIN }, perAddress: { max: 12, windowMs: MIN } },
      loginSlowdown: { baseMs: 0, maxMs: 0 },
    });
    t.equal((await register(h.app, 'sprayowner', 'the real password')).statusCode, 201);
    const attempt = (username: string, password: string, remoteAddress: string) =>
      h.app.inject({ method: 'POST', url: '/api/login', payload: { username, password }, remoteAddress });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await attempt(`sprayed${i}`, 'password1', '10.20.0.1')).statusCode);
    t.same(statuses, Array(12).fill(401), 'twelve tries on twelve accounts are judged');
    const limited = await attempt('sprayed99', 'password1', '10.20.0.1');
    t.same([limited.statusCode, code(limited)], [429, 'RATE_LIMITED'], 'the 13th from that address is refused');
    t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After');
    t.equal((await attempt('sprayowner', 'the real password', '10.20.0.1')).statusCode, 429, 'every attempt from the address counts, right or wrong');
    t.equal((await attempt('sprayed99', 'password1', '10.20.0.2')).statusCode, 401, 'another address is not affected');
    t.equal((await attempt('sprayowner', 'the real password', '10.20.0.2')).statusCode, 200);
  });

  t.test(`${store}: successes are not failures; concurrent guesses cannot overrun the pair limit`, async (t) => {
    const h = await harness(t, store, {
      loginRateLimit: { perAccount: { max: 3, windowMs: MIN }, perAddress: { max: 100, windowMs: MIN } },
      loginSlowdown: { baseMs: 0, maxMs: 0 },
    });
    t.equal((await register(h.app, 'oftenin', 'the real password')).statusCode, 201);
    const attempt = (password: string, remoteAddress = '10.30.0.1') =>
      h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'oftenin', password }, remoteAddress });
    const ok: number[] = [];
    for (let i = 0; i < 6; i++) ok.push((await attempt('the real password')).statusCode);
    t.same(ok, Array(6).fill(200), 'six correct logins from one address with a limit of three failures');
    t.equal((await attempt('a typo here')).statusCode, 401);
    t.equal((await attempt('the real password')).statusCode, 200, 'a typo between them changes nothing');

    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(`burst-${i}-xx`, '10.30.0.2')));
    const counts = burst.reduce<Record<number, number>>((m, r) => ({ ...m, [r.statusCode]: (m[r.statusCode] ?? 0) + 1 }), {});
    t.same(counts, { 401: 3, 429: 9 }, 'twelve guesses at once: exactly three are judged (attempts in flight count)');
  });

  t.test(`${store}: throttling and slowdown do not reveal which accounts exist`, async (t) => {
    const h = await harness(t, store, {
      loginRateLimit: { perAccount: { max: 3, windowMs: MIN }, perAddress: { max: 100, windowMs: MIN } },
      // 3 s: an answer that is not slowed (argon2 and the store, on a loaded machine) stays well below it.
      loginSlowdown: { baseMs: SLOW, maxMs: SLOW },
    });
    t.equal((await register(h.app, 'realone', 'the real password')).statusCode, 201);
    const run = async (username: string, address: string): Promise<string[]> => {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const r = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username, password: `nope-${i}-xx` }, remoteAddress: address });
        seen.push(`${r.statusCode} ${r.body.replace(/\d+/g, 'N')} ${waited(Date.now() - started, SLOW) ? 'slowed' : 'prompt'}`);
        // Another address, past the account's limit: slowed the same way for both.
        if (i === 4) {
          const s2 = Date.now();
          const o = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username, password: 'other-xx' }, remoteAddress: `${address}9` });
          seen.push(`${o.statusCode} ${o.body} ${waited(Date.now() - s2, SLOW) ? 'slowed' : 'prompt'}`);
        }
      }
      return seen;
    };
    const real = await run('realone', '10.40.0.1');
    const ghost = await run('ghostone', '10.40.0.2');
    t.same(ghost, real, 'the same statuses, bodies and slowdown for a real and an unknown account');
    t.match(real, [/^401 /, /^401 /, /^401 /, /^429 .*RATE_LIMITED/, /^429 /, /^401 .* slowed$/]);
  });
}
