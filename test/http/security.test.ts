// Security behaviour of the HTTP API on the embedded default (the PostgreSQL adapters share the
// code paths; their session store is covered by sessions.test.ts): enumeration, throttling,
// session expiry and revocation, cross-user access, CSRF, hostile bodies, and secrets in logs.
import t, { type Test } from 'tap';
import { userStreamId } from '../../domain/events.js';
import { buildHttpApp } from '../../gateways/http/app.js';
import { hashToken } from '../../infra/sessions/tokens.js';
import { json, loginBearer, newUser, register, startHarness, type Harness } from './harness.js';

const MIN = 60_000;
const secrets: string[] = [];
const allLogs: string[][] = [];

async function harness(t: Test, opts: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  const h = await startHarness('embedded', opts);
  allLogs.push(h.logs);
  t.teardown(() => h.close());
  return h;
}

t.test('unknown user and wrong password: same status, same body, same headers', async (t) => {
  const h = await harness(t);
  t.equal((await register(h.app, 'enumalice', 'right password')).statusCode, 201);
  const wrong = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'enumalice', password: 'wrong password' } });
  const unknown = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'enumnobody', password: 'wrong password' } });
  const invalidName = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'x', password: 'wrong password' } });
  t.equal(wrong.statusCode, 401);
  for (const other of [unknown, invalidName]) {
    t.equal(other.statusCode, wrong.statusCode);
    t.equal(other.body, wrong.body, 'byte-identical body');
    t.same(Object.keys(other.headers).sort(), Object.keys(wrong.headers).sort(), 'same header names');
  }
  t.same(json(wrong), { error: { code: 'INVALID_CREDENTIALS', message: 'Invalid username or password.' } });
  t.notOk(wrong.headers['set-cookie'], 'no cookie on failure');
});

t.test('brute force: per-account+address and per-address throttling answer 429 RATE_LIMITED; the owner is not locked out', async (t) => {
  const h = await harness(t, { config: {
    loginRateLimit: { perAccount: { max: 5, windowMs: MIN }, perAddress: { max: 12, windowMs: MIN } },
    loginSlowdown: { baseMs: 10, maxMs: 10 },
  } });
  await register(h.app, 'victim1', 'the real password');
  const attempt = (username: string, password: string, ip = '10.0.0.1') =>
    h.app.inject({ method: 'POST', url: '/api/login', payload: { username, password }, remoteAddress: ip });
  for (let i = 0; i < 5; i++) t.equal((await attempt('victim1', `guess${i}xx`)).statusCode, 401, `guess ${i + 1} is judged`);
  const limited = await attempt('VICTIM1', 'guess5xxx');
  t.equal(limited.statusCode, 429, 'the 6th failure of the account from that address is refused, whatever the case');
  t.equal(json<{ error: { code: string } }>(limited).error.code, 'RATE_LIMITED');
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After says when');
  t.equal((await attempt('victim1', 'guess6xxx', '10.0.0.2')).statusCode, 401, 'another address is judged (slowed, not locked)');
  t.equal((await attempt('victim1', 'the real password', '10.0.0.3')).statusCode, 200, 'the owner gets in from an address that is not throttled');

  // Per address: spraying many accounts from one address hits the address limit.
  let last = 0;
  for (let i = 0; i < 12; i++) last = (await attempt(`spray${i}`, 'password1', '10.0.0.9')).statusCode;
  t.equal(last, 401, 'the 12th try from the address is still judged');
  const sprayed = await attempt('spray99', 'password1', '10.0.0.9');
  t.equal(sprayed.statusCode, 429, 'the 13th from that address is refused');
  t.equal((await attempt('spray99', 'password1', '10.0.0.10')).statusCode, 401, 'another address is not affected');
});

t.test('sessions: idle and absolute expiry, logout revokes, login rotates', async (t) => {
  const h = await harness(t);
  const alice = await newUser(h.app, 'exp');
  secrets.push(alice.token);
  const me = () => alice.req({ method: 'GET', url: '/api/me' });
  h.clock.advance(29 * MIN);
  t.equal((await me()).statusCode, 200, 'alive after 29 idle minutes');
  h.clock.advance(29 * MIN);
  t.equal((await me()).statusCode, 200, 'each use restarts the idle clock');
  h.clock.advance(31 * MIN);
  const expired = await me();
  t.equal(expired.statusCode, 401, 'dead after 31 idle minutes');
  t.equal(json<{ error: { code: string } }>(expired).error.code, 'UNAUTHENTICATED');

  const busy = await loginBearer(h.app, alice.userId);
  secrets.push(busy.token);
  let alive = true;
  for (let minutes = 0; minutes < 12 * 60 - 20; minutes += 20) {
    h.clock.advance(20 * MIN);
    alive &&= (await busy.req({ method: 'GET', url: '/api/me' })).statusCode === 200;
  }
  t.ok(alive, 'a session in steady use lives until its absolute expiry');
  h.clock.advance(20 * MIN);
  t.equal((await busy.req({ method: 'GET', url: '/api/me' })).statusCode, 401, 'dead 12 h after login regardless of use');

  const bob = await loginBearer(h.app, alice.userId);
  secrets.push(bob.token);
  const out = await bob.req({ method: 'POST', url: '/api/logout' });
  t.equal(out.statusCode, 204);
  t.equal((await bob.req({ method: 'GET', url: '/api/me' })).statusCode, 401, 'a logged-out token is dead');
  const types = (await h.store.readStream(userStreamId(alice.userId))).map((e) => e.type);
  t.equal(types.at(-1), 'UserLoggedOut', 'logout appended its event');
  t.equal(types.filter((x) => x === 'UserLoggedIn').length, 3, 'each login appended its event');

  // Rotation: a cookie planted before login stops working once the user logs in.
  const planted = await loginBearer(h.app, alice.userId);
  secrets.push(planted.token);
  const fresh = await h.app.inject({
    method: 'POST', url: '/api/login', payload: { username: alice.userId, password: 'password123' }, cookies: { chat_session: planted.token },
  });
  t.equal(fresh.statusCode, 200);
  t.equal((await planted.req({ method: 'GET', url: '/api/me' })).statusCode, 401, 'the pre-login session was revoked');
  const cookie = fresh.cookies.find((c) => c.name === 'chat_session');
  t.ok(cookie && cookie.value !== planted.token, 'a new token was issued');
  secrets.push(cookie?.value ?? '');
  t.match(fresh.headers['set-cookie'], /chat_session=[^;]+; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict/);

  const all = await h.sessions.create({ userId: alice.userId, role: 'user' });
  secrets.push(all.token);
  t.ok((await h.sessions.revokeAllForUser(alice.userId)) >= 2, 'revokeAllForUser ends every session of the user');
  t.equal((await h.sessions.authenticate(all.token)), null);

  const ended: string[] = [];
  const hooked = await buildHttpApp({ ...h.deps, onLogout: (s) => ended.push(s.id) });
  t.teardown(() => hooked.close());
  const last = await loginBearer(hooked, alice.userId);
  secrets.push(last.token);
  const sessionId = json<{ session: { id: string } }>(await last.req({ method: 'GET', url: '/api/me' })).session.id;
  await last.req({ method: 'POST', url: '/api/logout' });
  t.same(ended, [sessionId], 'the logout hook hears which session ended (the WebSocket gateway closes its sockets)');
});

t.test('malformed and hostile Authorization headers are 401', async (t) => {
  const h = await harness(t);
  for (const authorization of ['Bearer', 'Bearer ', 'Basic abc', `Bearer ${'a'.repeat(43)}`, 'Bearer a b']) {
    const res = await h.app.inject({ method: 'GET', url: '/api/me', headers: { authorization } });
    t.equal(res.statusCode, 401, JSON.stringify(authorization));
  }
  t.equal((await h.app.inject({ method: 'GET', url: '/api/me' })).statusCode, 401, 'no token at all');
  const alice = await newUser(h.app, 'caseless');
  for (const scheme of ['bearer', 'BEARER']) {
    const res = await h.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `${scheme} ${alice.token}` } });
    t.equal(res.statusCode, 200, `the scheme is case-insensitive (RFC 9110): ${scheme}`);
  }
});

t.test('only participants touch a chat', async (t) => {
  const h = await harness(t);
  const alice = await newUser(h.app, 'pa');
  const bob = await newUser(h.app, 'pb');
  const carol = await newUser(h.app, 'pc');
  const chat = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  const headBefore = await h.store.headPosition();
  const code = (r: { json(): unknown }) => (r.json() as { error: { code: string } }).error.code;
  const send = await carol.req({ method: 'POST', url: `/api/chats/${chat.chatId}/messages`, payload: { body: 'hi', clientMessageId: 'x1' } });
  t.equal(send.statusCode, 403);
  t.equal(code(send), 'NOT_A_PARTICIPANT');
  const open = await carol.req({ method: 'POST', url: `/api/chats/${chat.chatId}/open` });
  t.equal(open.statusCode, 403);
  t.equal(code(open), 'NOT_A_PARTICIPANT');
  const read = await carol.req({ method: 'GET', url: `/api/chats/${chat.chatId}/messages` });
  t.equal(read.statusCode, 403);
  t.equal(code(read), 'NOT_A_PARTICIPANT');
  const ghost = `${carol.userId}:zzzz-nobody`;
  const none = await carol.req({ method: 'POST', url: `/api/chats/${encodeURIComponent(ghost)}/messages`, payload: { body: 'hi', clientMessageId: 'x2' } });
  t.equal(none.statusCode, 404);
  t.equal(code(none), 'CHAT_NOT_FOUND');
  const noneOpen = await carol.req({ method: 'POST', url: '/api/chats/not-a-chat/open' });
  t.equal(code(noneOpen), 'CHAT_NOT_FOUND');
  const noneRead = await carol.req({ method: 'GET', url: '/api/chats/not-a-chat/messages' });
  t.equal(noneRead.statusCode, 404);
  t.equal(code(noneRead), 'CHAT_NOT_FOUND');
  t.equal(await h.store.headPosition(), headBefore, 'nothing appended by refused requests');

  // A pair that never talked looks exactly like one that did: no oracle of who talks to whom.
  const neverTalked = [alice.userId, carol.userId].sort().join(':');
  const talked = chat.chatId;
  const dave = await newUser(h.app, 'pd');
  const headBeforeDave = await h.store.headPosition();
  for (const [method, suffix, payload] of [
    ['GET', '/messages', undefined], ['POST', '/messages', { body: 'hi', clientMessageId: 'x3' }], ['POST', '/open', undefined],
    ['POST', '/read', { revision: 0 }], ['PATCH', '/messages/m1', { body: 'x', clientEditId: 'e1' }], ['DELETE', '/messages/m1?clientDeleteId=d1', undefined],
  ] as const) {
    const answers = [];
    for (const id of [talked, neverTalked]) {
      const res = await dave.req({ method, url: `/api/chats/${id}${suffix}`, ...(payload ? { payload } : {}) });
      answers.push([res.statusCode, code(res)]);
    }
    t.same(answers, [[403, 'NOT_A_PARTICIPANT'], [403, 'NOT_A_PARTICIPANT']], `${method} ${suffix}: the same answer for a chat that exists and one that does not`);
  }
  t.equal(await h.store.headPosition(), headBeforeDave, 'nothing appended by those either');
});

t.test('CSRF: cookie-authenticated writes need the X-CSRF-Token and an allowed Origin; bearer is exempt', async (t) => {
  const h = await harness(t);
  await register(h.app, 'csrfalice');
  await register(h.app, 'csrfbob');
  const login = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'csrfalice', password: 'password123' } });
  const session = login.cookies.find((c) => c.name === 'chat_session')!.value;
  const csrf = json<{ csrfToken: string }>(login).csrfToken;
  secrets.push(session, csrf);
  t.equal(login.cookies.find((c) => c.name === 'chat_csrf')?.value, csrf, 'the CSRF cookie carries the same token (double submit)');
  const head = await h.store.headPosition();
  const post = (headers: Record<string, string>) =>
    h.app.inject({ method: 'POST', url: '/api/chats', payload: { username: 'csrfbob' }, cookies: { chat_session: session }, headers });
  const cases: Array<[string, Record<string, string>]> = [
    ['no token', {}],
    ['wrong token', { 'x-csrf-token': 'A'.repeat(43) }],
    ['another session\'s token', { 'x-csrf-token': hashToken('x').slice(0, 43) }],
    ['right token, foreign Origin', { 'x-csrf-token': csrf, origin: 'https://evil.example' }],
    ['right token, Origin null', { 'x-csrf-token': csrf, origin: 'null' }],
    ['right token, cross-site fetch', { 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }],
  ];
  for (const [label, headers] of cases) {
    const res = await post(headers);
    t.equal(res.statusCode, 403, label);
    t.equal(json<{ error: { code: string } }>(res).error.code, 'CSRF_REJECTED', label);
    // The message says what was wrong: the token, or where the request came from.
    t.match(json<{ error: { message: string } }>(res).error.message, 'origin' in headers || 'sec-fetch-site' in headers ? /Origin/ : /X-CSRF-Token/, `${label}: message`);
  }
  t.equal(await h.store.headPosition(), head, 'refused requests appended nothing');
  const ok = await post({ 'x-csrf-token': csrf, origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' });
  t.equal(ok.statusCode, 201, 'same origin with the token is accepted');
  t.equal((await h.app.inject({ method: 'GET', url: '/api/me', cookies: { chat_session: session } })).statusCode, 200, 'reads need no token');

  const bearer = await loginBearer(h.app, 'csrfbob');
  secrets.push(bearer.token);
  const viaBearer = await bearer.req({ method: 'POST', url: '/api/chats', payload: { username: 'csrfalice' }, headers: { origin: 'https://evil.example' } });
  t.equal(viaBearer.statusCode, 200, 'bearer requests are exempt (a browser never adds Authorization on its own)');

  const loginCsrf = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'csrfbob', password: 'password123' }, headers: { origin: 'https://evil.example' } });
  t.equal(loginCsrf.statusCode, 403, 'a cross-site login form is refused (login CSRF)');
  t.notMatch(json<{ error: { message: string } }>(loginCsrf).error.message, /cookie|token/i, 'said for a login: no cookie or token to blame');
  const logout = await h.app.inject({ method: 'POST', url: '/api/logout', cookies: { chat_session: session } });
  t.equal(logout.statusCode, 403, 'even logout needs the token');
});

t.test('oversized, malformed and mistyped bodies are refused with a code, and change nothing', async (t) => {
  const h = await harness(t);
  const alice = await newUser(h.app, 'bodya');
  const bob = await newUser(h.app, 'bodyb');
  const chat = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  const url = `/api/chats/${chat.chatId}/messages`;
  const head = await h.store.headPosition();
  const cases: Array<[string, string | Record<string, unknown>, string, number, string]> = [
    ['oversized', JSON.stringify({ body: 'x'.repeat(70_000), clientMessageId: 'big' }), 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
    ['malformed JSON', '{"body": "hi", ', 'application/json', 400, 'BAD_REQUEST'],
    ['empty JSON body (no body)', '', 'application/json', 400, 'VALIDATION_FAILED'],
    ['wrong type', JSON.stringify({ body: 42, clientMessageId: 'n1' }), 'application/json', 400, 'VALIDATION_FAILED'],
    ['missing field', JSON.stringify({ body: 'hi' }), 'application/json', 400, 'VALIDATION_FAILED'],
    ['unknown field', JSON.stringify({ body: 'hi', clientMessageId: 'u1', admin: true }), 'application/json', 400, 'VALIDATION_FAILED'],
    ['array instead of object', '[1,2]', 'application/json', 400, 'VALIDATION_FAILED'],
    ['prototype pollution', '{"body":"hi","clientMessageId":"p1","__proto__":{"x":1}}', 'application/json', 400, 'BAD_REQUEST'],
    ['text/plain', 'hello', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['form', 'body=hi', 'application/x-www-form-urlencoded', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['too long for the domain', JSON.stringify({ body: 'y'.repeat(4001), clientMessageId: 'long' }), 'application/json', 422, 'MESSAGE_TOO_LONG'],
    ['bad client id', JSON.stringify({ body: 'hi', clientMessageId: 'has space' }), 'application/json', 422, 'CLIENT_MESSAGE_ID_INVALID'],
    // However long, within the body limit: the domain's code, not a generic VALIDATION_FAILED.
    ['far too long for the domain', JSON.stringify({ body: 'y'.repeat(60_000), clientMessageId: 'longer' }), 'application/json', 422, 'MESSAGE_TOO_LONG'],
    ['a 10 KB client id', JSON.stringify({ body: 'hi', clientMessageId: 'k'.repeat(10_000) }), 'application/json', 422, 'CLIENT_MESSAGE_ID_INVALID'],
  ];
  for (const [label, payload, contentType, status, code] of cases) {
    const res = await alice.req({ method: 'POST', url, payload, headers: { 'content-type': contentType } });
    t.equal(res.statusCode, status, `${label}: status`);
    t.equal(json<{ error: { code: string } }>(res).error.code, code, `${label}: code`);
  }
  const unknown = json<{ error: { details: Array<{ path: string; message: string }> } }>(
    await alice.req({ method: 'POST', url, payload: { body: 'hi', clientMessageId: 'u2', admin: true } }));
  t.match(unknown.error.details, [{ path: '/admin', message: 'no such property here' }], 'an unknown field is named, in words a client can read');
  t.notOk(unknown.error.details.some((d) => /schema is false/.test(d.message)), 'not TypeBox\'s "schema is false"');
  const poisoned = await alice.req({ method: 'POST', url, payload: '{"body":"hi","clientMessageId":"p2","constructor":{"prototype":{"x":1}}}', headers: { 'content-type': 'application/json' } });
  t.match(json(poisoned), { error: { code: 'BAD_REQUEST', message: /__proto__/ } }, 'the message names prototype keys, not only malformed JSON');
  const badUtf8 = Buffer.concat([Buffer.from('{"body":"caf'), Buffer.from([0xff, 0xfe]), Buffer.from('","clientMessageId":"u8"}')]);
  const notUtf8 = await alice.req({ method: 'POST', url, payload: badUtf8, headers: { 'content-type': 'application/json' } });
  t.same([notUtf8.statusCode, json<{ error: { code: string } }>(notUtf8).error.code], [400, 'BAD_REQUEST'], 'invalid UTF-8 is refused, not stored as U+FFFD');
  const latin1 = await alice.req({ method: 'POST', url, payload: JSON.stringify({ body: 'hi', clientMessageId: 'l1' }), headers: { 'content-type': 'application/json; charset=latin1' } });
  t.same([latin1.statusCode, json<{ error: { code: string } }>(latin1).error.code], [415, 'UNSUPPORTED_MEDIA_TYPE'], 'a charset other than UTF-8');
  const gzipped = await alice.req({ method: 'POST', url, payload: JSON.stringify({ body: 'hi', clientMessageId: 'g1' }), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
  t.same([gzipped.statusCode, json<{ error: { code: string } }>(gzipped).error.code], [415, 'UNSUPPORTED_MEDIA_TYPE'], 'a compressed body');
  for (const q of ['before=2.5', 'limit=1.9', 'before=true', 'before=1e3', 'before=0x10', 'limit=+5', 'limit= 5']) {
    const loose = await alice.req({ method: 'GET', url: `${url}?${q}` });
    t.equal(loose.statusCode, 400, `an integer written loosely is refused, not truncated: ${q}`);
  }
  t.equal((await alice.req({ method: 'GET', url: `${url}?before=12&limit=5` })).statusCode, 200, 'decimal digits pass');
  const query = await alice.req({ method: 'GET', url: `${url}?limit=abc` });
  t.equal(query.statusCode, 400, 'a mistyped query parameter');
  t.match(json(query), { error: { code: 'VALIDATION_FAILED', details: [{ in: 'querystring', path: '/limit' }] } });
  t.equal(await h.store.headPosition(), head, 'the event store did not move');
  const utf8 = await alice.req({ method: 'POST', url, payload: JSON.stringify({ body: 'café ☕', clientMessageId: 'ok8' }), headers: { 'content-type': 'application/json; charset=UTF-8' } });
  t.equal(utf8.statusCode, 201, 'UTF-8, said or not, is fine');
  const unknownRoute = await alice.req({ method: 'GET', url: '/api/nope' });
  t.same([unknownRoute.statusCode, json<{ error: { code: string } }>(unknownRoute).error.code], [404, 'NOT_FOUND']);
});

t.test('unexpected errors: 500 INTERNAL, logged with request context, never the secrets', async (t) => {
  const h = await harness(t, {
    wrapReads: (reads) => ({
      ...reads,
      searchUsers: async () => { throw new Error('read model exploded'); },
      chatsOf: async () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }); },
    }),
  });
  const alice = await newUser(h.app, 'boom');
  secrets.push(alice.token);
  const res = await alice.req({ method: 'GET', url: '/api/users?prefix=b' });
  t.equal(res.statusCode, 500);
  t.equal(json<{ error: { code: string } }>(res).error.code, 'INTERNAL');
  const line = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['level'] === 50);
  t.ok(line, 'an error-level line');
  t.match(line, { method: 'GET', url: '/api/users', userId: alice.userId, reqId: String, msg: 'unexpected error', err: { message: 'read model exploded' } });
  const raw = h.logs.find((l) => l.includes('"unexpected error"')) ?? '';
  t.equal(raw.match(/"reqId":/g)?.length, 1, 'the request id once in the line, not twice');
  const down = await alice.req({ method: 'GET', url: '/api/chats' });
  t.same([down.statusCode, json<{ error: { code: string } }>(down).error.code, down.headers['retry-after']], [503, 'SERVICE_UNAVAILABLE', '1'], 'a database outage is 503, retryable');
});

t.test('no token, ticket, CSRF token, password or hash in any log line', async (t) => {
  const h = await harness(t);
  const alice = await newUser(h.app, 'logs');
  secrets.push(alice.token);
  const ticket = json<{ ticket: string }>(await alice.req({ method: 'POST', url: '/api/ws-ticket' }));
  secrets.push(ticket.ticket);
  await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: alice.userId, password: 'wrong-password-9' } });
  const hash = (await h.store.readStream(userStreamId(alice.userId)))[0]!.data as { passwordHash: string };
  const text = allLogs.flat().join('');
  t.ok(text.length > 1000, 'the suite did log');
  for (const s of secrets.filter(Boolean)) {
    if (text.includes(s)) t.fail(`a secret leaked into the logs: ${s.slice(0, 6)}…`);
    if (text.includes(hashToken(s))) t.fail('a token hash leaked into the logs');
  }
  t.notOk(text.includes(hash.passwordHash), 'no password hash');
  t.notOk(text.includes('$argon2'), 'nothing argon2-shaped');
  t.notOk(/password123|wrong-password-9|the real password/.test(text), 'no password');
  t.notOk(/authorization|chat_session=|cookie/i.test(text), 'no auth header or cookie');
});

t.test('request log lines carry the method and path only: no query string, no client address, no 16 KiB URL', async (t) => {
  const h = await harness(t);
  const alice = await newUser(h.app, 'querylog');
  await alice.req({ method: 'GET', url: '/api/users?q=someonesname&limit=5' });
  await h.app.inject({ method: 'GET', url: `/api/${'p'.repeat(5_000)}`, remoteAddress: '10.77.0.9' });
  const requests = h.logs.map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string } }).filter((l) => l.msg === 'incoming request');
  t.ok(requests.some((l) => l.req?.url === '/api/users'), 'the path is logged');
  const text = h.logs.join('');
  t.notOk(text.includes('someonesname'), 'not what was searched for');
  t.notOk(text.includes('10.77.0.9'), 'nor the client address');
  t.ok(requests.every((l) => (l.req?.url ?? '').length <= 257), 'a long path is cut');
});
