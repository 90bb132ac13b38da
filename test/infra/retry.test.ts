// The retry wrapper (infra/retry.ts): a stop that comes while an attempt runs ends the retrying without
// reporting a failed attempt. An outside fault run saw the projector's consumer warn "sink unavailable;
// holding the batch" (held 0, no error) 17 ms after a SIGTERM: p-retry had failed an attempt that
// succeeded, because the stop signal was aborted by the time it returned.
import t from 'tap';
import { FOREVER, retry } from '../../infra/retry.js';

t.test('a stop during an attempt: rejected with the stop, no failed attempt reported', async (t) => {
  const stop = new AbortController();
  const reported: unknown[] = [];
  const run = retry(async () => {
    stop.abort(new Error('stopping'));
    return 'done';
  }, { ...FOREVER, minTimeout: 1, signal: stop.signal, onFailedAttempt: (c) => void reported.push(c.error) });
  await t.rejects(run, /stopping/);
  t.same(reported, [], 'nothing reported');
});

t.test('failed attempts are still reported, with the error as thrown', async (t) => {
  const reported: unknown[] = [];
  let n = 0;
  const result = await retry(async () => {
    n++;
    if (n < 3) throw new TypeError(`attempt ${n}`);
    return n;
  }, { ...FOREVER, minTimeout: 1, maxTimeout: 2, onFailedAttempt: (c) => void reported.push((c.error as Error).message) });
  t.equal(result, 3);
  t.same(reported, ['attempt 1', 'attempt 2']);
});
