// Over-long values of a send get the domain's own code however long they are, up to the frame size
// limit (docs/websocket.md, Error codes): never a generic VALIDATION_FAILED past some schema bound.
import t from 'tap';
import { MAX_PAYLOAD_CAP } from '../../gateways/ws/config.js';
import { connect, openChatFixture } from './support.js';

t.test('a huge body is MESSAGE_TOO_LONG, a huge clientMessageId CLIENT_MESSAGE_ID_INVALID', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway();
  const a = await connect(fx.url(), { token: alice.token });
  t.teardown(() => a.close());
  await a.resume({ [chatId]: -1 });
  const head = await fx.store.headPosition();

  const frameOf = (body: string, clientMessageId: string): number =>
    Buffer.byteLength(JSON.stringify({ type: 'send', ref: 's0', chatId, body, clientMessageId }));
  const cases: Array<[string, string, string, string]> = [
    ['4001 characters', 'y'.repeat(4001), 'ok-1', 'MESSAGE_TOO_LONG'],
    ['16,000 characters', 'y'.repeat(16_000), 'ok-2', 'MESSAGE_TOO_LONG'],
    ['65 characters of id', 'hi', 'k'.repeat(65), 'CLIENT_MESSAGE_ID_INVALID'],
    ['a 10 KB id', 'hi', 'k'.repeat(10_000), 'CLIENT_MESSAGE_ID_INVALID'],
    ['a 15 KB id', 'hi', 'k'.repeat(15_000), 'CLIENT_MESSAGE_ID_INVALID'],
  ];
  for (const [label, body, clientMessageId, code] of cases) {
    t.ok(frameOf(body, clientMessageId) <= MAX_PAYLOAD_CAP, `${label}: the frame fits the payload limit`);
    t.match(await a.send(chatId, body, clientMessageId), { type: 'error', code }, label);
  }
  t.equal(a.isClosed, false, 'the socket stays open');
  t.equal(await fx.store.headPosition(), head, 'nothing was appended');
});
