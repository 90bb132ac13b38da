// Opening the read models migrates them once, however many processes start at the same moment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { emOf, openReadModelOrm, sqlOf, sqlQuery, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { createTestSchema } from '../support/pg.js';
import { silentLogger } from '../projections/support.js';

async function migrations(orm: ReadModelOrm): Promise<string[]> {
  return (await sqlQuery<{ name: string }>(emOf(orm), `SELECT name FROM ${sqlOf(orm).table('read_model_migrations')} ORDER BY id`)).map((r) => r.name);
}

t.test('postgresql: concurrent opens of one schema; reopening is a no-op', async (t) => {
  const ts = await createTestSchema('orm');
  t.teardown(() => ts.drop());
  const target = { kind: 'postgresql', connectionString: ts.url, schema: ts.schema, poolSize: 2 } as const;
  const orms = await Promise.all([1, 2, 3].map(() => openReadModelOrm(target, silentLogger)));
  t.same(await migrations(orms[0]!), ['0001-initial', '0002-message-counts'], 'migrated once');
  await Promise.all(orms.map((o) => o.close()));
  const again = await openReadModelOrm(target, silentLogger);
  t.same(await migrations(again), ['0001-initial', '0002-message-counts']);
  const tables = await sqlQuery<{ table_name: string }>(emOf(again), `SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1`, [ts.schema]);
  t.same(tables.map((r) => r.table_name), [
    'activity_log', 'chats', 'counted_messages', 'dead_letters', 'error_log', 'message_counts', 'messages', 'projection_checkpoints', 'projection_inbox',
    'read_model_migrations', 'users',
  ], 'only in its own schema');
  await again.close();
});

t.test('sqlite: concurrent opens of one file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const target = { kind: 'sqlite', file: path.join(dir, 'nested', 'read-models.sqlite') } as const;
  const orms = await Promise.all([1, 2].map(() => openReadModelOrm(target, silentLogger)));
  t.same(await migrations(orms[1]!), ['0001-initial', '0002-message-counts']);
  t.same(await sqlQuery(emOf(orms[0]!), 'PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
  await Promise.all(orms.map((o) => o.close()));
});
