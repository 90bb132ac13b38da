// A rolling upgrade, readers before writers: an old projector (this release's upcasters, which read
// MessageSent up to v2) meets a MessageSent v9 and an event type it has never heard of, both written
// by a newer release. It parks them instead of guessing, each projection continues or stops per its
// onUnknown policy, and inbox compaction is not held back. Then a "new" projector, whose reader knows
// v9, retries them at start: the stopped projection catches up from the log and every read model
// equals an in-order apply of the whole log by the new release.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { chatStreamId } from '../../domain/events.js';
import type { PublicEvent } from '../../domain/public-event.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { listDeadLetters } from '../../infra/read-models/queries/dead-letters.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { tablesOf } from '../../projections/runtime/apply.js';
import { CURRENT_READER, type EventReader } from '../../projections/runtime/event-reader.js';
import { compactInbox } from '../../projections/runtime/inbox-compaction.js';
import { rebuildProjection } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import {
  dumpAll, embeddedStoreAndReadModels, pgReadModels, readAllRecords, silentLogger, sqliteReadModels, writeHistory, type TestReadModels,
} from './support.js';

// Derived from the projections, so a projection added later is covered too.
const MODEL_TABLES = SQL_PROJECTIONS.flatMap(tablesOf);
const onMessages = SQL_PROJECTIONS.filter((p) => (p.handles as ReadonlyArray<string>).includes('MessageSent'));
const stopping = onMessages.filter((p) => p.onUnknown === 'park-and-stop');
const continuing = onMessages.filter((p) => p.onUnknown === 'park-and-continue');
const STOPPED_TABLES = stopping.flatMap(tablesOf);

/** The newer release's reader: MessageSent v9 added a `format` field; everything else as today. */
const NEW_READER: EventReader = {
  upcast(type, version, data) {
    if (type === 'MessageSent' && version === 9) {
      const { format: _format, ...v2 } = data;
      return CURRENT_READER.upcast(type, 2, v2);
    }
    return CURRENT_READER.upcast(type, version, data);
  },
  knowsType: CURRENT_READER.knowsType,
  newestVersion: (type) => (type === 'MessageSent' ? 9 : CURRENT_READER.newestVersion?.(type)),
};

async function rollingUpgrade(t: Test, open: () => Promise<TestReadModels>): Promise<void> {
  const { store, rm } = await embeddedStoreAndReadModels(t, open);
  const { chats } = await writeHistory(store);
  const model = (await store.readStream(chatStreamId(chats[0]!))).find((e) => e.type === 'MessageSent')!;
  const v9Id = randomUUID();
  const futureId = randomUUID();
  await store.append(chatStreamId(chats[0]!), [
    {
      id: v9Id, type: 'MessageSent', metadata: { schemaVersion: 9 },
      data: { ...(model.data as object), messageId: randomUUID(), clientMessageId: 'v9', body: 'written by v9', format: 'markdown' },
    },
    { id: futureId, type: 'MessageReactedTo', metadata: { schemaVersion: 1 }, data: { chatId: chats[0], emoji: 'ok' } },
  ], 'any');
  await writeHistory(store, 'z'); // the log goes on after them
  const records = await readAllRecords(store);
  const v9 = records.find((r) => r.id === v9Id)!;
  const future = records.find((r) => r.id === futureId)!;
  t.equal(v9.version, 9, 'the record says which version wrote it');

  // --- the old release ---
  const old = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger, store });
  let parked = 0;
  for (let i = 0; i < records.length; i += 7) {
    const r = await old.applyBatch(records.slice(i, i + 7));
    t.same(r.failed, [], 'nothing fails');
    parked += r.parked;
  }
  t.equal(parked, 2, 'both unreadable records parked');

  const messages = (await dumpAll(rm.orm, ['messages']))['messages']!;
  t.notOk(messages.some((m) => m.includes('written by v9')), 'the v9 message is not applied as a v2 one');
  t.equal(messages.length, records.filter((r) => r.type === 'MessageSent').length - 1, 'every other message is (park-and-continue)');

  const letters = await listDeadLetters(rm.orm);
  t.ok(stopping.some((p) => p.name === 'messages-per-user-per-day') && continuing.some((p) => p.name === 'messages'), 'both policies are exercised');
  t.same(
    letters.map((l) => [l.projection, l.eventId, l.reason, l.version]).sort(),
    [['*', futureId, 'unknown-type', 1], ...onMessages.map((p) => [p.name, v9Id, 'unknown-version', 9])].sort(),
    'one dead letter per projection handling MessageSent, one under * for the unknown type',
  );
  t.match(letters.find((l) => l.projection === 'messages')!.error, /^unknown-version: MessageSent v9 is not a version this release reads \(it reads up to v2\)/);

  // park-and-stop: messages-per-user-per-day holds a complete prefix of the log, the prefix before v9.
  const prefix = await open();
  t.teardown(() => prefix.close());
  await createSqlProjector({ db: prefix.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).applyBatch(
    records.filter((r) => BigInt(r.position) < BigInt(v9.position)),
  );
  t.same(await dumpAll(rm.orm, STOPPED_TABLES), await dumpAll(prefix.orm, STOPPED_TABLES), 'the stopped projections equal the log up to where they stopped');

  const status = await projectionStatus({ db: rm.orm.db, store, projections: SQL_PROJECTIONS });
  const byName = new Map(status.map((s) => [s.projection, s]));
  for (const p of stopping) t.match(byName.get(p.name), { stoppedAt: { position: v9.position, eventId: v9Id, reason: 'unknown-version' }, unknownEvents: 1, checkpoint: v9.position });
  t.match(byName.get('messages'), { stoppedAt: null, unknownEvents: 1, verdict: 'ok', checkpoint: records.at(-1)!.position });
  t.match(byName.get('users'), { stoppedAt: null, unknownEvents: 0, verdict: 'ok' });

  // Compaction goes past the parked events; only the stopped projection waits, at what it holds back.
  const compacted = await compactInbox({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, pageSize: 9 });
  for (const c of compacted) {
    if (stopping.some((p) => p.name === c.projection)) {
      const firstHeld = records.find((r) => r.type === 'MessageSent' && BigInt(r.position) > BigInt(v9.position))!;
      t.same(c.stoppedAt, { position: firstHeld.position, reason: 'not-applied' }, 'the stopped projection: at the first event it holds back');
    } else {
      t.same({ floor: c.floor, stoppedAt: c.stoppedAt }, { floor: records.at(-1)!.position, stoppedAt: null }, `${c.projection}: compacted past the parked events`);
    }
  }

  // A redelivery parks nothing twice and applies nothing; retrying with the old release changes nothing.
  const again = await old.applyBatch(records);
  t.match(again, { applied: 0, parked: 2, failed: [] });
  const stillOld = await old.retryUnknown();
  t.same([stillOld.retried, stillOld.failed.length], [0, onMessages.length + 1], 'the old release still cannot read them');
  t.equal((await listDeadLetters(rm.orm)).length, onMessages.length + 1);

  // A rebuild by the old release: a park-and-continue projection keeps the event parked (below its new
  // floor, where the retry still applies it); a park-and-stop one refuses, it needs a release that reads it.
  const rebuilt = await rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'messages', logger: silentLogger, batchSize: 16 });
  t.equal(rebuilt.parkedUnknown, 1, 'messages: rebuilt around the parked event');
  t.same((await dumpAll(rm.orm, ['messages']))['messages'], messages, 'the same rows as live');
  await t.rejects(
    rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'messages-per-user-per-day', logger: silentLogger, batchSize: 16 }),
    { name: 'RebuildError', message: /unknown-version: MessageSent v9.*park-and-stop/ },
  );
  t.same(await dumpAll(rm.orm, STOPPED_TABLES), await dumpAll(prefix.orm, STOPPED_TABLES), 'and the stopped projections are untouched');

  // --- the new release starts ---
  // First without the log to catch up from (as if it crashed part way): the stop is not lifted.
  const blind = await createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger, reader: NEW_READER }).retryUnknown();
  t.equal(blind.retried, continuing.length, 'the park-and-continue projections take the v9 message');
  t.same(blind.failed.map((f) => f.projection).sort(), ['*', ...stopping.map((p) => p.name)].sort());
  const blindStatus = await projectionStatus({ db: rm.orm.db, store, projections: SQL_PROJECTIONS });
  for (const p of stopping) t.match(blindStatus.find((x) => x.projection === p.name), { stoppedAt: { eventId: v9Id } }, `${p.name} stays stopped until it can catch up`);

  const upgraded = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger, store, reader: NEW_READER });
  const retried = await upgraded.retryUnknown();
  t.equal(retried.retried, stopping.length, 'then the stopped projections apply it and catch up');
  t.match(retried.failed, [{ projection: '*', eventId: futureId, error: /^unknown-type: MessageReactedTo/ }], 'the unknown type stays parked');
  t.same((await listDeadLetters(rm.orm)).map((l) => [l.projection, l.reason]), [['*', 'unknown-type']]);

  const fresh = await open();
  t.teardown(() => fresh.close());
  await createSqlProjector({ db: fresh.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger, reader: NEW_READER }).applyBatch(records);
  const expected = await dumpAll(fresh.orm, MODEL_TABLES);
  t.ok(expected['messages']!.some((m) => m.includes('written by v9')), 'the new release reads v9');
  t.same(await dumpAll(rm.orm, MODEL_TABLES), expected, 'read models equal an in-order apply of the log by the new release');

  const after = await projectionStatus({ db: rm.orm.db, store, projections: SQL_PROJECTIONS });
  t.ok(after.every((s) => s.stoppedAt === null && s.unknownEvents === 0 && s.verdict === 'ok'), 'nothing stopped, nothing behind');
  for (const c of await compactInbox({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, pageSize: 9, reader: NEW_READER })) {
    t.same({ floor: c.floor, stoppedAt: c.stoppedAt }, { floor: records.at(-1)!.position, stoppedAt: null }, `${c.projection}: compacted to the end`);
  }
  t.match(await upgraded.applyBatch(records), { applied: 0, failed: [] }, 'a full redelivery applies nothing');
  t.same(await dumpAll(rm.orm, MODEL_TABLES), expected, 'still equal');
}

t.test('SQLite read models', (t) => rollingUpgrade(t, sqliteReadModels));
t.test('PostgreSQL read models', (t) => rollingUpgrade(t, () => pgReadModels('unknown')));

t.test('the reader: unknown type, unknown version, known', async (t) => {
  const base: PublicRecord = { id: randomUUID(), streamId: 'chat-x', revision: 1, position: '1', type: 'MessageSent', version: 2, data: {}, createdAt: new Date().toISOString() };
  const { readRecord } = await import('../../projections/runtime/event-reader.js');
  t.match(readRecord({ ...base, type: 'Nope' }, CURRENT_READER), { event: null, unknown: { reason: 'unknown-type' } });
  t.match(readRecord({ ...base, version: 3 }, CURRENT_READER), { event: null, unknown: { reason: 'unknown-version' } });
  t.match(readRecord({ ...base, version: 1, data: { messageId: 'm' } }, CURRENT_READER), { event: { version: 2, data: { clientMessageId: 'm' } } as Partial<PublicEvent>, unknown: null }, 'v1 is upcast');
});
