// A sender's own socket receives the event of its message before the ack (docs/websocket.md,
// "Order of a send's event and ack"), on the PostgreSQL store and on the embedded one, whose log
// can show an append before the append's own promise resolves.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { createCommandBus, keepFresh } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { register } from '../../commands/register.js';
import { startChat } from '../../commands/start-chat.js';
import { startWsGateway, type WsGateway } from '../../gateways/ws/server.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';
import type { AckFrame, ServerFrame } from '../../gateways/ws/protocol.js';
import { stubHasher } from '../support/stub-hasher.js';
import { connect, memoryLogger, openChatFixture, openFixture, range, type TestClient } from './support.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';

interface Setup {
  url: string;
  /** A bearer token of a new user with a chat with a second user; the chat's id. */
  pair(): Promise<{ token: string; otherToken: string; chatId: string }>;
}

/** Every send's event arrives before its ack, and each ack once, for sequential and pipelined sends. */
async function checkOrder(t: Test, setup: Setup): Promise<void> {
  const { token, otherToken, chatId } = await setup.pair();
  const a = await connect(setup.url, { token });
  const b = await connect(setup.url, { token: otherToken });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await a.resume({ [chatId]: -1 });
  await b.resume({ [chatId]: -1 });

  for (let i = 0; i < 10; i++) await a.send(chatId, `one by one ${i}`);
  await Promise.all(range(0, 19).map((i) => a.send(chatId, `pipelined ${i}`)));
  // The partner writes meanwhile too: their events interleave, and must not upset the order.
  await Promise.all(range(0, 9).flatMap((i) => [a.send(chatId, `mixed a ${i}`), b.send(chatId, `mixed b ${i}`)]));
  await a.until('alice has every event', () => a.lastRevision(chatId) === 50);

  assertEventBeforeAck(t, a.frames, chatId, 40);
  assertEventBeforeAck(t, b.frames, chatId, 10);
  t.same(a.revisionsOf(chatId), range(0, 50), 'every event once, in order');
}

function assertEventBeforeAck(t: Test, frames: readonly ServerFrame[], chatId: string, expectedAcks: number): void {
  const acks = frames.map((f, i) => [f, i] as const).filter((x): x is readonly [AckFrame, number] => x[0].type === 'ack');
  t.equal(acks.length, expectedAcks, 'one ack per send');
  const late = acks.filter(([ack, at]) => {
    const eventAt = frames.findIndex((f) => f.type === 'event' && f.chatId === chatId && f.revision === ack.revision);
    return eventAt === -1 || eventAt > at;
  });
  t.same(late.map(([ack]) => ack.revision), [], 'no ack before the event of its message');
}

t.test('PostgreSQL store: event, then ack', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  await fx.startGateway();
  await checkOrder(t, {
    url: fx.url(),
    async pair() {
      const [x, y] = [await fx.user(`ao${randomUUID().slice(0, 6)}`), await fx.user(`ao${randomUUID().slice(0, 6)}`)];
      return { token: x.token, otherToken: y.token, chatId: await fx.chat(x, y) };
    },
  });
});

t.test('embedded store: event, then ack', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-ws-ack-'));
  const store = EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
  const sessions = SqliteSessionStore.open({ file: path.join(dir, 'sessions.sqlite') });
  const commands: CommandDeps = { bus: createCommandBus(store), hasher: stubHasher, clock: () => new Date(), newId: randomUUID };
  const gateway: WsGateway = await startWsGateway({
    store, commands, sessions, lastMessages: null, logger: memoryLogger().logger, config: { port: 0, ratePerSec: 1000, rateBurst: 1000 },
    observeLog: keepFresh(commands.bus),
    presence: new MemoryPresenceBus(),
  });
  t.teardown(async () => {
    await gateway.close();
    await sessions.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const user = async (name: string): Promise<string> => {
    const r = await register(commands, { username: name, password: 'password123' });
    if (!r.ok) throw new Error(`register ${name}: ${r.error.code}`);
    return (await sessions.create({ userId: r.value.userId, role: 'user' })).token;
  };
  await checkOrder(t, {
    url: `ws://127.0.0.1:${gateway.port}/ws`,
    async pair() {
      const [x, y] = [`ae${randomUUID().slice(0, 6)}`, `ae${randomUUID().slice(0, 6)}`];
      const [token, otherToken] = [await user(x), await user(y)];
      const chat = await startChat(commands, { initiatorId: x, otherUsername: y });
      if (!chat.ok) throw new Error(`startChat: ${chat.error.code}`);
      return { token, otherToken, chatId: chat.value.chatId };
    },
  });
});

t.test('before the first resume an ack is not held: the event comes with the resume', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway();
  const a: TestClient = await connect(fx.url(), { token: alice.token });
  t.teardown(() => a.close());
  const ack = await a.send(chatId, 'before resuming');
  t.match(ack, { type: 'ack', revision: 1 });
  t.equal(a.events.size, 0, 'no event before the first resume');
  await a.resume({});
  await a.until('the message arrives with the resume', () => a.lastRevision(chatId) === 1);
  t.same(a.revisionsOf(chatId), [1], 'from the first event seen live');
});
