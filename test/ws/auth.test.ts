// Authentication happens in the upgrade, before a socket exists: no credential, a forged, expired or
// reused one, or a foreign origin get a plain 401/403. Once in, a user can only send to and resume
// their own chats, logout closes the session's sockets within a second, and a flood is cut off.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import t, { type Test } from 'tap';
import { logout } from '../../commands/logout.js';
import { connect, openChatFixture, openFixture, sleep, tryConnect, waitUntil, type TestClient } from './support.js';

const forged = (): string => randomBytes(32).toString('base64url');

t.test('upgrades are refused without a valid credential or from a foreign origin', async (t) => {
  let now = Date.now();
  const fx = await openFixture({ policy: { clock: () => new Date(now), idleTimeoutMs: 60_000, ticketTtlMs: 5_000 } });
  t.teardown(() => fx.close());
  const alice = await fx.user('alice');
  await fx.startGateway({ allowedOrigins: ['https://chat.example'] });
  const url = fx.url();
  const refused = async (label: string, c: Parameters<typeof tryConnect>[1], status: number): Promise<void> => {
    const r = await tryConnect(url, c);
    t.ok('status' in r && r.status === status, `${label}: ${status}`);
    if ('status' in r) t.match(JSON.parse(r.body), { error: { code: status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN' } });
    else await r.client.close();
  };

  await refused('no credential', {}, 401);
  await refused('forged bearer token', { token: forged() }, 401);
  await refused('malformed Authorization header', { authorization: `Basic ${alice.token}` }, 401);
  await refused('forged cookie', { cookie: `chat_session=${forged()}` }, 401);
  await refused('forged ticket', { ticket: forged() }, 401);
  await refused('the session token used as a ticket', { ticket: alice.token }, 401);
  await refused('foreign origin, valid token', { token: alice.token, origin: 'https://evil.example' }, 403);
  await refused('opaque origin', { token: alice.token, origin: 'null' }, 403);

  const ticket = await alice.ticket();
  const ok = await connect(url, { ticket, origin: 'https://chat.example' });
  t.equal(ok.ws.readyState, ok.ws.OPEN, 'a ticket from an allowed origin opens a socket');
  await refused('the same ticket again', { ticket }, 401);
  const noOrigin = await connect(url, { token: alice.token });
  t.equal(noOrigin.ws.readyState, noOrigin.ws.OPEN, 'a non-browser client without Origin and a bearer token gets in');
  const lowerScheme = await connect(url, { authorization: `bearer ${alice.token}` });
  t.equal(lowerScheme.ws.readyState, lowerScheme.ws.OPEN, 'the scheme is case-insensitive (RFC 9110)');
  await lowerScheme.close();
  await refused('the token in another case', { authorization: `Bearer ${alice.token.toUpperCase()}` }, 401);
  const cookie = await connect(url, { cookie: `other=1; chat_session=${alice.token}`, origin: 'https://chat.example' });
  t.equal(cookie.ws.readyState, cookie.ws.OPEN, 'the session cookie works');

  const late = await alice.ticket();
  now += 6_000;
  await refused('an expired ticket', { ticket: late }, 401);
  now += 60_000;
  await refused('an expired session', { token: alice.token }, 401);
  await refused('a ticket of an expired session', { ticket: await alice.ticket() }, 401);
  // An upgrade uWS cannot take as a handshake (no Sec-WebSocket-Key) is a bad request, not "no such route".
  const { port } = new URL(url);
  const answer = await new Promise<string>((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.end(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${alice.token}\r\nConnection: close\r\n\r\n`);
  });
  t.match(answer, /^HTTP\/1\.1 400 [\s\S]*"code":"BAD_REQUEST"/, 'an upgrade without Sec-WebSocket-Key: 400 BAD_REQUEST');
  // RFC 6455 4.2.2: a version other than 13 is refused, and the answer names the one spoken.
  for (const version of ['99', '8', '']) {
    const versionAnswer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(port), '127.0.0.1');
      const chunks: Buffer[] = [];
      const answered = (): void => {
        s.destroy();
        resolve(Buffer.concat(chunks).toString());
      };
      // The whole answer is in once the body its Content-Length announces has arrived (or the server closed).
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        const text = Buffer.concat(chunks).toString();
        const end = text.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(text)?.[1];
        if (end >= 0 && length !== undefined && Buffer.byteLength(text.slice(end + 4)) >= Number(length)) answered();
      });
      s.on('error', reject);
      s.on('close', answered);
      const header = version === '' ? '' : `Sec-WebSocket-Version: ${version}\r\n`;
      s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${header}Authorization: Bearer ${alice.token}\r\n\r\n`);
    });
    t.match(versionAnswer, /^HTTP\/1\.1 400 [\s\S]*sec-websocket-version: 13\r\n[\s\S]*"code":"BAD_REQUEST"[\s\S]*Sec-WebSocket-Version must be 13/i, `Sec-WebSocket-Version ${version || 'missing'}: 400, naming version 13`);
  }
  // Two Origin headers, an allowed one first (an outside check got 101 for this): refused.
  const olga = await fx.user('olga');
  const twoOrigins = await new Promise<string>((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (Buffer.concat(chunks).toString().includes('}')) s.destroy();
    });
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://chat.example\r\nOrigin: https://evil.example\r\nAuthorization: Bearer ${olga.token}\r\n\r\n`);
  });
  t.match(twoOrigins, /^HTTP\/1\.1 403 [\s\S]*"code":"FORBIDDEN"/, 'two Origin headers: 403 FORBIDDEN');
  const stats = fx.gateway!.stats();
  t.ok(stats.upgrades.unauthorized >= 10 && stats.upgrades.forbidden === 3 && stats.upgrades.badRequest >= 1, 'refusals are counted');
  for (const c of [ok, noOrigin, cookie]) await c.close();
});

t.test('a user can send to and resume only their own chats', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  const mallory = await fx.user('mallory');
  await fx.startGateway();
  const m = await connect(fx.url(), { token: mallory.token });
  const before = await fx.store.headPosition();

  t.match(await m.send(chatId, 'let me in'), { type: 'error', code: 'NOT_A_PARTICIPANT', chatId }, 'send to a foreign chat');
  t.match(await m.send('alice:mallory', 'never started'), { type: 'error', code: 'CHAT_NOT_FOUND' }, 'send to a chat that does not exist');
  t.match(await m.send('not-a-chat-id', 'x'), { type: 'error', code: 'CHAT_NOT_FOUND' }, 'send to a malformed chat id');
  t.match(await m.send('mallory:alice', 'x'), { type: 'error', code: 'CHAT_NOT_FOUND' }, 'an unsorted pair is no chat id');
  const resumed = await m.resume({ [chatId]: -1, 'alice:mallory': -1, 'mallory:zed': 4 });
  t.same(resumed.type === 'resumed' ? resumed.chats : null, {}, 'nothing resumed: one chat is foreign, the others do not exist');
  t.ok(m.frames.some((f) => f.type === 'error' && f.code === 'CHAT_NOT_FOUND' && f.chatId === 'mallory:zed'), 'a claim of 4 on a chat that does not exist: CHAT_NOT_FOUND');
  t.notOk(chatId in (resumed.type === 'resumed' ? resumed.chats : {}), 'the foreign chat is not resumed');
  t.ok(m.frames.some((f) => f.type === 'error' && f.code === 'NOT_A_PARTICIPANT' && f.chatId === chatId), 'resume of a foreign chat: NOT_A_PARTICIPANT');
  t.ok(m.frames.some((f) => f.type === 'error' && f.code === 'CHAT_NOT_FOUND' && f.chatId === 'alice:mallory'), 'resume of a chat that does not exist: CHAT_NOT_FOUND');

  // Alice and bob chat; mallory, connected all along, receives none of it.
  const a = await connect(fx.url(), { token: alice.token });
  await a.resume({ [chatId]: -1 });
  t.equal((await a.send(chatId, 'private')).type, 'ack');
  await a.until('alice sees her message', () => a.lastRevision(chatId) === 1);
  await sleep(200);
  t.notOk(m.events.has(chatId), 'mallory saw nothing');
  t.equal(await fx.store.headPosition() > before, true);
  t.equal((await fx.store.readStream(`chat-${chatId}`)).length, 2, 'only alice\'s message was appended');
  await a.close();
  await m.close();
});

async function closedWithin(t: Test, c: TestClient, started: number, ms: number, label: string): Promise<void> {
  const r = await Promise.race([c.closed, sleep(ms + 2_000).then(() => null)]);
  const took = Date.now() - started;
  t.ok(r !== null && took <= ms, `${label}: closed in ${took} ms`);
  if (r) t.match(r, { code: 1008, reason: 'SESSION_ENDED' });
}

// Each way news of an ended session reaches the gateway, alone: the signal (NOTIFY) with the sweep
// slowed down, the UserLoggedOut in the log with neither signal nor sweep, and the sweep alone for a
// revocation that appends nothing. Each closes exactly the ended session's sockets within about 1 s:
// measured from when the logout returned, the bound leaves room for a loaded machine, 2 s (3 s for
// the sweep, which runs every 500 ms and then queries the database).
const MODES = [
  { name: 'the session-ended signal', signal: true, sweepMs: 60_000, logEvent: true, closeWithinMs: 2_000 },
  { name: 'the UserLoggedOut event in the log', signal: false, sweepMs: 60_000, logEvent: true, closeWithinMs: 2_000 },
  { name: 'the periodic sweep (revocation without any event)', signal: false, sweepMs: 500, logEvent: false, closeWithinMs: 3_000 },
] as const;

for (const mode of MODES) {
  t.test(`logout closes that session's sockets within 1 s, and only those: ${mode.name}`, async (t) => {
    const { fx, alice, bob, chatId } = await openChatFixture(t);
    await fx.startGateway({ sessionCheckMs: mode.sweepMs }, mode.signal ? fx.sessions : fx.sessionsWithoutSignal());
    const byToken = await connect(fx.url(), { token: alice.token });
    const byTicket = await connect(fx.url(), { ticket: await alice.ticket() });
    // A second session of the same user (another browser) stays logged in, whichever way its sockets were opened.
    const { token: other, session: otherSession } = await fx.sessions.create({ userId: alice.userId, role: 'user' });
    const otherToken = await connect(fx.url(), { token: other });
    const otherTicket = await connect(fx.url(), { ticket: (await fx.sessions.issueTicket(otherSession)).ticket });
    for (const c of [byToken, byTicket, otherToken, otherTicket]) t.equal((await c.send(chatId, 'before')).type, 'ack');

    // What POST /api/logout does: revoke, then record the logout in the log.
    await fx.sessions.revoke(alice.token);
    if (mode.logEvent) {
      const r = await logout(fx.commands, { userId: alice.userId });
      t.ok(r.ok);
    }
    const loggedOutAt = Date.now();
    await closedWithin(t, byToken, loggedOutAt, mode.closeWithinMs, 'the token socket');
    await closedWithin(t, byTicket, loggedOutAt, mode.closeWithinMs, 'the ticket socket');
    await sleep(mode.sweepMs === 500 ? 700 : 300);
    t.notOk(otherToken.isClosed, 'the other session\'s token socket stays open');
    t.notOk(otherTicket.isClosed, 'the other session\'s ticket socket stays open');
    for (const c of [otherToken, otherTicket]) t.equal((await c.send(chatId, 'after')).type, 'ack', 'and can still send');
    const r = await tryConnect(fx.url(), { token: alice.token });
    t.ok('status' in r && r.status === 401, 'the revoked token cannot reconnect');
    t.notOk(fx.logs.join('').includes(alice.token) || fx.logs.join('').includes(other), 'no token in any log line');
    for (const c of [otherToken, otherTicket]) await c.close();
  });
}

t.test('a flood gets an error frame and a 1008 close; an oversized frame drops only that socket', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);
  // A refill every 10 s: however slowly the 30 frames are handled, no token comes back meanwhile.
  await fx.startGateway({ ratePerSec: 0.1, rateBurst: 10 });
  const bystander = await connect(fx.url(), { token: bob.token });
  await bystander.resume({ [chatId]: 0 });
  const flooder = await connect(fx.url(), { token: alice.token });
  for (let i = 0; i < 30; i++) flooder.raw(JSON.stringify({ type: 'resume', chats: {} }));
  const closed = await flooder.closed;
  t.match(closed, { code: 1008, reason: 'RATE_LIMITED' }, 'closed with 1008');
  t.ok(flooder.frames.some((f) => f.type === 'error' && f.code === 'RATE_LIMITED'), 'after an error frame RATE_LIMITED');
  t.equal(flooder.frames.filter((f) => f.type === 'resumed').length, 10, 'the burst was served, the rest refused');

  const big = await connect(fx.url(), { token: alice.token });
  big.raw(JSON.stringify({ type: 'send', chatId, body: 'x'.repeat(17 * 1024), clientMessageId: 'big' }));
  const c = await big.closed;
  t.ok(c.code === 1006 || c.code === 1009, `a frame over 16 KiB drops the connection (${c.code})`);
  const again = await connect(fx.url(), { token: alice.token });
  t.equal((await again.send(chatId, 'still here')).type, 'ack', 'the gateway keeps serving');
  await bystander.until('bob got it', () => bystander.lastRevision(chatId) === 1);
  await again.close();
  await bystander.close();
});

t.test('one user may hold at most WS_MAX_SOCKETS_PER_USER sockets: the next upgrade gets 429 RATE_LIMITED', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const [alice, bob] = [await fx.user('alice'), await fx.user('bob')];
  await fx.startGateway({ maxSocketsPerUser: 3 });
  const url = fx.url();
  const second = await fx.sessions.create({ userId: alice.userId, role: 'user' });
  // Tokens, tickets and sessions of one user all count together.
  const open = [
    await connect(url, { token: alice.token }),
    await connect(url, { ticket: await alice.ticket() }),
    await connect(url, { token: second.token }),
  ];
  const refused = await tryConnect(url, { token: alice.token });
  t.ok('status' in refused && refused.status === 429, 'the fourth is refused with 429 before the upgrade');
  if ('status' in refused) t.match(JSON.parse(refused.body), { error: { code: 'RATE_LIMITED', message: /open sockets/ } });
  else await refused.client.close();
  // Many at once: the count is exact, none slips through.
  const burst = await Promise.all(Array.from({ length: 20 }, () => tryConnect(url, { token: second.token })));
  t.ok(burst.every((r) => 'status' in r && r.status === 429), 'a burst of 20 more: all refused');
  const b = await connect(url, { token: bob.token });
  t.equal(b.ws.readyState, b.ws.OPEN, 'another user is not affected');
  t.equal(fx.gateway!.stats().upgrades.tooMany, 21);

  await open[0]!.close();
  await waitUntil('the gateway saw the close', () => fx.gateway!.stats().sockets === 3);
  const again = await tryConnect(url, { token: alice.token });
  t.ok('client' in again, 'after one closed, the user may open one again');
  if ('client' in again) await again.client.close();
  for (const c of [...open.slice(1), b]) await c.close();
});
