// Two users chatting over the gateway: each receives the other's messages live and in order (and
// their own, for their other devices), acks carry the command's result, a third user receives none
// of it, and every frame matches the protocol's schemas.
import t from 'tap';
import { connect, openChatFixture, range, sleep } from './support.js';

t.test('two users chat live; a third user sees nothing', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const carol = await fx.user('carol');
  const other = await fx.chat(bob, carol);
  await fx.startGateway();

  const a = await connect(fx.url(), { token: alice.token });
  const b = await connect(fx.url(), { ticket: await bob.ticket() });
  const c = await connect(fx.url(), { cookie: `chat_session=${carol.token}` });
  // Each client says what it has: nothing yet of any chat (-1 asks for the chat from ChatStarted).
  await a.resume({ [chatId]: -1 });
  await b.resume({ [chatId]: -1, [other]: -1 });
  await c.resume({});
  t.same(a.revisionsOf(chatId), [0], 'alice gets ChatStarted on resume');
  t.equal(a.events.get(chatId)![0]!.record.type, 'ChatStarted');

  const N = 40;
  const acks = [];
  for (let i = 0; i < N; i++) {
    const [from, to] = i % 2 === 0 ? [a, bob] : [b, alice];
    acks.push(from.send(chatId, `hello ${i} to ${to.userId}`, `m${i}`));
    if (i % 10 === 9) await sleep(5);
  }
  const answered = await Promise.all(acks);
  for (const f of answered) t.equal(f.type, 'ack', 'every send is acked');
  const revisions = answered.map((f) => (f.type === 'ack' ? f.revision : -1)).sort((x, y) => x - y);
  t.same(revisions, range(1, N), 'acks carry the revisions 1..N');

  await a.until('alice has all', () => a.lastRevision(chatId) === N);
  await b.until('bob has all', () => b.lastRevision(chatId) === N);
  t.same(a.revisionsOf(chatId), range(0, N), 'alice: every event once, in order');
  t.same(b.revisionsOf(chatId), range(0, N), 'bob: every event once, in order');
  const bodies = b.events.get(chatId)!.slice(1).map((e) => e.record.data['body']);
  t.equal(new Set(bodies).size, N, 'distinct messages');
  const rec = b.events.get(chatId)![1]!.record;
  t.equal(rec.type, 'MessageSent');
  t.equal(rec.streamId, `chat-${chatId}`);
  t.match(rec.data, { chatId, senderId: /^(alice|bob)$/, clientMessageId: /^m\d+$/ });

  // A resend of the same clientMessageId is acked as a duplicate and appends nothing.
  const dup = await a.send(chatId, 'hello 0 to bob', 'm0');
  t.match(dup, { type: 'ack', duplicate: true, revision: answered[0]!.type === 'ack' ? answered[0]!.revision : -1 });

  // Carol's own chat works, and nothing of alice and bob's reached her.
  await sleep(300);
  t.equal(c.events.size, 0, 'carol received no event (she resumed nothing and takes part in no live chat yet)');
  const cm = await c.send(other, 'hi bob');
  t.equal(cm.type, 'ack');
  await b.until('bob gets carol', () => b.lastRevision(other) === 1);
  await c.until('carol gets her own message', () => c.lastRevision(other) === 1);
  t.notOk(c.events.has(chatId), 'carol never got an event of alice and bob');
  t.notOk(a.events.has(other), 'alice never got an event of bob and carol');
  // A chat started while both are connected reaches them from its ChatStarted on.
  const fresh = await fx.chat(alice, carol);
  await a.until('alice sees the new chat start', () => a.lastRevision(fresh) === 0);
  await c.until('carol sees the new chat start', () => c.lastRevision(fresh) === 0);
  t.equal(a.events.get(fresh)![0]!.record.type, 'ChatStarted');
  t.same(a.events.get(fresh)![0]!.record.data['participants'], ['alice', 'carol']);
  t.equal((await c.send(fresh, 'hi alice')).type, 'ack');
  await a.until('alice gets it', () => a.lastRevision(fresh) === 1);
  t.notOk(b.events.has(fresh), 'bob never got an event of alice and carol');
  for (const cl of [a, b, c]) t.same(cl.invalid, [], 'every frame matches its schema');

  const stats = fx.gateway!.stats();
  t.equal(stats.runtime, 'native', 'the native uWS build runs on this Node');
  t.equal(stats.sockets, 3);
  for (const cl of [a, b, c]) await cl.close();
});

t.test('a socket that does not resume first still gets what arrived meanwhile, from its first live event', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway();
  const b = await connect(fx.url(), { token: bob.token });
  await fx.append(alice, chatId, 3);
  await sleep(200);
  t.equal(b.frames.length, 0, 'nothing is sent before the first resume');
  await b.resume({});
  await b.until('bob has 1..3', () => b.lastRevision(chatId) === 3);
  t.same(b.revisionsOf(chatId), [1, 2, 3], 'sent from the first live event on');
  await fx.append(alice, chatId, 2);
  await b.until('bob has 1..5', () => b.lastRevision(chatId) === 5);
  t.same(b.revisionsOf(chatId), [1, 2, 3, 4, 5]);
  await b.close();
});
