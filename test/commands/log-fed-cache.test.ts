// The log-fed command cache (keepFresh) against the real PostgreSQL store. Two command buses on one
// store stand in for two processes: bus A is the gateway's (its cache follows the log, or, to make it
// stale on purpose, is told it does but never fed), bus B a plain one sharing nothing but the store.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { createCommandBus, keepFresh, type CommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { register } from '../../commands/register.js';
import { sendMessage, type MessageAccepted } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { chatDecider, type ChatState } from '../../domain/chat.js';
import { chatStreamId, type ChatEvent } from '../../domain/events.js';
import { toDomainEvent } from '../../commands/ports/codec.js';
import type { EventStore, RecordedEvent, Subscription } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createTestSchema, holdOrderingLockShared, type TestSchema } from '../support/pg.js';
import { stubHasher } from '../support/stub-hasher.js';
import { wrapStore } from '../support/tracked-store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(label: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${label}`);
    await sleep(2);
  }
}

/** The store with its readStream calls counted per stream. */
function countingStore(inner: EventStore): { store: EventStore; reads: Map<string, number>; total(): number } {
  const reads = new Map<string, number>();
  const store = wrapStore(inner, {
    readStream: (streamId, options) => {
      reads.set(streamId, (reads.get(streamId) ?? 0) + 1);
      return inner.readStream(streamId, options);
    },
  });
  return { store, reads, total: () => [...reads.values()].reduce((x, y) => x + y, 0) };
}

function depsOn(bus: CommandBus): CommandDeps {
  return { bus, hasher: stubHasher, clock: () => new Date('2026-01-01T00:00:00Z'), newId: randomUUID };
}

function ok<T>(r: { ok: true; value: T } | { ok: false; error: { code: string } }, what: string): T {
  if (!r.ok) throw new Error(`${what}: expected success, got ${r.error.code}`);
  return r.value;
}

const unique = (base: string): string => `${base}${randomUUID().slice(0, 8)}`;

/** postgres-ordering.test.ts holds transactions open that hide fresh appends: held shared meanwhile. */
let releaseOrderingLock: (() => Promise<void>) | undefined;
let ts: TestSchema;
let store: PostgresEventStore;
let sub: Subscription;
let feeding: Promise<void>;
/** Observers fed from the one log subscription (as the gateway feeds its bus). */
const fed = new Set<(e: RecordedEvent) => void>();
/** Highest revision per stream the feed has delivered. */
const seen = new Map<string, number>();

t.before(async () => {
  releaseOrderingLock = await holdOrderingLockShared();
  ts = await createTestSchema('logfed');
  store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema });
  sub = store.subscribeToAll({ after: await store.headPosition() });
  feeding = (async () => {
    for await (const e of sub) {
      for (const observe of fed) observe(e);
      seen.set(e.streamId, Math.max(seen.get(e.streamId) ?? -1, e.revision));
    }
  })();
});

t.teardown(async () => {
  await sub?.stop();
  await feeding;
  await store?.close();
  await ts?.drop();
  await releaseOrderingLock?.();
});

/** Two registered users and their chat, started through `deps`. */
async function pair(deps: CommandDeps): Promise<{ a: string; b: string; chatId: string; streamId: string }> {
  const a = ok(await register(deps, { username: unique('ann'), password: 'password1' }), 'register').userId;
  const b = ok(await register(deps, { username: unique('ben'), password: 'password1' }), 'register').userId;
  const chatId = ok(await startChat(deps, { initiatorId: a, otherUsername: b }), 'startChat').chatId;
  return { a, b, chatId, streamId: chatStreamId(chatId) };
}

/** The stream has revisions 0..n-1 with no holes, and no event id or clientMessageId twice. */
async function checkStream(t: Test, streamId: string, expectedLength: number): Promise<RecordedEvent[]> {
  const events = await store.readStream(streamId);
  t.equal(events.length, expectedLength, 'stream length');
  t.same(events.map((e) => e.revision), Array.from({ length: events.length }, (_, i) => i), 'revisions contiguous from 0');
  t.equal(new Set(events.map((e) => e.id)).size, events.length, 'no event id twice');
  const clientIds = events.filter((e) => e.type === 'MessageSent').map((e) => {
    const d = e.data as { senderId: string; clientMessageId: string };
    return `${d.senderId}/${d.clientMessageId}`;
  });
  t.equal(new Set(clientIds).size, clientIds.length, 'no (sender, clientMessageId) twice');
  return events;
}

t.test('a fed cache skips the read: alternating writers, no conflicts, no chat reads on A', async (t) => {
  const counted = countingStore(store);
  const busA = createCommandBus(counted.store);
  fed.add(keepFresh(busA));
  const A = depsOn(busA);
  const B = depsOn(createCommandBus(store));
  const { a, b, chatId, streamId } = await pair(A);
  t.equal(busA.cache.get<ChatState>(streamId)?.revision, 0, 'A caches the chat it started');

  const rounds = 40;
  let last = 0;
  let aSends = 0;
  for (let i = 0; i < rounds; i++) {
    const onA = i % 2 === 0;
    if (onA) {
      const want = last;
      await waitUntil(`A's feed at revision ${want}`, () => (seen.get(streamId) ?? -1) >= want);
    }
    const readsBefore = counted.total();
    const r = ok(await sendMessage(onA ? A : B, { senderId: onA ? a : b, chatId, body: `m${i}`, clientMessageId: `c${i}` }), `send ${i}`);
    t.equal(r.revision, last + 1, `send ${i} on ${onA ? 'A' : 'B'} lands at the next revision`);
    t.equal(r.duplicate, false);
    last = r.revision;
    if (onA) {
      aSends++;
      t.equal(counted.total(), readsBefore, `send ${i} on A reads no stream`);
    }
  }
  t.equal(busA.stats.unreadDecisions, aSends, 'every send on A decided unread');
  t.equal(busA.stats.unreadConflicts, 0, 'and none met a conflict');
  await checkStream(t, streamId, 1 + rounds);
});

t.test('a stale cache costs one conflict, never a wrong write', async (t) => {
  const busA = createCommandBus(store);
  keepFresh(busA); // told it follows the log, but never fed: its cache goes stale
  const A = depsOn(busA);
  const B = depsOn(createCommandBus(store));
  const { a, b, chatId, streamId } = await pair(A);
  for (let i = 0; i < 3; i++) ok(await sendMessage(B, { senderId: b, chatId, body: `from B ${i}`, clientMessageId: `b${i}` }), 'B send');
  t.equal(busA.cache.get<ChatState>(streamId)?.revision, 0, 'A still holds revision 0');

  const r = ok(await sendMessage(A, { senderId: a, chatId, body: 'from A', clientMessageId: 'a0' }), 'A send');
  t.equal(r.revision, 4, 'A lands after B\'s three messages');
  t.equal(r.duplicate, false);
  t.equal(busA.stats.unreadConflicts, 1, 'one conflict');
  t.equal(busA.cache.get<ChatState>(streamId)?.revision, 4, 'A\'s cache caught up');

  // Again: stale once more, caught once more.
  ok(await sendMessage(B, { senderId: b, chatId, body: 'from B again', clientMessageId: 'b3' }), 'B send');
  const r2 = ok(await sendMessage(A, { senderId: a, chatId, body: 'from A again', clientMessageId: 'a1' }), 'A send');
  t.equal(r2.revision, 6);
  t.equal(busA.stats.unreadConflicts, 2);
  const events = await checkStream(t, streamId, 7);
  t.same(events.map((e) => (e.data as { body?: string }).body ?? e.type),
    ['ChatStarted', 'from B 0', 'from B 1', 'from B 2', 'from A', 'from B again', 'from A again']);
});

t.test('a rejection decided on a stale cached state is decided again on a read one', async (t) => {
  const busA = createCommandBus(store);
  keepFresh(busA); // not fed
  const A = depsOn(busA);
  const B = depsOn(createCommandBus(store));
  const a = ok(await register(B, { username: unique('ann'), password: 'password1' }), 'register').userId;
  const b = ok(await register(B, { username: unique('ben'), password: 'password1' }), 'register').userId;
  const chatId = [a, b].sort().join(':');
  const streamId = chatStreamId(chatId);

  const early = await sendMessage(A, { senderId: a, chatId, body: 'too early', clientMessageId: 'x0' });
  t.same(early.ok ? 'ok' : early.error.code, 'CHAT_NOT_FOUND');
  t.equal(busA.cache.get<ChatState>(streamId)?.revision, -1, 'A caches the chat as not there');

  const started = ok(await startChat(B, { initiatorId: b, otherUsername: a }), 'startChat on B');
  t.equal(started.chatId, chatId);
  t.equal(started.status, 'created');

  const r = await sendMessage(A, { senderId: a, chatId, body: 'now', clientMessageId: 'x1' });
  t.ok(r.ok, `A's send succeeds (got ${r.ok ? 'ok' : r.error.code})`);
  if (r.ok) t.equal(r.value.revision, 1);
  t.equal(busA.stats.unreadConflicts, 0, 'a re-check is no conflict');
  await checkStream(t, streamId, 2);

  // The same for a start that finds nothing to do: A's stale state says "not started".
  const a2 = ok(await register(B, { username: unique('cat'), password: 'password1' }), 'register').userId;
  const chat2 = [a, a2].sort().join(':');
  const early2 = await sendMessage(A, { senderId: a, chatId: chat2, body: 'too early', clientMessageId: 'y0' });
  t.same(early2.ok ? 'ok' : early2.error.code, 'CHAT_NOT_FOUND');
  ok(await startChat(B, { initiatorId: a2, otherUsername: a }), 'startChat on B');
  const again = ok(await startChat(A, { initiatorId: a, otherUsername: a2 }), 'startChat on A');
  t.equal(again.status, 'existing', 'A finds the chat B started');
  await checkStream(t, chatStreamId(chat2), 1);
});

t.test('a duplicate clientMessageId met on a stale state returns the first message', async (t) => {
  const busA = createCommandBus(store);
  keepFresh(busA); // not fed
  const A = depsOn(busA);
  const B = depsOn(createCommandBus(store));
  const { a, chatId, streamId } = await pair(A);
  const first = ok(await sendMessage(B, { senderId: a, chatId, body: 'once', clientMessageId: 'X' }), 'B send');
  t.equal(first.revision, 1);

  const before = await store.readStream(streamId);
  const dup = ok(await sendMessage(A, { senderId: a, chatId, body: 'once', clientMessageId: 'X' }), 'A send');
  t.same(
    { ...dup, position: String(dup.position) },
    { chatId, messageId: first.messageId, revision: first.revision, position: String(first.position), duplicate: true } satisfies Record<keyof MessageAccepted, unknown>,
    'B\'s message, marked duplicate',
  );
  t.equal((await store.readStream(streamId)).length, before.length, 'nothing appended');

  // Once more with A's cache now fresh (it read): decided unread as "nothing to do", re-checked, same answer.
  const dup2 = ok(await sendMessage(A, { senderId: a, chatId, body: 'once', clientMessageId: 'X' }), 'A send');
  t.equal(dup2.duplicate, true);
  t.equal(dup2.messageId, first.messageId);
  await checkStream(t, streamId, 2);
});

t.test('concurrent writers on a fed bus and a plain one: every send lands exactly once', async (t) => {
  // Two writers each with 50 commands queued: with the default 10 retries a command sometimes runs out
  // when PostgreSQL is busy (other test files), more often on the plain bus, which the fed one (one
  // round trip per command, no read) outpaces. Exactly-once is what is checked here, not fairness.
  const busA = createCommandBus(store, { maxRetries: 100 });
  fed.add(keepFresh(busA));
  const A = depsOn(busA);
  const B = depsOn(createCommandBus(store, { maxRetries: 100 }));
  const { a, b, chatId, streamId } = await pair(A);
  const n = 50;
  const results = await Promise.all([
    ...Array.from({ length: n }, (_, i) => sendMessage(A, { senderId: a, chatId, body: `A${i}`, clientMessageId: `a${i}` })),
    ...Array.from({ length: n }, (_, i) => sendMessage(B, { senderId: b, chatId, body: `B${i}`, clientMessageId: `b${i}` })),
  ]);
  const failed = results.filter((r) => !r.ok);
  t.equal(failed.length, 0, `all sends succeed (${failed.map((r) => (r.ok ? '' : r.error.code)).join(',')})`);
  const values = results.flatMap((r) => (r.ok ? [r.value] : []));
  t.ok(values.every((v) => !v.duplicate), 'none a duplicate');
  t.same(values.map((v) => v.revision).sort((x, y) => x - y), Array.from({ length: 2 * n }, (_, i) => i + 1), 'each revision 1..100 once');
  const events = await checkStream(t, streamId, 1 + 2 * n);
  const byClientId = new Map(events.slice(1).map((e) => [(e.data as { clientMessageId: string }).clientMessageId, e]));
  t.equal(byClientId.size, 2 * n, 'each clientMessageId once');
  for (const v of values) {
    const e = events[v.revision];
    t.equal(e?.id, v.messageId, `result at revision ${v.revision} names the stored event`);
  }
  t.ok(busA.stats.unreadDecisions > 0, 'A decided unread');
  t.comment(`A: ${busA.stats.unreadDecisions} unread decisions, ${busA.stats.unreadConflicts} unread conflicts`);

  // Once the feed has delivered everything, A's cached state is the stream's, folded once per event.
  await waitUntil('A\'s feed at the last revision', () => (seen.get(streamId) ?? -1) >= 2 * n);
  const cached = busA.cache.get<ChatState>(streamId);
  t.equal(cached?.revision, 2 * n, 'A\'s cache at the last revision');
  const fromStore = events.reduce<ChatState>((s, e) => chatDecider.evolve(s, toDomainEvent(e) as ChatEvent, { revision: e.revision, position: e.position }), chatDecider.initialState);
  t.ok(cached?.state.started && fromStore.started, 'started');
  if (cached?.state.started && fromStore.started) {
    t.same([...cached.state.recentClientIds], [...fromStore.recentClientIds], 'A\'s cached de-duplication window is the one folded from the store');
  }
});
