// REDIS_SENTINELS / REDIS_SENTINEL_NAME: validated together, and the endpoint every Redis client is built from.
import t from 'tap';
import { loadConfig } from '../../infra/config.js';
import { redisEndpointOf } from '../../infra/redis-client.js';

t.test('Sentinel settings: parsed, REDIS_URL defaults to the monitored name', async (t) => {
  const c = loadConfig({ REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.2:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'chat-primary' });
  t.same(c.redisSentinel, { name: 'chat-primary', sentinels: [{ host: 'sentinel-1', port: 26379 }, { host: '10.0.0.2', port: 26380 }, { host: '::1', port: 26381 }] });
  t.equal(c.redisUrl, 'redis://chat-primary');
  t.same(redisEndpointOf(c), { url: 'redis://chat-primary', sentinel: c.redisSentinel });
  const withUrl = loadConfig({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'rediss://:secret@m/2' });
  t.equal(withUrl.redisUrl, 'rediss://:secret@m/2', 'REDIS_URL still gives credentials, database and TLS');
  t.equal(loadConfig({}).redisSentinel, undefined);
  t.equal(redisEndpointOf(loadConfig({})), null, 'no Redis configured');
  t.same(redisEndpointOf(loadConfig({ REDIS_URL: 'redis://h:6380' })), { url: 'redis://h:6380', sentinel: undefined });
});

t.test('bad Sentinel settings fail naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_SENTINELS: 's:26379' }, /REDIS_SENTINEL_NAME must be set with REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS must be set with REDIS_SENTINEL_NAME/],
    [{ REDIS_SENTINELS: 's', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS holds "s", which is not host:port/],
    [{ REDIS_SENTINELS: 's:0', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS holds "s:0"/],
    [{ REDIS_SENTINELS: 's:99999', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS holds "s:99999"/],
    [{ REDIS_SENTINELS: ' , ', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS must name at least one sentinel/],
    [{ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'my master' }, /REDIS_SENTINEL_NAME must be letters/],
  ];
  for (const [env, msg] of cases) t.throws(() => loadConfig(env), { name: 'ConfigError', message: msg });
});
