// With no origins configured, `chat start` lets a page on the host a socket is addressed to, at the
// HTTP port, open it (WsConfig.sameHostOriginPorts): listening on 0.0.0.0 (the image's default) the
// service does not know the name its pages are opened by, and a page opened at http://<server>:3000
// was refused 403 (found by an operator check). Another host, or another port, is still refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startService } from '../../gateways/service/start-service.js';
import { sameHostOrigin } from '../../gateways/ws/auth.js';
import { loadConfig } from '../../infra/config.js';
import { openFixture, tryConnect } from './support.js';

t.test('sameHostOrigin: the addressed host at a listed port, nothing else', async (t) => {
  const ok: Array<[string, string]> = [
    ['http://chat.internal:3000', 'chat.internal:3001'],
    ['http://10.0.0.7:3000', '10.0.0.7:3001'],
    ['http://[::1]:3000', '[::1]:3001'],
    ['http://CHAT.internal:3000', 'chat.internal:3001'],
  ];
  for (const [origin, host] of ok) t.ok(sameHostOrigin(origin, host, [3000]), `${origin} to ${host}`);
  const refused: Array<[string, string, number[]]> = [
    ['http://evil.example:3000', 'chat.internal:3001', [3000]],
    ['http://chat.internal:8080', 'chat.internal:3001', [3000]],
    ['http://chat.internal:3000', 'chat.internal:3001', []],
    ['null', 'chat.internal:3001', [3000]],
    ['file:///x', 'chat.internal:3001', [3000]],
    ['http://chat.internal:3000', '', [3000]],
    ['http://chat.internal', 'chat.internal:3001', [3000]],
  ];
  for (const [origin, host, ports] of refused) t.notOk(sameHostOrigin(origin, host, ports), `${origin} to ${host || '(no Host)'} with ports [${ports.join(', ')}]`);
  t.ok(sameHostOrigin('https://chat.internal', 'chat.internal:3001', [443]), 'https without a port is 443');
});

t.test('a gateway with same-host ports: the page on the addressed host gets in, others get 403', async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const alice = await fx.user('alice');
  await fx.startGateway({ allowedOrigins: [], sameHostOriginPorts: [4321] });
  const url = fx.url();
  const ok = await tryConnect(url, { token: alice.token, origin: 'http://127.0.0.1:4321' });
  t.ok('client' in ok, 'the page on the host the socket was opened to, at the HTTP port');
  if ('client' in ok) await ok.client.close();
  for (const origin of ['http://127.0.0.1:4322', 'http://localhost:4321', 'https://evil.example:4321']) {
    const r = await tryConnect(url, { token: alice.token, origin });
    t.ok('status' in r && r.status === 403, `${origin}: 403`);
    if ('client' in r) await r.client.close();
  }
});

// HTTP_PORT=0: the default page origins were built before the listener had its port, so they named
// port 0, and a page at http://localhost:<real port> opening its socket at 127.0.0.1 got 403 (found by
// a client written from the docs). The gateway now lets them in once the HTTP listener has its port.
t.test('chat start with HTTP_PORT=0: the default page origins name the port the HTTP listener got', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-origins-'));
  const svc = await startService(loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0', WS_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'silent' }), 'all');
  t.teardown(async () => {
    await svc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const base = svc.url!;
  const httpPort = new URL(base).port;
  t.not(httpPort, '0');
  const page = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
  const wsOrigin = /connect-src[^;]*\b(ws:\/\/127\.0\.0\.1:\d+)/.exec(page.headers.get('content-security-policy') ?? '')?.[1];
  t.ok(wsOrigin, 'the page names its gateway in its CSP');
  const call = (p: string, body: unknown) => fetch(`${base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  t.equal((await call('/api/register', { username: 'alice', password: 'password123' })).status, 201);
  const { token } = (await (await call('/api/login', { username: 'alice', password: 'password123', bearer: true })).json()) as { token: string };
  const url = `${wsOrigin}/ws`;
  for (const origin of [`http://localhost:${httpPort}`, `http://127.0.0.1:${httpPort}`]) {
    const r = await tryConnect(url, { token, origin });
    t.ok('client' in r, `a page at ${origin} opens its socket at 127.0.0.1`);
    if ('client' in r) await r.client.close();
  }
  for (const origin of ['http://localhost:0', `http://localhost:${Number(httpPort) + 1}`]) {
    const r = await tryConnect(url, { token, origin });
    t.ok('status' in r && r.status === 403, `${origin}: 403`);
    if ('client' in r) await r.client.close();
  }
});
