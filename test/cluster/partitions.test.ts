// PROJECTOR_PARTITIONS=4 on a RabbitMQ node of our own (the consistent-hash exchange plugin is not
// enabled on the shared one): two projectors share the four partition queues, two each; when one
// dies (its connection reset, as by a crash), the other takes its partitions within seconds; every
// event reaches the sink exactly once. `npm run test:cluster`.
import t from 'tap';
import { startProjectorConsumer, startRelay, type RunningConsumer } from '../../infra/broker/processes.js';
import { projectorQueues, topologyFor } from '../../infra/broker/topology.js';
import { loadConfig } from '../../infra/config.js';
import type { EventSink } from '../../infra/broker/event-sink.js';
import { testEvent, waitFor } from '../support/broker.js';
import { brokerWorld } from '../support/broker-fixture.js';
import { clusterQueueDepth, startRabbitCluster } from '../support/rabbit-cluster.js';
import { tcpProxy } from '../support/tcp-proxy.js';

const P = 4;

t.test('two projectors split four partitions; one dies, the other takes them over; each event once', async (t) => {
  const node = await startRabbitCluster({ size: 1 });
  t.teardown(() => node.stop());
  const url = node.urls[0]!;
  const proxy = await tcpProxy({ port: node.nodes[0]!.port });
  const w = await brokerWorld(t, { label: 'partitions', amqpUrl: url });
  w.onCleanup(() => proxy.close());
  const topology = topologyFor(w.prefix, 5, P);
  const pgSink = await w.sink();
  // Per stream, the revisions in the order their batches committed, to check each chat stays in order.
  const applied = new Map<string, number[]>();
  const sink: EventSink = {
    async applyBatch(records) {
      const result = await pgSink.applyBatch(records);
      for (const r of records) {
        const list = applied.get(r.streamId) ?? [];
        list.push(r.revision);
        applied.set(r.streamId, list);
      }
      return result;
    },
    park: (record, error, attempts) => pgSink.park(record, error, attempts),
  };
  const env = { ...w.env, LOG_LEVEL: 'silent', PROJECTOR_PARTITIONS: String(P), PROJECTOR_PREFETCH: '200', PROJECTOR_BATCH_SIZE: '100' };
  const relay = startRelay(loadConfig(env), w.store, w.logger);
  w.onCleanup(() => relay.stop());
  const a = startProjectorConsumer(loadConfig(env), sink, w.logger);
  w.onCleanup(() => a.stop());
  // B reaches the broker through a proxy: cutting it is what a crash of B looks like to the broker.
  const b: RunningConsumer = startProjectorConsumer(loadConfig({ ...env, AMQP_URL: proxy.via(url) }), sink, w.logger);
  let bStopped = false;
  w.onCleanup(async () => void (bStopped || (await b.stop())));

  // Steady traffic over 40 chats, one event per chat per round, until told to stop.
  const ids: string[] = [];
  let writing = true;
  let round = 0;
  const writer = (async () => {
    for (; writing; round++) {
      for (let c = 0; c < 40; c++) {
        const e = testEvent('TestHappened', { round });
        await w.store.append(`chat-${c}`, [e], round === 0 ? 'no_stream' : round - 1);
        ids.push(e.id);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  w.onCleanup(async () => {
    writing = false;
    await writer.catch(() => undefined);
  });
  const owners = (): { a: string[]; b: string[] } => ({ a: a.balancer!.active(), b: bStopped ? [] : b.balancer!.active() });

  await waitFor('each projector active on two partitions', () => {
    const o = owners();
    return o.a.length === 2 && o.b.length === 2 && o.a.every((q) => !o.b.includes(q));
  }, 60_000, 100);
  const split = owners();
  t.same([...split.a, ...split.b].sort(), projectorQueues(topology).sort(), `the partitions are split: A ${split.a.join(',')}; B ${split.b.join(',')}`);

  proxy.cut('reset');
  const killedAt = Date.now();
  await waitFor('A active on all four partitions', () => a.balancer!.active().length === P, 30_000, 50);
  const takeover = Date.now() - killedAt;
  t.ok(takeover < 10_000, `A took B's partitions over ${takeover} ms after B died`);
  bStopped = true;
  await b.stop();

  await new Promise((r) => setTimeout(r, 1000));
  writing = false;
  await writer;
  await waitFor(`all ${ids.length} events in the sink`, async () => (await pgSink.count()) >= ids.length, 60_000);
  for (const q of projectorQueues(topology)) {
    await waitFor(`${q} drained`, async () => (await clusterQueueDepth(node, q)) === 0, 30_000);
  }
  await new Promise((r) => setTimeout(r, 300));
  const got = await pgSink.ids();
  t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
  t.equal(await pgSink.count(), ids.length, 'each event once in the sink');
  // A redelivery repeats an older revision later; what counts is the first time each one arrived.
  const outOfOrder = [...applied].filter(([, revisions]) => {
    const seen = new Set<number>();
    const firsts = revisions.filter((r) => !seen.has(r) && !!seen.add(r));
    return firsts.some((r, i) => r !== i);
  });
  t.same(outOfOrder.map(([stream]) => stream), [], 'every chat applied in revision order, through the handovers and the takeover');
  t.comment(`events: ${ids.length}; takeover: ${takeover} ms; duplicates dropped by the sink: ${pgSink.duplicates}`);
});
