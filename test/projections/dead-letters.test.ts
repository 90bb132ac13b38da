// Poison records: applyBatch reports them while the rest of the batch commits; park() keeps them as
// dead letters and makes a redelivery a no-op; retry re-applies them once fixed; the store feed parks
// after its attempts; a rebuild leaves parked events parked and stops on an unparked one.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { chatStreamId } from '../../domain/events.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { emOf, sqlOf } from '../../infra/read-models/orm.js';
import { listDeadLetters } from '../../infra/read-models/queries/dead-letters.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { chatsProjection } from '../../projections/chats.js';
import type { SqlProjection } from '../../projections/projection.js';
import { RebuildError, rebuildProjection } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { dumpAll, embeddedStoreAndReadModels, historyRecords, pgReadModels, readAllRecords, silentLogger, writeHistory } from './support.js';

/** A MessageSent whose body is a number: chats and messages cannot apply it, the activity log can. */
/** `records` must have positions spaced by 10, so that +5 falls between two of them. */
function poisonAfter(records: PublicRecord[], index: number): PublicRecord {
  const model = records.filter((r) => r.type === 'MessageSent')[0]!;
  const before = records[index]!;
  return {
    ...model, id: randomUUID(), revision: 99, position: (BigInt(before.position) + 5n).toString(),
    data: { ...model.data, messageId: randomUUID(), clientMessageId: 'poison', body: 42 },
  };
}

t.test('postgresql: a poison record is reported, parked, skipped on redelivery and retried after a fix', async (t) => {
  const rm = await pgReadModels('dl');
  t.teardown(() => rm.close());
  // Positions scaled by 10 so the poison can sit between two real events.
  const records = (await historyRecords()).map((r) => ({ ...r, position: (BigInt(r.position) * 10n).toString() }));
  const poison = poisonAfter(records, 20);
  const batch = [...records.slice(0, 21), poison, ...records.slice(21)];
  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });

  const result = await projector.applyBatch(batch);
  t.equal(result.failed.length, 1, 'one failure');
  t.equal(result.failed[0]!.record.id, poison.id);
  t.same(result.failed[0]!.projections.sort(), ['chats', 'messages']);
  t.match(String(result.failed[0]!.error), /data\.body must be a string/);
  t.equal(result.applied, records.length, 'every good record applied (the poison counts as failed, not applied)');

  const dump = await dumpAll(rm.orm);
  t.equal(dump['messages']!.length, records.filter((r) => r.type === 'MessageSent').length, 'good messages committed');
  t.ok(dump['activity_log']!.some((a) => a.includes(poison.id)), 'the activity log took the poison record');
  const cp = await projector.checkpoints();
  t.same([...cp.values()].map((c) => c.position), SQL_PROJECTIONS.map(() => BigInt(records.at(-1)!.position)), 'checkpoints advanced past it');

  await projector.park(poison, result.failed[0]!.error, 5);
  await projector.park(poison, result.failed[0]!.error, 5);
  const letters = await listDeadLetters(rm.orm);
  t.same(letters.map((l) => [l.projection, l.eventId, l.attempts, l.type]).sort(), [
    ['chats', poison.id, 5, 'MessageSent'],
    ['messages', poison.id, 5, 'MessageSent'],
  ], 'one dead letter per failing projection, idempotent');
  t.match(letters[0]!.error, /data\.body must be a string/);

  const redelivered = await projector.applyBatch([poison]);
  t.same({ ...redelivered, failed: redelivered.failed.length }, { applied: 0, duplicates: 1, ignored: 0, parked: 0, failed: 0 }, 'a redelivery is skipped');

  const notFixed = await projector.retryDeadLetters();
  t.same([notFixed.retried, notFixed.failed.length], [0, 2], 'still failing without a fix');
  t.same((await listDeadLetters(rm.orm)).map((l) => l.attempts), [6, 6], 'attempts counted');

  // The fix: a projection that accepts a numeric body (as a code fix would), for chats only ...
  const fixedChats: SqlProjection = {
    ...chatsProjection,
    apply: (tx, events) =>
      chatsProjection.apply(tx, events.map((e) => ({ ...e, event: { ...e.event, data: { ...e.event.data, body: String((e.event.data as { body: unknown }).body) } } as typeof e.event }))),
  };
  const fixedProjector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS.map((p) => (p.name === 'chats' ? fixedChats : p)), logger: silentLogger });
  const chatsOnly = await fixedProjector.retryDeadLetters({ projection: 'chats' });
  t.same([chatsOnly.retried, chatsOnly.failed.length], [1, 0]);
  // ... and, for messages, the event read again in a corrected form (as a fixed upcaster would give).
  const reloaded = await projector.retryDeadLetters({ reload: async (r) => ({ ...r, data: { ...r.data, body: '42' } }) });
  t.same([reloaded.retried, reloaded.failed.length], [1, 0]);
  t.same(await listDeadLetters(rm.orm), [], 'nothing left to retry');
  t.equal((await listDeadLetters(rm.orm, { includeRetried: true })).filter((l) => l.retriedAt !== null).length, 2, 'marked retried');
  const after = await dumpAll(rm.orm, ['messages']);
  t.ok(after['messages']!.some((m) => m.includes('"body":"42"')), 'the retried message is in the read model');
  t.equal((await projector.applyBatch([poison])).duplicates, 1, 'and a redelivery is still skipped');

  // A body that is not a record at all (parked by the consumer): kept under '*'.
  const invalid: PublicRecord = { id: randomUUID(), streamId: '$invalid', revision: 0, position: '0', type: '$invalid', version: 0, data: { body: '{' }, createdAt: new Date().toISOString() };
  await projector.park(invalid, new Error('body is not JSON'), 1);
  t.match(await listDeadLetters(rm.orm), [{ projection: '*', eventId: invalid.id, type: '$invalid' }]);
  const stillUnknown = await projector.retryDeadLetters({ projection: '*' });
  t.match(stillUnknown.failed, [{ error: /no projection here handles \$invalid/ }]);
});

t.test('sqlite + embedded store: the feed parks after its attempts; rebuilds keep parked events parked, stop on others', async (t) => {
  const { store, rm } = await embeddedStoreAndReadModels(t);
  const { chats } = await writeHistory(store);
  const model = (await store.readStream(chatStreamId(chats[0]!))).find((e) => e.type === 'MessageSent')!;
  const poisonId = randomUUID();
  await store.append(chatStreamId(chats[0]!), [{ id: poisonId, type: 'MessageSent', data: { ...(model.data as object), messageId: randomUUID(), body: 42 }, metadata: { schemaVersion: 2 } }], 'any');
  await writeHistory(store, 'z');

  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const feed = createStoreFeed({ store, projector, logger: silentLogger, batchSize: 50, maxAttempts: 3, retryMinMs: 5, retryMaxMs: 20 });
  await feed.start();
  await feed.waitFor(await store.headPosition());
  await feed.stop();
  t.match(feed.status(), { parked: 1, state: 'stopped' });
  t.same((await listDeadLetters(rm.orm)).map((l) => [l.projection, l.eventId, l.attempts]).sort(), [['chats', poisonId, 3], ['messages', poisonId, 3]]);
  const status = await projectionStatus({ db: rm.orm.db, store, projections: SQL_PROJECTIONS });
  // Every registered projection (a team's new one too), in order; the poison event parked in two of them.
  t.same(status.map((s) => [s.projection, s.verdict, s.deadLetters]), SQL_PROJECTIONS.map((p) => [p.name, 'ok', ['chats', 'messages'].includes(p.name) ? 1 : 0]));

  const live = await dumpAll(rm.orm);
  const r = await rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'messages', logger: silentLogger, batchSize: 16 });
  t.equal(r.skippedParked, 1, 'the parked event stays parked');
  const rebuilt = await dumpAll(rm.orm);
  t.same(rebuilt['messages'], live['messages']);
  const poison = (await readAllRecords(store)).find((x) => x.id === poisonId)!;
  t.same((await projector.applyBatch([poison])).duplicates, 1, 'a redelivery of the parked event is still skipped');
  t.same((await listDeadLetters(rm.orm)).length, 2, 'and it stays parked');

  await emOf(rm.orm).execute(`DELETE FROM ${sqlOf(rm.orm).table('dead_letters')} WHERE projection = 'chats'`, [], 'run');
  await t.rejects(
    rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'chats', logger: silentLogger, batchSize: 16 }),
    RebuildError,
  );
  const tables = (await emOf(rm.orm).execute(`SELECT name FROM sqlite_master WHERE name LIKE '%__rb_%'`, [], 'all')) as unknown[];
  t.same(tables, [], 'a failed rebuild leaves no scratch tables');
  t.same((await dumpAll(rm.orm))['chats'], live['chats'], 'and the live tables untouched');
});
