// A UserErased in the log ends the erased user's sockets on every gateway that reads it, whoever
// erased them: `chat users erase` run beside an embedded service has no session signal to send, and
// its sockets were served until the next session check (found by an outside check: 6.4 s).
import t from 'tap';
import { userStreamId } from '../../domain/events.js';
import { connect, openChatFixture, waitUntil } from './support.js';

t.test('the erased user\'s sockets close with SESSION_ENDED when the log says so; the other participant\'s stay', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway({ sessionCheckMs: 600_000 });
  const a = await connect(fx.url(), { token: alice.token });
  const b = await connect(fx.url(), { token: bob.token });
  await a.resume({ [chatId]: 0 });
  await b.resume({ [chatId]: 0 });
  // As another process would: only the event, no session revoked here, no signal.
  await fx.store.append(userStreamId(alice.userId), [{ id: crypto.randomUUID(), type: 'UserErased', data: { userId: alice.userId, at: new Date().toISOString(), by: 'operator' }, metadata: { schemaVersion: 1 } }], 'any');
  await waitUntil('alice\'s socket closed', () => a.isClosed);
  t.match(await a.closed, { code: 1008, reason: 'SESSION_ENDED' }, 'alice\'s socket ended');
  await waitUntil('bob told of the erasure', () => b.frames.some((f) => f.type === 'participant_erased'));
  t.notOk(b.isClosed, 'bob\'s socket stays open');
  await b.close();
});
