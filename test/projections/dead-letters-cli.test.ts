// `chat projections dead-letters` and `chat projections retry` against the embedded default: a poison
// event (parked by the feed) and an event parked by a since-passed failure are listed; retry
// re-applies what now works (exit 0), reports what still fails (exit 1), and the list follows.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { chatStreamId, userStreamId } from '../../domain/events.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import type { DeadLetterEntry } from '../../infra/read-models/queries/dead-letters.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { chat, openWhere, project, type Where } from '../audit/support.js';
import { dumpTable, silentLogger, writeHistory } from './support.js';

type Letter = Omit<DeadLetterEntry, 'parkedAt' | 'retriedAt'> & { parkedAt: string | null; retriedAt: string | null };

t.test('dead-letters lists, retry re-applies what works and reports what does not', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dl-cli-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const where: Where = { kind: 'embedded', dataDir };
  let env = await openWhere(where);
  const { chats } = await writeHistory(env.store);
  const model = (await env.store.readStream(chatStreamId(chats[0]!))).find((e) => e.type === 'MessageSent')!;
  const poison = randomUUID();
  await env.store.append(chatStreamId(chats[0]!), [{ id: poison, type: 'MessageSent', data: { ...(model.data as object), messageId: randomUUID(), body: 42 }, metadata: { schemaVersion: 2 } }], 'any');
  const login = randomUUID();
  await env.store.append(userStreamId('alice'), [{ id: login, type: 'UserLoggedIn', data: { userId: 'alice', at: '2026-06-01T00:00:00.000Z' }, metadata: { schemaVersion: 1 } }], 'any');
  // A failure that has since passed (the database was down, say): parked before it was applied.
  const loginRecord = toPublicRecord((await env.store.readStream(userStreamId('alice'))).find((e) => e.id === login)!);
  await createSqlProjector({ db: env.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).park(loginRecord, new Error('connection reset'), 5);
  await project(env.store, env.orm);
  await env.close();

  const listed = await chat(where, ['projections', 'dead-letters', '--format', 'json']);
  t.equal(listed.code, 0, listed.stderr);
  const letters = JSON.parse(listed.stdout) as Letter[];
  t.same(letters.map((l) => [l.projection, l.eventId, l.type]).sort(), [
    ['activity-log', login, 'UserLoggedIn'], ['chats', poison, 'MessageSent'], ['messages', poison, 'MessageSent'], ['users', login, 'UserLoggedIn'],
  ]);
  t.match(letters.find((l) => l.projection === 'chats'), { error: /data\.body must be a string/, attempts: 1 });
  const table = await chat(where, ['projections', 'dead-letters', '--projection', 'users']);
  t.match(table.stdout, /^id\s+projection\s+event\s+type\s+position\s+attempts\s+parked\s+retried\s+error$/m);
  t.match(table.stdout, new RegExp(`users\\s+${login}\\s+UserLoggedIn\\s+\\d+\\s+5\\s+\\S+\\s+connection reset`));
  t.equal(table.stdout.trim().split('\n').length, 2, 'only that projection');
  const bad = await chat(where, ['projections', 'dead-letters', '--projection', 'nope']);
  t.same([bad.code, bad.stdout], [2, '']);
  t.match(bad.stderr, /unknown projection "nope"/);

  const none = await chat(where, ['projections', 'retry', '--id', '99999', '--id', '0099999']);
  t.equal(none.code, 1, 'an id that names no parked letter is an exit 1, not a silent success');
  t.same(JSON.parse(none.stdout), { retried: 0, failed: [], unmatched: ['99999'] });
  t.match(none.stderr, /no parked dead letter awaiting a retry has the id 99999/);
  const users = await chat(where, ['projections', 'retry', '--projection', 'users']);
  t.equal(users.code, 0, users.stderr);
  t.same(JSON.parse(users.stdout), { retried: 1, failed: [] });
  const all = await chat(where, ['projections', 'retry']);
  t.equal(all.code, 1, 'exit 1: some still fail');
  const result = JSON.parse(all.stdout) as { retried: number; failed: Array<{ projection: string; eventId: string; error: string }> };
  t.equal(result.retried, 1, 'the activity-log one went through');
  t.same(result.failed.map((f) => [f.projection, f.eventId]).sort(), [['chats', poison], ['messages', poison]]);
  t.match(result.failed[0]!.error, /data\.body must be a string/);

  const left = JSON.parse((await chat(where, ['projections', 'dead-letters', '--format', 'json'])).stdout) as Letter[];
  t.same(left.map((l) => [l.projection, l.attempts]).sort(), [['chats', 2], ['messages', 2]], 'the poison stays, its attempts counted');
  const history = JSON.parse((await chat(where, ['projections', 'dead-letters', '--all', '--format', 'json'])).stdout) as Letter[];
  t.same(history.filter((l) => l.retriedAt !== null).map((l) => l.projection).sort(), ['activity-log', 'users'], '--all shows the retried ones');

  env = await openWhere(where);
  t.teardown(() => env.close());
  const alice = (await dumpTable(env.orm, 'users')).map((l) => JSON.parse(l) as Record<string, string>).find((u) => u['user_id'] === 'alice');
  t.equal(alice?.['last_login_at'], '2026-06-01T00:00:00.000Z', 'the retried login is in the read model');
  t.ok((await dumpTable(env.orm, 'activity_log')).some((l) => l.includes(login)), 'and in the activity log');
});
