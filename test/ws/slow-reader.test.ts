// A reader that stops reading (its TCP socket paused) is closed once its buffer passes the
// backpressure limit; meanwhile everyone else keeps getting their events on time, and the slow
// reader, when it comes back and resumes, gets exactly what it had not read.
import type net from 'node:net';
import t from 'tap';
import { connect, openFixture, range, sleep } from './support.js';

const BIG = 'x'.repeat(3900); // near the 4000-character limit: ~4 KB per event frame

t.test('a slow reader is closed at the backpressure limit; others are not delayed; it resumes exactly', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const users = await Promise.all(['bob', 'alice', 'carol', 'dave', 'erin', 'frank'].map((n) => fx.user(n)));
  const [bob, alice, carol, dave, erin, frank] = users as [typeof users[0], typeof users[0], typeof users[0], typeof users[0], typeof users[0], typeof users[0]];
  const chats = [await fx.chat(alice, bob), await fx.chat(carol, bob), await fx.chat(dave, bob)];
  const calm = await fx.chat(erin, frank);
  await fx.startGateway({ maxBackpressureBytes: 64 * 1024 });

  const slow = await connect(fx.url(), { token: bob.token });
  const fastBob = await connect(fx.url(), { token: bob.token }); // bob's other device keeps up
  const e = await connect(fx.url(), { token: erin.token });
  const f = await connect(fx.url(), { token: frank.token });
  const all = Object.fromEntries(chats.map((c) => [c, -1]));
  await slow.resume(all);
  await fastBob.resume(all);
  await e.resume({ [calm]: -1 });
  await f.resume({ [calm]: -1 });
  (slow.ws as unknown as { _socket: net.Socket })._socket.pause();

  // ~6 MB for bob through three chats at once: more than loopback's kernel buffers plus 64 KiB.
  const PER_CHAT = 500;
  const floodStarted = Date.now();
  const flood = Promise.all(chats.map(async (chatId, i) => {
    const sender = [alice, carol, dave][i]!;
    for (let k = 0; k < PER_CHAT; k++) await fx.append(sender, chatId, 1, `big${k}-${BIG}`);
  })).then(() => Date.now() - floodStarted);
  // Meanwhile erin and frank chat; frank's receive latency is measured.
  const latencies: number[] = [];
  const sentAt = new Map<number, number>();
  let calmCount = 0;
  const chatter = (async () => {
    for (let i = 0; i < 40; i++) {
      const ack = await e.send(calm, `calm ${i}`);
      if (ack.type === 'ack') sentAt.set(ack.revision, Date.now());
      calmCount++;
      await sleep(25);
    }
  })();
  const seenAt = new Map<number, number>();
  const poll = setInterval(() => {
    for (const ev of f.events.get(calm) ?? []) if (!seenAt.has(ev.revision)) seenAt.set(ev.revision, Date.now());
  }, 2);
  const [floodMs] = await Promise.all([flood, chatter]);
  await f.until('frank has all', () => f.lastRevision(calm) === calmCount);
  clearInterval(poll);
  for (const [rev, at] of sentAt) latencies.push((seenAt.get(rev) ?? Infinity) - at);
  latencies.sort((x, y) => x - y);
  const worst = latencies.at(-1)!;
  // A slow reader holding everyone up would stall frank's events for much of the flood; on a loaded
  // machine the flood itself (and each event's turn in the feed) is slower, so the bound grows with it.
  const bound = Math.max(5_000, floodMs / 2);
  t.ok(worst < bound, `frank kept receiving during the ${floodMs} ms flood (worst ack-to-receipt ${worst} ms, bound ${bound} ms, median ${latencies[latencies.length >> 1]} ms)`);

  await fastBob.until('bob\'s fast device has everything', () => chats.every((c) => fastBob.lastRevision(c) === PER_CHAT), 20_000);
  for (const c of chats) t.same(fastBob.revisionsOf(c), range(0, PER_CHAT), 'the fast device got every event in order');
  t.ok(fx.gateway!.stats().slowClosed >= 1, 'the slow reader was cut off at the limit');

  // The slow reader reads what reached its kernel buffer, sees the close, and comes back.
  (slow.ws as unknown as { _socket: net.Socket })._socket.resume();
  const closed = await slow.closed;
  t.ok(closed.code === 1013 || closed.code === 1006, `closed (${closed.code} ${closed.reason})`);
  const had = Object.fromEntries(chats.map((c) => [c, slow.lastRevision(c)]));
  t.ok(chats.some((c) => had[c]! < PER_CHAT), 'it had not received everything when it was closed');
  const back = await connect(fx.url(), { token: bob.token });
  await back.resume(had);
  for (const c of chats) {
    t.same([...slow.revisionsOf(c), ...back.revisionsOf(c)], range(0, PER_CHAT), 'after resuming: every event exactly once, in order');
  }
  t.equal(fx.gateway!.stats().sockets, 4, 'the slow socket is gone; the others are still open');
  for (const c of [back, fastBob, e, f]) await c.close();
});

// A resume is not live traffic: however long the backlog, it goes out at the reader's pace, frame by
// frame, and neither the backpressure limit nor a paused or trickling reader ends the socket.
t.test('a resume of megabytes to a reader that stops reading for seconds, or reads a little at a time, completes', async (t) => {
  const fx = await openFixture({ view: true });
  t.teardown(() => fx.close());
  const [alice, bob, carol] = [await fx.user('alice'), await fx.user('bob'), await fx.user('carol')];
  const big = await fx.chat(alice, bob);
  const side = await fx.chat(carol, bob);
  const COUNT = 1000; // ~4 MB of event frames
  await fx.append(alice, big, COUNT, `old-${BIG}`);
  await fx.startGateway({ maxBackpressureBytes: 64 * 1024 });

  const readers = {
    'stops reading for 3 s': async (socket: net.Socket): Promise<void> => {
      socket.pause();
      await sleep(3_000);
      socket.resume();
    },
    'reads a little at a time': async (socket: net.Socket): Promise<void> => {
      // Reads for one turn of the event loop every 25 ms, as through a tiny receive window.
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        socket.pause();
        await sleep(25);
        socket.resume();
        await new Promise((r) => setImmediate(r));
      }
    },
  };
  let sideSent = 0;
  for (const [label, read] of Object.entries(readers)) {
    const c = await connect(fx.url(), { token: bob.token });
    const socket = (c.ws as unknown as { _socket: net.Socket })._socket;
    socket.pause();
    const slowBefore = fx.gateway!.stats().slowClosed;
    c.raw(JSON.stringify({ type: 'resume', ref: 'first', chats: { [big]: -1, [side]: sideSent } }));
    // A second resume while the first is being served: answered RATE_LIMITED, as documented.
    c.raw(JSON.stringify({ type: 'resume', ref: 'second', chats: { [big]: -1 } }));
    // Live events of another chat keep arriving meanwhile.
    const live = fx.append(carol, side, 20, `live-${label}`);
    await read(socket);
    await live;
    sideSent += 20;
    socket.resume();
    const resumed = await c.waitFor((f) => f.type === 'resumed' && f.ref === 'first', 60_000);
    t.match(resumed, { chats: { [big]: COUNT } }, `${label}: resumed arrives`);
    t.ok(c.frames.some((f) => f.type === 'error' && f.ref === 'second' && f.code === 'RATE_LIMITED'), `${label}: the second resume got RATE_LIMITED`);
    t.same(c.revisionsOf(big), range(0, COUNT), `${label}: the whole backlog, exactly once, in order`);
    await c.until(`${label}: the live events of the other chat arrive too`, () => c.lastRevision(side) === sideSent);
    t.same(c.revisionsOf(side), range(sideSent - 19, sideSent), `${label}: live events of the other chat exactly once, in order`);
    t.notOk(c.isClosed, `${label}: the socket is still open`);
    t.equal(fx.gateway!.stats().slowClosed, slowBefore, `${label}: nothing was closed as a slow reader`);
    t.same(c.invalid, []);
    await c.close();
  }
});
