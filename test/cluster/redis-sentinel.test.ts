// Redis behind Sentinel (a primary, a replica, three sentinels of the test's own): the service's
// clients find the primary through the sentinels and follow a failover. Under load, through a
// SENTINEL FAILOVER and then a kill -9 of the new primary, every history read is answered (from
// PostgreSQL while Redis has no primary), no acknowledged message is lost, and the last-100 view
// comes back equal to the log, although the promoted replica may have lost the latest view writes.
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { loadConfig } from '../../infra/config.js';
import { chatChangeOf } from '../../projections/ports/last-messages.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { viewEqualsLog } from '../support/last-messages.js';
import { createRedisClient, redisEndpointOf } from '../../infra/redis-client.js';
import { json, newUser, startHarness, type Client } from '../http/harness.js';
import { startRedisSentinel } from '../support/redis-sentinel.js';
import { sleep, waitFor } from '../support/wait.js';

t.test('a client built from REDIS_SENTINELS follows a failover to the promoted replica', async (t) => {
  const group = await startRedisSentinel({ name: 'chat-client' });
  t.teardown(() => group.stop());
  const config = loadConfig({ REDIS_SENTINELS: group.sentinelsEnv, REDIS_SENTINEL_NAME: group.name });
  t.equal(config.redisUrl, `redis://${group.name}`, 'REDIS_URL defaults to the monitored name');
  const redis = createRedisClient(redisEndpointOf(config)!, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  await redis.set('k', 'before');
  const { from, to } = await group.failover();
  t.not(to, from, 'the sentinels named another primary');
  // Until the client sees the switch it may still write to the old primary, which loses the write when
  // demoted (asynchronous replication): what Sentinel promises is that the client moves, not that no write is lost.
  const direct = group.direct(to);
  await waitFor('writes landing on the promoted instance', async () =>
    (await redis.set('k', 'after').then(() => true, () => false)) && (await direct.get('k')) === 'after', 20_000);
  t.equal(await direct.get('k'), 'after', 'the client writes to the promoted instance');
});

interface Acked {
  chatId: string;
  clientMessageId: string;
  revision: number;
}

t.test('failover under load: history always served, nothing lost, the view consistent again', async (t) => {
  const group = await startRedisSentinel({ name: 'chat-view' });
  t.teardown(() => group.stop());
  const config = loadConfig({ REDIS_SENTINELS: group.sentinelsEnv, REDIS_SENTINEL_NAME: group.name });
  const h = await startHarness('postgres', {
    view: { redisUrl: config.redisUrl!, sentinel: config.redisSentinel!, commandTimeoutMs: 300 },
    config: { cacheTimeoutMs: 400 },
  });
  t.teardown(() => h.close());

  const [a, b, c] = [await newUser(h.app, 'sa'), await newUser(h.app, 'sb'), await newUser(h.app, 'sc')];
  const open = async (from: Client, to: Client): Promise<string> =>
    json<{ chatId: string }>(await from.req({ method: 'POST', url: '/api/chats', payload: { username: to.userId } })).chatId;
  const pairs: Array<[Client, Client, string]> = [[a, b, await open(a, b)], [a, c, await open(a, c)], [b, c, await open(b, c)]];

  const acked: Acked[] = [];
  const failures: string[] = [];
  const sources = { cache: 0, database: 0 };
  let running = true;
  let n = 0;
  const sender = async ([x, y, chatId]: [Client, Client, string]): Promise<void> => {
    while (running) {
      const who = n % 2 ? x : y;
      const clientMessageId = `m${n++}`;
      const res = await who.req({ method: 'POST', url: `/api/chats/${chatId}/messages`, payload: { body: `hello ${clientMessageId}`, clientMessageId } });
      if (res.statusCode === 201) acked.push({ chatId, clientMessageId, revision: json<{ revision: number }>(res).revision });
      else failures.push(`send ${res.statusCode} ${res.body}`);
      await sleep(5);
    }
  };
  const reader = async ([x, , chatId]: [Client, Client, string]): Promise<void> => {
    while (running) {
      const res = await x.req({ method: 'GET', url: `/api/chats/${chatId}/messages?limit=100` });
      if (res.statusCode !== 200) failures.push(`history ${res.statusCode} ${res.body}`);
      else sources[res.headers['x-history-source'] === 'cache' ? 'cache' : 'database'] += 1;
      await sleep(5);
    }
  };
  const load = Promise.all([...pairs.map(sender), ...pairs.map(reader)]);

  await waitFor('the view serving history', () => sources.cache > 0, 20_000);
  await sleep(500);
  const first = await group.failover();
  t.comment(`SENTINEL FAILOVER: primary ${first.from} -> ${first.to}`);
  await sleep(1_000);
  const databaseBefore = sources.database;
  const second = await group.killPrimary();
  t.comment(`kill -9 of ${second.from}: primary -> ${second.to}`);
  await sleep(1_000);
  running = false;
  await load;

  t.same(failures, [], 'every send and every history read was answered 2xx');
  t.ok(sources.database > databaseBefore, `history was served from PostgreSQL while Redis had no primary (${sources.database} database, ${sources.cache} cache pages)`);
  t.ok(acked.length > 50, `${acked.length} messages acknowledged under load`);

  await h.settle();
  const view = h.deps.lastMessages!;
  for (const [, , chatId] of pairs) {
    await waitFor(`the view equal to the log for ${chatId}`, () => viewEqualsLog(h.store, view, chatId), 30_000);
  }
  const equal = await Promise.all(pairs.map(([, , chatId]) => viewEqualsLog(h.store, view, chatId)));
  t.ok(equal.every(Boolean), 'the last-100 view equals the newest 100 messages of every chat');
  t.ok(await group.direct(second.to).exists(`${h.redisPrefix}view:epoch`), 'the view lives on the promoted primary');

  // Nothing lost: every acknowledged message is in the log, once, at the revision it was acknowledged with.
  for (const [, , chatId] of pairs) {
    const logged = (await h.store.readStream(chatStreamId(chatId))).flatMap((e) => {
      const change = chatChangeOf(toPublicRecord(e));
      return change?.kind === 'message' ? [`${change.message.clientMessageId}@${change.revision}`] : [];
    });
    const want = acked.filter((m) => m.chatId === chatId).map((m) => `${m.clientMessageId}@${m.revision}`);
    t.same(logged, want, `chat ${chatId}: the log holds exactly the ${want.length} acknowledged messages, in order`);
  }
});
