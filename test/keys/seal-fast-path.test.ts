// The append path's sealing (docs/performance.md, "Encryption of personal data"): nonces cut from a
// pooled random buffer never repeat, across refills; an append whose sender's key is cached seals
// synchronously, one whose key is not yet known goes through the key store; both open back to the
// plaintext, in the format sealed values always had (`g1.` + base64 of nonce, ciphertext, tag).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import type { EventData, RecordedEvent } from '../../commands/ports/event-store.js';
import { KeyErasedError } from '../../commands/ports/keys.js';
import { openText, sealText } from '../../infra/keys/crypto.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { openRecorded, sealEvents } from '../../infra/keys/seal-events.js';
import { SqliteKeyStore } from '../../infra/keys/sqlite.js';

t.test('pooled nonces never repeat, across refills of the pool', async (t) => {
  const key = randomBytes(32);
  const nonces = new Set<string>();
  let wellFormed = 0;
  for (let i = 0; i < 3000; i++) {
    const sealed = sealText(key, `value ${i}`, 'aad');
    if (/^g1\.[A-Za-z0-9+/]+=*$/.test(sealed)) wellFormed++;
    nonces.add(Buffer.from(sealed.slice(3), 'base64').subarray(0, 12).toString('hex'));
    if (i % 997 === 0) t.equal(openText(key, sealed, 'aad'), `value ${i}`);
  }
  t.equal(wellFormed, 3000, 'every value in the g1 format');
  t.equal(nonces.size, 3000, 'a fresh nonce per value, 12 bytes each');
});

t.test('sealEvents: synchronous for a cached key, through the store otherwise; both open', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-seal-'));
  const keys = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') });
  t.teardown(async () => { await keys.close(); rmSync(dir, { recursive: true, force: true }); });
  const ring = new KeyRing({ store: keys, kek: randomBytes(32) });
  const sent = (senderId: string): EventData => ({
    id: randomUUID(), type: 'MessageSent',
    data: { chatId: 'a:b', messageId: randomUUID(), senderId, clientMessageId: 'c1', body: `hi from ${senderId}`, sentAt: '2026-01-01T00:00:00.000Z' },
    metadata: { schemaVersion: 2 },
  });
  const started: EventData = { id: randomUUID(), type: 'ChatStarted', data: { chatId: 'a:b' }, metadata: {} };

  const plain = sealEvents([started], ring);
  t.notOk(plain instanceof Promise, 'nothing personal: no promise');
  t.equal((plain as EventData[])[0], started, 'and the event as it was');
  const first = sealEvents([started, sent('a')], ring);
  t.ok(first instanceof Promise, 'a key not yet known: fetched (created) through the store');
  const sealedFirst = await first;
  const again = sealEvents([sent('a')], ring);
  t.notOk(again instanceof Promise, 'its key now cached: sealed synchronously');
  const sealed = [...sealedFirst, ...(again as EventData[])];
  t.same(sealed[0], started, 'events without personal data pass untouched');
  for (const e of sealed.slice(1)) {
    t.equal(e.metadata?.['schemaVersion'], 3, 'MessageSent v3 in the log');
    t.notOk('body' in (e.data as object), 'no plaintext body');
    t.same(Object.keys(e.data as object), ['chatId', 'messageId', 'senderId', 'clientMessageId', 'sentAt', 'bodySealed'], 'the fields in the order they always had');
  }
  const recorded = sealed.slice(1).map((e, i): RecordedEvent => ({
    streamId: 'chat-a:b', revision: i + 1, position: BigInt(i + 1), id: e.id, type: e.type, data: e.data, metadata: e.metadata ?? {}, createdAt: new Date(),
  }));
  t.same((await openRecorded(recorded, ring)).map((r) => (r.data as { body: string }).body), ['hi from a', 'hi from a'], 'both open back');

  await ring.destroy('a');
  const refused = sealEvents([sent('a')], ring);
  t.ok(refused instanceof Promise, 'an erased sender is never sealed for synchronously');
  await t.rejects(refused as Promise<EventData[]>, KeyErasedError);
});
