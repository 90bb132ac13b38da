// The web plugin without a browser: pages carry their own CSP naming the WebSocket origin (and no
// upgrade-insecure-requests over plain http), the WebSocket URL follows the Host the browser used
// but never carries an odd one into the page or the header, assets are hashed, cached for good and
// revalidated, and unknown assets get the app's 404.
import helmet from '@fastify/helmet';
import Fastify from 'fastify';
import t from 'tap';
import { buildAssets } from '../../gateways/web/build.js';
import { webPlugin } from '../../gateways/web/plugin.js';
import { sameHostWsUrl } from '../../gateways/web/ws-url.js';

async function app(wsUrl: Parameters<typeof webPlugin>[1]['wsUrl']) {
  const a = Fastify();
  await a.register(helmet);
  await a.register(webPlugin, { wsUrl });
  await a.ready();
  return a;
}

t.test('pages: CSP, WebSocket URL, no caching of the shell', async (t) => {
  const a = await app(sameHostWsUrl({ port: 3001, path: '/ws' }));
  t.teardown(() => a.close());

  const root = await a.inject({ url: '/' });
  t.equal(root.statusCode, 302);
  t.equal(root.headers.location, '/profile');

  for (const page of ['login', 'register', 'profile', 'chat']) {
    const res = await a.inject({ url: `/${page}`, headers: { host: '192.168.1.20:3000' } });
    t.equal(res.statusCode, 200, `/${page}`);
    t.match(res.headers['content-type'], /^text\/html/);
    t.equal(res.headers['cache-control'], 'no-cache');
    const csp = String(res.headers['content-security-policy']);
    t.match(csp, /connect-src 'self' ws:\/\/192\.168\.1\.20:3001(;|$)/, 'connect-src names the gateway on the same host');
    t.match(csp, /script-src 'self'(;|$)/, 'scripts from our origin only');
    t.notMatch(csp, /unsafe-inline|upgrade-insecure-requests/, 'no inline code; plain http stays usable on a LAN');
    t.notMatch(res.body, /<script>|\son[a-z]+=|style="/i, 'no inline script, handler or style in the markup');
    t.match(res.body, /<link rel="stylesheet" href="\/assets\/app-[A-Z0-9]+\.css">/);
  }
  const chat = await a.inject({ url: '/chat?id=a:b', headers: { host: 'localhost:3000' } });
  t.match(chat.body, '<meta name="chat-ws-url" content="ws://localhost:3001/ws">');

  const odd = await a.inject({ url: '/chat', headers: { host: 'evil.example;script-src *' } });
  t.match(odd.body, '<meta name="chat-ws-url" content="ws://127.0.0.1:3001/ws">', 'an odd Host falls back to the default host');
  t.notMatch(String(odd.headers['content-security-policy']), /evil|script-src \*/, 'and never reaches the CSP');
});

t.test('a fixed WebSocket URL is escaped into the page', async (t) => {
  const a = await app('wss://chat.example/ws?x="><b>');
  t.teardown(() => a.close());
  const res = await a.inject({ url: '/chat' });
  t.match(res.body, '<meta name="chat-ws-url" content="wss://chat.example/ws?x=&quot;&gt;&lt;b&gt;">');
  t.match(String(res.headers['content-security-policy']), /connect-src 'self' wss:\/\/chat\.example(;|$)/);
});

t.test('assets: hashed, immutable, revalidated; unknown ones are 404', async (t) => {
  const a = await app('ws://127.0.0.1:3001/ws');
  t.teardown(() => a.close());
  const page = await a.inject({ url: '/chat' });
  const script = /<script type="module" src="([^"]+)"><\/script>/.exec(page.body)?.[1];
  const style = /<link rel="stylesheet" href="([^"]+)">/.exec(page.body)?.[1];
  t.ok(script && style, 'the page names its script and stylesheet');
  const js = await a.inject({ url: script! });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  t.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  const again = await a.inject({ url: script!, headers: { 'if-none-match': String(js.headers.etag) } });
  t.equal(again.statusCode, 304);
  const css = await a.inject({ url: style! });
  t.match(css.headers['content-type'], /^text\/css/);
  // Booleans, not t.match: a failure would print 230 kB of CSS.
  t.ok(css.body.includes('.btn-primary{'), 'Bootstrap is bundled in, served from here');
  t.notOk(/@import|url\(\s*["']?(https?:)?\/\//.test(css.body), 'nothing is fetched from elsewhere');
  t.equal((await a.inject({ url: '/assets/nope.js' })).statusCode, 404);
});

t.test('no bundled script parses a string as HTML', async (t) => {
  const built = await buildAssets();
  const scripts = [...built.files].filter(([url]) => url.endsWith('.js'));
  t.ok(scripts.length >= 4, 'one script per page, plus shared chunks');
  for (const [url, asset] of scripts) {
    t.notOk(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/.test(asset.body.toString()), url);
  }
  t.ok(built.buildMs < 5_000, `the build is fast (${built.buildMs} ms)`);
});
