// Typing and presence across two gateway processes through Redis: a notice typed on one reaches the
// other; moving between processes within the grace shows no offline flicker; a gateway killed with
// SIGKILL has its users turn offline once its presence expires (a short PRESENCE_TTL_MS here, 3 s); and
// last-seen outlives every gateway.
import t from 'tap';
import type { IsTypingFrame, PresenceFrame, ServerFrame } from '../../gateways/ws/protocol.js';
import { deletePrefix, newPrefix, TEST_REDIS_URL, withRedis } from '../support/last-messages.js';
import { connect, openFixture, sleep, spawnGateway } from './support.js';

const isTyping = (f: ServerFrame): f is IsTypingFrame => f.type === 'is_typing';
const isPresence = (f: ServerFrame): f is PresenceFrame => f.type === 'presence';
const pushed = (f: ServerFrame): f is PresenceFrame => isPresence(f) && f.ref === undefined;
const answer = (ref: string) => (f: ServerFrame): f is PresenceFrame => isPresence(f) && f.ref === ref;

t.test('typing and presence cross gateway processes; a killed gateway\'s users go offline', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const prefix = newPrefix('presence');
  t.teardown(async () => { await deletePrefix(prefix); });
  // Short, so the test is quick; long enough that a gateway stalled by a loaded machine is not reaped alive.
  const TTL = 3000;
  // Long enough for a reconnect (an upgrade, its session looked up in PostgreSQL) on a loaded machine.
  const GRACE = 2_000;
  const env = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, PRESENCE_TTL_MS: String(TTL), PRESENCE_GRACE_MS: String(GRACE) };
  const [alice, bob] = [await fx.user('alice'), await fx.user('bob')];
  const chatId = await fx.chat(alice, bob);
  const [gw1, gw2] = await Promise.all([spawnGateway(fx, env), spawnGateway(fx, env)]);
  t.teardown(async () => { await gw1.stop('SIGKILL'); await gw2.stop('SIGKILL'); });
  const url = (port: number): string => `ws://127.0.0.1:${port}/ws`;

  // Bob on process 2 watches alice, who is not connected yet.
  const b = await connect(url(gw2.port), { token: bob.token });
  b.raw(JSON.stringify({ type: 'watch', ref: 'w1', chats: [chatId] }));
  t.same((await b.waitFor(answer('w1'))), { type: 'presence', ref: 'w1', available: true, users: { alice: { online: false, lastSeen: null } } });

  // Alice on process 1: bob (process 2) sees her come online.
  const a = await connect(url(gw1.port), { token: alice.token });
  t.same((await b.waitFor(pushed)).users, { alice: { online: true, lastSeen: null } }, 'online crosses processes');
  a.raw(JSON.stringify({ type: 'watch', ref: 'w2', chats: [chatId] }));
  t.same((await a.waitFor(answer('w2'))).users, { bob: { online: true, lastSeen: null } }, 'alice sees bob, on the other process, online');

  // Typing, both ways, across processes.
  a.raw(JSON.stringify({ type: 'typing', chatId }));
  t.same(await b.waitFor(isTyping), { type: 'is_typing', chatId, userId: 'alice' }, 'alice typing on process 1 reaches bob on process 2');
  b.raw(JSON.stringify({ type: 'typing', chatId }));
  t.same(await a.waitFor(isTyping), { type: 'is_typing', chatId, userId: 'bob' }, 'and back');

  // Alice moves to process 2 within the grace: no offline flicker for bob.
  let mark = b.frames.length;
  await a.close();
  const a2 = await connect(url(gw2.port), { token: alice.token });
  await sleep(GRACE + TTL);
  t.same(b.frames.slice(mark).filter(isPresence), [], 'no flicker when alice reconnects to the other process within the grace');
  // And back to process 1 (her socket on process 2 closes after the new one is open).
  const a3 = await connect(url(gw1.port), { token: alice.token });
  await a2.close();
  await sleep(GRACE + 1_000);
  t.same(b.frames.slice(mark).filter(isPresence), [], 'nor when she moves back');

  // Process 1 dies without a goodbye: alice turns offline within its time to live (plus a heartbeat).
  mark = b.frames.length;
  const killedAt = Date.now();
  await gw1.stop('SIGKILL');
  // The process has exited: its final heartbeat was before this (or, if already on its way to Redis, just after).
  const deadAt = Date.now();
  await a3.closed;
  // Its expiry (TTL after its last heartbeat) passes; the next heartbeat of process 2 (every TTL / 3)
  // reaps it; the rest is room for a loaded machine.
  const off = await b.waitFor((f): f is PresenceFrame => pushed(f) && f.users['alice']?.online === false, TTL + TTL / 3 + 10_000, mark);
  const tookMs = Date.now() - killedAt;
  t.ok(tookMs <= TTL + TTL / 3 + 3_000, `alice offline ${tookMs} ms after the kill (ttl ${TTL} ms)`);
  const lastSeen = Date.parse(off.users['alice']!.lastSeen!);
  t.ok(lastSeen <= deadAt + 50 && lastSeen >= killedAt - TTL,
    `last seen: the dead process's final heartbeat (${killedAt - lastSeen} ms before the kill, ${deadAt - killedAt} ms to exit)`);

  // Every gateway restarts: last-seen is still known (Redis, with a long TTL).
  t.equal(await gw2.stop('SIGTERM'), 0);
  await b.closed;
  const gw3 = await spawnGateway(fx, env);
  t.teardown(() => gw3.stop('SIGKILL'));
  const b2 = await connect(url(gw3.port), { token: bob.token });
  b2.raw(JSON.stringify({ type: 'watch', ref: 'w3', chats: [chatId] }));
  t.same((await b2.waitFor(answer('w3'))).users, { alice: { online: false, lastSeen: off.users['alice']!.lastSeen } }, 'last seen survives a restart of every gateway');
  const ttl = await withRedis((r) => r.pttl(`${prefix}presence:seen:alice`));
  t.ok(ttl > 89 * 86_400_000, 'kept with a long TTL (PRESENCE_LAST_SEEN_DAYS)');
  // Bob left process 2 with SIGTERM and is back on process 3: he stayed online throughout.
  const a4 = await connect(url(gw3.port), { token: alice.token });
  a4.raw(JSON.stringify({ type: 'watch', ref: 'w4', chats: [chatId] }));
  t.same((await a4.waitFor(answer('w4'))).users['bob']?.online, true, 'bob is online on process 3');
  for (const c of [b, a, a2, a3, b2, a4]) t.same(c.invalid, [], 'every frame matches its schema');
  await a4.close();
  await b2.close();
  t.equal(await gw3.stop('SIGTERM'), 0, 'process 3 stops cleanly');
});
