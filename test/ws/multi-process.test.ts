// Two gateway processes on one PostgreSQL store, each with its own log subscription: a message sent
// through one reaches a socket on the other, and a client can move between them (or lose one to
// SIGKILL) and resume exactly.
import t from 'tap';
import { connect, openChatFixture, range, sleep, spawnGateway, type TestClient } from './support.js';

t.test('cross-process delivery, moving between processes, and a killed process', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const [gw1, gw2] = await Promise.all([spawnGateway(fx), spawnGateway(fx)]);
  t.teardown(async () => { await gw1.stop('SIGKILL'); await gw2.stop('SIGKILL'); });
  t.ok(gw1.output.some((l) => l.includes('"uws":"native"')), 'the gateway logs which uWS build it runs');
  const url = (port: number): string => `ws://127.0.0.1:${port}/ws`;

  const a = await connect(url(gw1.port), { token: alice.token });
  const b = await connect(url(gw2.port), { token: bob.token });
  await a.resume({ [chatId]: -1 });
  await b.resume({ [chatId]: -1 });

  // Both directions, interleaved, through different processes.
  const sends = [];
  for (let i = 0; i < 60; i++) {
    sends.push((i % 2 === 0 ? a : b).send(chatId, `m${i}`));
    await sleep(2);
  }
  for (const f of await Promise.all(sends)) t.equal(f.type, 'ack', f.type === 'error' ? `${f.code}: ${f.message}` : 'acked');
  await a.until('alice (process 1) has all 60', () => a.lastRevision(chatId) === 60);
  await b.until('bob (process 2) has all 60', () => b.lastRevision(chatId) === 60);
  t.same(a.revisionsOf(chatId), range(0, 60), 'process 1 delivered every event once, in order');
  t.same(b.revisionsOf(chatId), range(0, 60), 'process 2 delivered every event once, in order');

  // Bob moves to process 1 while alice keeps sending through it.
  const bobSeen: number[] = [...b.revisionsOf(chatId)];
  await b.close();
  const moving = (async () => { for (let i = 0; i < 30; i++) { await a.send(chatId, `while moving ${i}`); await sleep(3); } })();
  await sleep(20);
  const b2 = await connect(url(gw1.port), { ticket: await bob.ticket() });
  await b2.resume({ [chatId]: 60 });
  await moving;
  await b2.until('bob caught up on process 1', () => b2.lastRevision(chatId) === 90);
  bobSeen.push(...b2.revisionsOf(chatId));
  t.same(bobSeen, range(0, 90), 'bob: exactly once across the move');

  // Process 1 dies without a goodbye: alice and bob come back on process 2.
  let killedAt = 0;
  const writer = (async () => {
    for (let i = 0; i < 40; i++) {
      await fx.append(bob, chatId, 1, `during-kill-${i}`);
      if (i === 10) {
        killedAt = i;
        await gw1.stop('SIGKILL');
      }
    }
  })();
  const aliceSeen = [...a.revisionsOf(chatId)];
  const survivors: TestClient[] = [];
  for (const [client, user, seen] of [[a, alice, aliceSeen], [b2, bob, bobSeen]] as const) {
    await client.closed;
    const again = await connect(url(gw2.port), { token: user.token });
    const have = seen.at(-1)!;
    await again.resume({ [chatId]: have });
    survivors.push(again);
  }
  await writer;
  t.equal(killedAt, 10);
  for (const [client, seen] of [[survivors[0]!, aliceSeen], [survivors[1]!, bobSeen]] as const) {
    await client.until('caught up on process 2', () => client.lastRevision(chatId) === 130);
    t.same([...seen, ...client.revisionsOf(chatId)], range(0, 130), 'exactly once across the crash');
    t.same(client.invalid, []);
    await client.close();
  }
  t.equal(await gw2.stop('SIGTERM'), 0, 'process 2 stops cleanly on SIGTERM');
});
