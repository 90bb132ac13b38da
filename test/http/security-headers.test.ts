// Served over plain http on a LAN address, no answer may ask the browser to upgrade to https: the
// service does not answer https, so /docs stayed blank and the 404 page's link failed. Every answer
// still carries helmet's other headers and a Content-Security-Policy.
import t from 'tap';
import { startHarness } from './harness.js';

t.test('no upgrade-insecure-requests on /docs, 404s, API answers or framework refusals', async (t) => {
  const h = await startHarness('embedded');
  t.teardown(() => h.close());
  const lan = { host: '192.168.1.20:3000' };
  const cases: Array<[string, string, number]> = [
    ['Swagger UI', '/docs', 200],
    ['Swagger UI asset', '/docs/static/swagger-ui.css', 200],
    ['the OpenAPI document', '/docs/json', 200],
    ['a page that does not exist', '/nonexistent', 404],
    ['an API route that does not exist', '/api/nonexistent', 404],
    ['an API answer', '/api/me', 401],
    ['a refusal before any hook (bad percent-encoding)', '/api/users/%ff', 400],
  ];
  for (const [what, url, status] of cases) {
    const res = await h.app.inject({ url, headers: lan });
    t.equal(res.statusCode, status, `${what}: ${status}`);
    const csp = String(res.headers['content-security-policy'] ?? '');
    t.match(csp, /default-src 'self'/, `${what}: has a policy`);
    t.notMatch(csp, /upgrade-insecure-requests/, `${what}: no upgrade to https`);
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: helmet's other headers`);
  }
  const docs = await h.app.inject({ url: '/docs', headers: lan });
  t.match(String(docs.headers['content-security-policy']), /style-src 'self' 'unsafe-inline'/, 'Swagger UI may style its elements');
  t.match(String(docs.headers['content-security-policy']), /script-src 'self'(;|$)/, 'but runs no inline script');
});
