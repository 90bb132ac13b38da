// Command behaviour against a real store; run for PostgreSQL and the embedded store.
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { createCommandBus, ConcurrencyRetriesExhaustedError } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { register } from '../../commands/register.js';
import { login } from '../../commands/login.js';
import { logout } from '../../commands/logout.js';
import { startChat } from '../../commands/start-chat.js';
import { openChat } from '../../commands/open-chat.js';
import { sendMessage } from '../../commands/send-message.js';
import { DEDUPE_WINDOW } from '../../domain/chat.js';
import { chatStreamId, userStreamId } from '../../domain/events.js';
import { WrongExpectedRevisionError, type EventStore } from '../../commands/ports/event-store.js';
import { createArgon2Hasher } from '../../infra/password-hasher.js';

const hasher = createArgon2Hasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4 });

export function depsFor(store: EventStore, maxRetries = 10): CommandDeps {
  return { bus: createCommandBus(store, { maxRetries }), hasher, clock: () => new Date('2026-01-01T00:00:00Z'), newId: randomUUID };
}

const unique = (base: string) => `${base}${randomUUID().slice(0, 6)}`;

function value<T>(t: Test, r: { ok: true; value: T } | { ok: false; error: { code: string } }): T {
  if (!r.ok) throw new Error(`expected success, got ${r.error.code}`);
  return r.value;
}

export function commandSuite(t: Test, openStore: () => Promise<{ store: EventStore; cleanup(): Promise<void> }>): void {
  let store: EventStore;
  let cleanup: () => Promise<void>;
  t.before(async () => ({ store, cleanup } = await openStore()));
  t.teardown(() => cleanup());

  t.test('register: unique case-insensitively; invalid input refused before hashing', async (t) => {
    const deps = depsFor(store);
    const name = unique('Alice');
    const r = value(t, await register(deps, { username: name, password: 'correct horse' }));
    t.equal(r.username, name.toLowerCase());
    const again = await register(deps, { username: name.toUpperCase(), password: 'correct horse' });
    t.same(again.ok ? 'ok' : again.error.code, 'USERNAME_TAKEN');
    const bad = await register(deps, { username: 'x', password: 'correct horse' });
    t.same(bad.ok ? 'ok' : bad.error.code, 'USERNAME_INVALID');
    const short = await register(deps, { username: unique('bob'), password: 'short' });
    t.same(short.ok ? 'ok' : short.error.code, 'PASSWORD_TOO_SHORT');
    const events = await store.readStream(userStreamId(name.toLowerCase()));
    t.equal(events.length, 1, 'one registration event');
    const hash = (events[0]!.data as { passwordHash: string }).passwordHash;
    t.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'argon2id at the OWASP minimum');
  });

  t.test('concurrent registrations of one name: exactly one wins', async (t) => {
    const name = unique('race');
    const results = await Promise.all(Array.from({ length: 5 }, () => register(depsFor(store), { username: name, password: 'password1' })));
    t.equal(results.filter((r) => r.ok).length, 1);
    t.ok(results.filter((r) => !r.ok).every((r) => !r.ok && r.error.code === 'USERNAME_TAKEN'));
  });

  t.test('login: success appends UserLoggedIn; wrong password and unknown user look the same', async (t) => {
    const deps = depsFor(store);
    const name = unique('carol');
    value(t, await register(deps, { username: name, password: 'password1' }));
    const ok = value(t, await login(deps, { username: name.toUpperCase(), password: 'password1' }));
    t.equal(ok.userId, name);
    const wrong = await login(deps, { username: name, password: 'password2' });
    const unknown = await login(deps, { username: unique('nobody'), password: 'password2' });
    t.same(wrong, unknown, 'identical results');
    t.same(wrong.ok ? 'ok' : wrong.error.code, 'INVALID_CREDENTIALS');
    value(t, await logout(deps, { userId: name }));
    t.same((await store.readStream(userStreamId(name))).map((e) => e.type), ['UserRegistered', 'UserLoggedIn', 'UserLoggedOut']);
  });

  t.test('start chat: one per pair, from either side, even concurrently', async (t) => {
    const deps = depsFor(store);
    const a = unique('ann');
    const b = unique('ben');
    value(t, await register(deps, { username: a, password: 'password1' }));
    value(t, await register(deps, { username: b, password: 'password1' }));
    // Separate buses stand in for separate processes: they share nothing but the store.
    const racers = await Promise.all([
      startChat(depsFor(store), { initiatorId: a, otherUsername: b }),
      startChat(depsFor(store), { initiatorId: b, otherUsername: a }),
      startChat(depsFor(store), { initiatorId: a, otherUsername: b }),
    ]);
    const refs = racers.map((r) => value(t, r));
    t.equal(new Set(refs.map((r) => r.chatId)).size, 1, 'one chat id');
    t.equal(refs.filter((r) => r.status === 'created').length, 1, 'created once');
    t.equal(refs.filter((r) => r.status === 'existing').length, 2, 'the others were told it exists');
    t.equal((await store.readStream(chatStreamId(refs[0]!.chatId))).length, 1, 'one ChatStarted event');
    const self = await startChat(deps, { initiatorId: a, otherUsername: a });
    t.same(self.ok ? 'ok' : self.error.code, 'CHAT_WITH_SELF');
    const ghost = await startChat(deps, { initiatorId: a, otherUsername: unique('ghost') });
    t.same(ghost.ok ? 'ok' : ghost.error.code, 'USER_NOT_FOUND');
  });

  t.test('send message: participants only, idempotent by clientMessageId, revisions without holes', async (t) => {
    const deps = depsFor(store);
    const [a, b, c] = [unique('dan'), unique('eve'), unique('fay')];
    for (const u of [a, b, c]) value(t, await register(deps, { username: u, password: 'password1' }));
    const chat = value(t, await startChat(deps, { initiatorId: a, otherUsername: b }));
    const first = value(t, await sendMessage(deps, { senderId: a, chatId: chat.chatId, body: 'hi', clientMessageId: 'k1' }));
    t.equal(first.revision, 1);
    t.equal(first.duplicate, false);
    const again = value(t, await sendMessage(depsFor(store), { senderId: a, chatId: chat.chatId, body: 'hi', clientMessageId: 'k1' }));
    t.same({ ...again, duplicate: false }, first, 'same result, from a cold process too');
    t.equal(again.duplicate, true);
    const intruder = await sendMessage(deps, { senderId: c, chatId: chat.chatId, body: 'hi', clientMessageId: 'k2' });
    t.same(intruder.ok ? 'ok' : intruder.error.code, 'NOT_A_PARTICIPANT');
    const nochat = await sendMessage(deps, { senderId: a, chatId: `${a}:nobody`, body: 'hi', clientMessageId: 'k3' });
    t.same(nochat.ok ? 'ok' : nochat.error.code, 'CHAT_NOT_FOUND');
    // Two "processes" sending at once: every message lands, revisions stay dense.
    const d1 = depsFor(store);
    const d2 = depsFor(store);
    const sends = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      sendMessage(i % 2 ? d1 : d2, { senderId: i % 2 ? a : b, chatId: chat.chatId, body: `m${i}`, clientMessageId: `p${i}` })));
    t.ok(sends.every((s) => s.ok), 'all accepted');
    const events = await store.readStream(chatStreamId(chat.chatId));
    t.equal(events.length, 22);
    t.same(events.map((e) => e.revision), Array.from({ length: 22 }, (_, i) => i));
  });

  t.test('send message: a resend older than the de-duplication window is answered from the store', async (t) => {
    const deps = depsFor(store);
    const [a, b] = [unique('gil'), unique('hal')];
    for (const u of [a, b]) value(t, await register(deps, { username: u, password: 'password1' }));
    const chat = value(t, await startChat(deps, { initiatorId: a, otherUsername: b }));
    const first = value(t, await sendMessage(deps, { senderId: a, chatId: chat.chatId, body: 'the first', clientMessageId: 'old' }));
    for (let i = 0; i < DEDUPE_WINDOW; i++) {
      value(t, await sendMessage(deps, { senderId: i % 2 ? a : b, chatId: chat.chatId, body: `m${i}`, clientMessageId: `w${i}` }));
    }
    const stream = chatStreamId(chat.chatId);
    const before = (await store.readStream(stream, { direction: 'backwards', maxCount: 1 }))[0]!.revision;
    for (const d of [deps, depsFor(store)]) {
      const again = value(t, await sendMessage(d, { senderId: a, chatId: chat.chatId, body: 'the first', clientMessageId: 'old' }));
      t.same(again, { ...first, duplicate: true }, 'the first message, marked as a duplicate (warm and cold cache)');
    }
    t.equal((await store.readStream(stream, { direction: 'backwards', maxCount: 1 }))[0]!.revision, before, 'nothing appended');
    const otherSender = value(t, await sendMessage(deps, { senderId: b, chatId: chat.chatId, body: 'mine', clientMessageId: 'old' }));
    t.equal(otherSender.duplicate, false, 'the same key from the other participant is another message');
    t.not(otherSender.messageId, first.messageId);
  });

  t.test('open chat: recorded for participants only', async (t) => {
    const deps = depsFor(store);
    const [a, b, c] = [unique('gus'), unique('hal'), unique('ivy')];
    for (const u of [a, b, c]) value(t, await register(deps, { username: u, password: 'password1' }));
    const chat = value(t, await startChat(deps, { initiatorId: a, otherUsername: b }));
    t.equal(value(t, await openChat(deps, { userId: b, chatId: chat.chatId })).otherErased, false, 'the other participant has not erased their account');
    const foreign = await openChat(deps, { userId: c, chatId: chat.chatId });
    t.same(foreign.ok ? 'ok' : foreign.error.code, 'NOT_A_PARTICIPANT');
    const missing = await openChat(deps, { userId: c, chatId: `${c}:zzz` });
    t.same(missing.ok ? 'ok' : missing.error.code, 'CHAT_NOT_FOUND');
    t.same((await store.readStream(userStreamId(b))).map((e) => e.type), ['UserRegistered', 'ChatOpened']);
  });

  t.test('retries run out with a clear error', async (t) => {
    const name = unique('jon');
    value(t, await register(depsFor(store), { username: name, password: 'password1' }));
    // A store whose appends always conflict, as if another writer always won.
    const conflicting: EventStore = {
      kind: store.kind,
      append: async (s) => { throw new WrongExpectedRevisionError(s, 0, 1); },
      readStream: (s, o) => store.readStream(s, o),
      readAll: (o) => store.readAll(o),
      subscribeToAll: (o) => store.subscribeToAll(o),
      headPosition: () => store.headPosition(),
      close: async () => {},
    };
    await t.rejects(logout(depsFor(conflicting, 2), { userId: name }), ConcurrencyRetriesExhaustedError);
    await t.rejects(logout(depsFor(conflicting, 2), { userId: name }), { message: /gave up after 3 attempts/ });
  });
}
