// A gateway past its capacity refuses sends at once (SERVICE_UNAVAILABLE) instead of queueing them:
// WS_MAX_PROCESS_INFLIGHT_SENDS bounds the sends of the whole process awaiting their result.
import pg from 'pg';
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { connect, openChatFixture, sleep } from './support.js';

t.test('sends past the process-wide in-flight limit are refused at once; nothing of them is appended', async (t) => {
  const { fx, alice, chatId: busy } = await openChatFixture(t);
  const carol = await fx.user('carol');
  const other = await fx.chat(alice, carol);
  const gateway = await fx.startGateway({ maxProcessInFlightSends: 2 });
  const a = await connect(fx.url(), { token: alice.token });
  await a.resume({});

  // Hold the busy chat's streams row, so that its appends wait (kept short: a row lock holds an xid).
  const locker = new pg.Client({ connectionString: fx.ts.url });
  await locker.connect();
  t.teardown(() => locker.end());
  await locker.query('BEGIN');
  await locker.query(`SELECT 1 FROM "${fx.ts.schema}".streams WHERE stream_id = $1 FOR UPDATE`, [chatStreamId(busy)]);
  const held = [a.send(busy, 'one', 'held-1'), a.send(busy, 'two', 'held-2')];
  for (let i = 0; i < 100 && gateway.stats().sendsInFlight < 2; i++) await sleep(5);
  t.equal(gateway.stats().sendsInFlight, 2, 'two sends wait for the store');

  const started = Date.now();
  const refused = await a.send(other, 'three', 'shed-1');
  t.match(refused, { type: 'error', code: 'SERVICE_UNAVAILABLE', message: /at capacity/ }, 'the third is refused');
  t.ok(Date.now() - started < 5_000, 'at once, not after the others (they wait on a lock held until after this)');
  await locker.query('COMMIT');

  const acks = await Promise.all(held);
  t.same(acks.map((f) => f.type), ['ack', 'ack'], 'the held sends go through once the store answers');
  const again = await a.send(other, 'three', 'shed-1');
  t.match(again, { type: 'ack', duplicate: false, revision: 1 }, 'sent again later, it is accepted as new: nothing of it was appended before');
  t.match(gateway.stats(), { sendsShed: 1, sendsInFlight: 0 });
});
