// The password re-entered to erase an account (DELETE /api/me) is a login attempt: the login
// throttle counts its failures, so a stolen session cannot guess the password through it, and the
// right password still erases once the guessing address is refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startService } from '../../gateways/service/start-service.js';
import { loadConfig } from '../../infra/config.js';

t.test('DELETE /api/me: wrong passwords are throttled like logins', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-erase-throttle-'));
  // The WebSocket part of role `all` reads its settings from the environment: a port from the OS.
  process.env['WS_PORT'] = '0';
  const config = loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0', LOG_LEVEL: 'silent', LOGIN_MAX_PER_ACCOUNT: '3', LOGIN_MAX_DELAY_MS: '0' });
  const svc = await startService(config, 'all');
  t.teardown(async () => {
    await svc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const call = (method: string, url: string, body: unknown, token?: string): Promise<Response> =>
    fetch(`${svc.url}${url}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  t.equal((await call('POST', '/api/register', { username: 'alice', password: 'password123' })).status, 201);
  const login = await call('POST', '/api/login', { username: 'alice', password: 'password123', bearer: true });
  const { token } = (await login.json()) as { token: string };

  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await call('DELETE', '/api/me', { password: `wrong-${i}-password` }, token)).status);
  t.same(statuses, [401, 401, 401, 429, 429], 'three failures, then the address is refused for this account');
  const refused = await call('DELETE', '/api/me', { password: 'password123' }, token);
  t.equal(refused.status, 429, 'refused before the password is judged, even the right one, from the guessing address');
  t.ok(Number(refused.headers.get('retry-after')) > 0, 'with Retry-After');
  const me = await fetch(`${svc.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(me.status, 200, 'nothing was erased');
});
