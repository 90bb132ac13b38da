// Exact resume: after any disconnect, however long, and across a gateway restart, a client that
// resumes from what it has receives every missed event exactly once, in order, before live ones.
// Gaps up to 100 messages come from the last-messages view, longer ones from the event store.
import type net from 'node:net';
import t from 'tap';
import { ChatSocket } from '../../gateways/ws/client/chat-socket.js';
import type { EventFrame } from '../../gateways/ws/protocol.js';
import { startWsGateway } from '../../gateways/ws/server.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { connect, memoryLogger, openChatFixture, range, sleep, waitUntil, wsTransport, type TestClient } from './support.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';

t.test('reconnects with gaps of every size while messages keep flowing', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t, { view: true });
  await fx.startGateway();

  const received: number[] = [];
  const collect = (c: TestClient): void => { received.push(...c.revisionsOf(chatId)); };
  let bobSocket = await connect(fx.url(), { ticket: await bob.ticket() });
  await bobSocket.resume({ [chatId]: -1 });
  let total = 0;

  for (const gap of [5, 150, 1, 99, 101, 320, 0, 37]) {
    // Away: the socket is gone while `gap` messages are written.
    const last = bobSocket.lastRevision(chatId);
    await bobSocket.close();
    collect(bobSocket);
    await fx.append(alice, chatId, gap, `gap${gap}`);
    total += gap;
    // Back, with messages still flowing while the backlog is being sent.
    bobSocket = await connect(fx.url(), { token: bob.token });
    const flowing = fx.append(alice, chatId, 15, `live${gap}`);
    await bobSocket.resume({ [chatId]: last });
    await flowing;
    total += 15;
    await bobSocket.until(`bob has ${total}`, () => bobSocket.lastRevision(chatId) === total);
    t.same(bobSocket.invalid, []);
  }
  collect(bobSocket);
  await bobSocket.close();
  t.same(received, range(0, total), `every one of the ${total} messages exactly once, in order`);
  const stats = fx.gateway!.stats();
  t.ok(stats.backlogFromView > 0, `short gaps came from the view (${stats.backlogFromView} events)`);
  t.ok(stats.backlogFromStore > 0, `long gaps came from the store (${stats.backlogFromStore} events)`);
});

t.test('typed client: random network drops while both sides send; nothing lost, nothing twice', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t, { view: true });
  await fx.startGateway();

  const clients = [alice, bob].map((u) => {
    const transport = wsTransport();
    const events: EventFrame[] = [];
    // Since when the socket has been resumed (null while it is not).
    const state = { resumedAt: null as number | null };
    const socket = new ChatSocket({
      url: fx.url(), connect: transport.connect, ticket: u.ticket, revisions: { [chatId]: -1 },
      reconnect: { minMs: 10, maxMs: 100 }, onEvent: (e) => events.push(e),
      onStatus: (status) => { state.resumedAt = status === 'resumed' ? (state.resumedAt ?? Date.now()) : null; },
    });
    return { user: u, transport, events, socket, state };
  });
  await Promise.all(clients.map((c) => c.socket.start()));

  // Drops: every 150-300 ms one side's TCP connection is cut without a close handshake. A victim is
  // cut again only once it has been resumed for 100 ms: on a loaded machine a reconnect (ticket,
  // upgrade, resume) can take longer than the interval, and one never let to finish would send nothing.
  let dropping = true;
  let drops = 0;
  const dropper = (async () => {
    while (dropping) {
      await sleep(150 + Math.random() * 150);
      const victim = clients[drops % 2]!;
      while (dropping && (victim.state.resumedAt === null || Date.now() - victim.state.resumedAt < 100)) await sleep(10);
      if (!dropping) break;
      victim.transport.sockets.at(-1)?.terminate();
      drops++;
    }
  })();
  // Both users send through their (dropping) sockets; unacked sends are resent after each resume.
  const acks = [];
  for (let i = 0; i < 120; i++) {
    const c = clients[i % 2]!;
    acks.push(c.socket.send({ chatId, body: `msg ${i}`, clientMessageId: `${c.user.userId}-${i}` }));
    await sleep(15);
  }
  const answered = await Promise.all(acks);
  dropping = false;
  await dropper;
  const head = Math.max(...answered.map((a) => a.revision));
  t.equal(head, 120, 'exactly 120 messages appended: resent sends were de-duplicated');
  for (const c of clients) {
    await waitUntil(`${c.user.userId} caught up`, () => c.events.at(-1)?.revision === head, 15_000);
    t.same(c.events.map((e) => e.revision), range(0, head), `${c.user.userId}: every event once, in order`);
    t.equal(c.socket.duplicatesIgnored, 0, 'the gateway sent no duplicate');
    t.equal(c.socket.gapsSeen, 0, 'and no gap');
    c.socket.close();
  }
  t.ok(drops >= 5, `connections were dropped ${drops} times`);
});

t.test('across a gateway restart: the client comes back to a new process and misses nothing', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t, { view: true });
  await fx.startGateway();

  const transport = wsTransport({ authorization: `Bearer ${bob.token}` });
  const events: EventFrame[] = [];
  // The url is asked before each connect: the restarted gateway listens on a new port.
  const socket = new ChatSocket({
    url: () => (fx.gateway ? fx.url() : 'ws://127.0.0.1:9/ws'), connect: transport.connect, revisions: { [chatId]: -1 },
    reconnect: { minMs: 20, maxMs: 200 }, onEvent: (e) => events.push(e),
  });
  await socket.start();

  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      await fx.append(alice, chatId, 1, `w${written}`);
      written++;
      await sleep(3);
    }
  })();
  try {
    await sleep(300);
    await fx.stopGateway(); // every socket gets 1001 going away
    await sleep(400); // messages keep coming while no gateway runs
    await fx.startGateway();
    await sleep(500);
    // And once more, with a backlog longer than the view holds.
    await fx.stopGateway();
    await fx.append(alice, chatId, 130, 'offline');
    written += 130;
    await fx.startGateway();
    await sleep(300);
  } finally {
    writing = false;
    await writer;
  }
  await waitUntil('caught up', () => events.at(-1)?.revision === written, 15_000);
  t.same(events.map((e) => e.revision), range(0, written), `all ${written} messages once, in order, across two restarts`);
  t.equal(socket.duplicatesIgnored, 0);
  t.equal(socket.gapsSeen, 0);
  socket.close();
});

t.test('each resume sends exactly what follows its claim; a claim past the newest revision is lowered to it', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway();
  const b = await connect(fx.url(), { token: bob.token });
  await fx.append(alice, chatId, 10);
  // Bob says he has up to 3 of a chat that is at 10: the gateway follows the client's word.
  await b.resume({ [chatId]: 3 });
  t.same(b.revisionsOf(chatId), range(4, 10));
  // More than exists: nothing to send, and the socket stands at the newest revision, not at the claim.
  const ahead = await b.resume({ [chatId]: 12 });
  t.same(ahead.type === 'resumed' ? ahead.chats : null, { [chatId]: 10 }, 'resumed shows the newest revision');
  await fx.append(alice, chatId, 4); // 11..14: all of them reach bob
  await b.until('11 to 14', () => b.lastRevision(chatId) === 14);
  t.same(b.revisionsOf(chatId), range(4, 14));
  await b.resume({ [chatId]: 1 });
  await b.until('refilled', () => b.revisionsOf(chatId).length === 11 + 13);
  t.same(b.revisionsOf(chatId).slice(11), range(2, 14), 'a resume from 1 sends 2..14 again, as asked');
  await b.close();
});

t.test('typed client: following a chat while its messages flow gets it whole, in order', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.append(alice, chatId, 20);
  await fx.startGateway();
  const events: EventFrame[] = [];
  const socket = new ChatSocket({ url: fx.url(), connect: wsTransport({ authorization: `Bearer ${bob.token}` }).connect, onEvent: (e) => events.push(e) });
  await socket.start();
  const writer = fx.append(alice, chatId, 30, 'flowing');
  socket.follow(chatId);
  await writer;
  await waitUntil('bob has the whole chat', () => events.at(-1)?.revision === 50);
  t.same(events.map((e) => e.revision), range(0, 50), 'from ChatStarted to the last message, once each');
  t.equal(socket.duplicatesIgnored, 0);
  socket.close();
});

t.test('a backlog that cannot be read closes the socket (1011) rather than leave it behind', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.append(alice, chatId, 3);
  await fx.settle();
  let failReads = false;
  const real = fx.store;
  const store: EventStore = {
    kind: real.kind,
    append: (...a) => real.append(...a),
    readStream: (...a) => (failReads ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) : real.readStream(...a)),
    readAll: (...a) => real.readAll(...a),
    subscribeToAll: (...a) => real.subscribeToAll(...a),
    headPosition: () => real.headPosition(),
    close: async () => undefined,
  };
  const gw = await startWsGateway({ store, commands: fx.commands, sessions: fx.sessions, lastMessages: null, logger: memoryLogger().logger, config: { port: 0 }, presence: new MemoryPresenceBus() });
  t.teardown(() => gw.close());
  const url = `ws://127.0.0.1:${gw.port}/ws`;
  const b = await connect(url, { token: bob.token });
  failReads = true;
  b.raw(JSON.stringify({ type: 'resume', chats: { [chatId]: 0 } }));
  t.match(await b.closed, { code: 1011, reason: 'BACKLOG_UNAVAILABLE' }, 'closed, so the client knows to come back');
  failReads = false;
  const again = await connect(url, { token: bob.token });
  await again.resume({ [chatId]: 0 });
  t.same(again.revisionsOf(chatId), [1, 2, 3], 'and once the store answers, the resume is exact');
  await again.close();
});

t.test('a resume of megabytes (a thousand long messages) to a paused reader, while the same chat keeps growing: all of it, once, in order, then resumed', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t, { view: true });
  const LONG = 'y'.repeat(3900);
  await fx.append(alice, chatId, 1000, `old-${LONG}`);
  await fx.startGateway({ maxBackpressureBytes: 64 * 1024 });
  const c = await connect(fx.url(), { token: bob.token });
  const socket = (c.ws as unknown as { _socket: net.Socket })._socket;
  socket.pause();
  c.raw(JSON.stringify({ type: 'resume', ref: 'big', chats: { [chatId]: -1 } }));
  await fx.append(alice, chatId, 30, 'while paused');
  await sleep(2_000);
  t.notOk(c.isClosed, 'still open while the reader is paused');
  socket.resume();
  const resumed = await c.waitFor((f) => f.type === 'resumed' && f.ref === 'big', 60_000);
  t.ok(resumed.type === 'resumed' && resumed.chats[chatId]! >= 1000, 'resumed, after the backlog');
  await fx.append(alice, chatId, 5, 'after');
  await c.until('bob has every message', () => c.lastRevision(chatId) === 1035);
  t.same(c.revisionsOf(chatId), range(0, 1035), 'every event exactly once, in order');
  t.equal(fx.gateway!.stats().slowClosed, 0, 'never closed as a slow reader');
  await c.close();
});

// A request made after the session ended used to wait for a connection that never came: the page's
// Delete did nothing and said nothing (found by a browser check). It is refused at once, with why.
t.test('typed client: after the session ends, send, edit, delete and read are refused at once with SESSION_ENDED', async (t) => {
  const { fx, alice, chatId } = await openChatFixture(t);
  await fx.startGateway();
  let status = '';
  const socket = new ChatSocket({ url: fx.url(), connect: wsTransport({ authorization: `Bearer ${alice.token}` }).connect, revisions: { [chatId]: -1 }, onStatus: (s) => { status = s; } });
  await socket.start();
  const ack = await socket.send({ chatId, body: 'before' });
  await fx.sessions.revoke(alice.token);
  await waitUntil('the socket ended', () => status === 'ended');
  const refusals = await Promise.allSettled([
    socket.send({ chatId, body: 'after' }),
    socket.editMessage({ chatId, messageId: ack.messageId, body: 'changed' }),
    socket.deleteMessage({ chatId, messageId: ack.messageId }),
    socket.markRead(chatId, ack.revision),
  ]);
  for (const r of refusals) t.match(r, { status: 'rejected', reason: { code: 'SESSION_ENDED' } });
  socket.close();
  t.match(await socket.send({ chatId, body: 'still after' }).catch((err: unknown) => err), { code: 'SESSION_ENDED' }, 'close() after keeps the reason');
});
