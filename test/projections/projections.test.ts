// The SQL projections applied in log order produce the expected rows, on PostgreSQL and on SQLite;
// out-of-order cases that matter are checked by name; the users table never holds a password hash.
import t, { type Test } from 'tap';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { emOf, sqlOf } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { dumpAll, historyRecords, pgReadModels, silentLogger, sqliteReadModels, truncateAll, type TestReadModels } from './support.js';

type Row = Record<string, unknown>;
const parse = (lines: string[]): Row[] => lines.map((l) => JSON.parse(l) as Row);
const byType = (records: PublicRecord[], type: string) => records.filter((r) => r.type === type);
const iso = (s: unknown) => new Date(String(s)).toISOString();

async function inOrder(t: Test, open: () => Promise<TestReadModels>): Promise<void> {
  const rm = await open();
  t.teardown(() => rm.close());
  const records = await historyRecords();
  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });

  const result = await projector.applyBatch(records.slice(0, 10));
  t.same({ ...result, failed: result.failed.length }, { applied: 10, duplicates: 0, ignored: 0, parked: 0, failed: 0 });
  for (const r of records.slice(10)) await projector.applyBatch([r]);
  const again = await projector.applyBatch(records);
  t.same({ ...again, failed: again.failed.length }, { applied: 0, duplicates: records.length, ignored: 0, parked: 0, failed: 0 }, 'a redelivery is all duplicates');
  const dump = await dumpAll(rm.orm);

  const users = parse(dump['users']!);
  const registered = byType(records, 'UserRegistered');
  t.equal(users.length, registered.length, 'one row per registered user');
  for (const r of registered) {
    const u = users.find((x) => x['user_id'] === r.data['userId']);
    const logins = byType(records, 'UserLoggedIn').filter((l) => l.data['userId'] === r.data['userId']).map((l) => iso(l.data['at'])).sort();
    t.same(u, {
      user_id: r.data['userId'], username: r.data['username'], role: r.data['role'],
      registered_at: iso(r.data['registeredAt']), last_login_at: logins.at(-1) ?? null,
      erased_at: byType(records, 'UserErased').filter((e) => e.data['userId'] === r.data['userId']).map((e) => iso(e.data['at']))[0] ?? null,
    }, `user ${String(r.data['username'])}`);
  }

  const chats = parse(dump['chats']!);
  const started = byType(records, 'ChatStarted');
  t.equal(chats.length, started.length);
  for (const s of started) {
    const msgs = byType(records, 'MessageSent').filter((m) => m.data['chatId'] === s.data['chatId']);
    const last = msgs.reduce((a, b) => (b.revision > a.revision ? b : a));
    const participants = s.data['participants'] as string[];
    t.same(chats.find((c) => c['chat_id'] === s.data['chatId']), {
      chat_id: s.data['chatId'], participant_a: participants[0], participant_b: participants[1], started_by: s.data['startedBy'],
      started_at: iso(s.data['at']), last_message_revision: String(last.revision), last_message_body: last.data['body'],
      last_message_sender: last.data['senderId'], last_message_at: iso(last.data['sentAt']),
      last_message_id: last.data['messageId'], last_message_edited_at: null, last_message_deleted_at: null,
    });
  }

  const messages = parse(dump['messages']!);
  const sent = byType(records, 'MessageSent');
  t.equal(messages.length, sent.length);
  const tricky = sent.find((m) => String(m.data['body']).includes('"hi"'))!;
  t.same(messages.find((m) => m['message_id'] === tricky.data['messageId']), {
    body: tricky.data['body'], chat_id: tricky.data['chatId'], client_message_id: tricky.data['clientMessageId'], message_id: tricky.data['messageId'],
    position: tricky.position, revision: String(tricky.revision), sender_id: tricky.data['senderId'], sent_at: iso(tricky.data['sentAt']),
    edited_at: null, deleted_at: null, changed_revision: null,
  }, 'quotes, backslash, ? and non-ASCII survive');

  const activity = parse(dump['activity_log']!);
  t.equal(activity.length, records.length, 'one activity row per event');
  const expected: Record<string, [string, string, string | null]> = {
    UserRegistered: ['register', 'userId', null], UserLoggedIn: ['login', 'userId', null], UserLoggedOut: ['logout', 'userId', null],
    ChatOpened: ['open_chat', 'userId', 'chatId'], ChatStarted: ['start_chat', 'startedBy', 'chatId'], MessageSent: ['send_message', 'senderId', 'chatId'],
    ChatRead: ['read_chat', 'readerId', 'chatId'],
  };
  for (const r of records) {
    const [action, who, target] = expected[r.type]!;
    t.match(activity.find((a) => a['event_id'] === r.id), { action, user_id: r.data[who], target: target ? r.data[target] : null, position: r.position },
      `${r.type} → ${action}`);
  }
  // Idempotent projections write inbox rows only on the one-by-one path (the records applied singly above).
  const inboxed = (p: (typeof SQL_PROJECTIONS)[number]): number => records.filter((r, i) => (p.handles as string[]).includes(r.type) && (!p.idempotent || i >= 10)).length;
  t.equal(dump['projection_inbox']!.length, SQL_PROJECTIONS.reduce((n, p) => n + inboxed(p), 0));
  const head = records.at(-1)!.position;
  t.ok(parse(dump['projection_checkpoints']!).every((c) => c['position'] === head), 'every checkpoint at the head');
  const cps = await projector.checkpoints();
  t.same([...cps.values()].map((c) => c.position.toString()), SQL_PROJECTIONS.map(() => head));

  // Never a password hash, in any column of the users table (nor anywhere else).
  const everything = JSON.stringify(dump);
  t.notMatch(everything, /\$argon2/, 'no argon2 hash in any read model');
  t.notMatch(everything, /passwordHash/);
  const cols = sqlOf(rm.orm).name === 'postgresql'
    ? ((await emOf(rm.orm).execute(`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = ? AND table_name = 'users'`, [rm.where], 'all')) as Row[])
    : ((await emOf(rm.orm).execute(`SELECT name FROM pragma_table_info('users')`, [], 'all')) as Row[]);
  t.same(cols.map((c) => c['name']).sort(), ['erased_at', 'last_login_at', 'registered_at', 'role', 'user_id', 'username']);
  t.notOk(cols.some((c) => /pass|hash/i.test(String(c['name']))), 'no column for a password or hash');

  await t.test('out of order: ChatStarted after MessageSent keeps the last message; login before registration', async (t) => {
    await truncateAll(rm.orm);
    const fresh = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
    const chatId = started[0]!.data['chatId'];
    const chatEvents = records.filter((r) => r.data['chatId'] === chatId && (r.type === 'MessageSent' || r.type === 'ChatStarted'));
    const reversed = [...chatEvents].reverse();
    for (const r of reversed) await fresh.applyBatch([r]);
    const row = parse((await dumpAll(rm.orm, ['chats']))['chats']!)[0]!;
    const last = chatEvents.at(-1)!;
    t.equal(row['last_message_body'], last.data['body']);
    t.equal(row['last_message_revision'], String(last.revision));
    t.equal(row['started_by'], started[0]!.data['startedBy']);

    const alice = registered[0]!.data['userId'];
    const aliceLogins = byType(records, 'UserLoggedIn').filter((l) => l.data['userId'] === alice);
    await fresh.applyBatch([...aliceLogins].reverse());
    let u = parse((await dumpAll(rm.orm, ['users']))['users']!)[0]!;
    t.same([u['username'], u['last_login_at']], [null, iso(aliceLogins.at(-1)!.data['at'])], 'a partial row from the login');
    await fresh.applyBatch([registered[0]!]);
    u = parse((await dumpAll(rm.orm, ['users']))['users']!)[0]!;
    t.same([u['username'], u['last_login_at']], [registered[0]!.data['username'], iso(aliceLogins.at(-1)!.data['at'])], 'completed by the registration');
  });

  await t.test('unknown types are parked and acknowledged; a batch holding one event twice applies it once', async (t) => {
    await truncateAll(rm.orm);
    const fresh = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
    const unknown: PublicRecord = { ...records[0]!, id: '00000000-0000-4000-8000-000000000001', type: 'SomethingNew', position: '999999' };
    const r = await fresh.applyBatch([records[0]!, records[0]!, unknown, { ...records[1]!, id: records[1]!.id.toUpperCase() }, records[1]!]);
    t.same({ ...r, failed: r.failed.length }, { applied: 2, duplicates: 0, ignored: 0, parked: 1, failed: 0 });
    t.equal((await dumpAll(rm.orm, ['activity_log']))['activity_log']!.length, 2);
    const cps = await fresh.checkpoints();
    t.ok([...cps.values()].every((c) => c.position === 999999n), 'checkpoints move past a parked record');
  });
}

t.test('postgresql: projections in log order', (t) => inOrder(t, () => pgReadModels('proj')));
t.test('sqlite: projections in log order', (t) => inOrder(t, () => sqliteReadModels()));
