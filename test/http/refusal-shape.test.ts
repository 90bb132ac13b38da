// Found by an outside check: an address no route serves answered a JSON body 400 ("This route takes
// no body") instead of 404, and a refusal echoed an unknown property's name at any length (50 KB).
import t from 'tap';
import { json, newUser, startHarness } from './harness.js';

interface Refusal { error: { code: string; details?: Array<{ in: string; path: string; message: string }> } }

t.test('unknown addresses are 404 whatever the body; refusals name a path of at most 60 characters', async (t) => {
  const h = await startHarness('embedded');
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'refusa');
  const bob = await newUser(h.app, 'refusb');
  const { chatId } = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));

  for (const [method, url] of [['POST', '/api/nothing'], ['PUT', '/api/users'], ['PATCH', '/api/me']] as const) {
    for (const auth of [false, true]) {
      const res = auth
        ? await alice.req({ method, url, payload: { a: 1 } })
        : await h.app.inject({ method, url, payload: { a: 1 } });
      t.equal(res.statusCode, 404, `${method} ${url} with a body${auth ? ', signed in' : ''}: 404`);
      t.equal(json<Refusal>(res).error.code, 'NOT_FOUND');
    }
  }

  const long = 'K'.repeat(50_000);
  const res = await alice.req({ method: 'POST', url: `/api/chats/${chatId}/read`, payload: { revision: 0, [long]: 1 } });
  t.equal(res.statusCode, 400);
  const body = json<Refusal>(res);
  t.equal(body.error.code, 'VALIDATION_FAILED');
  t.ok(res.body.length < 2_000, `the refusal stays small (${res.body.length} bytes)`);
  for (const d of body.error.details ?? []) t.ok([...d.path].length <= 61, `path cut: ${d.path.slice(0, 20)}…`);
  t.ok(body.error.details?.some((d) => d.path.endsWith('…')), 'and marked as cut');

  // One of a few values: said once, not once per value it is not.
  const format = await alice.req({ method: 'GET', url: '/api/activity/export?format=xml' });
  t.equal(format.statusCode, 400);
  t.same(json<Refusal>(format).error.details, [{ in: 'querystring', path: '/format', message: 'must be equal to one of the allowed values' }]);
});
