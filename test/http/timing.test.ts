// Login timing must not tell whether an account exists: the median time of a wrong password for a
// real account and of any password for an unknown account stay within 10% of each other, with
// argon2id at the real OWASP minimum. Throttling is off here (it would answer 429 long before 200
// tries); the two kinds are interleaved with bounded concurrency so machine noise hits both alike.
import t from 'tap';
import { register, startHarness } from './harness.js';

const TRIES = 200;
const CONCURRENCY = 2;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

t.test(`median login time: unknown user vs wrong password within 10% (${TRIES} each)`, async (t) => {
  const h = await startHarness('embedded', { config: { loginRateLimit: false } });
  t.teardown(() => h.close());
  t.equal((await register(h.app, 'timedalice', 'correct horse battery')).statusCode, 201);

  const attempt = async (username: string): Promise<{ ms: number; status: number; body: string }> => {
    const started = process.hrtime.bigint();
    const res = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username, password: 'not the password' } });
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: res.statusCode, body: res.body };
  };
  // Warm-up: the dummy hash, JIT and statement caches.
  for (let i = 0; i < 5; i++) { await attempt('timedalice'); await attempt(`ghost${i}`); }

  // A real leak shows in every round; a noisy machine (other test files, another run beside this one)
  // can push one round past the bound. So a round over it is measured again, up to five rounds, and
  // the best round must be within it (a leak would keep every round over it).
  const bodies = new Set<string>();
  const round = async (): Promise<number> => {
    const known: number[] = [];
    const unknown: number[] = [];
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= TRIES) return;
        // Alternate which kind goes first, per worker and per round, so neither always runs in the other's shadow.
        const order = (i + w) % 2 === 0 ? ['known', 'unknown'] : ['unknown', 'known'];
        for (const kind of order) {
          const r = await attempt(kind === 'known' ? 'timedalice' : `nobody${i}`);
          (kind === 'known' ? known : unknown).push(r.ms);
          bodies.add(`${r.status} ${r.body}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    const mk = median(known);
    const mu = median(unknown);
    t.comment(`median wrong password ${mk.toFixed(1)} ms, unknown user ${mu.toFixed(1)} ms, difference ${((Math.abs(mk - mu) / Math.max(mk, mu)) * 100).toFixed(1)}%`);
    return Math.abs(mk - mu) / Math.max(mk, mu);
  };
  const diffs: number[] = [];
  do diffs.push(await round());
  while (diffs.at(-1)! > 0.1 && diffs.length < 5);

  t.equal(bodies.size, 1, 'one status and body for both');
  t.ok(Math.min(...diffs) <= 0.1, `medians within 10% (rounds: ${diffs.map((d) => `${(d * 100).toFixed(1)}%`).join(', ')})`);
});
