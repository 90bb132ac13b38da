// Catching up after a broker outage. The relay and the consumer run with the production wiring and
// defaults (startRelay / startProjectorConsumer) and reach RabbitMQ through a TCP proxy, which the test
// cuts while a backlog builds up in the log; the shared broker itself keeps running. How long the
// drain takes is printed, not asserted (a loaded machine can exceed any figure): bench/recovery
// measures it; this test checks that recovery needs nobody, loses nothing and applies nothing twice.
import t from 'tap';
import { appendEvents, queueDepth, TEST_AMQP_URL, waitFor } from '../support/broker.js';
import { brokerWorld, startRelayAndConsumer } from '../support/broker-fixture.js';
import { tcpProxy } from '../support/tcp-proxy.js';

const BACKLOG = 5000;

for (const mode of ['reset', 'silent'] as const) {
  t.test(`broker unreachable (${mode}) while a backlog builds: both reconnect by themselves and drain it, nothing lost`, async (t) => {
    const target = new URL(TEST_AMQP_URL);
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5672) });
    const w = await brokerWorld(t, { label: `recovery_${mode}`, amqpUrl: proxy.via(TEST_AMQP_URL) });
    w.onCleanup(() => proxy.close()); // cleanups run last-registered first: after both stopped
    const sink = await w.sink();
    const { relay, consumer } = startRelayAndConsumer(w, sink);

    const ids = await appendEvents(w.store, { total: 100, streams: 10, perAppend: 10, streamPrefix: 'before' });
    await waitFor('the first 100 events in the sink', async () => (await sink.count()) >= 100, 30_000);

    proxy.cut(mode);
    await waitFor('both connections lost', () => !relay.connection.connected && !consumer.connection.connected, 10_000);
    ids.push(...(await appendEvents(w.store, { total: BACKLOG, streams: 50, perAppend: 10, streamPrefix: 'during' })));
    if (mode === 'reset') {
      // Several refused attempts: the reconnect backoff has grown as far as an outage lets it.
      const before = proxy.refused;
      await waitFor('reconnect attempts while cut', () => proxy.refused >= before + 6, 20_000);
    } else {
      // Hanging connects: each attempt runs into the connect timeout, released when the path returns.
      await waitFor('a hanging connect attempt', () => proxy.refused >= 1, 20_000);
    }
    t.equal(await sink.count(), 100, 'nothing reached the sink while the broker was unreachable');

    proxy.restore();
    const restoredAt = Date.now();
    await waitFor(`all ${ids.length} events in the sink`, async () => (await sink.count()) >= ids.length, 120_000);
    t.comment(`${mode}: backlog of ${BACKLOG} drained ${Date.now() - restoredAt} ms after the path was restored`);

    const got = await sink.ids();
    t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
    t.equal(await sink.count(), ids.length, 'each event once in the table');
    t.ok(relay.relay.status().connects >= 2, 'the relay reconnected by itself');
    t.ok(consumer.consumer.status().connects >= 2, 'the consumer reconnected by itself');
    const head = await w.store.headPosition();
    await waitFor('checkpoint at head', async () => (await w.checkpoint()) === head, 10_000);
    await waitFor('projector queue empty', async () => (await queueDepth(w.topology.projectorQueue)) === 0, 10_000);
    t.equal(await queueDepth(w.topology.deadLetterQueue), 0, 'nothing dead-lettered');
    t.equal((await sink.parked()).length, 0, 'nothing parked');
  });
}
