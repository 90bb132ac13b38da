// With no origins configured, `chat start` lets a page on the host a socket is addressed to, at the
// HTTP port, open it (WsConfig.sameHostOriginPorts): listening on 0.0.0.0 (the image's default) the
// service does not know the name its pages are opened by, and a page opened at http://<server>:3000
// was refused 403 (found by an operator check). Another host, or another port, is still refused.
import t from 'tap';
import { sameHostOrigin } from '../../gateways/ws/auth.js';
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
