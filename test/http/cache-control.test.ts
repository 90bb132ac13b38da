// Every /api/* answer carries tokens, CSRF tokens or personal data (or might, for errors), so each one
// says Cache-Control: no-store, successes and refusals alike; the operational endpoints keep theirs.
import t from 'tap';
import { loginBearer, register, startHarness, type Res } from './harness.js';

t.test('Cache-Control: no-store on every /api/* response, errors included', async (t) => {
  const h = await startHarness('embedded', { config: { loginRateLimit: { perAccount: { max: 1, windowMs: 60_000 }, perAddress: { max: 100, windowMs: 60_000 } } } });
  t.teardown(() => h.close());
  const responses: Array<[string, Res]> = [];
  const seen = (label: string, res: Res): Res => { responses.push([label, res]); return res; };

  seen('register 201', await register(h.app, 'nostoreann', 'password123'));
  seen('register 409', await register(h.app, 'nostoreann', 'password123'));
  await register(h.app, 'nostorebob', 'password123');
  const cookieLogin = seen('cookie login 200 (csrf token)', await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'nostoreann', password: 'password123' } }));
  t.equal(cookieLogin.statusCode, 200);
  const ann = await loginBearer(h.app, 'nostoreann');
  seen('me 200', await ann.req({ method: 'GET', url: '/api/me' }));
  seen('ws-ticket 201', await ann.req({ method: 'POST', url: '/api/ws-ticket' }));
  seen('users 200', await ann.req({ method: 'GET', url: '/api/users?prefix=nostore' }));
  seen('start chat 201', await ann.req({ method: 'POST', url: '/api/chats', payload: { username: 'nostorebob' } }));
  seen('chats 200', await ann.req({ method: 'GET', url: '/api/chats' }));
  seen('login 401', await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'nostorebob', password: 'wrong-password' } }));
  seen('login 429', await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'nostorebob', password: 'wrong-password' } }));
  seen('login 400', await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: 42 } }));
  seen('me 401', await h.app.inject({ method: 'GET', url: '/api/me' }));
  seen('csrf 403', await h.app.inject({ method: 'POST', url: '/api/logout', cookies: { chat_session: cookieLogin.cookies.find((c) => c.name === 'chat_session')?.value ?? '' }, headers: { origin: 'https://evil.example' } }));
  seen('unknown route 404', await h.app.inject({ method: 'GET', url: '/api/nope?x=1' }));
  // Percent-encoded, the router still finds the API route: so must the rule (found by an outside check).
  seen('encoded me 200', await ann.req({ method: 'GET', url: '/%61pi/me' }));
  seen('encoded ws-ticket 201', await ann.req({ method: 'POST', url: '/%61%70%69/ws-ticket' }));
  seen('encoded unknown 404', await ann.req({ method: 'GET', url: '/a%70i/nope' }));
  seen('logout 204', await ann.req({ method: 'POST', url: '/api/logout' }));

  t.same(responses.map(([label, r]) => `${label}: ${r.statusCode}`), responses.map(([label]) => `${label}: ${label.split(' ').find((w) => /^\d{3}$/.test(w))}`), 'each case answered the status it is named for');
  for (const [label, res] of responses) t.equal(res.headers['cache-control'], 'no-store', label);

  const health = await h.app.inject({ method: 'GET', url: '/healthz' });
  t.not(health.headers['cache-control'], 'no-store', 'outside /api/ nothing is added');
  const lookalike = await h.app.inject({ method: 'GET', url: '/apix' });
  t.not(lookalike.headers['cache-control'], 'no-store', 'only the /api path itself, not a name that starts with it');
});

t.test('an unknown address: a page for a browser, the JSON error for everyone else and under /api/', async (t) => {
  const h = await startHarness('embedded');
  t.teardown(() => h.close());
  const html = 'text/html,application/xhtml+xml,*/*;q=0.8';
  const page = await h.app.inject({ method: 'GET', url: '/nowhere-xyz?q=%3Cb%3Ezzq%3C/b%3E', headers: { accept: html } });
  t.equal(page.statusCode, 404);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /Page not found/);
  t.notMatch(page.body, /nowhere|zzq/, 'nothing of the request is echoed');
  t.ok(page.headers['content-security-policy'], 'under the default CSP');
  for (const [label, url, accept] of [['no Accept', '/chats', undefined], ['JSON', '/chats', 'application/json'], ['under /api/', '/api/nope', html], ['/api itself', '/api', html], ['/api encoded', '/%61pi', html]] as const) {
    const res = await h.app.inject({ method: 'GET', url, headers: accept ? { accept } : {} });
    t.equal(res.statusCode, 404, label);
    t.same(res.json(), { error: { code: 'NOT_FOUND', message: 'No such route.' } }, label);
  }
  const post = await h.app.inject({ method: 'POST', url: '/chats', headers: { accept: html } });
  t.equal(post.json<{ error: { code: string } }>().error.code, 'NOT_FOUND', 'only GET and HEAD get the page');
});
