// AMQP_URL with several nodes, on the shared broker: two TCP proxies stand for two nodes of a cluster
// (the real three-node cluster is test/cluster/failover.test.ts). Cutting the node in use moves the
// relay and the projector to the other one, at once and without losing or repeating an event; a first
// node that is down from the start is skipped.
import t from 'tap';
import { BrokerConnection } from '../../infra/broker/connection.js';
import { appendEvents, TEST_AMQP_URL, waitFor } from '../support/broker.js';
import { brokerWorld, startRelayAndConsumer } from '../support/broker-fixture.js';
import { tcpProxy } from '../support/tcp-proxy.js';

const target = new URL(TEST_AMQP_URL);
const broker = { host: target.hostname, port: Number(target.port || 5672) };

t.test('the node in use goes away: relay and projector move to the next URL, nothing lost or applied twice', async (t) => {
  const first = await tcpProxy(broker);
  const second = await tcpProxy(broker);
  const w = await brokerWorld(t, { label: 'node_failover', amqpUrl: [first.via(TEST_AMQP_URL), second.via(TEST_AMQP_URL)] });
  w.onCleanup(() => first.close());
  w.onCleanup(() => second.close());
  const sink = await w.sink();
  const { relay, consumer } = startRelayAndConsumer(w, sink);

  await waitFor('both connected', () => relay.connection.connected && consumer.connection.connected, 20_000);
  t.equal(consumer.connection.node, `127.0.0.1:${first.port}`, 'the first URL is used first');
  const writing = appendEvents(w.store, { total: 3000, streams: 30, perAppend: 5, streamPrefix: 'nodes' });
  await waitFor('300 events in the sink', async () => (await sink.count()) >= 300, 30_000);
  const generations = [relay.connection.generation, consumer.connection.generation] as const;
  first.cut('reset'); // and it stays down
  const cutAt = Date.now();
  // After the cut, on the second node: a reconnect before it (on the first) does not count.
  const moved = (c: typeof relay.connection, before: number): boolean => c.generation > before && c.connected && c.node === `127.0.0.1:${second.port}`;
  await waitFor('both reconnected to the second node', () => moved(relay.connection, generations[0]) && moved(consumer.connection, generations[1]), 20_000);
  const switched = Date.now() - cutAt;
  t.equal(relay.connection.node, `127.0.0.1:${second.port}`, 'the relay moved to the second URL');
  t.equal(consumer.connection.node, `127.0.0.1:${second.port}`, 'the projector moved to the second URL');
  t.ok(switched < 5_000, `reconnected to the next node ${switched} ms after the cut`);

  const ids = await writing;
  await waitFor('3000 events in the sink', async () => (await sink.count()) >= 3000, 60_000);
  await new Promise((r) => setTimeout(r, 300));
  const got = await sink.ids();
  t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
  t.equal(await sink.count(), 3000, 'each event once in the sink');
});

t.test('a first node down from the start is skipped without a backoff', async (t) => {
  const down = await tcpProxy(broker);
  down.cut('reset');
  const up = await tcpProxy(broker);
  const w = await brokerWorld(t, { label: 'node_skip' });
  t.teardown(() => down.close());
  t.teardown(() => up.close());
  const started = Date.now();
  const conn = BrokerConnection.start({ url: [down.via(TEST_AMQP_URL), up.via(TEST_AMQP_URL)], topology: w.topology, logger: w.logger, name: 'skip-test' });
  t.teardown(() => conn.close());
  await conn.ready();
  t.equal(conn.node, `127.0.0.1:${up.port}`, 'connected to the second URL');
  t.ok(down.refused >= 1, 'the first was tried');
  t.comment(`connected after ${Date.now() - started} ms`);
});
