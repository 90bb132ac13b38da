// The key store (both adapters), the ring and the sealed store: sealing, erasure, and a send racing an erasure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import { createCommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { eraseUser } from '../../commands/erase-user.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { chatStreamId, userStreamId } from '../../domain/events.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { openText, sealText, unwrapKey, wrapKey } from '../../infra/keys/crypto.js';
import { PostgresKeyStore } from '../../infra/keys/postgres.js';
import type { KeyStore } from '../../commands/ports/keys.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { openPublic } from '../../infra/keys/seal-events.js';
import { SealedEventStore } from '../../infra/keys/sealed-store.js';
import { SqliteKeyStore } from '../../infra/keys/sqlite.js';
import { createTestSchema } from '../support/pg.js';
import { stubHasher } from '../support/stub-hasher.js';

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

t.test('crypto: a sealed value opens only with its key and its additional data', async (t) => {
  const key = randomBytes(32);
  const sealed = sealText(key, 'hello', 'aad-1');
  t.not(sealed, sealText(key, 'hello', 'aad-1'), 'a fresh nonce per value');
  t.notMatch(sealed, /hello/);
  t.equal(openText(key, sealed, 'aad-1'), 'hello');
  t.throws(() => openText(key, sealed, 'aad-2'), 'moved to other additional data');
  t.throws(() => openText(randomBytes(32), sealed, 'aad-1'), 'another key');
  const kek = randomBytes(32);
  const wrapped = wrapKey(kek, key, 'alice');
  t.same(unwrapKey(kek, wrapped, 'alice'), key);
  t.throws(() => unwrapKey(kek, wrapped, 'bob'), 'a wrapped key copied to another user does not open');
});

interface Setup { store: EventStore; keys: () => Promise<KeyStore>; cleanup(): Promise<void> }

const adapters: Record<string, () => Promise<Setup>> = {
  postgres: async () => {
    const schema = await createTestSchema('keys');
    const store = await PostgresEventStore.open({ connectionString: schema.url, schema: schema.schema });
    const opened: KeyStore[] = [];
    return {
      store,
      keys: async () => { const k = await PostgresKeyStore.open({ connectionString: schema.url, schema: schema.schema }); opened.push(k); return k; },
      cleanup: async () => { for (const k of opened) await k.close(); await store.close(); await schema.drop(); },
    };
  },
  sqlite: async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-keys-'));
    const store = await EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
    const opened: KeyStore[] = [];
    return {
      store,
      keys: async () => { const k = SqliteKeyStore.open({ file: path.join(dir, 'keys.sqlite') }); opened.push(k); return k; },
      cleanup: async () => { for (const k of opened) await k.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); },
    };
  },
};

const depsOf = (store: EventStore): CommandDeps => ({ bus: createCommandBus(store), hasher: stubHasher, clock: () => new Date(), newId: randomUUID });

for (const [name, open] of Object.entries(adapters)) {
  t.test(`${name}: key store`, async (t) => {
    const s = await open();
    t.teardown(() => s.cleanup());
    const a = await s.keys();
    const b = await s.keys();
    const offer = (w: string) => new Map([['alice', { wrapped: w, kekId: 'k' }]]);
    // Two processes creating the same user's key at once: one wins, both get the winner's.
    const [ra, rb] = await Promise.all([a.getOrCreate(offer('g1.A')), b.getOrCreate(offer('g1.B'))]);
    t.equal(ra.get('alice')!.wrapped, rb.get('alice')!.wrapped);
    t.equal(await a.destroy('alice'), true);
    t.equal(await a.destroy('alice'), false, 'destroying again is a no-op');
    t.same(await b.getOrCreate(offer('g1.C')), new Map([['alice', { wrapped: null, kekId: null }]]), 'no new key after erasure');
    t.equal(await a.destroy('nobody'), false, 'a tombstone where no key was');
    t.equal((await b.get(['nobody'])).get('nobody')!.wrapped, null);
  });

  t.test(`${name}: leaveSealed hands records out as stored, without a key or a decryption; without it they open`, async (t) => {
    const s = await open();
    t.teardown(() => s.cleanup());
    const kek = randomBytes(32);
    const sealed = new SealedEventStore(s.store, new KeyRing({ store: await s.keys(), kek }));
    t.ok((await register(depsOf(sealed), { username: 'erin', password: 'correct horse battery' })).ok);
    const [kept] = await sealed.readStream(userStreamId('erin'), { leaveSealed: true });
    t.match(kept, { type: 'UserRegistered', metadata: { schemaVersion: 2 }, data: { userId: 'erin', passwordHashSealed: /^g1\./ } }, 'the stored, sealed version');
    t.notOk('passwordHash' in (kept!.data as object), 'nothing opened');
    // A ring whose KEK opens nothing: with leaveSealed no key is ever needed.
    const stranger = new SealedEventStore(s.store, new KeyRing({ store: await s.keys(), kek: randomBytes(32) }));
    t.equal((await stranger.readStream(userStreamId('erin'), { leaveSealed: true })).length, 1, 'read without any key');
    const [opened] = await sealed.readStream(userStreamId('erin'));
    t.equal((opened!.data as { passwordHash: string }).passwordHash, '$stub$21', 'without it: opened as always');
  });

  t.test(`${name}: a wrong KEK is an error, never "erased"; KEK rotation re-wraps`, async (t) => {
    const s = await open();
    t.teardown(() => s.cleanup());
    const oldKek = randomBytes(32);
    const newKek = randomBytes(32);
    const old = new SealedEventStore(s.store, new KeyRing({ store: await s.keys(), kek: oldKek }));
    t.ok((await register(depsOf(old), { username: 'erin', password: 'correct horse battery' })).ok);
    await t.rejects(new SealedEventStore(s.store, new KeyRing({ store: await s.keys(), kek: newKek })).readStream(userStreamId('erin')), /does not open with the configured key-encryption key.*DATA_KEY_ENCRYPTION_KEY_PREVIOUS/, 'another KEK cannot open the key, and the error says what to check');
    const rotating = new KeyRing({ store: await s.keys(), kek: newKek, previousKek: oldKek });
    t.equal((await new SealedEventStore(s.store, rotating).readStream(userStreamId('erin')))[0]!.type, 'UserRegistered', 'during rotation both open');
    t.same(await rotating.rotate(), { rewrapped: 1, unreadable: [] });
    const after = await new SealedEventStore(s.store, new KeyRing({ store: await s.keys(), kek: newKek })).readStream(userStreamId('erin'));
    t.equal((after[0]!.data as { passwordHash: string }).passwordHash, '$stub$21', 'after rotation the new KEK alone opens it');
    t.same(await rotating.rotate(), { rewrapped: 0, unreadable: [] }, 'nothing left to re-wrap');
  });

  t.test(`${name}: sealed store, erasure, and sends racing an erasure`, async (t) => {
    const s = await open();
    t.teardown(() => s.cleanup());
    const kek = randomBytes(32);
    const ringA = new KeyRing({ store: await s.keys(), kek });
    const ringB = new KeyRing({ store: await s.keys(), kek });
    const sealedA = new SealedEventStore(s.store, ringA);
    const sealedB = new SealedEventStore(s.store, ringB);
    const depsA = depsOf(sealedA);
    const depsB = depsOf(sealedB);
    for (const u of ['alice', 'bob']) t.ok((await register(depsA, { username: u, password: 'correct horse battery' })).ok);
    const chat = await startChat(depsA, { initiatorId: 'alice', otherUsername: 'bob' });
    t.ok(chat.ok);
    const chatId = chat.ok ? chat.value.chatId : '';
    const phrase = `secret-${randomUUID()}`;
    t.ok((await sendMessage(depsA, { senderId: 'alice', chatId, body: phrase, clientMessageId: 'm0' })).ok);
    t.ok((await sendMessage(depsA, { senderId: 'bob', chatId, body: 'bob speaks', clientMessageId: 'b0' })).ok);

    const raw = await s.store.readStream(chatStreamId(chatId));
    t.notOk(json(raw).includes(phrase), 'the log holds no plaintext body');
    t.same(raw.filter((e) => e.type === 'MessageSent').map((e) => e.metadata['schemaVersion']), [3, 3], 'MessageSent v3 in the log');
    const rawUser = await s.store.readStream(userStreamId('alice'));
    t.equal(rawUser[0]!.metadata['schemaVersion'], 2, 'UserRegistered v2 in the log');
    t.notOk(json(rawUser).includes('$stub$'), 'nor the password hash');
    t.notOk(JSON.stringify(raw.map(toPublicRecord)).includes(phrase), 'public records of the raw log (what the relay publishes) are sealed too');
    t.notOk(JSON.stringify(rawUser.map(toPublicRecord)).includes('passwordHash'), 'and carry no hash, not even sealed');
    const publicUser = await openPublic(rawUser.map(toPublicRecord), ringB);
    t.same([publicUser[0]!.version, 'passwordHash' in publicUser[0]!.data], [1, false], 'a relayed registration reaches the projector as v1, without a hash');
    const opened = (await sealedB.readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageSent');
    t.same(opened.map((e) => (e.data as { body: string }).body), [phrase, 'bob speaks'], 'opened on read, by another process too');
    t.same((await openPublic(raw.map(toPublicRecord), ringB)).filter((r) => r.type === 'MessageSent').map((r) => r.data['body']), [phrase, 'bob speaks'], 'the projector opens broker records');

    // Sends from both processes race the erasure; whatever order they land in, no body of alice's opens afterwards.
    const sends = Array.from({ length: 40 }, (_, i) => sendMessage(i % 2 ? depsA : depsB, { senderId: 'alice', chatId, body: `${phrase}-${i}`, clientMessageId: `r${i}` }));
    const erased = eraseUser({ ...depsA, keys: ringA }, { username: 'alice', by: 'operator' });
    const results = await Promise.all(sends);
    t.ok((await erased).ok);
    for (const r of results) if (!r.ok) t.equal(r.error.code, 'USER_ERASED', 'a send after the erasure is refused with USER_ERASED');
    const late = await sendMessage(depsB, { senderId: 'alice', chatId, body: `${phrase}-late`, clientMessageId: 'late' });
    // ringB may still hold alice's key for its TTL: a late send then is sealed under the destroyed key.
    if (!late.ok) t.equal(late.error.code, 'USER_ERASED');

    for (const ring of [new KeyRing({ store: await s.keys(), kek }), ringA]) {
      const after = await new SealedEventStore(s.store, ring).readStream(chatStreamId(chatId));
      for (const e of after.filter((x) => x.type === 'MessageSent')) {
        const d = e.data as { senderId: string; body: string; erased?: boolean };
        if (d.senderId === 'alice') t.same([d.body, d.erased], ['', true], `alice's message at ${e.revision} reads as erased`);
        else t.equal(d.body, 'bob speaks');
      }
      const user = await new SealedEventStore(s.store, ring).readStream(userStreamId('alice'));
      t.same((user[0]!.data as { passwordHash: string; erased?: boolean }).passwordHash, '', 'the hash reads as erased');
      t.equal(user.at(-1)!.type, 'UserErased');
      t.notOk(JSON.stringify(user.at(-1)!.data).includes('$stub$'));
    }
    // The username stays reserved.
    const again = await register(depsA, { username: 'alice', password: 'correct horse battery' });
    t.same(again.ok ? null : again.error.code, 'USERNAME_TAKEN');
    // Nothing in the key store still opens alice's bodies.
    const row = (await (await s.keys()).get(['alice'])).get('alice');
    t.same(row, { wrapped: null, kekId: null });
  });
}
