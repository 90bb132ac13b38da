// Read receipts over HTTP: POST /api/chats/:chatId/read is monotonic, bounded by the chat's newest
// revision and for participants only; the chat list carries unread counts, read positions and the
// total; history carries both participants' positions. Both stores.
import t from 'tap';
import { json, newUser, startHarness, type Client, type Kind } from './harness.js';

interface ChatList {
  chats: Array<{ chatId: string; unread: number; readUpTo: number; otherReadUpTo: number; lastMessage: { body: string } | null }>;
  unreadTotal: number;
}

for (const kind of ['embedded', 'postgres'] as Kind[]) {
  t.test(`${kind}: mark read, unread counts, history`, async (t) => {
    const h = await startHarness(kind);
    t.teardown(() => h.close());
    const alice = await newUser(h.app, 'rda');
    const bob = await newUser(h.app, 'rdb');
    const carol = await newUser(h.app, 'rdc');
    const chatId = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } })).chatId;
    const other = json<{ chatId: string }>(await carol.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } })).chatId;
    const send = async (who: Client, chat: string, body: string): Promise<number> =>
      json<{ revision: number }>(await who.req({ method: 'POST', url: `/api/chats/${chat}/messages`, payload: { body, clientMessageId: body } })).revision;
    for (const b of ['a1', 'a2', 'a3']) await send(alice, chatId, b);
    await send(bob, chatId, 'b1');
    await send(carol, other, 'c1');
    const read = (who: Client, chat: string, revision: unknown) => who.req({ method: 'POST', url: `/api/chats/${chat}/read`, payload: { revision } });

    await h.settle();
    const list = json<ChatList>(await bob.req({ method: 'GET', url: '/api/chats' }));
    t.equal(list.unreadTotal, 4, 'bob: three from alice and one from carol');
    t.same(list.chats.map((c) => [c.chatId, c.unread, c.readUpTo]), [[other, 1, 0], [chatId, 3, 0]], 'newest activity first, counts per chat');

    const r = await read(bob, chatId, 2);
    t.equal(r.statusCode, 200);
    t.same(json(r), { chatId, upToRevision: 2, changed: true });
    t.same(json(await read(bob, chatId, 1)), { chatId, upToRevision: 2, changed: false }, 'below the mark: nothing changes, no error');
    t.same(json(await read(bob, chatId, 2)), { chatId, upToRevision: 2, changed: false }, 'the same again: idempotent');

    const ahead = await read(bob, chatId, 5);
    t.equal(ahead.statusCode, 422);
    t.equal(json<{ error: { code: string } }>(ahead).error.code, 'READ_REVISION_AHEAD');
    const outsider = await read(carol, chatId, 1);
    t.equal(outsider.statusCode, 403);
    t.equal(json<{ error: { code: string } }>(outsider).error.code, 'NOT_A_PARTICIPANT');
    const missing = await read(alice, `${alice.userId}:zzzz-nobody`, 1);
    t.equal(missing.statusCode, 404);
    t.equal(json<{ error: { code: string } }>(missing).error.code, 'CHAT_NOT_FOUND');
    for (const bad of [-1, 1.5, '2', null]) {
      const res = await read(bob, chatId, bad);
      t.equal(res.statusCode, 400, `revision ${JSON.stringify(bad)}: 400`);
    }

    await h.settle();
    const after = json<ChatList>(await bob.req({ method: 'GET', url: '/api/chats' }));
    t.equal(after.unreadTotal, 2, 'one left from alice, one from carol');
    t.same(after.chats.find((c) => c.chatId === chatId), { ...after.chats.find((c) => c.chatId === chatId), unread: 1, readUpTo: 2, otherReadUpTo: 0 });
    const aliceView = json<ChatList>(await alice.req({ method: 'GET', url: '/api/chats' }));
    t.same(aliceView.chats.map((c) => [c.unread, c.readUpTo, c.otherReadUpTo]), [[1, 0, 2]], 'alice sees bob read up to 2, and bob\'s message unread');

    const history = json<{ reads: Record<string, number> }>(await alice.req({ method: 'GET', url: `/api/chats/${chatId}/messages` }));
    t.same(history.reads, { [alice.userId]: 0, [bob.userId]: 2 }, 'history carries both read positions');

    t.equal((await read(bob, chatId, 4)).statusCode, 200);
    await h.settle();
    t.equal(json<ChatList>(await bob.req({ method: 'GET', url: '/api/chats' })).unreadTotal, 1, 'read to the end: only carol\'s left');
  });
}
