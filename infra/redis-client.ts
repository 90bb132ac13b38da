/**
 * The one place that builds ioredis clients for the service: a single server from REDIS_URL, or the
 * current primary as named by Redis Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME). Callers pass
 * their own behaviour (timeouts, offline queue, retry); this module decides only where to connect.
 *
 * With Sentinel, a client that loses its primary asks the sentinels again and connects to whichever
 * instance they now name as primary; it never reconnects to a demoted one. Sentinel also closes the
 * normal clients of an instance it reconfigures, so a `SENTINEL FAILOVER` is seen as a reconnect.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config, RedisSentinelConfig } from './config.js';

export interface RedisEndpoint {
  /** redis:// or rediss:// URL; with `sentinel` only its credentials, database and TLS are used. */
  url: string;
  sentinel?: RedisSentinelConfig | undefined;
}

/** The deployment's endpoint, or null when no Redis is configured. */
export function redisEndpointOf(config: Pick<Config, 'redisUrl'> & Partial<Pick<Config, 'redisSentinel'>>): RedisEndpoint | null {
  if (config.redisUrl === undefined) return null;
  return { url: config.redisUrl, sentinel: config.redisSentinel };
}

/** Accepts a bare URL too, so tests and benches that name one server need no wrapper. */
export function createRedisClient(endpoint: RedisEndpoint | string, options: RedisOptions = {}): Redis {
  const ep = typeof endpoint === 'string' ? { url: endpoint } : endpoint;
  if (!ep.sentinel) return new Redis(ep.url, options);
  const u = new URL(ep.url);
  const db = /^\/\d+$/.test(u.pathname) ? Number(u.pathname.slice(1)) : 0;
  const client = new Redis({
    ...options,
    sentinels: ep.sentinel.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: ep.sentinel.name,
    role: 'master',
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // A sentinel that does not answer is skipped quickly; all of them down is retried like a lost server.
    sentinelCommandTimeout: 1_000,
    sentinelRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    // Off on purpose: in ioredis 6.0.0 the detector can fire while the client is already reconnecting
    // (after a kill -9 of the primary), which ends the client for good ("Connection is closed.", status
    // 'end'). watchFailovers below does its work without that race.
    failoverDetector: false,
  });
  watchFailovers(ep.sentinel, client);
  return client;
}

interface Watcher {
  clients: Set<Redis>;
  subscribers: Redis[];
}

/** One set of +switch-master subscriptions per process and Sentinel group, shared by its clients. */
const watchers = new Map<string, Watcher>();

/**
 * Moves the clients to the new primary as soon as a sentinel announces +switch-master. Until then a
 * client may keep writing to the old primary, which loses those writes when it is demoted (Sentinel
 * demotes a live old primary only some seconds later). A client that is already reconnecting is left
 * alone: it asks the sentinels anyway, and interrupting it would end it for good.
 */
function watchFailovers(sentinel: RedisSentinelConfig, client: Redis): void {
  const key = JSON.stringify(sentinel);
  let w = watchers.get(key);
  if (!w) {
    const watcher: Watcher = { clients: new Set(), subscribers: [] };
    for (const s of sentinel.sentinels) {
      const sub = new Redis({ host: s.host, port: s.port, maxRetriesPerRequest: null, connectTimeout: 1_000,
        retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000) });
      sub.on('error', () => undefined); // a sentinel down is normal: the others announce the switch
      sub.on('message', (_channel: string, message: string) => {
        if (!message.startsWith(`${sentinel.name} `)) return;
        for (const c of watcher.clients) if (c.status === 'ready') c.disconnect(true);
      });
      void sub.subscribe('+switch-master').catch(() => undefined);
      watcher.subscribers.push(sub);
    }
    watchers.set(key, watcher);
    w = watcher;
  }
  const watcher = w;
  watcher.clients.add(client);
  client.once('end', () => {
    watcher.clients.delete(client);
    if (watcher.clients.size > 0) return;
    for (const sub of watcher.subscribers) sub.disconnect();
    watchers.delete(key);
  });
}
