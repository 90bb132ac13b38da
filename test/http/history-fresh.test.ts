// Read-your-writes on the newest history page: the last-messages view is fed asynchronously, so a
// page read right after a send's 201 could miss it (an outside check saw that 25 times in 25 on
// PostgreSQL and Redis). The newest page now waits, briefly, for the view to reach the chat's
// revision in the log; older pages are as before.
import t from 'tap';
import { buildHttpApp } from '../../gateways/http/app.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { json, newUser, startHarness, TEST_REDIS_URL, type Kind } from './harness.js';

interface Page { messages: Array<{ revision: number; body: string }> }

for (const [kind, view] of [['postgres', { redisUrl: TEST_REDIS_URL, commandTimeoutMs: 30_000 }], ['embedded', 'memory']] as const) {
  t.test(`${kind}: a message is on the newest page as soon as its send is answered`, async (t) => {
    // A loaded machine may keep the view behind for longer than the default second: this test waits for it.
    const h = await startHarness(kind as Kind, { view, config: { cacheTimeoutMs: 30_000, historyFreshWaitMs: 120_000 } });
    t.teardown(() => h.close());
    const alice = await newUser(h.app, `fresha${kind[0]}`);
    const bob = await newUser(h.app, `freshb${kind[0]}`);
    const { chatId } = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
    const sources = new Set<string>();
    for (let i = 1; i <= 10; i++) {
      const sent = await alice.req({ method: 'POST', url: `/api/chats/${chatId}/messages`, payload: { body: `fresh ${i}`, clientMessageId: `fresh-${i}` } });
      t.equal(sent.statusCode, 201);
      const { revision } = json<{ revision: number }>(sent);
      for (const reader of [alice, bob]) {
        const page = await reader.req({ method: 'GET', url: `/api/chats/${chatId}/messages?limit=1` });
        t.equal(page.statusCode, 200);
        sources.add(String(page.headers['x-history-source']));
        t.same(json<Page>(page).messages.map((m) => [m.revision, m.body]), [[revision, `fresh ${i}`]], `send ${i}: on the newest page at once`);
      }
    }
    t.same([...sources], ['cache'], 'from the view, which was waited for');
    const older = await alice.req({ method: 'GET', url: `/api/chats/${chatId}/messages?before=3&limit=5` });
    t.same(json<Page>(older).messages.map((m) => m.revision), [2, 1], 'older pages as before');
    const missing = await alice.req({ method: 'GET', url: `/api/chats/${alice.userId}:zzzz/messages` });
    t.equal(missing.statusCode, 404, 'a chat that does not exist is still 404');
    const missingOlder = await alice.req({ method: 'GET', url: `/api/chats/${alice.userId}:zzzz/messages?before=5` });
    t.equal(missingOlder.statusCode, 404, 'its older pages too');
  });
}

t.test('a view that stays behind: after the wait, the database answers', async (t) => {
  const h = await startHarness('embedded', { view: 'memory' });
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'stalea');
  const bob = await newUser(h.app, 'staleb');
  const { chatId } = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  for (let i = 1; i <= 3; i++) await alice.req({ method: 'POST', url: `/api/chats/${chatId}/messages`, payload: { body: `stale ${i}`, clientMessageId: `stale-${i}` } });
  await h.settle();
  // A view that holds the chat as it was at its start, and is fed nothing more.
  const behind = new MemoryLastMessagesView();
  const epoch = await behind.beginRebuild();
  await behind.replaceChat(chatId, [], 0);
  await behind.finishRebuild(epoch, '0');
  const app = await buildHttpApp({ ...h.deps, lastMessages: behind, config: { ...h.deps.config, historyFreshWaitMs: 300 } });
  t.teardown(() => app.close());
  const started = performance.now();
  const page = await app.inject({ method: 'GET', url: `/api/chats/${chatId}/messages`, headers: { authorization: `Bearer ${alice.token}` } });
  const waited = performance.now() - started;
  t.equal(page.headers['x-history-source'], 'database');
  t.same(json<Page>(page).messages.map((m) => m.revision), [3, 2, 1], 'the whole newest page');
  t.ok(waited >= 300, `it waited for the view first (${Math.round(waited)} ms)`);
  // The page after it, from a view that has not applied the range below `before`: the database too
  // (the view used to answer it with what it had, leaving out revisions it had not applied yet).
  const older = await app.inject({ method: 'GET', url: `/api/chats/${chatId}/messages?before=3&limit=1`, headers: { authorization: `Bearer ${alice.token}` } });
  t.equal(older.headers['x-history-source'], 'database', 'an older page the view has not caught up with');
  t.same(json<Page>(older).messages.map((m) => m.revision), [2]);
  await behind.replaceChat(chatId, [], 5);
  const covered = await app.inject({ method: 'GET', url: `/api/chats/${chatId}/messages?before=1`, headers: { authorization: `Bearer ${alice.token}` } });
  t.equal(covered.headers['x-history-source'], 'cache', 'a range the view has applied: the view');
});
