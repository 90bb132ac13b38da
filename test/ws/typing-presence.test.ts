// Typing notices and presence within one gateway process (the in-process bus, as on the embedded
// default): who gets them and who does not, the typing rate limit, the reconnect grace, and a
// presence bus whose Redis is down or goes away (typing and presence go quiet, chat goes on), and the typed client.
import t, { type Test } from 'tap';
import type { ErrorFrame, IsTypingFrame, PresenceFrame, ServerFrame } from '../../gateways/ws/protocol.js';
import { startWsGateway, type WsGateway } from '../../gateways/ws/server.js';
import { RedisPresenceBus } from '../../infra/presence/redis.js';
import { deadEndpoint } from '../support/dead-endpoint.js';
import { deletePrefix, newPrefix, RedisProxy, withRedis } from '../support/last-messages.js';
import { ChatSocket } from '../../gateways/ws/client/chat-socket.js';
import { connect, memoryLogger, openChatFixture, openFixture, sleep, waitUntil, wsTransport, type Fixture, type TestClient } from './support.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';

const isTyping = (f: ServerFrame): f is IsTypingFrame => f.type === 'is_typing';
const isPresence = (f: ServerFrame): f is PresenceFrame => f.type === 'presence';
const answer = (ref: string | undefined) => (f: ServerFrame): f is PresenceFrame => isPresence(f) && f.ref === ref;
const errorFor = (ref: string) => (f: ServerFrame): f is ErrorFrame => f.type === 'error' && f.ref === ref;

async function gatewayOf(t: Test, fx: Fixture, extra: Partial<Parameters<typeof startWsGateway>[0]> = {}): Promise<WsGateway> {
  await fx.settle();
  const g = await startWsGateway({
    store: fx.store, commands: fx.commands, sessions: fx.sessions, lastMessages: null, logger: memoryLogger().logger,
    config: { port: 0, ratePerSec: 1000, rateBurst: 1000 }, presence: new MemoryPresenceBus(), ...extra,
  });
  t.teardown(() => g.close());
  return g;
}
const urlOf = (g: WsGateway): string => `ws://127.0.0.1:${g.port}/ws`;

t.test('typing reaches the other participant only, within the rate limit', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const [alice, bob, carol] = [await fx.user('alice'), await fx.user('bob'), await fx.user('carol')];
  const chatId = await fx.chat(alice, bob);
  const g = await gatewayOf(t, fx);
  const a = await connect(urlOf(g), { token: alice.token });
  const a2 = await connect(urlOf(g), { token: alice.token });
  const b = await connect(urlOf(g), { token: bob.token });
  const c = await connect(urlOf(g), { token: carol.token });
  for (const x of [a, a2, b, c]) await x.resume({});

  a.raw(JSON.stringify({ type: 'typing', chatId }));
  const notice = await b.waitFor(isTyping);
  t.same(notice, { type: 'is_typing', chatId, userId: 'alice' }, 'bob is told alice is typing');

  // A non-participant is refused, and nobody hears of it.
  c.raw(JSON.stringify({ type: 'typing', ref: 'x1', chatId }));
  t.equal((await c.waitFor(errorFor('x1'))).code, 'NOT_A_PARTICIPANT', 'carol cannot type in alice and bob\'s chat');
  // A chat that was never started, and an id that is no chat id.
  a.raw(JSON.stringify({ type: 'typing', ref: 'x2', chatId: 'alice:carol' }));
  t.equal((await a.waitFor(errorFor('x2'))).code, 'CHAT_NOT_FOUND', 'no typing into a chat that does not exist');
  a.raw(JSON.stringify({ type: 'typing', ref: 'x3', chatId: 'nonsense' }));
  t.equal((await a.waitFor(errorFor('x3'))).code, 'CHAT_NOT_FOUND');
  a.raw(JSON.stringify({ type: 'typing', ref: 'x4', chatId, extra: 1 }));
  t.equal((await a.waitFor(errorFor('x4'))).code, 'VALIDATION_FAILED');

  // Flood: the burst (3) passes, the rest are refused with TYPING_RATE_LIMITED; the socket stays open.
  // (The first typing frame above used one token; x2-x4 never reached the bucket or were refused before it.)
  await sleep(1100); // one token back: 3 in all again at most
  const before = b.frames.filter(isTyping).length;
  for (let i = 0; i < 10; i++) a2.raw(JSON.stringify({ type: 'typing', ref: `f${i}`, chatId }));
  await a2.waitFor(errorFor('f9'));
  const refused = a2.frames.filter((f): f is ErrorFrame => f.type === 'error' && f.code === 'TYPING_RATE_LIMITED');
  t.equal(refused.length, 7, 'past the burst of 3, each typing frame is refused');
  t.same(refused.map((f) => f.chatId), Array(7).fill(chatId), 'the refusal names the chat');
  t.match(refused[0]!.message, /Too many typing notices/);
  await b.until('bob got the three accepted', () => b.frames.filter(isTyping).length === before + 3);
  await sleep(100);
  t.equal(b.frames.filter(isTyping).length, before + 3, 'and only those');
  t.notOk(a2.isClosed, 'a typing flood is refused, not disconnected');

  t.equal(c.frames.filter(isTyping).length, 0, 'carol never hears alice typing');
  t.equal(a.frames.filter(isTyping).length + a2.frames.filter(isTyping).length, 0, 'the typist\'s own sockets are not told');
  t.same(g.stats().ephemeral.typingAccepted, 4);
  for (const x of [a, a2, b, c]) {
    t.same(x.invalid, [], 'every frame matches its schema');
    await x.close();
  }
});

t.test('a revision claimed in a resume does not make a chat exist for typing and presence', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const [alice, carol] = [await fx.user('alice'), await fx.user('carol')];
  const g = await gatewayOf(t, fx);
  const c = await connect(urlOf(g), { token: carol.token });
  await c.resume({});
  const a = await connect(urlOf(g), { token: alice.token });
  // alice shares no chat with carol, but claims to hold revision 0 of theirs: the client's word
  // counts for what a resume sends, never for whether the chat exists.
  await a.resume({ 'alice:carol': 0 });
  a.raw(JSON.stringify({ type: 'typing', ref: 't1', chatId: 'alice:carol' }));
  t.equal((await a.waitFor(errorFor('t1'))).code, 'CHAT_NOT_FOUND', 'no typing into it');
  a.raw(JSON.stringify({ type: 'watch', ref: 'w1', chats: ['alice:carol'] }));
  t.same(await a.waitFor(answer('w1')), { type: 'presence', ref: 'w1', available: true, users: {} }, 'no presence of carol');
  t.equal(a.frames.filter((f) => f.type === 'error' && f.ref === 'w1' && f.code === 'CHAT_NOT_FOUND').length, 1, 'the chat is refused');
  await sleep(100);
  t.equal(c.frames.filter(isTyping).length, 0, 'carol hears nothing');
  await a.close();
  await c.close();
});

t.test('presence: watch, online, offline after the grace, no flicker on a quick reconnect', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const [alice, bob, carol, dave] = [await fx.user('alice'), await fx.user('bob'), await fx.user('carol'), await fx.user('dave')];
  const chatId = await fx.chat(alice, bob);
  const carolDave = await fx.chat(carol, dave);
  // Long enough for a reconnect (an upgrade, with its session looked up in PostgreSQL) on a loaded machine.
  const GRACE = 2_000;
  const g = await gatewayOf(t, fx, { ephemeral: { graceMs: GRACE } });

  const b = await connect(urlOf(g), { token: bob.token });
  await b.resume({});
  b.raw(JSON.stringify({ type: 'watch', ref: 'w1', chats: [chatId, carolDave, 'bob:zed', 'x'] }));
  const first = await b.waitFor(answer('w1'));
  t.same(first, { type: 'presence', ref: 'w1', available: true, users: { alice: { online: false, lastSeen: null } } }, 'alice: offline, never seen');
  const errs = b.frames.filter((f): f is ErrorFrame => f.type === 'error' && f.ref === 'w1').map((f) => [f.chatId, f.code]);
  t.same(errs.sort(), [['bob:zed', 'CHAT_NOT_FOUND'], [carolDave, 'NOT_A_PARTICIPANT'], ['x', 'CHAT_NOT_FOUND']].sort(), 'chats bob does not share are refused, one error each');

  const a = await connect(urlOf(g), { token: alice.token });
  const on = await b.waitFor(answer(undefined));
  t.same(on.users, { alice: { online: true, lastSeen: null } }, 'alice comes online');

  // Carol shares no chat with alice: she is told nothing.
  const c = await connect(urlOf(g), { token: carol.token });
  c.raw(JSON.stringify({ type: 'watch', ref: 'w2', chats: [chatId] }));
  t.equal((await c.waitFor(errorFor('w2'))).code, 'NOT_A_PARTICIPANT');
  await c.waitFor(answer('w2'));

  // A reconnect within the grace: no offline in between.
  const mark = b.frames.length;
  await a.close();
  const a2 = await connect(urlOf(g), { token: alice.token });
  await sleep(GRACE * 2);
  t.same(b.frames.slice(mark).filter(isPresence), [], 'no flicker: bob saw nothing');

  // The last socket closes: offline once the grace is over, with when.
  const closedAt = Date.now();
  await a2.close();
  const off = await b.waitFor((f): f is PresenceFrame => isPresence(f) && f.users['alice']?.online === false, GRACE + 10_000, mark);
  const offAt = Date.now();
  const seen = Date.parse(off.users['alice']!.lastSeen!);
  t.ok(offAt - closedAt >= GRACE - 50, `not before the grace (${offAt - closedAt} ms)`);
  // The gateway saw the close after closedAt, and told bob a grace after it saw the close: had it
  // stamped the end of the grace, lastSeen would be within a delivery of offAt instead.
  t.ok(seen >= closedAt - 50 && seen <= offAt - GRACE + 50,
    `last seen is when she left, not when the grace ended (${seen - closedAt} ms after the close, ${offAt - seen} ms before bob was told)`);

  // Asking again gives the same; an empty watch stops the updates.
  b.raw(JSON.stringify({ type: 'watch', ref: 'w3', chats: [chatId] }));
  t.same((await b.waitFor(answer('w3'))).users, { alice: { online: false, lastSeen: off.users['alice']!.lastSeen } });
  b.raw(JSON.stringify({ type: 'watch', ref: 'w4', chats: [] }));
  t.same((await b.waitFor(answer('w4'))).users, {});
  const mark2 = b.frames.length;
  const a3 = await connect(urlOf(g), { token: alice.token });
  await sleep(200);
  t.same(b.frames.slice(mark2).filter(isPresence), [], 'after unwatching, no updates');
  t.equal(c.frames.filter(isPresence).every((f) => Object.keys(f.users).length === 0), true, 'carol never learnt anything about alice');
  for (const x of [a3, b, c]) {
    t.same(x.invalid, []);
    await x.close();
  }
});

t.test('users named like Object.prototype keys are named in presence answers like any other', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const bob = await fx.user('bob');
  const odd = [await fx.user('__proto__'), await fx.user('constructor')];
  const chats = [await fx.chat(odd[0]!, bob), await fx.chat(odd[1]!, bob)];
  const g = await gatewayOf(t, fx);
  const b = await connect(urlOf(g), { token: bob.token });
  await b.resume({});
  b.raw(JSON.stringify({ type: 'watch', ref: 'w1', chats }));
  const got = await b.waitFor(answer('w1'));
  // Not t.same: an expected object literal cannot spell an own `__proto__` key.
  t.same(Object.keys(got.users).sort(), ['__proto__', 'constructor'], 'both named (a plain object dropped __proto__)');
  await b.close();
});

t.test('Redis down: typing and presence go quiet, messages go on', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const dead = await deadEndpoint('reset');
  t.teardown(() => dead.close());
  const [alice, bob] = [await fx.user('alice'), await fx.user('bob')];
  const chatId = await fx.chat(alice, bob);
  const { logger } = memoryLogger();
  const bus = new RedisPresenceBus({ url: dead.url('redis'), keyPrefix: 'dead:', commandTimeoutMs: 200, logger, settings: { ttlMs: 3000, graceMs: 100, lastSeenDays: 1 } });
  const g = await gatewayOf(t, fx, { presence: bus });
  const a: TestClient = await connect(urlOf(g), { token: alice.token });
  const b: TestClient = await connect(urlOf(g), { token: bob.token });
  await a.resume({ [chatId]: 0 });
  await b.resume({ [chatId]: 0 });
  b.raw(JSON.stringify({ type: 'watch', ref: 'w', chats: [chatId] }));
  t.same(await b.waitFor(answer('w')), { type: 'presence', ref: 'w', available: false, users: {} }, 'presence: unavailable, nothing shown');
  a.raw(JSON.stringify({ type: 'typing', ref: 'ty', chatId }));
  const ack = await a.send(chatId, 'still works');
  t.equal(ack.type, 'ack', 'a message is sent as usual');
  await b.until('bob got the message', () => b.lastRevision(chatId) === 1);
  t.equal(a.frames.filter((f) => f.type === 'error').length, 0, 'typing is dropped quietly (no error)');
  t.equal(b.frames.filter(isTyping).length, 0);
  t.equal(g.stats().ephemeral.bus.available, false);
  t.ok(dead.connections > 0, 'the bus did try Redis');
  await a.close();
  await b.close();
});

t.test('Redis goes away and comes back: presence is announced again and watchers are told', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const prefix = newPrefix('presence-outage');
  t.teardown(async () => { await deletePrefix(prefix); });
  const proxy = await RedisProxy.start();
  t.teardown(() => proxy.close());
  const [alice, bob] = [await fx.user('alice'), await fx.user('bob')];
  const chatId = await fx.chat(alice, bob);
  const settings = { ttlMs: 600, graceMs: 100, lastSeenDays: 1 };
  const bus = new RedisPresenceBus({ url: proxy.url, keyPrefix: prefix, commandTimeoutMs: 200, logger: memoryLogger().logger, settings });
  const g = await gatewayOf(t, fx, { presence: bus, ephemeral: { graceMs: 100 } });
  const b = await connect(urlOf(g), { token: bob.token });
  b.raw(JSON.stringify({ type: 'watch', ref: 'w1', chats: [chatId] }));
  t.same((await b.waitFor(answer('w1'))).users, { alice: { online: false, lastSeen: null } });

  proxy.down();
  // Alice connects while Redis is away: nobody can be told now.
  const a = await connect(urlOf(g), { token: alice.token });
  b.raw(JSON.stringify({ type: 'watch', ref: 'w2', chats: [chatId] }));
  t.same(await b.waitFor(answer('w2')), { type: 'presence', ref: 'w2', available: false, users: {} }, 'unavailable while Redis is away');

  // Redis is back: the gateway announces alice, and bob is told without asking.
  const mark = b.frames.length;
  proxy.up();
  const back = await b.waitFor((f): f is PresenceFrame => isPresence(f) && f.ref === undefined && f.users['alice']?.online === true, 10_000, mark);
  t.same(back.users, { alice: { online: true, lastSeen: null } }, 'alice online once Redis is back');
  a.raw(JSON.stringify({ type: 'typing', chatId }));
  t.same(await b.waitFor(isTyping, 5_000, mark), { type: 'is_typing', chatId, userId: 'alice' }, 'typing flows again');
  t.ok(await withRedis(async (r) => (await r.sismember(`${prefix}presence:user:alice`, bus.nodeId)) === 1), 'Redis holds alice on this process again');
  await a.close();
  await b.close();
});

t.test('the typed client: typing(), watch() and its renewal after a reconnect', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const g = await gatewayOf(t, fx, { ephemeral: { graceMs: 2_000 } });
  const presence: PresenceFrame[] = [];
  const transport = wsTransport({ authorization: `Bearer ${alice.token}` });
  const socket = new ChatSocket({ url: urlOf(g), connect: transport.connect, reconnect: { minMs: 20, maxMs: 50 }, onPresence: (f) => presence.push(f) });
  socket.watch([chatId]);
  await socket.start();
  await waitUntil('the watch answer', () => presence.length === 1);
  t.same(presence[0]!.users, { bob: { online: false, lastSeen: null } });
  t.match(presence[0]!.ref, /^w\d+$/);

  const b = await connect(urlOf(g), { token: bob.token });
  await waitUntil('bob online', () => presence.length === 2);
  t.same(presence[1]!.users, { bob: { online: true, lastSeen: null } });
  socket.typing(chatId);
  t.same(await b.waitFor(isTyping), { type: 'is_typing', chatId, userId: 'alice' }, 'typing() reaches bob');

  // The connection drops: after the reconnect the client asks again, and is answered again.
  transport.sockets.at(-1)!.terminate();
  await waitUntil('asked again after the reconnect', () => presence.length === 3 && socket.status === 'resumed');
  t.same(presence[2]!.users, { bob: { online: true, lastSeen: null } });
  t.ok(presence[2]!.ref !== undefined, 'an answer, not a change');
  socket.close();
  await b.close();
});
