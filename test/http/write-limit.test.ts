// The per-user budget of state-changing API requests (gateways/http/plugins/write-limit.ts): past it a
// write is 429 RATE_LIMITED with Retry-After and appends nothing; reads, logging out and other users
// go on; the budget is the user's, whichever session or token writes.
import t from 'tap';
import { httpConfigFrom } from '../../gateways/service/from-config.js';
import { loadConfig } from '../../infra/config.js';
import { json, loginBearer, newUser, startHarness } from './harness.js';

t.test('writes past the budget are refused without appending; reads, logout and other users are not', async (t) => {
  const h = await startHarness('embedded', { config: { writeRateLimit: { max: 5, windowMs: 60_000 } } });
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'wla');
  const bob = await newUser(h.app, 'wlb');
  const chat = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  const url = `/api/chats/${chat.chatId}/messages`;
  for (let i = 1; i <= 3; i++) t.equal((await alice.req({ method: 'POST', url, payload: { body: `m${i}`, clientMessageId: `c${i}` } })).statusCode, 201);
  t.equal((await alice.req({ method: 'POST', url: '/api/ws-ticket' })).statusCode, 201, 'a ticket is a write too: the fifth');

  const secondSession = await loginBearer(h.app, alice.userId); // logging in is no API write of the budget
  const head = await h.store.headPosition();
  const refused = await alice.req({ method: 'POST', url, payload: { body: 'one too many', clientMessageId: 'c4' } });
  t.equal(refused.statusCode, 429);
  t.match(json(refused), { error: { code: 'RATE_LIMITED', message: /Too many writes; retry in \d+ s\./ } });
  t.ok(Number(refused.headers['retry-after']) >= 1, `Retry-After: ${String(refused.headers['retry-after'])}`);
  t.equal(refused.headers['x-ratelimit-limit'], undefined, 'no counters in the headers');
  t.equal((await secondSession.req({ method: 'POST', url: `/api/chats/${chat.chatId}/read`, payload: { revision: 1 } })).statusCode, 429, 'another session of the same user shares the budget');
  t.equal(await h.store.headPosition(), head, 'nothing appended by the refused writes');

  t.equal((await alice.req({ method: 'GET', url })).statusCode, 200, 'reads are not writes');
  t.equal((await bob.req({ method: 'POST', url, payload: { body: 'mine', clientMessageId: 'b1' } })).statusCode, 201, 'another user has a budget of their own');
  t.equal((await alice.req({ method: 'POST', url: '/api/logout' })).statusCode, 204, 'logging out always works');
});

t.test('API_WRITE_MAX=0 turns the budget off', async (t) => {
  const h = await startHarness('embedded', { config: httpConfigFrom(loadConfig({ API_WRITE_MAX: '0' })) });
  t.teardown(() => h.close());
  const alice = await newUser(h.app, 'wlc');
  const bob = await newUser(h.app, 'wld');
  const chat = json<{ chatId: string }>(await alice.req({ method: 'POST', url: '/api/chats', payload: { username: bob.userId } }));
  const statuses = new Set<number>();
  for (let i = 0; i < 70; i++) statuses.add((await alice.req({ method: 'POST', url: `/api/chats/${chat.chatId}/messages`, payload: { body: `m${i}`, clientMessageId: `c${i}` } })).statusCode);
  t.same([...statuses], [201], '70 writes, more than the default budget of 60, none refused');
});
