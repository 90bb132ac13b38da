// Coalesced read marks (gateways/ws/read-coalescer.ts): a burst of `read` frames of one reader and
// chat ends in one or two ChatRead appends, every frame is answered `marked` once its covering
// append commits, the last receipt and unread count are right, a frame past the chat's newest is
// refused alone without failing the others, a frame already covered is answered with no append; and
// one reader's marks from sockets on two gateways (two stores, two caches) converge.
import t from 'tap';
import { createCommandBus, keepFresh } from '../../commands/handle-command.js';
import { readsStreamId } from '../../domain/events.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import type { ServerFrame } from '../../gateways/ws/protocol.js';
import type { MarkedFrame, ReceiptFrame, UnreadFrame } from '../../gateways/ws/read-frames.js';
import { startWsGateway } from '../../gateways/ws/server.js';
import { connect, memoryLogger, openChatFixture, range, type Fixture, type TestClient } from './support.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';

const isReceipt = (f: ServerFrame): f is ReceiptFrame => f.type === 'receipt';
const isUnread = (f: ServerFrame): f is UnreadFrame => f.type === 'unread';

let seq = 0;
/** Sends a `read` per revision at once and waits for each frame's answer; the answers in the order sent. */
async function burst(c: TestClient, chatId: string, revisions: number[]): Promise<ServerFrame[]> {
  const from = c.frames.length;
  const refs = revisions.map((revision) => {
    const ref = `rc${++seq}`;
    c.raw(JSON.stringify({ type: 'read', ref, chatId, revision }));
    return ref;
  });
  return Promise.all(refs.map((ref) => c.waitFor((f) => (f.type === 'marked' || f.type === 'error') && f.ref === ref, 10_000, from)));
}

/** The `unread` that follows the reader's own receipt of `upTo` (both come from that ChatRead, in this order). */
async function unreadAfterOwnReceipt(c: TestClient, readerId: string, chatId: string, upTo: number, from: number): Promise<UnreadFrame> {
  await c.waitFor((f) => isReceipt(f) && f.chatId === chatId && f.userId === readerId && f.upToRevision === upTo, 5_000, from);
  const at = c.frames.findIndex((f, i) => i >= from && isReceipt(f) && f.userId === readerId && f.upToRevision === upTo);
  return c.waitFor((f): f is UnreadFrame => isUnread(f) && f.chatId === chatId, 5_000, at);
}

/** The reader's ChatRead events, as upToRevision values in stream order. */
async function marksOf(fx: Fixture, chatId: string, readerId: string): Promise<number[]> {
  const events = await fx.store.readStream(readsStreamId(chatId, readerId), { fromRevision: 0, maxCount: 1000 });
  return events.map((e) => (e.data as { upToRevision: number }).upToRevision);
}

t.test('a burst of marks is one or two appends, each frame answered, receipts and counts right', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  // A long window, so that the whole burst surely falls in it however slow the machine.
  await fx.startGateway({ readCoalesceMs: 2_000 });
  const a = await connect(fx.url(), { token: alice.token });
  const b = await connect(fx.url(), { token: bob.token });
  for (const c of [a, b]) await c.resume({ [chatId]: 0 });
  await fx.append(alice, chatId, 20, 'from alice');
  await b.until('bob has the twenty', () => b.lastRevision(chatId) === 20);

  const before = fx.gateway!.stats().receipts;
  const fromA = a.frames.length;
  const fromB = b.frames.length;
  const answers = await burst(b, chatId, range(1, 20));
  t.ok(answers.every((f) => f.type === 'marked'), 'every frame answered marked');
  answers.forEach((f, i) => t.ok((f as MarkedFrame).upToRevision >= i + 1, `frame ${i + 1} is covered by its answer`));
  t.match(answers[19], { type: 'marked', chatId, upToRevision: 20, changed: true });
  const marks = await marksOf(fx, chatId, bob.userId);
  t.ok(marks.length >= 1 && marks.length <= 2, `twenty frames, ${marks.length} appends (${marks.join(', ')})`);
  t.equal(marks.at(-1), 20, 'the last append is the highest revision');
  const after = fx.gateway!.stats().receipts;
  t.equal(after.readMarksRun - before.readMarksRun, marks.length, 'one mark run per append');
  t.equal(after.readsCoalesced - before.readsCoalesced, 20 - marks.length, 'the other frames rode along');

  t.match(await a.waitFor((f) => isReceipt(f) && f.userId === bob.userId && f.upToRevision === 20, 5_000, fromA), { chatId, at: String }, 'alice sees bob read to 20');
  t.same(await unreadAfterOwnReceipt(b, bob.userId, chatId, 20, fromB), { type: 'unread', chatId, count: 0, through: 20 }, 'bob has nothing unread');
  t.notOk(a.frames.slice(fromA).some((f) => isReceipt(f) && f.userId === bob.userId && f.upToRevision > 1 && f.upToRevision < 20), 'no receipt for a mark that was merged away');

  // Already covered: answered at once from the cached mark, nothing appended.
  t.same(await burst(b, chatId, [5]), [{ type: 'marked', ref: `rc${seq}`, chatId, upToRevision: 20, changed: false }]);
  t.equal(fx.gateway!.stats().receipts.readsCovered - after.readsCovered, 1);
  t.same(await marksOf(fx, chatId, bob.userId), marks, 'no append for it');

  // Within a window, one frame past the newest is refused alone; the others are merged and recorded.
  await fx.append(alice, chatId, 2, 'more');
  await b.until('bob has 22', () => b.lastRevision(chatId) === 22);
  const mixed = await burst(b, chatId, [21, 99, 22]);
  t.match(mixed[1], { type: 'error', code: 'READ_REVISION_AHEAD' });
  t.match(mixed[0], { type: 'marked', upToRevision: 22 });
  t.match(mixed[2], { type: 'marked', upToRevision: 22, changed: true });
  t.equal((await marksOf(fx, chatId, bob.userId)).at(-1), 22);
  t.same([...a.invalid, ...b.invalid], [], 'every frame matches its schema');
});

t.test('one reader marking on two gateways converges', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway({ readCoalesceMs: 2_000 });
  // A second process: its own store connection pool, command bus and cache, fed from the log as in production.
  const store2 = await PostgresEventStore.open({ connectionString: fx.ts.url, schema: fx.ts.schema, poolSize: 4 });
  const bus2 = createCommandBus(store2);
  const gw2 = await startWsGateway({
    store: store2, commands: { ...fx.commands, bus: bus2 }, sessions: fx.sessions, lastMessages: null, observeLog: keepFresh(bus2), presence: new MemoryPresenceBus(),
    logger: memoryLogger().logger, config: { port: 0, ratePerSec: 1000, rateBurst: 1000, readCoalesceMs: 2_000 },
  });
  t.teardown(async () => {
    await gw2.close();
    await store2.close();
  });
  const a = await connect(fx.url(), { token: alice.token });
  const b1 = await connect(fx.url(), { token: bob.token });
  const b2 = await connect(`ws://127.0.0.1:${gw2.port}/ws`, { token: bob.token });
  for (const c of [a, b1, b2]) await c.resume({ [chatId]: 0 });
  // Bob writes once through each gateway, so both caches hold the chat (and merge marks on it).
  t.equal((await b1.send(chatId, 'hi from one')).type, 'ack');
  t.equal((await b2.send(chatId, 'hi from two')).type, 'ack');
  for (let i = 0; i < 12; i++) t.equal((await a.send(chatId, `m${i}`)).type, 'ack');
  const newest = 14;
  await b1.until('b1 has all', () => b1.lastRevision(chatId) === newest);
  await b2.until('b2 has all', () => b2.lastRevision(chatId) === newest);

  const fromA = a.frames.length;
  const [one, two] = await Promise.all([burst(b1, chatId, range(3, 10)), burst(b2, chatId, range(5, newest))]);
  t.ok([...one, ...two].every((f) => f.type === 'marked'), 'every frame on both gateways answered marked');
  const marks = await marksOf(fx, chatId, bob.userId);
  t.equal(marks.at(-1), newest, 'the mark stands at the newest revision');
  t.ok(marks.every((m, i) => i === 0 || m > marks[i - 1]!), `the marks only grow: ${marks.join(', ')}`);
  t.ok(marks.length <= 6, `${one.length + two.length} frames, ${marks.length} appends`);
  t.ok(await a.waitFor((f) => isReceipt(f) && f.userId === bob.userId && f.upToRevision === newest, 5_000, fromA), 'alice sees bob read all');
  for (const b of [b1, b2]) {
    t.same(await unreadAfterOwnReceipt(b, bob.userId, chatId, newest, 0), { type: 'unread', chatId, count: 0, through: newest }, 'each of bob\'s sockets has nothing unread');
  }
  t.same([...a.invalid, ...b1.invalid, ...b2.invalid], [], 'every frame matches its schema');
});
