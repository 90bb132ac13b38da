// Every way a session ends closes its sockets within 1 s (1008 SESSION_ENDED), and nothing a socket
// sends after its session ended is served: rotation at login done by another process than the
// gateway's (the API), revocation of all of a user's sessions, idle and absolute expiry.
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { startWsGateway } from '../../gateways/ws/server.js';
import { newUser, startHarness } from '../http/harness.js';
import { connect, memoryLogger, openChatFixture, openFixture, sleep, spawnGateway, waitUntil, type TestClient } from './support.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';

async function closedBy(c: TestClient, deadline: number): Promise<{ code: number; reason: string; at: number } | null> {
  const r = await Promise.race([c.closed, sleep(Math.max(0, deadline - Date.now()) + 2_000).then(() => null)]);
  return r ? { ...r, at: Date.now() } : null;
}

t.test('rotation by another process (the API) closes the old session\'s socket at once; nothing sent after it is accepted', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  // The sweep is slowed to a minute, so only the cross-process signal can close the socket in time.
  const gw = await spawnGateway(fx, { WS_SESSION_CHECK_MS: '60000' });
  t.teardown(() => gw.stop('SIGKILL'));
  const url = `ws://127.0.0.1:${gw.port}/ws`;
  const old = await connect(url, { token: alice.token });
  const otherDevice = await connect(url, { ticket: await bob.ticket() });
  t.equal((await old.send(chatId, 'before')).type, 'ack', 'the socket works before the rotation');

  // The old socket keeps sending every 10 ms through the rotation.
  let sending = true;
  const sender = (async () => {
    for (let i = 0; sending && !old.isClosed; i++) {
      old.raw(JSON.stringify({ type: 'send', ref: `k${i}`, chatId, body: `k${i}`, clientMessageId: `k-${i}` }));
      await sleep(10);
    }
  })();
  await sleep(100);
  // What POST /api/login does when the client presents a session: a new session, the old one revoked.
  const fresh = await fx.sessions.create({ userId: alice.userId, role: 'user' });
  await fx.sessions.revoke(alice.token);
  const revokedAt = Date.now();
  // The signal (NOTIFY) reaches the gateway's process in milliseconds when the machine is idle, but
  // can take several hundred on a loaded one: the bound on the close is generous; that nothing is
  // accepted once the gateway has closed the socket is checked exactly, below.
  const closed = await closedBy(old, revokedAt + 3_000);
  sending = false;
  await sender;
  t.ok(closed && closed.at - revokedAt <= 3_000, `closed ${closed ? closed.at - revokedAt : 'never'} ms after the rotation`);
  t.match(closed, { code: 1008, reason: 'SESSION_ENDED' });
  await fx.settle();
  const sent = (await fx.store.readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageSent');
  t.ok(sent.length > 1, `sends before the rotation were served (${sent.length})`);
  // The gateway closes the socket when the signal arrives, before the client sees the close: a send
  // accepted (sentAt is stamped as the gateway admits it) after the client saw the close was served
  // after the gateway knew the session had ended.
  const closedAt = closed ? closed.at : Date.now();
  const late = sent.filter((e) => Date.parse((e.data as { sentAt: string }).sentAt) > closedAt);
  t.same(late.length, 0, 'nothing was accepted after the gateway closed the socket');

  // The new session works; bob's socket was never touched.
  const renewed = await connect(url, { token: fresh.token });
  t.equal((await renewed.send(chatId, 'with the new token')).type, 'ack');
  t.notOk(otherDevice.isClosed, 'another user\'s socket stays open');
  for (const c of [renewed, otherDevice]) await c.close();
});

t.test('revoking all of a user\'s sessions closes all their sockets within 1 s, and only theirs', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const [alice, bob] = [await fx.user('alice'), await fx.user('bob')];
  await fx.startGateway({ sessionCheckMs: 60_000 });
  const second = await fx.sessions.create({ userId: alice.userId, role: 'user' });
  const sockets = [
    await connect(fx.url(), { token: alice.token }),
    await connect(fx.url(), { ticket: await alice.ticket() }),
    await connect(fx.url(), { token: second.token }),
  ];
  const bobs = await connect(fx.url(), { token: bob.token });
  const started = Date.now();
  t.equal(await fx.sessions.revokeAllForUser(alice.userId), 2);
  for (const c of sockets) {
    const r = await closedBy(c, started + 1000);
    t.ok(r && r.at - started <= 1000, `closed in ${r ? r.at - started : 'never'} ms`);
    t.match(r, { code: 1008, reason: 'SESSION_ENDED' });
  }
  t.notOk(bobs.isClosed, 'bob is not affected');
  t.equal(fx.gateway!.stats().sessionClosed, 3);
  await bobs.close();
});

t.test('what the user does on a socket is use: sending keeps the session alive past its idle timeout; once idle, the socket closes within 1 s of the expiry', async (t) => {
  // Use is reported by the sweeps (at most every quarter of the time left) and written at most every
  // LIFE / 2: the session may have as little as a quarter of LIFE left at times, which must outlast a
  // slow sweep on a loaded machine.
  const LIFE = 6_000;
  const { fx, chatId, alice } = await openChatFixture(t, { policy: { idleTimeoutMs: LIFE } });
  await fx.startGateway({ sessionCheckMs: 200 });
  const { token } = await fx.sessions.create({ userId: alice.userId, role: 'user' });
  const a = await connect(fx.url(), { token });
  let sent = 0;
  let lastUse = Date.now();
  const until = Date.now() + 2 * LIFE;
  while (Date.now() < until) {
    t.equal((await a.send(chatId, `busy ${sent++}`)).type, 'ack', `send ${sent} served`);
    lastUse = Date.now();
    await sleep(100);
  }
  t.notOk(a.isClosed, 'still open after two idle timeouts of sending, with no HTTP request');
  // Watching presence is what a page does on its own, not use: the session now idles out.
  const watching = setInterval(() => { if (!a.isClosed) a.raw(JSON.stringify({ type: 'watch', chats: [] })); }, 100);
  t.teardown(() => clearInterval(watching));
  const closed = await closedBy(a, lastUse + LIFE + 1_000);
  clearInterval(watching);
  t.match(closed, { code: 1008, reason: 'SESSION_ENDED' }, 'closed once idle');
  t.ok(closed && closed.at - lastUse <= LIFE + 1_000, `closed ${closed ? closed.at - lastUse : 'never'} ms after the last send (idle timeout ${LIFE} ms)`);
  await fx.settle();
  const messages = (await fx.store.readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageSent');
  t.equal(messages.length, sent, 'every send was served, nothing else appended');
});

// Sending is use (above), so only the absolute expiry can end a session under a stream of sends;
// what admit does with a frame after an idle expiry is the same code path.
for (const kind of ['absolute'] as Array<'idle' | 'absolute'>) {
  t.test(`${kind} expiry closes the socket within 1 s; nothing sent after it is appended`, async (t) => {
    const LIFE = 2_000;
    const { fx, alice, bob, chatId } = await openChatFixture(t, { policy: kind === 'idle' ? { idleTimeoutMs: LIFE } : { absoluteTimeoutMs: LIFE } });
    await fx.startGateway();
    const { token, session } = await fx.sessions.create({ userId: alice.userId, role: 'user' });
    // Connecting right away does not refresh lastSeenAt (touches are at most every idle / 2).
    const endsAt = kind === 'idle' ? session.lastSeenAt.getTime() + LIFE : session.absoluteExpiresAt.getTime();
    const a = await connect(fx.url(), { token });
    // Sends every 20 ms through the expiry: only those sent before it may be acknowledged.
    const acked: Array<{ sentAt: number; revision: number }> = [];
    let i = 0;
    while (!a.isClosed && Date.now() < endsAt + 3_000) {
      const sentAt = Date.now();
      const ref = `s${i++}`;
      a.raw(JSON.stringify({ type: 'send', ref, chatId, body: `n${i}`, clientMessageId: `c-${ref}` }));
      void a.waitFor((f) => f.type === 'ack' && f.ref === ref, 5_000).then((f) => {
        if (f.type === 'ack') acked.push({ sentAt, revision: f.revision });
      }, () => undefined);
      await sleep(20);
    }
    const closed = await closedBy(a, endsAt + 1000);
    t.ok(closed && closed.at - endsAt <= 1000, `closed ${closed ? closed.at - endsAt : 'never'} ms after the session ended`);
    t.match(closed, { code: 1008, reason: 'SESSION_ENDED' });
    t.ok(acked.length > 0, 'sends before the expiry were served');
    const late = acked.filter((x) => x.sentAt > endsAt + 50);
    t.same(late, [], 'no send made after the expiry was acknowledged');
    await fx.settle();
    const messages = (await fx.store.readStream(chatStreamId(chatId))).filter((e) => e.type === 'MessageSent');
    // Sends admitted just before the end may be appended with their ack lost in the close.
    t.ok(messages.length >= acked.length, `every acknowledged send was appended (${acked.length} acked, ${messages.length} appended)`);
    const afterEnd = messages.filter((e) => Date.parse((e.data as { sentAt: string }).sentAt) > endsAt + 100);
    t.same(afterEnd.length, 0, 'nothing was accepted after the session ended');
  });
}

t.test('a frame is refused when the session cannot be checked and the cached check has run out', async (t) => {
  // Without the signal every frame is checked in the database: here the session ends between two
  // sends and the sweep is a minute away, so only that per-frame check can refuse the second.
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  await fx.startGateway({ sessionCheckMs: 60_000 }, fx.sessionsWithoutSignal());
  const a = await connect(fx.url(), { token: alice.token });
  t.equal((await a.send(chatId, 'one')).type, 'ack');
  await fx.sessions.revoke(alice.token);
  a.raw(JSON.stringify({ type: 'send', ref: 'two', chatId, body: 'two', clientMessageId: 'two' }));
  t.match(await a.closed, { code: 1008, reason: 'SESSION_ENDED' });
  t.notOk(a.frames.some((f) => 'ref' in f && f.ref === 'two'), 'the second send was not served');
  await waitUntil('settled', async () => { await fx.settle(); return true; });
  t.equal((await fx.store.readStream(chatStreamId(chatId))).length, 2, 'nothing appended after the revocation');
});

t.test('while the session store is out, frames are refused SERVICE_UNAVAILABLE with their chat, and the log gets one line', async (t) => {
  const { fx, alice, chatId } = await openChatFixture(t);
  const plain = fx.sessionsWithoutSignal();
  let out = false;
  await fx.startGateway({ sessionCheckMs: 60_000 }, {
    ...plain,
    liveSessions: (ids) => (out ? Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })) : plain.liveSessions(ids)),
  });
  const a = await connect(fx.url(), { token: alice.token });
  t.equal((await a.send(chatId, 'one')).type, 'ack');
  out = true;
  for (const ref of ['r1', 'r2', 'r3']) a.raw(JSON.stringify({ type: 'read', ref, chatId, revision: 1 }));
  a.raw(JSON.stringify({ type: 'send', ref: 's1', chatId, body: 'two', clientMessageId: 'two' }));
  await a.until('all four refused', () => a.frames.filter((f) => f.type === 'error' && f.code === 'SERVICE_UNAVAILABLE').length === 4);
  const refused = a.frames.filter((f) => f.type === 'error' && f.code === 'SERVICE_UNAVAILABLE');
  t.same(refused.map((f) => ('chatId' in f ? f.chatId : undefined)), [chatId, chatId, chatId, chatId], 'each names the chat of its frame');
  t.equal(fx.logs.filter((l) => l.includes('ws session check failed')).length, 1, 'one warning, not one per frame');
  out = false;
  t.equal((await a.send(chatId, 'three')).type, 'ack', 'served again once the store answers');
  await a.close();
});

t.test('POST /api/login presenting a bearer token (rotation) closes that token\'s socket', async (t) => {
  const h = await startHarness('postgres');
  t.teardown(() => h.close());
  const gateway = await startWsGateway({
    store: h.store, commands: h.commands, sessions: h.sessions, lastMessages: null,
    logger: memoryLogger().logger, config: { port: 0 }, presence: new MemoryPresenceBus(),
  });
  t.teardown(() => gateway.close());
  const url = `ws://127.0.0.1:${gateway.port}/ws`;
  const alice = await newUser(h.app, 'alice');
  const socket = await connect(url, { token: alice.token });
  t.match(await socket.resume({}), { type: 'resumed' });
  const res = await h.app.inject({
    method: 'POST', url: '/api/login', headers: { authorization: `Bearer ${alice.token}` },
    payload: { username: alice.userId, password: 'password123', bearer: true },
  });
  // The rotation is done when the login answers (the time before is mostly the password hash).
  const rotatedAt = Date.now();
  t.equal(res.statusCode, 200, 'logged in again');
  const closed = await closedBy(socket, rotatedAt + 2_000);
  t.ok(closed && closed.at - rotatedAt <= 2_000, `its socket closed ${closed ? closed.at - rotatedAt : 'never'} ms after the login answered`);
  t.match(closed, { code: 1008, reason: 'SESSION_ENDED' });
  const me = await h.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${alice.token}` } });
  t.equal(me.statusCode, 401, 'the old token answers 401 on HTTP');
  const fresh = await connect(url, { token: res.json<{ token: string }>().token });
  t.match(await fresh.resume({}), { type: 'resumed' }, 'the new token opens a socket');
  await fresh.close();
});

t.test('with the session-ended signal up, a sweep queries only the sockets whose check is due, not every socket', async (t) => {
  const { fx, alice, bob } = await openChatFixture(t);
  // The real store, its session ids counted as the sweep asks for them.
  const asked: number[] = [];
  const counting = {
    authenticate: (token: string) => fx.sessions.authenticate(token),
    redeemTicket: (ticket: string) => fx.sessions.redeemTicket(ticket),
    liveSessions: (ids: readonly string[]) => {
      asked.push(ids.length);
      return fx.sessions.liveSessions(ids);
    },
    touchSessions: (ids: readonly string[]) => fx.sessions.touchSessions(ids),
    onSessionsEnded: fx.sessions.onSessionsEnded.bind(fx.sessions),
  };
  await fx.startGateway({ sessionCheckMs: 100 }, counting);
  const sockets: TestClient[] = [];
  for (let i = 0; i < 10; i++) sockets.push(await connect(fx.url(), { token: (i % 2 === 0 ? alice : bob).token }));
  // Each socket was checked at its upgrade, after the signal came up: the sweeps may trust that check.
  asked.length = 0;
  await sleep(1_000);
  const idsAsked = asked.reduce((a, b) => a + b, 0);
  // About ten sweeps ran; each used to ask for all ten sockets (about 100 ids). Now a socket is due
  // only in its backstop slice, once in 300 sweeps at a 100 ms interval: at most once in this second.
  t.ok(idsAsked <= 10, `the sweeps of one second asked for ${idsAsked} session ids (each socket at most once)`);
  for (const s of sockets) t.notOk(s.isClosed, 'and every socket stays open');
  // A revocation still closes its sockets through the signal.
  await fx.sessions.revoke(alice.token);
  // The backstop re-checks a socket once in 30 s: 10 s leaves a slow NOTIFY time while the signal
  // remains what closes them.
  await waitUntil('alice\'s sockets closed', () => sockets.filter((s) => s.isClosed).length === 5, 10_000);
  t.equal(sockets.filter((s) => s.isClosed).length, 5, "alice's five sockets closed, bob's open");
  for (const s of sockets) await s.close();
});
