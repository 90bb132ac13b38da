// A process with DATA_CIPHER=xchacha20-poly1305 loads libsodium at its first seal (or at start, through
// openKeyRing), not when the key code is imported; seal-fast-path.test.ts covers opening. A file of its
// own: it needs a process that has not loaded libsodium yet.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import type { EventData } from '../../commands/ports/event-store.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { sealEvents } from '../../infra/keys/seal-events.js';
import { SqliteKeyStore } from '../../infra/keys/sqlite.js';

t.test('libsodium is loaded by the first seal of an x1 process', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-seal-'));
  const keys = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') });
  t.teardown(async () => { await keys.close(); rmSync(dir, { recursive: true, force: true }); });
  const ring = new KeyRing({ store: keys, kek: randomBytes(32), cipher: 'xchacha20-poly1305' });
  await ring.keysForSealing(['a']);
  const event: EventData = {
    id: randomUUID(), type: 'MessageSent',
    data: { chatId: 'a:b', messageId: randomUUID(), senderId: 'a', clientMessageId: 'c1', body: 'hi', sentAt: '2026-01-01T00:00:00.000Z' },
    metadata: { schemaVersion: 2 },
  };
  const first = sealEvents([event], ring);
  t.ok(first instanceof Promise, 'a cached key, but the cipher to load: the first seal waits for it');
  t.match(((await first)[0]!.data as { bodySealed: string }).bodySealed, /^x1\./);
  t.notOk(sealEvents([event], ring) instanceof Promise, 'loaded: synchronous from then on');
});
