// Status tells a stalled projection (behind, nothing moving) from a lagging one (behind, moving).
import t from 'tap';
import { login } from '../../commands/login.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { depsWithClock, embeddedStoreAndReadModels, readAllRecords, silentLogger, writeHistory } from './support.js';

// Long enough that two logins (argon2) and a status query on a loaded machine stay within it.
const STALL_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('ok, then lagging, then stalled when feeding stops while the head moves', async (t) => {
  const { store, rm } = await embeddedStoreAndReadModels(t);
  const { users } = await writeHistory(store);
  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const status = (opts: { cap?: number } = {}) =>
    projectionStatus({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, stallAfterMs: STALL_MS, ...(opts.cap ? { lagCountCap: opts.cap } : {}) });
  const verdicts = async () => (await status()).map((s) => s.verdict);

  const never = await status();
  const total = (await readAllRecords(store)).length;
  t.ok(never.every((s) => s.verdict !== 'ok' && s.lagEvents === total && s.checkpoint === '0'), 'never ran: behind by the whole log');
  const feed = createStoreFeed({ store, projector, logger: silentLogger, lingerMs: 5 });
  await feed.start();
  await feed.waitFor(await store.headPosition());
  const caughtUp = await status();
  t.same(caughtUp.map((s) => s.verdict), SQL_PROJECTIONS.map(() => 'ok'));
  t.match(caughtUp[0], { lagEvents: 0, lagSeconds: 0, deadLetters: 0, needsRebuild: false, storedVersion: SQL_PROJECTIONS[0]!.version });
  t.equal(caughtUp[0]!.checkpoint, caughtUp[0]!.head);

  await feed.stop();
  const deps = depsWithClock(store, Date.now());
  for (const u of users.slice(0, 2)) await login(deps, { username: u, password: 'password1' });
  let s = await status();
  t.same(s.map((x) => x.verdict), SQL_PROJECTIONS.map(() => 'lagging'), 'just fell behind: lagging');
  t.same(s.map((x) => x.lagEvents), SQL_PROJECTIONS.map(() => 2));
  const capped = await status({ cap: 1 });
  t.match(capped[0], { lagEvents: 1, lagEventsCapped: true });

  await sleep(STALL_MS + 500);
  s = await status();
  t.same(s.map((x) => x.verdict), SQL_PROJECTIONS.map(() => 'stalled'), 'nothing moved for longer than the threshold: stalled');
  t.ok(s[0]!.lagSeconds >= STALL_MS / 1000, 'lag in seconds is the age of the oldest pending event');

  // One of the two pending events is applied: behind, but moving.
  const pending = (await readAllRecords(store)).slice(-2);
  await projector.applyBatch([pending[0]!]);
  s = await status();
  t.same(s.map((x) => x.verdict), SQL_PROJECTIONS.map(() => 'lagging'), 'moving again: lagging');
  t.same(s.map((x) => x.lagEvents), SQL_PROJECTIONS.map(() => 1));

  await feed.start();
  await feed.waitFor(await store.headPosition());
  t.same(await verdicts(), SQL_PROJECTIONS.map(() => 'ok'), 'caught up');
  await feed.stop();
});
