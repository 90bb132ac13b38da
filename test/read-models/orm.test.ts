// Opening the read models migrates them once, however many processes start at the same moment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { droppedMeanwhile, emOf, openReadModelOrm, sqlOf, sqlQuery, withRetries, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { READ_MODEL_ENTITIES } from '../../infra/read-models/entities/index.js';
import { READ_MODEL_MIGRATIONS } from '../../infra/read-models/migrations/index.js';
import { TEST_DATABASE_URL, createTestSchema } from '../support/pg.js';
import { silentLogger } from '../projections/support.js';
import { memoryLogger } from '../support/last-messages.js';
import { waitFor } from '../support/wait.js';

const ALL_MIGRATIONS = READ_MODEL_MIGRATIONS.map((m) => m.name);

async function migrations(orm: ReadModelOrm): Promise<string[]> {
  return (await sqlQuery<{ name: string }>(emOf(orm), `SELECT name FROM ${sqlOf(orm).table('read_model_migrations')} ORDER BY id`)).map((r) => r.name);
}

t.test('postgresql: concurrent opens of one schema; reopening is a no-op', async (t) => {
  const ts = await createTestSchema('orm');
  t.teardown(() => ts.drop());
  const target = { kind: 'postgresql', connectionString: ts.url, schema: ts.schema, poolSize: 2 } as const;
  const orms = await Promise.all([1, 2, 3].map(() => openReadModelOrm(target, silentLogger)));
  t.same(await migrations(orms[0]!), ALL_MIGRATIONS, 'migrated once');
  await Promise.all(orms.map((o) => o.close()));
  const again = await openReadModelOrm(target, silentLogger);
  t.same(await migrations(again), ALL_MIGRATIONS);
  const tables = await sqlQuery<{ table_name: string }>(emOf(again), `SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1`, [ts.schema]);
  const expected = [...READ_MODEL_ENTITIES.map((e) => e.meta.tableName), 'read_model_migrations'].sort();
  t.same(tables.map((r) => r.table_name), expected, 'every table, and only in its own schema');
  await again.close();
});

t.test('sqlite: concurrent opens of one file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const target = { kind: 'sqlite', file: path.join(dir, 'nested', 'read-models.sqlite') } as const;
  const orms = await Promise.all([1, 2].map(() => openReadModelOrm(target, silentLogger)));
  t.same(await migrations(orms[1]!), ALL_MIGRATIONS);
  t.same(await sqlQuery(emOf(orms[0]!), 'PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
  await Promise.all(orms.map((o) => o.close()));
});

t.test('postgresql: opening while other schemas are created and dropped all around', async (t) => {
  // The migrator lists every schema's tables; one dropped meanwhile failed that listing (seen in CI).
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  t.teardown(() => admin.end());
  const churnPrefix = `orm_churn_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  let churning = true;
  const churn = (async () => {
    for (let i = 0; churning; i++) {
      const s = `${churnPrefix}_${i}`;
      await admin.query(`CREATE SCHEMA "${s}"; CREATE TABLE "${s}".a (x int); CREATE TABLE "${s}".b (x int)`);
      await admin.query(`DROP SCHEMA "${s}" CASCADE`);
    }
  })();
  const schemas = await Promise.all(Array.from({ length: 6 }, () => createTestSchema('orm_churn')));
  t.teardown(() => Promise.all(schemas.map((s) => s.drop())));
  try {
    for (const ts of schemas) {
      const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: ts.url, schema: ts.schema, poolSize: 2 }, silentLogger);
      t.same(await migrations(orm), ALL_MIGRATIONS, `${ts.schema} migrated`);
      await orm.close();
    }
  } finally {
    churning = false;
    await churn;
  }
});

t.test('a migration that met a concurrent drop is run again; any other failure is not', async (t) => {
  const dropped = Object.assign(new Error('schema "gone" does not exist'), { code: '3F000' });
  let calls = 0;
  t.equal(await withRetries(async () => (++calls < 3 ? Promise.reject(dropped) : 'done'), silentLogger, droppedMeanwhile), 'done');
  t.equal(calls, 3, 'twice failed, then through');
  const other = Object.assign(new Error('permission denied'), { code: '42501' });
  calls = 0;
  await t.rejects(withRetries(async () => { calls++; throw other; }, silentLogger, droppedMeanwhile), other);
  t.equal(calls, 1, 'not retried');
  calls = 0;
  await t.rejects(withRetries(async () => { calls++; throw dropped; }, silentLogger, droppedMeanwhile), dropped);
  t.equal(calls, 5, 'at most five attempts');
});

t.test('postgresql: knex\'s notice of a lost connection reaches the JSON log, not the console', async (t) => {
  const ts = await createTestSchema('ormlog');
  t.teardown(() => ts.drop());
  const { logger, lines } = memoryLogger();
  const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: ts.url, schema: ts.schema, poolSize: 1 }, logger);
  t.teardown(() => orm.close());
  const [row] = await sqlQuery<{ pid: number }>(emOf(orm), 'SELECT pg_backend_pid() AS pid');
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query('SELECT pg_terminate_backend($1)', [row!.pid]);
  await admin.end();
  // knex says so when it next takes the dead connection from its pool: keep asking until it has.
  await waitFor('knex\'s connection notice', async () => {
    await sqlQuery(emOf(orm), 'SELECT 1').catch(() => undefined);
    return lines.some((l) => l['source'] === 'knex');
  });
  t.match(lines.find((l) => l['source'] === 'knex'), { level: 40, component: 'read-models', msg: /Connection Error/ });
  t.same((await sqlQuery<{ n: number }>(emOf(orm), 'SELECT 1 AS n')).map((r) => Number(r.n)), [1], 'and the next query gets a new connection');
});
