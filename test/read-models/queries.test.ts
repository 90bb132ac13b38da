// The read-model queries over a projected history, on PostgreSQL and SQLite: filters, order and
// cursor paging (walking every page gives exactly the filtered rows, newest first, once each).
import t, { type Test } from 'tap';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { emOf, sqlOf, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { queryActivity, type ActivityQuery } from '../../projections/activity-log.js';
import { userChats } from '../../projections/chats.js';
import { queryErrors } from '../../infra/read-models/queries/errors.js';
import { chatHistory } from '../../projections/messages.js';
import { InvalidQueryError } from '../../projections/ports/page.js';
import { prefixUpperBound, searchUsers } from '../../projections/users.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { historyRecords, pgReadModels, silentLogger, sqliteReadModels, type TestReadModels } from '../projections/support.js';

const ACTIONS: Record<string, [string, string]> = {
  UserRegistered: ['register', 'registeredAt'], UserLoggedIn: ['login', 'at'], UserLoggedOut: ['logout', 'at'],
  ChatOpened: ['open_chat', 'at'], ChatStarted: ['start_chat', 'at'], MessageSent: ['send_message', 'sentAt'],
  ChatRead: ['read_chat', 'at'],
};
const WHO: Record<string, string> = { ChatStarted: 'startedBy', MessageSent: 'senderId', ChatRead: 'readerId' };

function expectedActivity(records: PublicRecord[], q: ActivityQuery): string[] {
  return records
    .map((r) => ({ id: r.id, user: String(r.data[WHO[r.type] ?? 'userId']), action: ACTIONS[r.type]![0], at: Date.parse(String(r.data[ACTIONS[r.type]![1]])), pos: BigInt(r.position) }))
    .filter((a) => (q.userId === undefined || a.user === q.userId) && (q.action === undefined || a.action === q.action))
    .filter((a) => (!q.from || a.at >= q.from.getTime()) && (!q.to || a.at < q.to.getTime()))
    .sort((x, y) => y.at - x.at || (y.pos > x.pos ? 1 : y.pos < x.pos ? -1 : 0))
    .map((a) => a.id);
}

async function allPages(orm: ReadModelOrm, q: ActivityQuery): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await queryActivity(orm.db, { ...q, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((x) => x.eventId));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
  throw new Error('paging did not end');
}

async function suite(t: Test, open: () => Promise<TestReadModels>): Promise<void> {
  const rm = await open();
  t.teardown(() => rm.close());
  const records = await historyRecords();
  await createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).applyBatch(records);
  const users = records.filter((r) => r.type === 'UserRegistered').map((r) => String(r.data['userId']));

  await t.test('activity: filters, newest first, cursor paging', async (t) => {
    const mid = new Date(Date.parse(String(records[Math.floor(records.length / 2)]!.data['sentAt'] ?? records[Math.floor(records.length / 2)]!.data['at'] ?? '2026-01-01T00:00:10Z')));
    const cases: ActivityQuery[] = [
      {}, { limit: 4 }, { userId: users[0]!, limit: 3 }, { action: 'send_message', limit: 5 }, { action: 'login' },
      { userId: users[1]!, action: 'send_message', limit: 2 }, { from: mid, limit: 4 }, { to: mid, limit: 4 }, { userId: 'nobody' },
    ];
    for (const q of cases) t.same(await allPages(rm.orm, q), expectedActivity(records, q), JSON.stringify(q));
    const first = await queryActivity(rm.orm.db, { limit: 1 });
    const newest = records.at(-1)!;
    t.match(first.items[0], { eventId: newest.id, action: ACTIONS[newest.type]![0], userId: newest.data['userId'], target: null, position: newest.position });
    t.ok(first.items[0]!.at instanceof Date);
    await t.rejects(queryActivity(rm.orm.db, { cursor: 'garbage' }), InvalidQueryError);
    await t.rejects(queryActivity(rm.orm.db, { action: 'nope' as never }), InvalidQueryError);
    await t.rejects(queryActivity(rm.orm.db, { limit: 0 }), InvalidQueryError);
  });

  await t.test('errors: by process, level and time, newest first, paged', async (t) => {
    const sql = sqlOf(rm.orm);
    const em = emOf(rm.orm);
    const base = Date.parse('2026-02-01T00:00:00Z');
    for (let i = 0; i < 7; i++) {
      await em.execute(
        `INSERT INTO ${sql.table('error_log')} (at, level, process, context, message, stack) VALUES (?, ?, ?, ?, ?, ?)`,
        [sql.time(new Date(base + (i % 5) * 1000)), i % 3 === 0 ? 60 : 50, i % 2 ? 'api' : 'projector', JSON.stringify({ i }), `boom ${i}`, i === 0 ? 'Error: boom' : null],
        'run',
      );
    }
    const walk = async (q: Parameters<typeof queryErrors>[1]) => {
      const out: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const p = await queryErrors(rm.orm, { ...q, ...(cursor ? { cursor } : {}) });
        out.push(...p.items.map((e) => e.message));
        if (!p.nextCursor) return out;
        cursor = p.nextCursor;
      }
    };
    const all = await walk({ limit: 2 });
    t.equal(all.length, 7);
    t.same(new Set(all).size, 7, 'each entry once across pages with equal times');
    // api wrote i = 1, 3, 5 at base + 1 s, 3 s, 0 s.
    t.same(await walk({ process: 'api', limit: 1 }), ['boom 3', 'boom 1', 'boom 5']);
    t.same((await walk({ minLevel: 60 })).sort(), ['boom 0', 'boom 3', 'boom 6']);
    t.same((await walk({ from: new Date(base + 3000) })).sort(), ['boom 3', 'boom 4']);
    t.same((await walk({ to: new Date(base + 1000) })).sort(), ['boom 0', 'boom 5']);
    const top = await queryErrors(rm.orm, { process: 'projector', limit: 10 });
    t.match(top.items.find((e) => e.message === 'boom 0'), { level: 60, process: 'projector', context: { i: 0 }, stack: 'Error: boom' });
  });

  await t.test('users: prefix search in username order, paged; _ is not a wildcard', async (t) => {
    const sql = sqlOf(rm.orm);
    await emOf(rm.orm).execute(
      `INSERT INTO ${sql.table('users')} (user_id, username, role, registered_at) VALUES ('a_b', 'a_b', 'user', ?), ('axb', 'axb', 'user', ?)`,
      [sql.time(new Date()), sql.time(new Date())],
      'run',
    );
    const all = await searchUsers(rm.orm.db, { limit: 100 });
    t.same(all.items.map((u) => u.username), [...users, 'a_b', 'axb'].sort());
    t.same((await searchUsers(rm.orm.db, { prefix: 'A_' })).items.map((u) => u.username), ['a_b']);
    t.same((await searchUsers(rm.orm.db, { prefix: 'a' })).items.map((u) => u.username), ['a_b', 'alice', 'axb']);
    const p1 = await searchUsers(rm.orm.db, { prefix: 'a', limit: 2 });
    const p2 = await searchUsers(rm.orm.db, { prefix: 'a', limit: 2, cursor: p1.nextCursor! });
    t.same([...p1.items, ...p2.items].map((u) => u.username), ['a_b', 'alice', 'axb']);
    t.equal(p2.nextCursor, null);
    t.match((await searchUsers(rm.orm.db, { prefix: 'dave' })).items[0], { userId: 'dave', role: 'auditor' });
    t.equal(prefixUpperBound('ab'), 'ac');
  });

  await t.test('chats: a user\'s chats, other participant and last message, newest activity first', async (t) => {
    const alice = users[0]!;
    const page = await userChats(rm.orm.db, { userId: alice });
    const started = records.filter((r) => r.type === 'ChatStarted' && (r.data['participants'] as string[]).includes(alice));
    t.equal(page.items.length, started.length);
    const activity = page.items.map((c) => c.activityAt.getTime());
    t.same(activity, [...activity].sort((a, b) => b - a), 'newest activity first');
    for (const c of page.items) {
      const msgs = records.filter((r) => r.type === 'MessageSent' && r.data['chatId'] === c.chatId);
      const last = msgs.at(-1)!;
      t.equal(c.otherUsername, c.otherUserId);
      t.not(c.otherUserId, alice);
      t.match(c.lastMessage, { revision: last.revision, body: last.data['body'], senderId: last.data['senderId'] });
    }
    const first = await userChats(rm.orm.db, { userId: alice, limit: 1 });
    const second = await userChats(rm.orm.db, { userId: alice, limit: 1, cursor: first.nextCursor! });
    t.same([...first.items, ...second.items].map((c) => c.chatId), page.items.map((c) => c.chatId));
    t.same((await userChats(rm.orm.db, { userId: 'nobody' })).items, []);
  });

  await t.test('messages: history newest first, paged backwards by revision', async (t) => {
    const chatId = String(records.find((r) => r.type === 'ChatStarted')!.data['chatId']);
    const sent = records.filter((r) => r.type === 'MessageSent' && r.data['chatId'] === chatId);
    const p1 = await chatHistory(rm.orm.db, { chatId, limit: 3 });
    t.same(p1.items.map((m) => m.revision), sent.map((m) => m.revision).reverse().slice(0, 3));
    const p2 = await chatHistory(rm.orm.db, { chatId, limit: 3, before: p1.nextBefore! });
    t.same(p2.items.map((m) => m.revision), sent.map((m) => m.revision).reverse().slice(3));
    t.equal(p2.nextBefore, null);
    t.match(p1.items[0], { body: sent.at(-1)!.data['body'], senderId: sent.at(-1)!.data['senderId'] });
    t.ok(p1.items[0]!.sentAt instanceof Date);
  });
}

t.test('postgresql queries', (t) => suite(t, () => pgReadModels('q')));
t.test('sqlite queries', (t) => suite(t, () => sqliteReadModels()));
