// Erasure's direct pass over the live read models (infra/read-models/queries/erasure.ts), on both stores.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loadConfig } from '../../infra/config.js';
import { createLogger } from '../../infra/logger.js';
import { openReadModels } from '../../infra/read-models/open.js';
import { emOf, sqlOf, sqlQuery, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { scrubBodiesOf } from '../../infra/read-models/queries/erasure.js';
import { createTestSchema } from '../support/pg.js';
import { searchUsers } from '../../projections/users.js';
import { toDate } from '../../projections/ports/sql.js';

const logger = createLogger({ level: 'silent', name: 'scrub-test' });

async function check(t: Test, orm: ReadModelOrm): Promise<void> {
  const sql = sqlOf(orm);
  const q = (s: string, p: unknown[] = []) => sqlQuery(emOf(orm), s, p as never);
  const at = sql.name === 'sqlite' ? Date.parse('2026-01-01T00:00:00Z') : '2026-01-01T00:00:00Z';
  await q(`INSERT INTO ${sql.table('messages')} (chat_id, revision, message_id, sender_id, client_message_id, body, sent_at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ['alice:bob', 1, 'm1', 'alice', 'c1', 'secret one', at, '1']);
  await q(`INSERT INTO ${sql.table('messages')} (chat_id, revision, message_id, sender_id, client_message_id, body, sent_at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ['alice:bob', 2, 'm2', 'bob', 'c2', 'bob stays', at, '2']);
  const record = JSON.stringify({ id: '00000000-0000-4000-8000-000000000001', type: 'MessageSent', data: { senderId: 'alice', body: 'secret parked' } });
  await q(`INSERT INTO ${sql.table('dead_letters')} (projection, event_id, position, record, error, attempts, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ['messages', '00000000-0000-4000-8000-000000000001', '3', record, 'boom', 1, at]);
  for (const u of ['alice', 'bob']) {
    await q(`INSERT INTO ${sql.table('users')} (user_id, username, role, registered_at) VALUES (?, ?, ?, ?)`, [u, u, 'user', at]);
  }
  t.same((await searchUsers(orm.db, {})).items.map((u) => u.userId), ['alice', 'bob']);
  await scrubBodiesOf(orm, 'alice', '2026-02-01T00:00:00.000Z');
  // Found by an outside check: the search listed an erased user until the projector applied UserErased.
  t.same((await searchUsers(orm.db, {})).items.map((u) => u.userId), ['bob'], 'the search leaves the erased user out at once');
  const marks = await q(`SELECT user_id, erased_at FROM ${sql.table('users')} ORDER BY user_id`) as Array<{ user_id: string; erased_at: unknown }>;
  t.equal(toDate(marks[0]!.erased_at)?.toISOString(), '2026-02-01T00:00:00.000Z', 'marked with the UserErased\'s own time');
  t.equal(marks[1]!.erased_at, null);
  t.same((await q(`SELECT sender_id, body FROM ${sql.table('messages')} ORDER BY revision`)), [{ sender_id: 'alice', body: '' }, { sender_id: 'bob', body: 'bob stays' }]);
  const parked = (await q(`SELECT record FROM ${sql.table('dead_letters')}`))[0] as { record: unknown };
  const text = typeof parked.record === 'string' ? parked.record : JSON.stringify(parked.record);
  t.notOk(text.includes('secret parked'), 'the parked copy is blanked');
  t.match(text, /"senderId":\s*"alice"/);
}

t.test('sqlite', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-scrub-'));
  const orm = await openReadModels(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }), logger);
  t.teardown(async () => { await orm.close(); rmSync(dir, { recursive: true, force: true }); });
  await check(t, orm);
});

t.test('postgres', async (t) => {
  const schema = await createTestSchema('scrub');
  const orm = await openReadModels(loadConfig({ DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema, LOG_LEVEL: 'silent' }), logger);
  t.teardown(async () => { await orm.close(); await schema.drop(); });
  await check(t, orm);
});
