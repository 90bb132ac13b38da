// Read receipts over the socket: a `read` frame is answered `marked`, both participants' sockets get
// the `receipt`, the reader's sockets their `unread` count; marking is monotonic, bounded, for
// participants only; a resume after a drop carries both positions and the count; receipts written
// alongside sends never make a send conflict.
import t from 'tap';
import { deleteMessage } from '../../commands/edit-message.js';
import { chatStreamId } from '../../domain/events.js';
import type { ServerFrame } from '../../gateways/ws/protocol.js';
import type { MarkedFrame, ReceiptFrame, UnreadFrame } from '../../gateways/ws/read-frames.js';
import { connect, connectAll, openChatFixture, type TestClient } from './support.js';

const isReceipt = (f: ServerFrame): f is ReceiptFrame => f.type === 'receipt';
const isUnread = (f: ServerFrame): f is UnreadFrame => f.type === 'unread';

let seq = 0;
async function mark(c: TestClient, chatId: string, revision: unknown): Promise<ServerFrame> {
  const ref = `read${++seq}`;
  const from = c.frames.length;
  c.raw(JSON.stringify({ type: 'read', ref, chatId, revision }));
  return c.waitFor((f) => (f.type === 'marked' || f.type === 'error') && f.ref === ref, 10_000, from);
}

t.test('a read without a ref is a notification: no marked when accepted, its receipt and unread come all the same; refusals still answer', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway();
  const a = await connect(fx.url(), { token: alice.token });
  const b = await connect(fx.url(), { token: bob.token });
  for (const s of [a, b]) await s.resume({ [chatId]: 0 });
  for (const body of ['one', 'two']) t.equal((await a.send(chatId, body)).type, 'ack');
  await b.until('bob has both', () => b.lastRevision(chatId) === 2);
  const from = b.frames.length;
  b.raw(JSON.stringify({ type: 'read', chatId, revision: 1 }));
  t.match(await b.waitFor(isReceipt, 5_000, from), { chatId, userId: bob.userId, upToRevision: 1 }, 'the reader\'s own socket gets the receipt');
  t.same(await b.waitFor(isUnread, 5_000, from), { type: 'unread', chatId, count: 1, through: 2 });
  b.raw(JSON.stringify({ type: 'read', chatId, revision: 1 })); // covered: nothing to say
  b.raw(JSON.stringify({ type: 'read', chatId, revision: 9 }));
  t.match(await b.waitFor((f) => f.type === 'error', 5_000, from), { code: 'READ_REVISION_AHEAD', chatId }, 'a refusal is answered');
  t.match(await mark(b, chatId, 2), { type: 'marked', upToRevision: 2, changed: true }, 'with a ref: answered');
  t.notOk(b.frames.slice(from).some((f) => f.type === 'marked' && f.ref === undefined), 'no marked without a ref');
});

t.test('read frames, receipts, unread counts, resume', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const carol = await fx.user('carol');
  await fx.startGateway();

  const a = await connect(fx.url(), { token: alice.token });
  const b1 = await connect(fx.url(), { token: bob.token });
  const b2 = await connect(fx.url(), { ticket: await bob.ticket() });
  const c = await connect(fx.url(), { token: carol.token });
  for (const s of [a, b1, b2]) await s.resume({ [chatId]: 0 });
  await c.resume({});

  for (const body of ['one', 'two', 'three']) t.equal((await a.send(chatId, body)).type, 'ack');
  await b1.until('bob has the three', () => b1.lastRevision(chatId) === 3);

  const fromA = a.frames.length;
  const fromB2 = b2.frames.length;
  t.same(await mark(b1, chatId, 2), { type: 'marked', ref: `read${seq}`, chatId, upToRevision: 2, changed: true } satisfies MarkedFrame);
  t.match(await a.waitFor(isReceipt, 5_000, fromA), { chatId, userId: bob.userId, upToRevision: 2, at: String }, 'the sender sees the receipt');
  t.match(await b2.waitFor(isReceipt, 5_000, fromB2), { chatId, userId: bob.userId, upToRevision: 2 }, 'the reader\'s other device too');
  t.same(await b2.waitFor(isUnread, 5_000, fromB2), { type: 'unread', chatId, count: 1, through: 3 }, 'and its unread count');

  t.match(await mark(b1, chatId, 1), { type: 'marked', upToRevision: 2, changed: false }, 'below the mark: no change, no error');
  t.match(await mark(b1, chatId, 2), { type: 'marked', upToRevision: 2, changed: false }, 'the same again');
  t.match(await mark(b1, chatId, 9), { type: 'error', code: 'READ_REVISION_AHEAD' });
  t.match(await mark(c, chatId, 1), { type: 'error', code: 'NOT_A_PARTICIPANT', chatId });
  t.match(await mark(b1, `${bob.userId}:zzz`, 1), { type: 'error', code: 'CHAT_NOT_FOUND' });
  // Revision 0 is at or below the initial mark that refused command left in the cache: still not found.
  t.match(await mark(b1, `${bob.userId}:zzy`, 0), { type: 'error', code: 'CHAT_NOT_FOUND' }, 'mark 0 of a chat that does not exist');
  t.match(await mark(b1, `${bob.userId}:zzy`, 0), { type: 'error', code: 'CHAT_NOT_FOUND' }, 'and again: never answered from the cache');
  // An invalid frame that named a well-formed chat gets its chatId back, as every refusal of a chat does.
  t.match(await mark(b1, chatId, -1), { type: 'error', code: 'VALIDATION_FAILED', chatId });
  t.match(await mark(b1, chatId, '3'), { type: 'error', code: 'VALIDATION_FAILED', chatId });
  t.notOk('chatId' in (await mark(b1, `${chatId}\u0000`, 1)), 'a chat id no store can hold is not echoed');
  const from = b1.frames.length;
  b1.raw(JSON.stringify({ type: 'read', ref: 'extra1', chatId, revision: 1, extra: true }));
  t.match(await b1.waitFor((f) => f.type === 'error' && f.ref === 'extra1', 10_000, from), { code: 'VALIDATION_FAILED', message: /no such property here at \/extra/ },
    'an unknown property is named in words, not as TypeBox\'s "schema is false"');

  // A drop: alice comes back and resumes from what she has; the read state comes before `resumed`.
  await a.close();
  const a2 = await connect(fx.url(), { token: alice.token });
  await a2.resume({ [chatId]: 3 });
  const resumedAt = a2.frames.findIndex((f) => f.type === 'resumed');
  const receiptAt = a2.frames.findIndex((f) => isReceipt(f) && f.userId === bob.userId && f.upToRevision === 2);
  t.ok(receiptAt >= 0 && receiptAt < resumedAt, 'bob\'s receipt comes with the resume, before resumed');
  t.match(a2.frames.find(isUnread), { chatId, count: 0, through: 3 }, 'alice has nothing unread');
  await b2.close();
  const b3 = await connect(fx.url(), { token: bob.token });
  await b3.resume({ [chatId]: 3 });
  t.match(b3.frames.find(isUnread), { chatId, count: 1, through: 3 }, 'bob still has one unread after a reconnect');
  t.match(b3.frames.find(isReceipt), { userId: bob.userId, upToRevision: 2 });

  // Reads interleaved with sends: no send conflicts, every read is answered.
  const before = fx.gateway!.stats();
  const work: Array<Promise<ServerFrame>> = [];
  for (let i = 0; i < 20; i++) {
    work.push(a2.send(chatId, `more ${i}`));
    work.push(mark(b3, chatId, 3 + i));
  }
  const answers = await Promise.all(work);
  t.equal(answers.filter((f) => f.type === 'ack').length, 20, 'every send acked');
  t.equal(answers.filter((f) => f.type === 'marked' || (f.type === 'error' && f.code === 'READ_REVISION_AHEAD')).length, 20, 'every read answered (ahead when it overtook its message)');
  t.equal(answers.filter((f) => f.type === 'error' && f.code === 'CONCURRENCY_CONFLICT').length, 0);
  t.equal(fx.gateway!.stats().commands.unreadConflicts - before.commands.unreadConflicts, 0, 'no send met a conflict');

  // A chat the gateway's cache does not hold: the count after a resume is read from the store.
  const other = await fx.chat(carol, bob);
  await fx.append(carol, other, 3, 'from carol');
  await fx.append(bob, other, 1, 'from bob');
  fx.commands.bus.cache.delete(chatStreamId(other));
  const fromStore = fx.gateway!.stats().receipts.unreadFromStore;
  const b4 = await connect(fx.url(), { token: bob.token });
  await b4.resume({ [other]: 4 });
  t.match(b4.frames.find((f) => isUnread(f) && f.chatId === other), { count: 3, through: 4 }, 'carol\'s three, counted from the store');
  t.ok(fx.gateway!.stats().receipts.unreadFromStore > fromStore, 'the store answered');

  t.same([...a2.invalid, ...b1.invalid, ...b3.invalid, ...b4.invalid, ...c.invalid], [], 'every frame matches its schema');
});

t.test('a deleted message is not unread: the recipient gets a fresh count, from the cache or the store', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const [a, b] = (await connectAll(fx, [alice, bob], { [chatId]: 0 })) as [TestClient, TestClient];
  const acks = [];
  for (const body of ['one', 'two', 'three']) acks.push(await a.send(chatId, body));
  await b.until('bob has the three', () => b.lastRevision(chatId) === 3);
  const second = acks[1]!.type === 'ack' ? acks[1]!.messageId : '';

  const from = b.frames.length;
  const gone = await deleteMessage(fx.commands, { deleterId: alice.userId, chatId, messageId: second, clientDeleteId: 'd1' });
  t.ok(gone.ok, 'alice deletes her second message');
  t.same(await b.waitFor(isUnread, 10_000, from), { type: 'unread', chatId, count: 2, through: 4 }, 'bob\'s count drops at once, from the cached state');

  // The same count read from the store, for a process whose cache does not hold the chat.
  fx.commands.bus.cache.delete(chatStreamId(chatId));
  const fromStore = fx.gateway!.stats().receipts.unreadFromStore;
  const b2 = await connect(fx.url(), { token: bob.token });
  await b2.resume({ [chatId]: 4 });
  t.match(b2.frames.find(isUnread), { chatId, count: 2, through: 4 }, 'a resume counts without the deleted message, from the store');
  t.ok(fx.gateway!.stats().receipts.unreadFromStore > fromStore, 'the store answered');
  t.same([...a.invalid, ...b.invalid, ...b2.invalid], [], 'every frame matches its schema');
});
