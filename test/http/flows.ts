// Every endpoint's main flow, run on PostgreSQL (+ Redis for the view) and on the embedded default.
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { register as registerCommand } from '../../commands/register.js';
import { userStreamId } from '../../domain/events.js';
import { issuedSecrets, json, loginBearer, newUser, register, startHarness, type Client, type Harness, type HarnessOptions, type Kind } from './harness.js';

type Body = Record<string, unknown>;
const code = (res: { json(): unknown }): string => (res.json() as { error: { code: string } }).error.code;

export function flowSuite(t: Test, kind: Kind, opts: HarnessOptions = {}): void {
  let h: Harness;
  t.before(async () => { h = await startHarness(kind, opts); });
  t.teardown(() => h.close());

  t.test('accounts: register, refusals, cookie and bearer login, me, ws-ticket, logout', async (t) => {
    const name = `Acc${randomUUID().slice(0, 6)}`;
    const reg = await register(h.app, name, 'password123');
    t.equal(reg.statusCode, 201);
    t.same(json(reg), { userId: name.toLowerCase(), username: name.toLowerCase(), role: 'user' });
    const refusals: Array<[Body, number, string]> = [
      [{ username: name.toUpperCase(), password: 'password123' }, 409, 'USERNAME_TAKEN'],
      [{ username: 'a', password: 'password123' }, 422, 'USERNAME_INVALID'],
      [{ username: `x${randomUUID().slice(0, 6)}`, password: 'short' }, 422, 'PASSWORD_TOO_SHORT'],
      [{ username: `x${randomUUID().slice(0, 6)}`, password: 'é'.repeat(200) }, 422, 'PASSWORD_TOO_LONG'],
      [{ username: `x${randomUUID().slice(0, 6)}` }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [payload, status, c] of refusals) {
      const res = await h.app.inject({ method: 'POST', url: '/api/register', payload });
      t.same([res.statusCode, code(res)], [status, c], c);
    }
    const tooLong = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: name, password: 'é'.repeat(200) } });
    t.same([tooLong.statusCode, code(tooLong)], [422, 'PASSWORD_TOO_LONG'], 'over-long passwords are refused before hashing');

    const cookieLogin = await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: name, password: 'password123' } });
    t.equal(cookieLogin.statusCode, 200);
    const body = json<{ user: Body; csrfToken: string; token?: string; expiresAt: string }>(cookieLogin);
    t.same(body.user, { userId: name.toLowerCase(), username: name.toLowerCase(), role: 'user' });
    t.notOk(body.token, 'no token in the body of a cookie login');
    const session = cookieLogin.cookies.find((c) => c.name === 'chat_session');
    issuedSecrets.push(session!.value, body.csrfToken);
    t.match(session, { httpOnly: true, sameSite: 'Strict', path: '/' });
    const me = await h.app.inject({ method: 'GET', url: '/api/me', cookies: { chat_session: session!.value } });
    t.match(json(me), { user: { userId: name.toLowerCase(), role: 'user' }, csrfToken: body.csrfToken });

    const bearer = await loginBearer(h.app, name);
    const meBearer = json<{ csrfToken: string | null }>(await bearer.req({ method: 'GET', url: '/api/me' }));
    t.equal(meBearer.csrfToken, null, 'bearer sessions need no CSRF token');
    t.not(bearer.token, session!.value, 'each login gets its own token');

    const ticket = await bearer.req({ method: 'POST', url: '/api/ws-ticket' });
    t.equal(ticket.statusCode, 201);
    const { ticket: secret, expiresAt } = json<{ ticket: string; expiresAt: string }>(ticket);
    issuedSecrets.push(secret);
    t.ok(Date.parse(expiresAt) - h.clock.now().getTime() <= 30_000);
    t.match(await h.sessions.redeemTicket(secret), { userId: name.toLowerCase(), role: 'user' });
    t.equal(await h.sessions.redeemTicket(secret), null, 'single use');

    const out = await h.app.inject({
      method: 'POST', url: '/api/logout', cookies: { chat_session: session!.value }, headers: { 'x-csrf-token': body.csrfToken },
    });
    t.equal(out.statusCode, 204);
    t.match(out.headers['set-cookie'], /chat_session=;/, 'the cookie is cleared');
    t.equal((await h.app.inject({ method: 'GET', url: '/api/me', cookies: { chat_session: session!.value } })).statusCode, 401);
    t.equal((await bearer.req({ method: 'GET', url: '/api/me' })).statusCode, 200, 'other sessions live on');
    const types = (await h.store.readStream(userStreamId(name.toLowerCase()))).map((e) => e.type);
    t.same(types, ['UserRegistered', 'UserLoggedIn', 'UserLoggedIn', 'UserLoggedOut']);
  });

  t.test('users: search by prefix, paginated', async (t) => {
    const me = await newUser(h.app, 'searcher');
    const base = `zq${randomUUID().slice(0, 4)}`;
    const names = ['anna', 'anne', 'annika', 'bert', 'annabel'].map((n) => `${base}${n}`);
    for (const n of names) await register(h.app, n);
    await h.settle();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/api/users?prefix=${base.toUpperCase()}ann&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await me.req({ method: 'GET', url: q });
      t.equal(res.statusCode, 200);
      const page = json<{ users: Array<{ userId: string; username: string }>; nextCursor: string | null }>(res);
      t.ok(page.users.length <= 2);
      seen.push(...page.users.map((u) => u.username));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    t.same(seen, names.filter((n) => n.startsWith(`${base}ann`)).sort(), 'every match once, in order, case-insensitively');
    t.ok(pages >= 2, 'more than one page');
    const none = json<{ users: unknown[] }>(await me.req({ method: 'GET', url: `/api/users?prefix=${base}zzz` }));
    t.same(none.users, []);
    t.equal((await h.app.inject({ method: 'GET', url: '/api/users?prefix=a' })).statusCode, 401, 'needs a session');
  });

  t.test('chats and messages: start (created/existing), send (idempotent), history, list, open', async (t) => {
    const alice = await newUser(h.app, 'alice');
    const bob = await newUser(h.app, 'bob');
    const carol = await newUser(h.app, 'carol');
    const started = await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } });
    t.equal(started.statusCode, 201);
    const chat = json<{ chatId: string; participants: string[]; status: string }>(started);
    t.equal(chat.status, 'created');
    t.same(chat.participants, [alice.userId, bob.userId].sort());
    const again = await bob.req({ method: 'POST', url: '/api/chats', payload: { username: alice.userId.toUpperCase() } });
    t.same([again.statusCode, json<{ chatId: string; status: string }>(again)], [200, { ...chat, status: 'existing' }], 'the same chat from the other side');
    const self = await alice.req({ method: 'POST', url: '/api/chats', payload: { username: alice.userId } });
    t.same([self.statusCode, code(self)], [422, 'CHAT_WITH_SELF']);
    const ghost = await alice.req({ method: 'POST', url: '/api/chats', payload: { username: 'nobody-at-all' } });
    t.same([ghost.statusCode, code(ghost)], [404, 'USER_NOT_FOUND']);

    const url = `/api/chats/${chat.chatId}/messages`;
    const send = (c: Client, body: string, clientMessageId: string) => c.req({ method: 'POST', url, payload: { body, clientMessageId } });
    const first = await send(alice, 'hello bob', 'm-1');
    t.equal(first.statusCode, 201);
    const accepted = json<{ messageId: string; revision: number; duplicate: boolean }>(first);
    t.match(accepted, { revision: 1, duplicate: false });
    const retry = await send(alice, 'hello bob', 'm-1');
    t.equal(retry.statusCode, 200, 'a retried clientMessageId answers 200');
    t.match(json(retry), { messageId: accepted.messageId, revision: 1, duplicate: true });
    for (let i = 2; i <= 5; i++) t.equal((await send(i % 2 ? alice : bob, `message ${i}`, `m-${i}`)).statusCode, 201);
    const empty = await send(bob, '   ', 'm-empty');
    t.same([empty.statusCode, code(empty)], [422, 'MESSAGE_EMPTY']);

    // A second chat, updated later, lists first.
    const other = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: carol.userId } }));
    await carol.req({ method: 'POST', url: `/api/chats/${other.chatId}/messages`, payload: { body: 'hi alice', clientMessageId: 'c-1' } });
    const opened = await alice.req({ method: 'POST', url: `/api/chats/${chat.chatId}/open` });
    t.same([opened.statusCode, json(opened)], [200, { chatId: chat.chatId, participants: chat.participants, otherErased: false }]);
    await h.settle();

    const page1 = await alice.req({ method: 'GET', url: `${url}?limit=2` });
    t.equal(page1.statusCode, 200);
    t.match(page1.headers['x-history-source'], /^(cache|database)$/);
    const p1 = json<{ messages: Array<{ revision: number; body: string; senderId: string; messageId: string; sentAt: string }>; nextBefore: number | null }>(page1);
    t.same(p1.messages.map((m) => m.revision), [5, 4], 'newest first');
    t.same(p1.messages[0], { chatId: chat.chatId, messageId: p1.messages[0]!.messageId, senderId: alice.userId, clientMessageId: 'm-5', body: 'message 5', sentAt: p1.messages[0]!.sentAt, revision: 5, editedAt: null, deleted: false, erased: false });
    const encoded = await alice.req({ method: 'GET', url: `/api/chats/${encodeURIComponent(chat.chatId)}/messages?limit=2` });
    t.equal(encoded.body, page1.body, 'the chat id may be sent percent-encoded');
    const p2 = json<{ messages: Array<{ revision: number }>; nextBefore: number | null }>(await bob.req({ method: 'GET', url: `${url}?limit=2&before=${p1.nextBefore}` }));
    t.same(p2.messages.map((m) => m.revision), [3, 2]);
    const p3 = json<{ messages: Array<{ revision: number; body: string }>; nextBefore: number | null }>(await bob.req({ method: 'GET', url: `${url}?limit=2&before=${p2.nextBefore}` }));
    t.same(p3.messages.map((m) => [m.revision, m.body]), [[1, 'hello bob']]);
    t.equal(p3.nextBefore, null, 'the first message ends the history');
    const unknownChat = await alice.req({ method: 'GET', url: `/api/chats/${encodeURIComponent(`${alice.userId}:zz-nobody`)}/messages` });
    t.same([unknownChat.statusCode, code(unknownChat)], [404, 'CHAT_NOT_FOUND']);

    const list = json<{ chats: Array<{ chatId: string; other: Body; lastMessage: Body | null; updatedAt: string }>; nextCursor: string | null }>(
      await alice.req({ method: 'GET', url: '/api/chats' }));
    t.same(list.chats.map((c) => c.chatId), [other.chatId, chat.chatId], 'newest activity first');
    t.match(list.chats[0], { other: { userId: carol.userId, username: carol.userId }, lastMessage: { body: 'hi alice', senderId: carol.userId, revision: 1 } });
    t.match(list.chats[1], { other: { userId: bob.userId }, lastMessage: { body: 'message 5', revision: 5 } });
    const bobs = json<{ chats: Array<{ chatId: string }> }>(await bob.req({ method: 'GET', url: '/api/chats?limit=1' }));
    t.same(bobs.chats.map((c) => c.chatId), [chat.chatId], 'bob sees only his chat');
  });

  t.test('activity and the error log: own for users, anyone\'s for auditors', async (t) => {
    const dave = await newUser(h.app, 'dave');
    const erin = await newUser(h.app, 'erin');
    const auditorName = `aud${randomUUID().slice(0, 6)}`;
    const made = await registerCommand(h.commands, { username: auditorName, password: 'password123', role: 'auditor' });
    t.ok(made.ok);
    const auditor = await loginBearer(h.app, auditorName);
    const chat = json<{ chatId: string }>(await dave.req({ method: 'POST', url: '/api/chats', payload: { username: erin.userId } }));
    await dave.req({ method: 'POST', url: `/api/chats/${chat.chatId}/open` });
    await erin.req({ method: 'POST', url: `/api/chats/${chat.chatId}/open` });
    await h.settle();

    type Entries = { entries: Array<{ userId: string; action: string; chatId: string | null; at: string }>; nextCursor: string | null };
    const mine = json<Entries>(await dave.req({ method: 'GET', url: '/api/activity' }));
    t.ok(mine.entries.length >= 3);
    t.ok(mine.entries.every((e) => e.userId === dave.userId), 'a user sees only their own');
    t.same(mine.entries.map((e) => e.action).sort(), ['login', 'open_chat', 'register', 'start_chat'].sort());
    const at = mine.entries.map((e) => Date.parse(e.at));
    t.same(at, [...at].sort((a, b) => b - a), 'newest first');
    const snoop = await dave.req({ method: 'GET', url: `/api/activity?userId=${erin.userId}` });
    t.same([snoop.statusCode, code(snoop)], [403, 'FORBIDDEN']);
    t.equal((await dave.req({ method: 'GET', url: `/api/activity?userId=${dave.userId}` })).statusCode, 200, 'asking for oneself is fine');

    const erins = json<Entries>(await auditor.req({ method: 'GET', url: `/api/activity?userId=${erin.userId}&action=open_chat` }));
    t.same(erins.entries.map((e) => [e.userId, e.action, e.chatId]), [[erin.userId, 'open_chat', chat.chatId]], 'auditor filters by user and action');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = json<Entries>(await auditor.req({ method: 'GET', url: `/api/activity?userId=${erin.userId}&from=${encodeURIComponent(future)}` }));
    t.same(none.entries, [], 'and by time range');
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const ranged = json<Entries>(await auditor.req({ method: 'GET', url: `/api/activity?userId=${dave.userId}&from=${encodeURIComponent(past)}&to=${encodeURIComponent(future)}` }));
    t.equal(ranged.entries.length, mine.entries.length);
    const pageOne = json<Entries>(await auditor.req({ method: 'GET', url: `/api/activity?userId=${dave.userId}&limit=2` }));
    t.equal(pageOne.entries.length, 2);
    t.ok(pageOne.nextCursor, 'paginated');
    const pageTwo = json<Entries>(await auditor.req({ method: 'GET', url: `/api/activity?userId=${dave.userId}&limit=2&cursor=${encodeURIComponent(pageOne.nextCursor!)}` }));
    t.same([...pageOne.entries, ...pageTwo.entries], mine.entries.slice(0, pageOne.entries.length + pageTwo.entries.length), 'pages continue where the last one ended');
    const badAction = await auditor.req({ method: 'GET', url: '/api/activity?action=delete_everything' });
    t.same([badAction.statusCode, code(badAction)], [400, 'VALIDATION_FAILED']);

    const csv = await auditor.req({ method: 'GET', url: `/api/activity/export?format=csv&userId=${erin.userId}&action=open_chat` });
    t.equal(csv.statusCode, 200);
    t.match(csv.headers['content-type'], /text\/csv/);
    const csvLines = csv.body.trim().split('\n');
    t.equal(csvLines.length, 2, 'a header and the one open_chat of erin, replayed from the log');
    t.match(csvLines[1], new RegExp(`${erin.userId}.*open_chat.*${chat.chatId.replace(/[.]/g, '\\.')}`));
    const jsonl = await auditor.req({ method: 'GET', url: `/api/activity/export?format=jsonl&userId=${erin.userId}` });
    const rows = jsonl.body.trim().split('\n').map((l) => JSON.parse(l) as { eventId: string; position: string; action: string });
    t.ok(rows.length >= 3 && rows.every((r) => r.eventId && r.position), 'every line carries the event id and position');
    t.notOk(jsonl.body.includes('$argon2'), 'no hash in the export');
    const notAuditor = await dave.req({ method: 'GET', url: '/api/activity/export?format=csv' });
    t.same([notAuditor.statusCode, code(notAuditor)], [403, 'FORBIDDEN']);
    const badFormat = await auditor.req({ method: 'GET', url: '/api/activity/export?format=xml' });
    t.same([badFormat.statusCode, code(badFormat)], [400, 'VALIDATION_FAILED']);

    const denied = await dave.req({ method: 'GET', url: '/api/errors' });
    t.same([denied.statusCode, code(denied)], [403, 'FORBIDDEN']);
    await h.logErrors([
      { at: new Date(Date.now() - 1000), level: 50, process: 'chat-api', context: { reqId: 'r1' }, message: 'older failure', stack: 'Error: x' },
      { at: new Date(), level: 60, process: 'chat-projector', context: null, message: 'newest failure', stack: null },
    ]);
    const errors = json<{ errors: Array<{ message: string; level: number; process: string }>; nextCursor: string | null }>(
      await auditor.req({ method: 'GET', url: '/api/errors?limit=1' }));
    t.match(errors.errors, [{ message: 'newest failure', level: 60, process: 'chat-projector' }]);
    t.ok(errors.nextCursor);
    const older = json<{ errors: Array<{ message: string }> }>(await auditor.req({ method: 'GET', url: `/api/errors?limit=1&cursor=${encodeURIComponent(errors.nextCursor!)}` }));
    t.match(older.errors, [{ message: 'older failure' }]);
  });

  t.test('no token, ticket, password or hash in any log line of the flows', async (t) => {
    const text = h.logs.join('');
    t.ok(issuedSecrets.length >= 10, 'secrets were issued');
    t.notOk(issuedSecrets.some((secret) => text.includes(secret)), 'no token, ticket or CSRF token');
    t.notOk(text.includes('$argon2'), 'no password hash');
    t.notOk(text.includes('password123'), 'no password');
    t.notOk(/authorization|cookie/i.test(text), 'no auth header or cookie');
  });
}
