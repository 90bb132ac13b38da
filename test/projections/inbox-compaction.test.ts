// Inbox compaction, on PostgreSQL and on SQLite read models: the floor rises over what every
// projection has applied and its inbox rows go, redeliveries below the floor still change nothing,
// and it stops at an event not applied yet and at a record of an unknown type not parked yet.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { emOf, sqlOf, sqlQuery } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { INBOX } from '../../projections/runtime/apply.js';
import { compactInbox } from '../../projections/runtime/inbox-compaction.js';
import { rebuildProjection } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import {
  dumpAll, embeddedStoreAndReadModels, pgReadModels, readAllRecords, silentLogger, sqliteReadModels, writeHistory, type TestReadModels,
} from './support.js';

/** The read models proper: bookkeeping tables differ by design once compacted. */
/** The projections with inbox rows (an idempotent one has none, and compaction leaves it alone). */
const WITH_INBOX = SQL_PROJECTIONS.filter((p) => !p.idempotent);
const MODEL_TABLES = ['users', 'chats', 'messages', 'activity_log', 'message_counts', 'counted_messages'];

async function inboxRows(rm: TestReadModels): Promise<number> {
  const rows = await sqlQuery<{ n: number | string }>(emOf(rm.orm), `SELECT COUNT(*) AS n FROM ${sqlOf(rm.orm).table(INBOX)}`);
  return Number(rows[0]!.n);
}

async function setup(t: Test, open: () => Promise<TestReadModels>) {
  const { store, rm } = await embeddedStoreAndReadModels(t, open);
  await writeHistory(store);
  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const compact = () => compactInbox({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, pageSize: 7 });
  return { store, rm, projector, compact, records: await readAllRecords(store) };
}

async function cases(t: Test, open: () => Promise<TestReadModels>): Promise<void> {
  await t.test('over a fully applied log: floor at its end, inbox empty, redelivery changes nothing', async (t) => {
    const { rm, store, projector, compact, records } = await setup(t, open);
    await projector.applyBatch(records);
    const before = await dumpAll(rm.orm, MODEL_TABLES);
    t.ok((await inboxRows(rm)) > 0, 'the inbox holds the applied events');

    const first = await compactInbox({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, pageSize: 7, maxPages: 1 });
    for (const r of first) t.same(r.stoppedAt, { position: records[6]!.position, reason: 'page-limit' }, `${r.projection}: one page, then it stops`);

    const results = await compact();
    const last = records.at(-1)!.position;
    for (const r of results) t.same({ floor: r.floor, stoppedAt: r.stoppedAt }, { floor: last, stoppedAt: null }, `${r.projection}: floor at the log's end`);
    t.ok(results.reduce((n, r) => n + r.removed, 0) > 0, 'rows removed');
    t.equal(await inboxRows(rm), 0, 'inbox empty');

    const again = await projector.applyBatch(records);
    t.same({ applied: again.applied, failed: again.failed.length }, { applied: 0, failed: 0 }, 'a redelivery below the floor applies nothing');
    t.same(await dumpAll(rm.orm, MODEL_TABLES), before, 'read models unchanged');
    t.same((await compact()).map((r) => r.removed), WITH_INBOX.map(() => 0), 'a second run finds nothing to do');
  });

  await t.test('stops at an event not applied yet, and goes on once it is', async (t) => {
    const { rm, projector, compact, records } = await setup(t, open);
    const gapAt = records.findIndex((r, i) => i > 10 && r.type === 'MessageSent');
    const missing = records[gapAt]!;
    await projector.applyBatch([...records.slice(0, gapAt), ...records.slice(gapAt + 1)]);

    const results = await compact();
    t.same(results.map((r) => r.projection), WITH_INBOX.map((p) => p.name), 'the idempotent projections are left alone');
    const chats = results.find((r) => r.projection === 'chats')!;
    t.same(chats.stoppedAt, { position: missing.position, reason: 'not-applied' }, 'chats stops at the missing message');
    t.equal(chats.floor, records[gapAt - 1]!.position, 'its floor is just before it');
    const users = results.find((r) => r.projection === 'users')!;
    t.same({ floor: users.floor, stoppedAt: users.stoppedAt }, { floor: records.at(-1)!.position, stoppedAt: null }, 'users, which handles no message, goes on to the end');
    t.ok((await inboxRows(rm)) > 0, 'rows after the gap stay');

    await projector.applyBatch([missing]);
    await projector.applyBatch(records); // late redeliveries on both sides of the old floor
    for (const r of await compact()) t.equal(r.floor, records.at(-1)!.position, `${r.projection}: at the log's end once the gap is filled`);
    t.equal(await inboxRows(rm), 0);

    const fresh = await open();
    t.teardown(() => fresh.close());
    await createSqlProjector({ db: fresh.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).applyBatch(records);
    t.same(await dumpAll(rm.orm, MODEL_TABLES), await dumpAll(fresh.orm, MODEL_TABLES), 'the same read models as an in-order apply of the same log');
  });

  await t.test('projections at different floors (one just rebuilt) all reach the end', async (t) => {
    const { rm, store, projector, compact, records } = await setup(t, open);
    await projector.applyBatch(records);
    await rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'chats', logger: silentLogger });
    const results = await compact();
    for (const r of results) t.same({ floor: r.floor, stoppedAt: r.stoppedAt }, { floor: records.at(-1)!.position, stoppedAt: null }, `${r.projection}: at the log's end`);
    t.equal(results.find((r) => r.projection === 'chats')!.removed, 0, 'the rebuilt one had nothing left to remove');
    t.equal(await inboxRows(rm), 0);
  });

  await t.test('stops before a record of an unknown type until the projector has parked it, then goes past it', async (t) => {
    const { store, projector, compact } = await setup(t, open);
    await store.append(`chat-${randomUUID()}`, [{ id: randomUUID(), type: 'ChatArchivedInTheFuture', data: {} }], 'any');
    const records: PublicRecord[] = await readAllRecords(store);
    const unknown = records.at(-1)!;
    await projector.applyBatch(records.slice(0, -1)); // not delivered yet
    for (const r of await compact()) {
      t.same(r.stoppedAt, { position: unknown.position, reason: 'unreadable' }, `${r.projection}: stops at it`);
      t.equal(r.floor, records.at(-2)!.position, `${r.projection}: floor just before it`);
    }
    t.match(await projector.applyBatch([unknown]), { parked: 1, failed: [] }, 'delivered: parked, not failed');
    for (const r of await compact()) t.same({ floor: r.floor, stoppedAt: r.stoppedAt }, { floor: unknown.position, stoppedAt: null }, `${r.projection}: past it once parked`);
  });
}

t.test('PostgreSQL read models', (t) => cases(t, () => pgReadModels('compact')));

t.test('PostgreSQL: compaction running beside live application and redeliveries changes no read model', async (t) => {
  const open = () => pgReadModels('compact_live');
  const { rm, projector, compact, records } = await setup(t, open);
  // Live batches of three, each redelivering the batch before it, while compaction runs in a loop.
  let done = false;
  const compacting = (async () => {
    let runs = 0;
    while (!done || runs === 0) {
      await compact();
      runs++;
    }
    return runs;
  })();
  for (let i = 0; i < records.length; i += 3) await projector.applyBatch(records.slice(Math.max(0, i - 3), i + 3));
  done = true;
  t.ok((await compacting) > 0, 'compaction ran');
  await compact();
  t.equal(await inboxRows(rm), 0, 'inbox empty at the end');
  const again = await projector.applyBatch(records);
  t.equal(again.applied, 0, 'a full redelivery applies nothing');
  const fresh = await open();
  t.teardown(() => fresh.close());
  await createSqlProjector({ db: fresh.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).applyBatch(records);
  t.same(await dumpAll(rm.orm, MODEL_TABLES), await dumpAll(fresh.orm, MODEL_TABLES), 'the same read models as an in-order apply');
});
t.test('SQLite read models', (t) => cases(t, sqliteReadModels));
