// A relay alone reads the log and publishes to RabbitMQ: it has no use for Redis. It opened the shared
// last-messages view all the same, and logged every Redis outage as its own (found by a fault-injection
// check). Started as the README's scale-out commands start it, beside a Redis that is not there.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { removeTopology, testPrefix, TEST_AMQP_URL } from '../support/broker.js';
import { deadEndpoint } from '../support/dead-endpoint.js';
import { createTestSchema } from '../support/pg.js';
import { startRole } from '../support/role-process.js';

t.test('role relay does not connect to Redis, nor log its outages', async (t) => {
  const ts = await createTestSchema('relayrole');
  const redis = await deadEndpoint('reset');
  const prefix = testPrefix();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-relay-role-'));
  const relay = startRole('relay', 'relay', {
    DATABASE_URL: ts.url, DATABASE_SCHEMA: ts.schema, REDIS_URL: redis.url('redis'), REDIS_KEY_PREFIX: `${prefix}:`,
    AMQP_URL: TEST_AMQP_URL, AMQP_PREFIX: prefix, DATA_DIR: dataDir, DATA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'info',
  });
  t.teardown(async () => {
    await relay.stop();
    await redis.close();
    await removeTopology(prefix);
    await ts.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const redisLines = relay.counter((line) => /redis/i.test(line));
  // Started means every part is open: a view over Redis is opened (and its client connecting) before this line.
  await relay.waitLine((line) => line.includes('chat service started'), 60_000);
  t.equal(redis.connections, 0, 'no connection to Redis was ever tried');
  t.equal(redisLines(), 0, `no log line about Redis (${relay.tail(5)})`);
});
