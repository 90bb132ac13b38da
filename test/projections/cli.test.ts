// The read-model commands of the CLI: bad input exits 2 with a clear message before anything is
// opened; good input works against the zero-setup default (SQLite read models in DATA_DIR).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { userOption } from '../../gateways/cli/options.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { chat as runChat, type CliResult } from '../audit/support.js';

/** The real CLI in a child process, on the zero-setup default in `dataDir`. */
const chat = (dataDir: string, args: string[], stdin?: Buffer): Promise<CliResult> => runChat({ kind: 'embedded', dataDir }, args, {}, stdin);

t.test('bad input: exit 2 and a message, nothing opened', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string[], RegExp]> = [
    [['activity', '--action', 'nope'], /unknown action "nope"; expected one of register, login, logout, start_chat, open_chat, send_message, read_chat/],
    [['activity', '--from', 'yesterday'], /--from must be an ISO-8601 time/],
    [['errors', '--level', 'loud'], /--level must be a number from 10 to 60 or one of/],
    [['errors', '--level', '61'], /--level must be a number from 10 to 60/],
    [['errors', '--level', '9'], /--level must be a number from 10 to 60/],
    [['audit', 'activity', '--from', '0000-01-01T00:00:00Z'], /--from must lie in the years 1 to 9999/],
    [['activity', '--to', '0000-06-01'], /--to must lie in the years 1 to 9999/],
    [['activity', '--user', ''], /--user must be a username: 3 to 32 of a-z, 0-9, _ \. -/],
    [['audit', 'activity', '--user', 'a b'], /--user must be a username/],
    [['projections', 'rebuild', 'nope'], /unknown projection "nope"; known: users, chats, messages, activity-log/],
    [['projections', 'compact', '--projection', 'nope'], /unknown projection "nope"; known: users, chats, messages, activity-log/],
  ];
  const results = await Promise.all(cases.map(([args]) => chat(dir, args)));
  results.forEach((r, i) => {
    const [args, message] = cases[i]!;
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message);
    t.equal(r.stdout, '');
  });
  // A password is read from standard input: bytes that are not UTF-8 would become U+FFFD, another password.
  const notUtf8 = await chat(dir, ['users', 'register', 'alice'], Buffer.from([0xff, 0xfe, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x0a]));
  t.equal(notUtf8.code, 2, 'a password that is not UTF-8: exit 2');
  t.match(notUtf8.stderr, /the password on standard input is not valid UTF-8/);
  t.equal(notUtf8.stdout, '');
  t.same(readdirSync(dir), [], 'no database created');
});

t.test('--user is a username matched case-insensitively: it filters by the lower-cased user id', async (t) => {
  const parse = userOption().parseArg!;
  t.equal(parse(' Alice ', undefined), 'alice');
  t.throws(() => parse('a b', undefined), /--user must be a username/);
});

t.test('a DATA_DIR without an event store: refused, not answered empty, and left as it was', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-nostore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const args of [['activity'], ['errors'], ['audit', 'activity'], ['events', 'tail'], ['events', 'head'], ['projections', 'status'], ['users', 'erase', 'alice'], ['users', 'rewrap-keys']]) {
    const r = await chat(dir, args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /DATA_DIR holds no event store \(.*events\.sqlite does not exist\): point it at the service's data directory/);
    t.equal(r.stdout, '');
  }
  t.same(readdirSync(dir), [], 'nothing created: no store, no key-encryption key');
});

t.test('good input against the embedded default', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-ok-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') }).close(); // the service's first start makes it
  const activity = await chat(dir, ['activity', '--user', 'Alice', '--action', 'login', '--from', '2026-01-01', '--format', 'json']);
  t.equal(activity.code, 0, activity.stderr);
  t.same(JSON.parse(activity.stdout), { items: [], nextCursor: null });
  const [status, rebuild] = [await chat(dir, ['projections', 'status', '--format', 'json']), await chat(dir, ['projections', 'rebuild', 'users'])];
  t.equal(status.code, 0, status.stderr);
  t.same((JSON.parse(status.stdout) as Array<{ projection: string; verdict: string }>).map((s) => [s.projection, s.verdict]), SQL_PROJECTIONS.map((p) => [p.name, 'ok']));
  t.equal(rebuild.code, 0, rebuild.stderr);
  t.match(rebuild.stdout, /^rebuilt users: 0 events .* events\/s\n$/);
  const compact = await chat(dir, ['projections', 'compact', '--format', 'json']);
  t.equal(compact.code, 0, compact.stderr);
  t.same(
    (JSON.parse(compact.stdout) as Array<{ projection: string; removed: number; stoppedAt: unknown }>).map((r) => [r.projection, r.removed, r.stoppedAt]),
    [['users', 0, null], ['chats', 0, null], ['activity-log', 0, null], ['reads', 0, null]],
    'an empty log: nothing to compact, nothing in the way (messages and messages-per-user-per-day keep no inbox)',
  );
  const registered = await chat(dir, ['users', 'register', 'alice'], Buffer.from('pässwörd 🔑 lang\n', 'utf8'));
  t.equal(registered.code, 0, registered.stderr);
  t.match(JSON.parse(registered.stdout), { userId: 'alice', role: 'user' }, 'a UTF-8 password from standard input');
});
