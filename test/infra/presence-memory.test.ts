// The in-process presence bus of the embedded default: transitions, and last-seen times that
// survive a restart through the file in DATA_DIR.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';
import type { PresenceChange } from '../../gateways/ports/presence.js';

t.test('online, offline with last seen, kept in the file across a restart', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'presence-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'last-seen.json');
  const changes: PresenceChange[] = [];
  const bus = new MemoryPresenceBus({ lastSeenFile: file });
  await bus.start({ presence: (c) => changes.push(c), typing: () => undefined, recovered: () => undefined }, () => []);
  bus.online('alice');
  bus.online('alice'); // a second process-level "online" changes nothing
  const leftAt = Date.now() - 1500;
  bus.offline('alice', 1500);
  bus.offline('bob', 0); // never online: nothing
  await new Promise((r) => setImmediate(r));
  t.same(changes.map((c) => [c.userId, c.online]), [['alice', true], ['alice', false]], 'one change per transition');
  t.ok(Math.abs(changes[1]!.lastSeen! - leftAt) < 50, 'last seen: when the last socket closed, not when the grace ended');
  t.same((await bus.query(['alice', 'bob'])).get('bob'), { online: false, lastSeen: null });
  await bus.close(0);

  const again = new MemoryPresenceBus({ lastSeenFile: file });
  const after = await again.query(['alice']);
  t.same(after.get('alice'), { online: false, lastSeen: changes[1]!.lastSeen }, 'a restarted process still knows when alice was last seen');
  await again.close(0);
});

t.test('the last-seen file is written where DATA_DIR does not exist yet (PostgreSQL without Redis), owner-only', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'presence-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'not-yet', 'data', 'last-seen.json');
  const bus = new MemoryPresenceBus({ lastSeenFile: file });
  await bus.start({ presence: () => undefined, typing: () => undefined, recovered: () => undefined }, () => []);
  bus.online('alice');
  bus.offline('alice', 0);
  await bus.close(0);
  t.ok(existsSync(file), 'written, the directories made');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
});
