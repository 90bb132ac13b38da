// On RabbitMQ 3.x every lost connection raises x-delivery-count of each message unacked at that
// moment, so enough losses push good records past x-delivery-limit and the broker dead-letters them
// to <prefix>.projector.dead. The projector also consumes that queue: such records must still reach
// the sink, each exactly once, and only a record that really fails is parked.
import t from 'tap';
import type { EventSink } from '../../infra/broker/event-sink.js';
import { appendEvents, queueDepth, TEST_AMQP_URL, testEvent, waitFor, withChannel } from '../support/broker.js';
import { brokerWorld, startRelayAndConsumer } from '../support/broker-fixture.js';
import { tcpProxy } from '../support/tcp-proxy.js';

const TOTAL = 3000;
const CUTS = 6;

t.test('connection losses push records past the delivery limit: the dead-letter queue is replayed, each event once', async (t) => {
  const target = new URL(TEST_AMQP_URL);
  const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5672) });
  // Limit 2: the second loss that catches a message unacked dead-letters it.
  const w = await brokerWorld(t, { label: 'dlq_replay', deliveryLimit: 2, amqpUrl: proxy.via(TEST_AMQP_URL) });
  w.onCleanup(() => proxy.close());
  const pgSink = await w.sink();
  // A slow sink keeps the whole prefetch window unacked, as in a catch-up, so each cut catches many.
  const sink: EventSink = {
    async applyBatch(records) {
      await new Promise((r) => setTimeout(r, 150));
      return pgSink.applyBatch(records);
    },
    park: (record, error, attempts) => pgSink.park(record, error, attempts),
  };
  const { relay, consumer } = startRelayAndConsumer(w, sink, { PROJECTOR_PREFETCH: '400', PROJECTOR_BATCH_SIZE: '50' });

  const ids = await appendEvents(w.store, { total: TOTAL, streams: 30, perAppend: 10, streamPrefix: 'dlq' });
  // A record that fails in the application, dead-lettered like the others: parked, not retried forever.
  const poison = testEvent('TestHappened', { n: -1 });
  await w.store.append('poison-dlq', [poison], 'no_stream');

  for (let cut = 0; cut < CUTS; cut++) {
    const before = await pgSink.count();
    await waitFor(`the consumer past ${before} (cut ${cut + 1})`, async () => consumer.consumer.status().consuming && (await pgSink.count()) > before, 30_000);
    proxy.cut('reset');
    await waitFor('the consumer disconnected', () => !consumer.connection.connected, 10_000);
    proxy.restore();
  }

  await waitFor(`all ${TOTAL} events in the sink`, async () => (await pgSink.count()) >= TOTAL, 120_000);
  await waitFor('the poison record parked', async () => (await pgSink.parked()).length >= 1, 30_000);
  await waitFor('projector queue empty', async () => (await queueDepth(w.topology.projectorQueue)) === 0, 30_000);
  await waitFor('dead-letter queue empty', async () => (await queueDepth(w.topology.deadLetterQueue)) === 0, 30_000);

  const replayed = consumer.deadLetters.status();
  t.ok(replayed.applied > 0, `the broker dead-lettered good records, and they were replayed (${replayed.applied})`);
  const got = await pgSink.ids();
  t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
  t.equal(await pgSink.count(), TOTAL, 'each event once in the sink');
  const parked = await pgSink.parked();
  t.same(parked.map((p) => p.event_id), [poison.id], 'only the failing record is parked');
  t.comment(`cuts: ${CUTS}; replayed from the dead-letter queue: ${replayed.applied}; duplicates dropped by the sink: ${pgSink.duplicates}`);
});

t.test('a classic dead-letter queue an older release declared is kept, not redeclared (no 406)', async (t) => {
  const w = await brokerWorld(t, { label: 'dlq_classic' });
  await withChannel(async (ch) => {
    await ch.assertQueue(w.topology.deadLetterQueue, { durable: true });
  });
  const conn = w.connect('classic-dlq');
  // A 406 shows as lastError while the connection retries for ever; either outcome ends the wait.
  await waitFor('the topology declared, or refused', () => conn.connected || /406|PRECONDITION/.test(conn.lastError ?? ''), 120_000);
  t.ok(conn.connected, 'the topology is declared around the existing classic queue');
  t.equal(conn.lastError, null, 'without an error');
});
