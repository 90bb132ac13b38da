// The append path's sealing (docs/performance.md, "Encryption of personal data"): nonces cut from a
// pooled random buffer never repeat, across refills, for either cipher; an append whose sender's key is
// cached seals synchronously, one whose key is not yet known goes through the key store; both open back
// to the plaintext. Values are `g1.` (AES-256-GCM) by default, `x1.` (XChaCha20-Poly1305, libsodium,
// loaded only when needed) with DATA_CIPHER=xchacha20-poly1305, and every value opens whichever it is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import type { EventData, RecordedEvent } from '../../commands/ports/event-store.js';
import { KeyErasedError } from '../../commands/ports/keys.js';
import { kekIdOf, loadXChaCha, openText, sealText, wrapKey } from '../../infra/keys/crypto.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { openRecorded, sealEvents } from '../../infra/keys/seal-events.js';
import { SqliteKeyStore } from '../../infra/keys/sqlite.js';

// First in the file: these need a process that has not loaded libsodium yet.
t.test('an x1 value met by a process that never sealed one: libsodium is loaded to open it (a known answer)', async (t) => {
  t.throws(() => sealText(randomBytes(32), 'hello', 'aad', 'xchacha20-poly1305'), /need loadXChaCha/, 'not loaded by importing the module');
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-seal-'));
  const keys = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') });
  t.teardown(async () => { await keys.close(); rmSync(dir, { recursive: true, force: true }); });
  const kek = randomBytes(32);
  const dataKey = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
  await keys.getOrCreate(new Map([['a', { wrapped: wrapKey(kek, dataKey, 'a'), kekId: kekIdOf(kek) }]]));
  // Sealed once with that data key under the additional data `MessageSent.body:m-1:a`: the x1 format must keep opening it.
  const vector = 'x1.cwsPKVlEm3LrmPhvL39RuJsvGrKc8ZsImkLUhOkme1Yi3bD9bDKc2JaPx3e/equhaQ==';
  const record: RecordedEvent = {
    streamId: 'chat-a:b', revision: 0, position: 1n, id: randomUUID(), type: 'MessageSent', createdAt: new Date(),
    data: { chatId: 'a:b', messageId: 'm-1', senderId: 'a', clientMessageId: 'c1', sentAt: '2026-01-01T00:00:00.000Z', bodySealed: vector },
    metadata: { schemaVersion: 3 },
  };
  const [opened] = await openRecorded([record], new KeyRing({ store: keys, kek }));
  t.equal((opened!.data as { body: string }).body, 'hi from a', 'a g1 process opens it');
});

for (const [cipher, prefix, nonceBytes] of [['xchacha20-poly1305', 'x1', 24], ['aes-256-gcm', 'g1', 12]] as const) {
  t.test(`${cipher}: pooled nonces never repeat, across refills of the pool`, async (t) => {
    await loadXChaCha();
    const key = randomBytes(32);
    const nonces = new Set<string>();
    let wellFormed = 0;
    // Both ciphers draw from one pool: interleaving them must not hand out a byte twice either.
    const other = cipher === 'aes-256-gcm' ? 'xchacha20-poly1305' : 'aes-256-gcm';
    for (let i = 0; i < 3000; i++) {
      const sealed = sealText(key, `value ${i}`, 'aad', cipher);
      if (new RegExp(`^${prefix}\\.[A-Za-z0-9+/]+=*$`).test(sealed)) wellFormed++;
      nonces.add(Buffer.from(sealed.slice(3), 'base64').subarray(0, nonceBytes).toString('hex'));
      if (i % 7 === 0) sealText(key, 'other', 'aad', other);
      if (i % 997 === 0) t.equal(openText(key, sealed, 'aad'), `value ${i}`);
    }
    t.equal(wellFormed, 3000, `every value in the ${prefix} format`);
    t.equal(nonces.size, 3000, `a fresh nonce per value, ${nonceBytes} bytes each`);
  });
}

t.test('x1 values: tampering, another key, other additional data and truncation do not open', async (t) => {
  await loadXChaCha();
  const key = randomBytes(32);
  t.match(sealText(key, 'hello', 'aad-1'), /^g1\./, 'g1 unless told otherwise');
  const sealed = sealText(key, 'hello ünïcode ✓', 'aad-1', 'xchacha20-poly1305');
  t.equal(openText(key, sealed, 'aad-1'), 'hello ünïcode ✓');
  t.throws(() => openText(key, sealed, 'aad-2'), 'moved to other additional data');
  t.throws(() => openText(randomBytes(32), sealed, 'aad-1'), 'another key');
  const raw = Buffer.from(sealed.slice(3), 'base64');
  raw[30] = raw[30]! ^ 1;
  t.throws(() => openText(key, `x1.${raw.toString('base64')}`, 'aad-1'), 'a flipped bit');
  t.throws(() => openText(key, `x1.${raw.subarray(0, 39).toString('base64')}`, 'aad-1'), /too short/, 'shorter than nonce and tag');
  t.throws(() => openText(key, `z9.${raw.toString('base64')}`, 'aad-1'), /not a sealed value/, 'an unknown format');
  // The subkey is derived: the data key itself does not open an x1 value as XChaCha20-Poly1305, nor a g1 value as x1.
  const g1 = sealText(key, 'hello', 'aad-1', 'aes-256-gcm');
  t.throws(() => openText(key, `x1.${g1.slice(3)}`, 'aad-1'), 'a g1 value relabelled x1 does not open');
  t.throws(() => openText(key, `g1.${sealed.slice(3)}`, 'aad-1'), 'an x1 value relabelled g1 does not open');
});

t.test('sealEvents: synchronous for a cached key, through the store otherwise; both open', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-seal-'));
  const keys = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') });
  t.teardown(async () => { await keys.close(); rmSync(dir, { recursive: true, force: true }); });
  const kek = randomBytes(32);
  const ring = new KeyRing({ store: keys, kek });
  // A process of the same deployment with DATA_CIPHER=xchacha20-poly1305.
  const xRing = new KeyRing({ store: keys, kek, cipher: 'xchacha20-poly1305' });
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
  t.ok(sealed.slice(1).every((e) => String((e.data as { bodySealed: string }).bodySealed).startsWith('g1.')), 'sealed as g1 by default');

  const byX = await sealEvents([sent('a')], xRing);
  t.match((byX[0]!.data as { bodySealed: string }).bodySealed, /^x1\./, 'DATA_CIPHER=xchacha20-poly1305 seals x1');
  const mixed = [...recorded, { ...recorded[0]!, revision: 3, position: 3n, id: byX[0]!.id, data: byX[0]!.data }];
  for (const reader of [ring, xRing]) {
    t.same((await openRecorded(mixed, reader)).map((r) => (r.data as { body: string }).body), ['hi from a', 'hi from a', 'hi from a'], `a ${reader.cipher} process opens both formats`);
  }

  await ring.destroy('a');
  const refused = sealEvents([sent('a')], ring);
  t.ok(refused instanceof Promise, 'an erased sender is never sealed for synchronously');
  await t.rejects(refused as Promise<EventData[]>, KeyErasedError);
});
