// Read positions and unread counts from a real history of sends and reads (through the commands):
// the live projection gives the counts the log implies, a blue/green rebuild gives the same rows,
// and `chat audit verify` finds the live tables equal to a replay. PostgreSQL and SQLite.
import t, { type Test } from 'tap';
import { deleteMessage } from '../../commands/edit-message.js';
import { markRead } from '../../commands/mark-read.js';
import { sendMessage } from '../../commands/send-message.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { unreadTotal } from '../../projections/chats.js';
import { verifyReadModels } from '../../projections/audit/verify.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { rebuildProjection } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { createTestSchema } from '../support/pg.js';
import { settledHead, tracked } from '../support/tracked-store.js';
import { depsWithClock, dumpAll, holdOrderingLockShared, pgReadModels, silentLogger, sqliteReadModels, writeHistory, type TestReadModels } from './support.js';

async function suite(t: Test, store: EventStore, rm: TestReadModels): Promise<void> {
  const { users, chats } = await writeHistory(store);
  const [a, b, c] = users as [string, string, string];
  const deps = depsWithClock(store, Date.parse('2026-02-01T00:00:00Z'));
  const must = async (p: Promise<{ ok: boolean }>): Promise<void> => { if (!(await p).ok) throw new Error('command refused'); };
  // chats[0] = a:b (a sent revisions 1 and 3, b 2 and 4); chats[1] = a:c (a sent 1 and 3, c 2 and 4).
  await must(markRead(deps, { readerId: b, chatId: chats[0]!, upToRevision: 1 }));
  await must(markRead(deps, { readerId: b, chatId: chats[0]!, upToRevision: 3 }));
  await must(markRead(deps, { readerId: a, chatId: chats[1]!, upToRevision: 1 }));
  await must(sendMessage(deps, { senderId: a, chatId: chats[0]!, body: 'one more', clientMessageId: 'late1' }));
  await must(markRead(deps, { readerId: b, chatId: chats[0]!, upToRevision: 2 })); // below the mark: nothing
  // Sent and deleted: never unread, in the live rows as after a rebuild.
  const late2 = await sendMessage(deps, { senderId: a, chatId: chats[0]!, body: 'oops', clientMessageId: 'late2' });
  if (!late2.ok) throw new Error('command refused');
  await must(deleteMessage(deps, { deleterId: a, chatId: chats[0]!, messageId: late2.value.messageId, clientDeleteId: 'd1' }));

  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const feed = createStoreFeed({ store, projector, logger: silentLogger, batchSize: 4, lingerMs: 5 });
  await feed.start();
  t.teardown(() => feed.stop());
  await feed.waitFor(await settledHead(store));

  const live = await dumpAll(rm.orm, ['read_positions', 'unread_messages', 'read_deleted_messages']);
  t.equal(await unreadTotal(rm.orm.db, b), 1 + 2, 'bob: a\'s message after his mark in a:b, and both of dave\'s in b:d');
  t.equal(await unreadTotal(rm.orm.db, a), 2 + 2, 'alice: bob\'s two in a:b, carol\'s two after her mark in a:c');
  t.equal(await unreadTotal(rm.orm.db, c), 2, 'carol: alice\'s two');

  const result = await rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'reads', logger: silentLogger, batchSize: 3 });
  t.ok(result, 'rebuilt');
  t.same(await dumpAll(rm.orm, ['read_positions', 'unread_messages', 'read_deleted_messages']), live, 'a rebuild gives the same rows');
  t.equal(await unreadTotal(rm.orm.db, b), 3, 'and the same counts');

  const report = await verifyReadModels({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, waitMs: 2_000 });
  const reads = report.projections.find((p) => p.projection === 'reads');
  t.equal(reads?.verdict, 'equal', 'chat audit verify: the reads tables equal a replay of the log');
  t.same(reads?.tables.map((x) => x.table).sort(), ['read_deleted_messages', 'read_positions', 'unread_messages']);
}

t.test('PostgreSQL', async (t) => {
  t.teardown(await holdOrderingLockShared());
  const ts = await createTestSchema('reads');
  t.teardown(() => ts.drop());
  const raw = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 4 });
  t.teardown(() => raw.close());
  // Tracked: the feed must wait until the head shows every append of this test (tracked-store.ts).
  const store = tracked(raw);
  const rm = await pgReadModels('readsrm');
  t.teardown(() => rm.close());
  await suite(t, store, rm);
});

t.test('SQLite with the embedded store', async (t) => {
  const store = await EmbeddedEventStore.open({ file: ':memory:' });
  t.teardown(() => store.close());
  const rm = await sqliteReadModels();
  t.teardown(() => rm.close());
  await suite(t, store, rm);
});
