// A three-node RabbitMQ cluster of our own (test/support/rabbit-cluster.ts), quorum queues replicated
// on all three, the relay and the projector consumer given every node's URL (AMQP_URL, comma-separated).
// The node both are connected to, which also leads the queues (it declared them), is killed with
// kill -9 while events flow: both fail over to another node, and the sink ends up with every event
// exactly once. Slow (the cluster boots in ~20-40 s): `npm run test:cluster`.
import t from 'tap';
import { startProjectorConsumer, startRelay } from '../../infra/broker/processes.js';
import { loadConfig } from '../../infra/config.js';
import { appendEvents, waitFor } from '../support/broker.js';
import { brokerWorld } from '../support/broker-fixture.js';
import { clusterQueueDepth, startRabbitCluster } from '../support/rabbit-cluster.js';

const TOTAL = 6000;

t.test('kill -9 of the node the relay and the projector use, under load: they fail over, nothing lost or applied twice', async (t) => {
  const started = Date.now();
  const cluster = await startRabbitCluster({ size: 3 });
  t.teardown(() => cluster.stop());
  t.comment(`cluster of 3 up in ${Date.now() - started} ms`);

  const w = await brokerWorld(t, { label: 'cluster_failover', amqpUrl: cluster.urls });
  const sink = await w.sink();
  const config = loadConfig({ ...w.env, LOG_LEVEL: 'silent' });
  t.same(config.amqpUrls, cluster.urls, 'AMQP_URL lists the three nodes');
  const relay = startRelay(config, w.store, w.logger);
  const consumer = startProjectorConsumer(config, sink, w.logger);
  w.onCleanup(() => relay.stop());
  w.onCleanup(() => consumer.stop());

  const first = cluster.nodes[0]!;
  await waitFor('both connected', () => relay.connection.connected && consumer.connection.connected, 30_000);
  t.equal(relay.connection.node, `127.0.0.1:${first.port}`, 'the relay starts on the first node');
  t.equal(consumer.connection.node, `127.0.0.1:${first.port}`, 'the projector starts on the first node');
  const members = await cluster.ctl(first, ['list_queues', 'name', 'type', 'members', '--no-table-headers', '--quiet']);
  const line = members.split('\n').find((l) => l.startsWith(`${w.topology.projectorQueue}\t`)) ?? '';
  t.match(line, /quorum/, 'the projector queue is a quorum queue');
  t.ok(cluster.nodes.every((n) => line.includes(n.name)), `replicated on all three nodes (${line.trim()})`);

  const writing = appendEvents(w.store, { total: TOTAL, streams: 60, perAppend: 5, streamPrefix: 'failover' });
  await waitFor('1000 events in the sink', async () => (await sink.count()) >= 1000, 60_000);
  await cluster.kill(first);
  const killedAt = Date.now();
  const inSinkAtKill = await sink.count();
  const ids = await writing;
  t.ok(inSinkAtKill < TOTAL, `killed under load (${inSinkAtKill} of ${TOTAL} in the sink)`);

  await waitFor('the relay on another node', () => relay.connection.connected && relay.relay.status().connects >= 2, 60_000);
  await waitFor('the projector on another node', () => consumer.connection.connected && consumer.consumer.status().connects >= 2, 60_000);
  t.not(relay.connection.node, `127.0.0.1:${first.port}`, `the relay failed over (${relay.connection.node})`);
  t.not(consumer.connection.node, `127.0.0.1:${first.port}`, `the projector failed over (${consumer.connection.node})`);
  await waitFor(`all ${TOTAL} events in the sink`, async () => (await sink.count()) >= TOTAL, 120_000);
  t.comment(`all events in the sink ${Date.now() - killedAt} ms after the kill`);
  await waitFor('projector queue empty', async () => (await clusterQueueDepth(cluster, w.topology.projectorQueue)) === 0, 30_000);
  await new Promise((r) => setTimeout(r, 300)); // a late duplicate would land now

  const got = await sink.ids();
  t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
  t.equal(await sink.count(), TOTAL, 'each event once in the sink');
  t.equal((await sink.parked()).length, 0, 'nothing parked');
  const head = await w.store.headPosition();
  await waitFor('relay checkpoint at head', async () => (await w.checkpoint()) === head, 30_000);
  t.comment(`duplicates delivered and dropped by the sink's inbox: ${sink.duplicates}`);
});
