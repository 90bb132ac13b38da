// Faults on the way from the event store to a PostgreSQL sink: a relay killed with SIGKILL, every
// broker connection closed by the broker, and a poison record. Counted like the Jepsen checker:
// lost (appended, never in the sink) must be 0; duplicates may reach the broker, never the table.
import pg from 'pg';
import t from 'tap';
import type { EventSink } from '../../infra/broker/event-sink.js';
import {
  appendEvents,
  closeBrokerConnections,
  killHard,
  queueDepth,
  spawnRunner,
  stopGently,
  testEvent,
  waitFor,
  publishRaw,
  withChannel,
  type Child,
} from '../support/broker.js';
import { brokerWorld } from '../support/broker-fixture.js';
import { deadEndpoint } from '../support/dead-endpoint.js';

const RELAY_SCRIPT = 'test/support/run-relay.ts';
const RELAY_BATCH = 1000; // the relay's default batch: at most one batch is unconfirmed at any time

t.test('relay killed with SIGKILL mid-stream: nothing lost, duplicates only for unconfirmed messages', async (t) => {
  const w = await brokerWorld(t, { label: 'fault_kill' });
  const sink = await w.sink();
  w.consumer(sink).start();
  // A second queue on the exchange sees what the relay published. A re-publish arrives as a new
  // message (redelivered = false); the broker's own redeliveries, e.g. after a parallel test closed
  // every connection, are flagged and not the relay's doing.
  const audit = `${w.prefix}.audit`;
  await withChannel(async (ch) => {
    await ch.assertQueue(audit, { durable: true });
    await ch.bindQueue(audit, w.topology.exchange, '#');
  });
  w.onCleanup(() => withChannel((ch) => ch.deleteQueue(audit)).then(() => undefined));
  const published = w.collector(audit);
  let relay: Child = spawnRunner(RELAY_SCRIPT, w.env);
  w.onCleanup(() => killHard(relay));
  await waitFor('the relay child to lead', async () => (await w.checkpoint()) !== null, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${relay.stderr()}`);
  });

  const writing = appendEvents(w.store, { total: 5000, streams: 50, perAppend: 5, streamPrefix: 'kill' });
  await waitFor('1000 events in the sink', async () => (await sink.count()) >= 1000, 30_000);
  await killHard(relay);
  const checkpointAtKill = (await w.checkpoint()) ?? 0n;
  const inSinkAtKill = await sink.count();
  t.ok(inSinkAtKill < 5000, `killed mid-stream (${inSinkAtKill} of 5000 in the sink)`);

  relay = spawnRunner(RELAY_SCRIPT, w.env);
  const ids = await writing;
  await waitFor('5000 events in the sink', async () => (await sink.count()) >= 5000, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${relay.stderr()}`);
  });
  await waitFor('queue drained', async () => (await queueDepth(w.topology.projectorQueue)) === 0, 10_000);
  await new Promise((r) => setTimeout(r, 300));

  const got = await sink.ids();
  t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
  t.equal(await sink.count(), 5000, 'each event once in the table');
  const seen = new Set<string>();
  const republished = published.firstDeliveries().filter((r) => seen.has(r.id) || !seen.add(r.id));
  t.ok(republished.length <= RELAY_BATCH, `re-published messages (${republished.length}) at most one unconfirmed batch`);
  t.ok(
    republished.every((r) => r.position > checkpointAtKill),
    'every re-published message lies beyond the checkpoint at the kill (it was unconfirmed)',
  );
  t.comment(`re-published at the broker: ${republished.length}; duplicates dropped by the sink: ${sink.duplicates}`);
  await stopGently(relay);
  t.equal(relay.proc.exitCode, 0, 'restarted relay stops cleanly on SIGTERM');
});

t.test('rabbitmqctl closes the relay\'s and consumer\'s connections mid-stream: they reconnect, nothing lost', async (t) => {
  const w = await brokerWorld(t, { label: 'fault_close' });
  const sink = await w.sink();
  const consumer = w.consumer(sink);
  consumer.start();
  const relay = w.relay('r');
  relay.start();

  const writing = appendEvents(w.store, { total: 2000, streams: 20, perAppend: 5, streamPrefix: 'close' });
  await waitFor('300 events in the sink', async () => (await sink.count()) >= 300, 20_000);
  t.ok(await closeBrokerConnections(`${w.prefix}:`) >= 2, 'the relay\'s and the consumer\'s connections closed at the broker');
  // More events while both are reconnecting.
  const ids = [...(await writing), ...(await appendEvents(w.store, { total: 500, streams: 5, perAppend: 5, streamPrefix: 'after' }))];
  await waitFor('the relay to reconnect', () => relay.status().connects >= 2, 20_000);
  await waitFor('the consumer to reconnect', () => consumer.status().connects >= 2, 20_000);
  await waitFor('2500 events in the sink', async () => (await sink.count()) >= 2500, 60_000);

  const got = await sink.ids();
  t.equal(ids.filter((id) => !got.has(id)).length, 0, 'lost = 0');
  t.equal(await sink.count(), 2500, 'each event once in the table');
  t.ok(relay.status().connects >= 2 && consumer.status().connects >= 2, 'relay and consumer reconnected by themselves');
  const head = await w.store.headPosition();
  await waitFor('checkpoint at head', async () => (await w.checkpoint()) === head, 10_000);
});

t.test('a poison record is parked with its error after the delivery limit; the events behind it complete', async (t) => {
  const deliveryLimit = 3;
  const w = await brokerWorld(t, { label: 'fault_poison', deliveryLimit });
  const sink = await w.sink();
  const consumer = w.consumer(sink, { batchSize: 50 });
  consumer.start();
  const relay = w.relay('r');
  relay.start();

  await appendEvents(w.store, { total: 20, streams: 2, perAppend: 10, streamPrefix: 'before' });
  // The sink's CHECK constraint refuses streams named poison…: a real database error on every attempt.
  const poison = testEvent('TestHappened', { n: -1 });
  await w.store.append('poison-1', [poison], 'no_stream');
  await appendEvents(w.store, { total: 20, streams: 2, perAppend: 10, streamPrefix: 'after' });
  // And a body that is not a record at all, published past the relay.
  await waitFor('the consumer', () => consumer.status().consuming, 10_000);
  await publishRaw(w.topology.exchange, 'Garbage', Buffer.from('not json {'), { messageId: 'garbage-1', persistent: true, mandatory: true });

  await waitFor('40 good events in the sink', async () => (await sink.count()) === 40, 20_000);
  await waitFor('2 parked', async () => (await sink.parked()).length === 2, 20_000);
  const parked = await sink.parked();
  const poisonRow = parked.find((p) => p.event_id === poison.id);
  t.ok(poisonRow, 'the poison record is parked');
  t.equal(poisonRow?.attempts, deliveryLimit, 'after exactly deliveryLimit attempts');
  t.match(poisonRow?.error ?? '', /check constraint/, 'with the database error text');
  const garbage = parked.find((p) => p.stream_id === '$invalid');
  t.ok(garbage, 'the invalid body is parked');
  t.equal(garbage?.attempts, 1, 'at once, without retries');
  t.match(garbage?.error ?? '', /not JSON/);
  t.equal(consumer.status().parked, 2);
  t.equal(consumer.status().requeued, deliveryLimit - 1, 'requeued until the last attempt');
  await waitFor('projector queue empty', async () => (await queueDepth(w.topology.projectorQueue)) === 0, 30_000);
  t.equal(await queueDepth(w.topology.deadLetterQueue), 0, 'parked by us, not dead-lettered by the broker');
});

t.test('when parking itself fails, the broker delivery limit dead-letters the record (backstop)', async (t) => {
  const deliveryLimit = 2;
  const w = await brokerWorld(t, { label: 'fault_backstop', deliveryLimit });
  const pgSink = await w.sink();
  const sink: EventSink = {
    applyBatch: (records) => pgSink.applyBatch(records),
    park: () => Promise.reject(new Error('dead-letter table is broken')),
  };
  w.consumer(sink).start();
  w.relay('r').start();
  await w.store.append('poison-2', [testEvent('TestHappened')], 'no_stream');
  await appendEvents(w.store, { total: 10, streams: 1, perAppend: 10, streamPrefix: 'fine' });
  await waitFor('the record in the dead-letter queue', async () => (await queueDepth(w.topology.deadLetterQueue)) === 1, 20_000);
  t.equal(await pgSink.count(), 10, 'the other events were applied');
  await waitFor('projector queue empty', async () => (await queueDepth(w.topology.projectorQueue)) === 0, 30_000);
});

t.test('a database outage holds batches without spending their delivery attempts', async (t) => {
  const deliveryLimit = 2;
  const w = await brokerWorld(t, { label: 'fault_outage', deliveryLimit });
  const pgSink = await w.sink();
  const deadPg = await deadEndpoint('reset');
  t.teardown(() => deadPg.close());
  let down = true;
  let refused = 0;
  const sink: EventSink = {
    async applyBatch(records) {
      if (down) {
        refused += 1;
        // A genuine connection failure: the server resets the connection as it is accepted.
        const client = new pg.Client({ host: '127.0.0.1', port: deadPg.port, connectionTimeoutMillis: 1000 });
        await client.connect();
        await client.end();
      }
      return pgSink.applyBatch(records);
    },
    park: (record, error, attempts) => pgSink.park(record, error, attempts),
  };
  const consumer = w.consumer(sink);
  consumer.start();
  w.relay('r').start();
  await appendEvents(w.store, { total: 50, streams: 5, perAppend: 10, streamPrefix: 'outage' });
  await waitFor('several refused attempts', () => refused >= 4, 15_000);
  down = false;
  await waitFor('50 events in the sink', async () => (await pgSink.count()) === 50, 15_000);
  t.equal(consumer.status().requeued, 0, 'nothing requeued (no delivery attempt spent)');
  t.equal((await pgSink.parked()).length, 0, 'nothing parked');
  t.equal(await queueDepth(w.topology.deadLetterQueue), 0, 'nothing dead-lettered');
});
