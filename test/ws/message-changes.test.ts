// Editing and deleting over the socket: `edit` and `delete` are answered with an `ack` after the
// socket's own event; both participants' sockets get the MessageEdited / MessageDeleted event in
// order; retries with the same client id are duplicates; refusals carry their codes; a socket
// resuming from before the delete never receives the deleted body.
import t from 'tap';
import type { AckFrame, ErrorFrame, EventFrame, ServerFrame } from '../../gateways/ws/protocol.js';
import { connect, connectAll, openChatFixture, type TestClient } from './support.js';

let seq = 0;
async function request(c: TestClient, frame: Record<string, unknown>): Promise<AckFrame | ErrorFrame> {
  const ref = `chg${++seq}`;
  const from = c.frames.length;
  c.raw(JSON.stringify({ ...frame, ref }));
  return (await c.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.ref === ref, 10_000, from)) as AckFrame | ErrorFrame;
}
const isEvent = (type: string) => (f: ServerFrame): f is EventFrame => f.type === 'event' && f.record.type === type;

t.test('edit and delete over the socket', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const [a, b] = (await connectAll(fx, [alice, bob], { [chatId]: 0 })) as [TestClient, TestClient];

  const sent = await a.send(chatId, 'helo wrold');
  const secret = await a.send(chatId, 'my secret');
  t.equal(sent.type, 'ack');
  t.equal(secret.type, 'ack');
  if (sent.type !== 'ack' || secret.type !== 'ack') return;

  const fromB = b.frames.length;
  const edited = await request(a, { type: 'edit', chatId, messageId: sent.messageId, clientEditId: 'e1', body: ' hello world ' });
  t.match(edited, { type: 'ack', chatId, messageId: sent.messageId, revision: 3, duplicate: false });
  t.match(await b.waitFor(isEvent('MessageEdited'), 5_000, fromB), {
    chatId, revision: 3, record: { type: 'MessageEdited', data: { messageId: sent.messageId, body: 'hello world', senderId: alice.userId, clientEditId: 'e1' } },
  }, 'bob sees the edit live, body trimmed');
  t.ok(a.frames.findIndex(isEvent('MessageEdited')) < a.frames.findIndex((f) => f.type === 'ack' && f.ref === `chg${seq}`), 'the ack comes after the socket\'s own event');
  t.match(await request(a, { type: 'edit', chatId, messageId: sent.messageId, clientEditId: 'e1', body: 'other' }), { type: 'ack', revision: 3, duplicate: true }, 'a retry is a duplicate');

  const deleted = await request(a, { type: 'delete', chatId, messageId: secret.messageId, clientDeleteId: 'd1' });
  t.match(deleted, { type: 'ack', messageId: secret.messageId, revision: 4, duplicate: false });
  t.match(await b.waitFor(isEvent('MessageDeleted'), 5_000, fromB), { revision: 4, record: { data: { messageId: secret.messageId, senderId: alice.userId } } });
  t.match(await request(a, { type: 'delete', chatId, messageId: secret.messageId, clientDeleteId: 'd1' }), { type: 'ack', revision: 4, duplicate: true });

  t.match(await request(a, { type: 'delete', chatId, messageId: secret.messageId, clientDeleteId: 'd2' }), { type: 'error', code: 'MESSAGE_DELETED' });
  t.match(await request(a, { type: 'edit', chatId, messageId: secret.messageId, clientEditId: 'e2', body: 'x' }), { type: 'error', code: 'MESSAGE_DELETED' });
  t.match(await request(b, { type: 'edit', chatId, messageId: sent.messageId, clientEditId: 'e3', body: 'x' }), { type: 'error', code: 'NOT_MESSAGE_SENDER' });
  t.match(await request(b, { type: 'edit', chatId, messageId: sent.messageId, clientEditId: 'e1', body: 'x' }), { type: 'error', code: 'NOT_MESSAGE_SENDER' }, 'alice\'s clientEditId is not bob\'s retry');
  t.match(await request(b, { type: 'delete', chatId, messageId: sent.messageId, clientDeleteId: 'd3' }), { type: 'error', code: 'NOT_MESSAGE_SENDER' });
  t.match(await request(a, { type: 'edit', chatId, messageId: 'no-such-message', clientEditId: 'e4', body: 'x' }), { type: 'error', code: 'MESSAGE_NOT_FOUND' });
  t.match(await request(a, { type: 'edit', chatId, messageId: sent.messageId, clientEditId: 'e5', body: '   ' }), { type: 'error', code: 'MESSAGE_EMPTY' });
  t.match(await request(a, { type: 'edit', chatId, messageId: sent.messageId, clientEditId: 'bad id', body: 'x' }), { type: 'error', code: 'CLIENT_MESSAGE_ID_INVALID' });
  t.match(await request(a, { type: 'edit', chatId, messageId: sent.messageId, body: 'x' }), { type: 'error', code: 'VALIDATION_FAILED' }, 'clientEditId is required');
  t.match(await request(a, { type: 'delete', chatId: 'zz:zzz', messageId: sent.messageId, clientDeleteId: 'd4' }), { type: 'error', code: 'NOT_A_PARTICIPANT', chatId: 'zz:zzz' });

  // A new device resuming from the start: the deleted message comes without its body.
  const b2 = await connect(fx.url(), { token: bob.token });
  await b2.resume({ [chatId]: -1 });
  const records = (b2.events.get(chatId) ?? []).map((f) => f.record);
  t.same(records.map((r) => r.type), ['ChatStarted', 'MessageSent', 'MessageSent', 'MessageEdited', 'MessageDeleted']);
  t.match(records[2]?.data, { messageId: secret.messageId, body: '', deleted: true }, 'the deleted body is blanked in the backlog');
  t.notOk(b2.frames.some((f) => JSON.stringify(f).includes('my secret')), 'the deleted text never reaches the resuming socket');
  t.match(records[1]?.data, { body: 'helo wrold' }, 'an edited message keeps its first body in its own event; the edit follows');
});
