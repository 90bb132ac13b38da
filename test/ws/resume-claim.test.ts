// A resume's claim past the chat's newest revision (a client bug, or a store restored from an older
// backup) is brought down to that revision, so later events are not dropped as duplicates; a claim
// of a chat that does not exist is answered CHAT_NOT_FOUND, as a claim of -1 is.
import t from 'tap';
import { chatIdFor } from '../../domain/chat-id.js';
import { connect, openChatFixture, type Fixture } from './support.js';

/** Counts the gateway's reads of a chat's newest revision (backwards reads): the claim check's second query. */
function countHeadReads(fx: Fixture): { count: number } {
  const counter = { count: 0 };
  const readStream = fx.store.readStream.bind(fx.store);
  fx.store.readStream = (streamId, options) => {
    if (options?.direction === 'backwards') counter.count++;
    return readStream(streamId, options);
  };
  return counter;
}

/** Alice and bob's chat at revision 3, the gateway counting its head reads, and bob's socket, not yet resumed. */
async function chatAtThree(t: Parameters<typeof openChatFixture>[0]) {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.append(alice, chatId, 3, 'before');
  const headReads = countHeadReads(fx);
  await fx.startGateway();
  const bobSocket = await connect(fx.url(), { token: bob.token });
  t.teardown(() => bobSocket.close());
  return { fx, alice, chatId, bobSocket, headReads };
}

t.test('a claim past the newest revision is lowered to it, and live events then arrive', async (t) => {
  const { fx, alice, chatId, bobSocket, headReads } = await chatAtThree(t);
  const resumed = await bobSocket.resume({ [chatId]: 100_000 });
  t.ok(headReads.count <= 1, `at most one read of the newest revision (${headReads.count}; the command cache may know it)`);
  t.same(resumed.type === 'resumed' ? resumed.chats : null, { [chatId]: 3 }, 'resumed says where the socket stands: the newest revision');
  await fx.append(alice, chatId, 2, 'after');
  await bobSocket.until('bob gets the next two', () => bobSocket.lastRevision(chatId) === 5);
  t.same(bobSocket.revisionsOf(chatId), [4, 5], 'the events after the newest revision, once each');
  t.same(bobSocket.invalid, []);
});

t.test('a claim within the chat is taken as it is, checked by the backlog read alone', async (t) => {
  const { chatId, bobSocket, headReads } = await chatAtThree(t);
  const resumed = await bobSocket.resume({ [chatId]: 3 });
  t.same(resumed.type === 'resumed' ? resumed.chats : null, { [chatId]: 3 });
  const earlier = await bobSocket.resume({ [chatId]: 1 });
  t.same(earlier.type === 'resumed' ? earlier.chats : null, { [chatId]: 3 }, 'a lower claim gets what follows it');
  t.same(bobSocket.revisionsOf(chatId), [2, 3]);
  t.equal(headReads.count, 0, 'no read of the newest revision for claims the store holds');
});

t.test('a claim of a chat that does not exist is CHAT_NOT_FOUND', async (t) => {
  const { fx, bob } = await openChatFixture(t);
  await fx.startGateway();
  const carol = await fx.user('carol');
  const missing = chatIdFor(bob.userId, carol.userId);
  const bobSocket = await connect(fx.url(), { token: bob.token });
  t.teardown(() => bobSocket.close());
  const from = bobSocket.frames.length;
  const resumed = await bobSocket.resume({ [missing]: 0 });
  t.same(resumed.type === 'resumed' ? resumed.chats : null, {}, 'not listed in resumed');
  t.ok(bobSocket.frames.slice(from).some((f) => f.type === 'error' && f.code === 'CHAT_NOT_FOUND' && f.chatId === missing), 'CHAT_NOT_FOUND for it');
  // Started later, the chat is followed from its first event.
  await fx.chat(bob, carol);
  await bobSocket.until('the new chat reaches bob', () => bobSocket.lastRevision(missing) === 0);
  t.same(bobSocket.revisionsOf(missing), [0]);
});

t.test('resumed names the revision delivered when it is sent, live events during the read state included', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.append(alice, chatId, 2, 'before');
  // The read state after the backlog (reads streams) is held back until a live message has reached the socket.
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => { release = r; });
  const readStream = fx.store.readStream.bind(fx.store);
  fx.store.readStream = async (streamId, options) => {
    if (streamId.startsWith('reads-')) await held;
    return readStream(streamId, options);
  };
  await fx.startGateway();
  const bobSocket = await connect(fx.url(), { token: bob.token });
  t.teardown(() => bobSocket.close());
  bobSocket.raw(JSON.stringify({ type: 'resume', ref: 'r', chats: { [chatId]: -1 } }));
  await bobSocket.until('the backlog is in', () => bobSocket.lastRevision(chatId) === 2);
  await fx.append(alice, chatId, 1, 'live');
  await bobSocket.until('the live one is in', () => bobSocket.lastRevision(chatId) === 3);
  release();
  const resumed = await bobSocket.waitFor((f) => f.type === 'resumed');
  t.same(resumed.type === 'resumed' ? resumed.chats : null, { [chatId]: 3 }, 'not the 2 the backlog ended at');
  t.same(bobSocket.revisionsOf(chatId), [0, 1, 2, 3]);
});
