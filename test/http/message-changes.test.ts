// PATCH and DELETE /api/chats/:chatId/messages/:messageId on both deployments: the sender edits and
// deletes; history (from the cache and from the database alike) and the chat list's preview follow,
// a deleted message keeping no body; retries are duplicates; refusals carry their codes and change nothing.
import t from 'tap';
import { json, newUser, startHarness, type Client, type Kind } from './harness.js';
import { waitFor } from '../support/wait.js';

interface Msg { messageId: string; body: string; editedAt: string | null; deleted: boolean; revision: number }

for (const kind of ['postgres', 'embedded'] as Kind[]) {
  t.test(`${kind}: edit and delete over HTTP`, async (t) => {
    const h = await startHarness(kind, { view: 'memory' });
    t.teardown(() => h.close());
    const alice = await newUser(h.app, 'alice');
    const bob = await newUser(h.app, 'bob');
    const chat = await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } });
    const { chatId } = json<{ chatId: string }>(chat);
    const send = async (c: Client, body: string): Promise<string> =>
      json<{ messageId: string }>(await c.req({ method: 'POST', url: `/api/chats/${chatId}/messages`, payload: { body, clientMessageId: `c${body.length}${Math.random().toString(36).slice(2)}` } })).messageId;
    const first = await send(alice, 'helo');
    const second = await send(alice, 'a secret');
    const url = (id: string): string => `/api/chats/${chatId}/messages/${id}`;

    const edited = await alice.req({ method: 'PATCH', url: url(first), payload: { body: ' hello ', clientEditId: 'e1' } });
    t.equal(edited.statusCode, 200);
    t.match(json(edited), { chatId, messageId: first, revision: 3, duplicate: false });
    t.match(json(await alice.req({ method: 'PATCH', url: url(first), payload: { body: 'other', clientEditId: 'e1' } })), { revision: 3, duplicate: true }, 'a retry');
    const deleted = await alice.req({ method: 'DELETE', url: `${url(second)}?clientDeleteId=d1` });
    t.equal(deleted.statusCode, 200);
    t.match(json(deleted), { messageId: second, revision: 4, duplicate: false });
    t.match(json(await alice.req({ method: 'DELETE', url: `${url(second)}?clientDeleteId=d1` })), { revision: 4, duplicate: true });
    // Fetch wrappers often send this header on every request: an empty JSON body is no body.
    const withHeader = await alice.req({ method: 'DELETE', url: `${url(second)}?clientDeleteId=d1`, headers: { 'content-type': 'application/json' }, payload: '' });
    t.match(json(withHeader), { revision: 4, duplicate: true }, 'a DELETE with Content-Type: application/json and no body');

    const refused: Array<[Client, 'PATCH' | 'DELETE', string, Record<string, unknown> | undefined, number, string]> = [
      [bob, 'PATCH', url(first), { body: 'x', clientEditId: 'e2' }, 403, 'NOT_MESSAGE_SENDER'],
      [bob, 'PATCH', url(first), { body: 'x', clientEditId: 'e1' }, 403, 'NOT_MESSAGE_SENDER'], // alice's clientEditId: not her retry
      [bob, 'DELETE', `${url(first)}?clientDeleteId=d2`, undefined, 403, 'NOT_MESSAGE_SENDER'],
      [alice, 'PATCH', url('nope'), { body: 'x', clientEditId: 'e3' }, 404, 'MESSAGE_NOT_FOUND'],
      [alice, 'DELETE', `${url(second)}?clientDeleteId=d3`, undefined, 409, 'MESSAGE_DELETED'],
      [alice, 'PATCH', url(second), { body: 'x', clientEditId: 'e4' }, 409, 'MESSAGE_DELETED'],
      [alice, 'PATCH', url(first), { body: '  ', clientEditId: 'e5' }, 422, 'MESSAGE_EMPTY'],
      [alice, 'PATCH', url(first), { body: 'x'.repeat(4001), clientEditId: 'e6' }, 422, 'MESSAGE_TOO_LONG'],
      [alice, 'PATCH', url(first), { body: 'x', clientEditId: 'bad id' }, 422, 'CLIENT_MESSAGE_ID_INVALID'],
      [alice, 'PATCH', url(first), { body: 'x' }, 400, 'VALIDATION_FAILED'],
      [alice, 'DELETE', url(first), undefined, 400, 'VALIDATION_FAILED'],
      [alice, 'PATCH', `/api/chats/${alice.userId}:zzzz/messages/${first}`, { body: 'x', clientEditId: 'e7' }, 404, 'CHAT_NOT_FOUND'],
    ];
    for (const [who, method, u, payload, status, code] of refused) {
      const res = await who.req({ method, url: u, ...(payload ? { payload } : {}) });
      t.equal(res.statusCode, status, `${method} ${code}`);
      t.equal(json<{ error: { code: string } }>(res).error.code, code);
    }

    await h.settle();
    for (const reader of [alice, bob]) {
      let res = await reader.req({ method: 'GET', url: `/api/chats/${chatId}/messages` });
      // The view follows the log on its own: wait until it, or the database, shows both changes.
      await waitFor('history shows the changes', async () => {
        res = await reader.req({ method: 'GET', url: `/api/chats/${chatId}/messages` });
        const ms = json<{ messages: Msg[] }>(res).messages;
        return ms.some((m) => m.deleted) && ms.some((m) => m.editedAt !== null);
      });
      const messages = json<{ messages: Msg[] }>(res).messages;
      t.same(messages.map((m) => [m.messageId, m.body, m.deleted, m.editedAt !== null]), [[second, '', true, false], [first, 'hello', false, true]],
        `history as ${reader === alice ? 'alice' : 'bob'} sees it (${res.headers['x-history-source']})`);
      t.notOk(res.body.includes('a secret'), 'the deleted text is not served');
    }
    const db = await h.deps.reads.history({ chatId, limit: 10 });
    t.same(db.map((m) => [m.body, m.deleted]), [['', true], ['hello', false]], 'the database read model keeps no body for the deleted message');

    const list = json<{ chats: Array<{ chatId: string; lastMessage: { body: string; deleted: boolean; edited: boolean } | null }> }>(
      await bob.req({ method: 'GET', url: '/api/chats' }));
    t.match(list.chats.find((c) => c.chatId === chatId)?.lastMessage, { body: '', deleted: true, edited: false }, 'the chat list preview of a deleted last message');
    await send(alice, 'newest');
    await h.settle();
    const after = json<{ chats: Array<{ lastMessage: { body: string; deleted: boolean; edited: boolean } | null }> }>(await bob.req({ method: 'GET', url: '/api/chats' }));
    t.match(after.chats[0]?.lastMessage, { body: 'newest', deleted: false, edited: false }, 'a newer message replaces the preview, flags and all');
  });
}

t.test('the preview follows an edit of the last message', async (t) => {
  const h = await startHarness('embedded');
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'alice');
  const bob = await newUser(h.app, 'bob');
  const { chatId } = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  const { messageId } = json<{ messageId: string }>(await alice.req({ method: 'POST', url: `/api/chats/${chatId}/messages`, payload: { body: 'helo', clientMessageId: 'c1' } }));
  t.equal((await alice.req({ method: 'PATCH', url: `/api/chats/${chatId}/messages/${messageId}`, payload: { body: 'hello', clientEditId: 'e1' } })).statusCode, 200);
  await h.settle();
  const list = json<{ chats: Array<{ lastMessage: { messageId: string; body: string; edited: boolean; deleted: boolean } | null }> }>(await bob.req({ method: 'GET', url: '/api/chats' }));
  // messageId: what a live list matches a later MessageEdited / MessageDeleted against.
  t.match(list.chats[0]?.lastMessage, { messageId, body: 'hello', edited: true, deleted: false });
});
