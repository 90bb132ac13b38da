// History paging across the cache and the database: with 150 messages the newest 100 come from the
// Redis view and the older ones from PostgreSQL; with Redis dead or black-holed every page comes
// from PostgreSQL within the cache timeout, and the body is the same either way.
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { deleteMessage, editMessage } from '../../commands/edit-message.js';
import { sendMessage } from '../../commands/send-message.js';
import { buildHttpApp } from '../../gateways/http/app.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { deadEndpoint } from '../support/dead-endpoint.js';
import { json, newUser, startHarness, TEST_REDIS_URL, type Client } from './harness.js';

interface Page {
  messages: Array<{ revision: number; body: string }>;
  nextBefore: number | null;
}

async function pages(app: FastifyInstance, who: Client, chatId: string): Promise<Array<{ source: string; body: string; ms: number }>> {
  const out: Array<{ source: string; body: string; ms: number }> = [];
  let before: number | null | undefined;
  do {
    const started = Date.now();
    const res = await app.inject({
      method: 'GET', url: `/api/chats/${chatId}/messages?limit=100${before ? `&before=${before}` : ''}`, headers: { authorization: `Bearer ${who.token}` },
    });
    if (res.statusCode !== 200) throw new Error(`history: ${res.statusCode} ${res.body}`);
    out.push({ source: String(res.headers['x-history-source']), body: res.body, ms: Date.now() - started });
    before = json<Page>(res).nextBefore;
  } while (before !== null && out.length < 10);
  return out;
}

t.test('150 messages: first page from Redis, the rest from PostgreSQL; same pages with Redis dead or hung', async (t) => {
  // Generous timeouts for the healthy Redis, so a loaded machine does not turn a cache answer into a
  // database one; the dead and hung cases below set short ones of their own.
  const h = await startHarness('postgres', { view: { redisUrl: TEST_REDIS_URL, commandTimeoutMs: 30_000 }, config: { cacheTimeoutMs: 30_000 } });
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'hista');
  const bob = await newUser(h.app, 'histb');
  const chat = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  for (let i = 1; i <= 150; i++) {
    const r = await sendMessage(h.commands, { senderId: i % 2 ? alice.userId : bob.userId, chatId: chat.chatId, body: `message ${i}`, clientMessageId: `h${i}` });
    if (!r.ok) throw new Error(r.error.code);
  }
  await h.settle();

  const withRedis = await pages(h.app, alice, chat.chatId);
  t.same(withRedis.map((p) => p.source), ['cache', 'database'], 'the newest 100 from the cache, the older 50 from the database');
  const parse = (body: string): Page => JSON.parse(body) as Page;
  const all = withRedis.flatMap((p) => parse(p.body).messages);
  t.same(all.map((m) => m.revision), Array.from({ length: 150 }, (_, i) => 150 - i), 'every message once, newest first');
  t.equal(parse(withRedis[0]!.body).nextBefore, 51);

  // The same pages without any cache: byte-identical bodies.
  const noCache = await buildHttpApp({ ...h.deps, lastMessages: null });
  t.teardown(() => noCache.close());
  const fromDb = await pages(noCache, alice, chat.chatId);
  t.same(fromDb.map((p) => p.source), ['database', 'database']);
  t.same(fromDb.map((p) => p.body), withRedis.map((p) => p.body), 'the response looks the same whichever store answered');

  // Redis down: a port this test holds, resetting every connection.
  const deadRedis = await deadEndpoint('reset');
  const deadView = new RedisLastMessagesView({ url: deadRedis.url('redis'), keyPrefix: h.redisPrefix, commandTimeoutMs: 150, logger: h.deps.logger, connectTimeoutMs: 200 });
  const dead = await buildHttpApp({ ...h.deps, lastMessages: deadView, config: { ...h.deps.config, cacheTimeoutMs: 250 } });
  t.teardown(async () => { await dead.close(); await deadView.close(); await deadRedis.close(); });
  const fromDead = await pages(dead, alice, chat.chatId);
  t.same(fromDead.map((p) => p.source), ['database', 'database'], 'Redis down: PostgreSQL answers');
  t.same(fromDead.map((p) => p.body), withRedis.map((p) => p.body));
  t.ok(fromDead.every((p) => p.ms < 3_000), `bounded by the timeout (${fromDead.map((p) => p.ms).join(', ')} ms)`);

  // A Redis that accepts connections and never answers (hung server, black-holed network).
  const sockets = new Set<net.Socket>();
  const blackHole = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => undefined); });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const port = (blackHole.address() as net.AddressInfo).port;
  const hungView = new RedisLastMessagesView({ url: `redis://127.0.0.1:${port}`, keyPrefix: h.redisPrefix, commandTimeoutMs: 150, logger: h.deps.logger, connectTimeoutMs: 200 });
  const hung = await buildHttpApp({ ...h.deps, lastMessages: hungView, config: { ...h.deps.config, cacheTimeoutMs: 250 } });
  t.teardown(async () => {
    await hung.close();
    await hungView.close();
    await new Promise<void>((resolve) => { blackHole.close(() => resolve()); for (const s of sockets) s.destroy(); });
  });
  const fromHung = await pages(hung, alice, chat.chatId);
  t.same(fromHung.map((p) => p.source), ['database', 'database'], 'Redis hung: PostgreSQL answers');
  t.same(fromHung.map((p) => p.body), withRedis.map((p) => p.body));
  t.ok(fromHung.every((p) => p.ms < 3_000), `bounded by the timeout, not waiting for the hung Redis (${fromHung.map((p) => p.ms).join(', ')} ms)`);
});

t.test('a chat whose edits and deletes took revisions is still served whole from the cache', async (t) => {
  const h = await startHarness('postgres', { view: { redisUrl: TEST_REDIS_URL, commandTimeoutMs: 30_000 }, config: { cacheTimeoutMs: 30_000 } });
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'hcha');
  const bob = await newUser(h.app, 'hchb');
  const chat = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  const ids: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const r = await sendMessage(h.commands, { senderId: alice.userId, chatId: chat.chatId, body: `message ${i}`, clientMessageId: `c${i}` });
    if (!r.ok) throw new Error(r.error.code);
    ids.push(r.value.messageId);
  }
  const edited = await editMessage(h.commands, { editorId: alice.userId, chatId: chat.chatId, messageId: ids[0]!, clientEditId: 'e1', body: 'message 1, edited' });
  const deleted = await deleteMessage(h.commands, { deleterId: alice.userId, chatId: chat.chatId, messageId: ids[1]!, clientDeleteId: 'd1' });
  t.ok(edited.ok && deleted.ok, 'an edit and a delete took revisions 5 and 6');
  await h.settle();

  const fromView = await pages(h.app, alice, chat.chatId);
  t.same(fromView.map((p) => p.source), ['cache'], 'the whole chat from the cache');
  const noCache = await buildHttpApp({ ...h.deps, lastMessages: null });
  t.teardown(() => noCache.close());
  t.same((await pages(noCache, alice, chat.chatId)).map((p) => p.body), fromView.map((p) => p.body), 'the same page the database gives');
  const older = await alice.req({ method: 'GET', url: `/api/chats/${chat.chatId}/messages?before=4&limit=5` });
  t.equal(older.headers['x-history-source'], 'cache', 'an older page, fewer messages than asked: the chat starts there, so from the cache too');
  t.same(json<Page>(older).messages.map((m) => m.revision), [3, 2, 1]);
});
