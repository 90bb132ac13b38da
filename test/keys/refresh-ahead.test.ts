// KeyRing's refresh-ahead (infra/keys/ring.ts): a key used in the last third of its life is read again
// in the background, so an active sender's key does not expire under a send; the refresh learns of an
// erasure made by another process; and no key is ever used past its expiry, refreshed or not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { KeyErasedError, type KeyStore } from '../../commands/ports/keys.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { SqliteKeyStore } from '../../infra/keys/sqlite.js';

const TTL = 3000;

async function setup(t: Test) {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-refresh-'));
  const keys = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The real store, with its reads kept so a test can wait for the background one to settle.
  const reads: Array<Promise<unknown>> = [];
  const observed: KeyStore = new Proxy(keys, {
    get(target, prop) {
      if (prop !== 'get') {
        // Bound to the store itself: its private fields are not reachable through the proxy.
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      }
      return (ids: readonly string[]) => {
        const read = target.get(ids);
        reads.push(read.catch(() => undefined));
        return read;
      };
    },
  });
  const kek = randomBytes(32);
  const clock = { now: 0 };
  const ring = new KeyRing({ store: observed, kek, ttlMs: TTL, now: () => clock.now });
  /** The background read the ring started: waits for the next store read to be made, then to settle. */
  const refreshed = async (): Promise<void> => {
    const before = reads.length;
    while (reads.length === before) await new Promise((resolve) => setImmediate(resolve));
    await reads[before];
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { keys, kek, clock, ring, refreshed };
}

t.test('a key used near its expiry is refreshed in the background and lives on', async (t) => {
  const { keys, clock, ring, refreshed } = await setup(t);
  t.teardown(() => keys.close());
  const key = (await ring.keysForSealing(['a'])).get('a')!;
  clock.now = 1000;
  t.same(ring.cachedSealingKey('a'), key, 'early in its life: served from the cache');
  clock.now = 2500;
  const done = refreshed();
  t.same(ring.cachedSealingKey('a'), key, 'in its last third: still served at once');
  t.same(ring.cachedSealingKey('a'), key, 'a second use while the refresh is on its way asks for none more');
  await done;
  clock.now = 4000;
  t.same(ring.cachedSealingKey('a'), key, 'past the first expiry: the refreshed entry, the same key');
  t.equal(ring.cachedSealingKey('a'), key, 'and the same object, so what crypto.ts derived from it is kept');
  clock.now = 2500 + TTL;
  t.equal(ring.cachedSealingKey('a'), undefined, 'and never past the refreshed expiry');
});

t.test('a refresh learns of an erasure made by another process', async (t) => {
  const { keys, kek, clock, ring, refreshed } = await setup(t);
  t.teardown(() => keys.close());
  await ring.keysForSealing(['a']);
  const other = new KeyRing({ store: keys, kek });
  await other.destroy('a');
  clock.now = 2500;
  const done = refreshed();
  t.ok(ring.cachedSealingKey('a'), 'before the refresh lands, the cached key (as within any TTL)');
  await done;
  t.equal(ring.cachedSealingKey('a'), undefined, 'after it, no key');
  await t.rejects(ring.keysForSealing(['a']), KeyErasedError, 'then the erasure, before the key would have expired');
  t.same([...(await ring.keysForOpening(['a']))], [['a', null]], 'and nothing to open with');
});

t.test('a failed refresh leaves the expiry where it was', async (t) => {
  const { keys, clock, ring, refreshed } = await setup(t);
  await ring.keysForSealing(['a']);
  await keys.close();
  clock.now = 2500;
  const done = refreshed();
  t.ok(ring.cachedSealingKey('a'), 'served while the refresh fails in the background');
  await done;
  clock.now = TTL;
  t.equal(ring.cachedSealingKey('a'), undefined, 'expired at its first expiry');
  await t.rejects(ring.keysForSealing(['a']), 'the foreground lookup reports the fault');
});
