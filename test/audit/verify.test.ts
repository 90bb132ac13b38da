// `chat audit verify`: an unmodified read model passes (exit 0); a corrupted row is caught (exit 1)
// and named; the scratch copy is dropped. Through the real CLI on the embedded default and on
// PostgreSQL; and, in-process, a projection behind the log and an event parked as a dead letter.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { emOf, sqlOf, sqlQuery } from '../../infra/read-models/orm.js';
import { verifyReadModels, type VerifyReport } from '../../projections/audit/verify.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createTestSchema, TEST_DATABASE_URL } from '../support/pg.js';
import { embeddedStoreAndReadModels, holdOrderingLockShared, silentLogger, writeHistory } from '../projections/support.js';
import { chat, openWhere, project, type Where } from './support.js';


t.test('embedded default: passes unmodified, catches a changed, a missing and an extra row', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'audit-verify-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const where: Where = { kind: 'embedded', dataDir };
  let env = await openWhere(where);
  await writeHistory(env.store);
  await project(env.store, env.orm);
  await env.close();

  const clean = await chat(where, ['audit', 'verify']);
  t.equal(clean.code, 0, clean.stderr);
  t.match(clean.stdout, /verify: every read model equals the log \(27 events replayed/);
  t.match(clean.stdout, /^users\s+equal\s+27\s+27\s+current$/m);
  t.match(clean.stdout, /^message_counts\s+4\s+4\s+0\s+0\s+0$/m);

  env = await openWhere(where);
  const sql = sqlOf(env.orm);
  await sqlQuery(emOf(env.orm), `UPDATE ${sql.table('users')} SET username = 'mallory' WHERE user_id = 'alice'`);
  await sqlQuery(emOf(env.orm), `DELETE FROM ${sql.table('messages')} WHERE chat_id = 'alice:bob' AND revision = 2`);
  await sqlQuery(emOf(env.orm), `UPDATE ${sql.table('message_counts')} SET count = count + 1 WHERE user_id = 'bob'`);
  await sqlQuery(emOf(env.orm), `UPDATE ${sql.table('messages')} SET body = 'TAMPERED text' WHERE chat_id = 'alice:bob' AND revision = 3`);
  await env.close();

  const caught = await chat(where, ['audit', 'verify']);
  t.equal(caught.code, 1, 'exit 1 on a difference');
  t.match(caught.stdout, /^users\s+different/m);
  t.match(caught.stdout, /changed user_id=alice: username: live mallory \/ replayed alice/, 'the changed row is named, with the column');
  t.match(caught.stdout, /missing in live chat_id=alice:bob revision=2: replayed \{.*"message_id"/, 'the missing row is named');
  t.match(caught.stdout, /changed user_id=bob day=2026-01-01: count: live \d+ \/ replayed \d+/);
  // What users wrote never reaches audit output: a changed body is shown by its length, both sides.
  t.match(caught.stdout, /changed chat_id=alice:bob revision=3: body: live <13 characters> \/ replayed <\d+ characters>/);
  t.match(caught.stdout, /missing in live chat_id=alice:bob revision=2: replayed \{.*"body":"<\d+ characters>"/, 'a missing row without its text');
  for (const text of ['TAMPERED', 'hello!', 'how are you', 'ünïcødé']) t.notOk(caught.stdout.includes(text), `no message text in the output (${text})`);
  t.match(caught.stdout, /^chats\s+equal/m, 'the untouched projections still equal');
  const tables = SQL_PROJECTIONS.flatMap((p) => p.entities).length;
  t.match(caught.stdout, new RegExp(`verify: the read models differ from the log \\(3 of ${tables} tables differ`));

  const json = await chat(where, ['audit', 'verify', '--format', 'json', '--rows', '1']);
  t.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as VerifyReport;
  t.equal(report.ok, false);
  t.match(report.projections.find((p) => p.projection === 'users')!.tables[0], {
    table: 'users', liveRows: 4, replayedRows: 4, missing: 0, extra: 0, changed: 1,
    differences: [{ kind: 'changed', key: { user_id: 'alice' }, columns: ['username'], live: { username: 'mallory' }, replayed: { username: 'alice' } }],
  });

  const bad = await chat(where, ['audit', 'verify', '--rows', '0']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--rows must be a whole number from 1 to 1000/);
});

t.test('postgresql: passes unmodified, catches an extra activity row, drops its scratch schema', async (t) => {
  const release = await holdOrderingLockShared();
  const ts = await createTestSchema('auditv');
  t.teardown(async () => {
    await ts.drop();
    await release();
  });
  const where: Where = { kind: 'postgres', schema: ts.schema };
  let env = await openWhere(where);
  await writeHistory(env.store);
  await project(env.store, env.orm);
  await env.close();

  const clean = await chat(where, ['audit', 'verify']);
  t.equal(clean.code, 0, clean.stderr + clean.stdout);
  t.match(clean.stdout, /verify: every read model equals the log \(27 events replayed/);

  env = await openWhere(where);
  const sql = sqlOf(env.orm);
  const forged = randomUUID();
  await sqlQuery(emOf(env.orm), `INSERT INTO ${sql.table('activity_log')} (event_id, position, user_id, action, target, at) VALUES (?, 999, 'eve', 'login', NULL, now())`, [forged]);
  await env.close();
  const caught = await chat(where, ['audit', 'verify']);
  t.equal(caught.code, 1);
  t.match(caught.stdout, new RegExp(`extra in live event_id=${forged}: \\{.*"user_id":"eve"`), 'the forged row is named');
  t.match(caught.stdout, /^activity_log\s+28\s+27\s+0\s+1\s+0$/m);

  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  const left = await c.query('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [`${ts.schema}_verify_`]);
  await c.end();
  t.same(left.rows, [], 'no scratch schema left behind');
});

t.test('in process: a projection behind the log; an event parked live is left out of the replay too', async (t) => {
  const { store, rm } = await embeddedStoreAndReadModels(t);
  const { chats } = await writeHistory(store);
  // Its own scratch directory: other tests (and other runs) may be verifying in the system's at the same time.
  const scratchDir = mkdtempSync(path.join(tmpdir(), 'verify-scratch-'));
  t.teardown(() => rmSync(scratchDir, { recursive: true, force: true }));
  const never = await verifyReadModels({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, waitMs: 0, scratchDir });
  t.equal(never.ok, false, 'never projected: not what the log says');
  t.same(never.projections.map((p) => [p.verdict, p.liveCheckpoint]), SQL_PROJECTIONS.map(() => ['behind', '0']));
  t.equal(never.projections[0]!.tables[0]!.missing, 4, 'and the rows it lacks are counted');

  const model = (await store.readStream(chatStreamId(chats[0]!))).find((e) => e.type === 'MessageSent')!;
  const poison = randomUUID();
  await store.append(chatStreamId(chats[0]!), [{ id: poison, type: 'MessageSent', data: { ...(model.data as object), messageId: randomUUID(), body: 42 }, metadata: { schemaVersion: 2 } }], 'any');
  await project(store, rm.orm);
  const report = await verifyReadModels({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, logger: silentLogger, batchSize: 5, scratchDir });
  t.equal(report.ok, true, 'equal: the live runtime parked it, the replay left it out');
  t.same(report.projections.map((p) => p.verdict), SQL_PROJECTIONS.map(() => 'equal'));
  t.same(report.replayFailures.map((f) => [f.projection, f.eventId]).sort(), [['chats', poison], ['messages', poison]]);
  t.equal(report.events, 28);
  t.same(readdirSync(scratchDir), [], 'the temporary SQLite copies are gone');
});
