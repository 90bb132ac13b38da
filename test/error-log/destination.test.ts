import t from 'tap';
import pg from 'pg';
import pino from 'pino';
import { createErrorLogStream, createSqlErrorLogWriter, toErrorRow } from '../../infra/error-log/destination.js';
import { createTestSchema } from '../support/pg.js';

async function withTable() {
  const schema = await createTestSchema('errlog');
  const pool = new pg.Pool({ connectionString: schema.url, options: `-c search_path=${schema.schema}` });
  await pool.query(`create table error_log (id bigserial primary key, at timestamptz not null, level int not null, process text not null,
    context jsonb, message text not null, stack text)`);
  // `?` placeholders, as MikroORM's connection.execute takes them.
  const execute = (sql: string, params: unknown[]) => { let i = 0; return pool.query(sql.replace(/\?/g, () => `$${++i}`), params); };
  return { pool, execute, drop: async () => { await pool.end(); await schema.drop(); } };
}

t.test('error lines reach the table in batches, with context and stack', async (t) => {
  const db = await withTable();
  t.teardown(db.drop);
  const stream = createErrorLogStream(createSqlErrorLogWriter(db.execute), { flushMs: 50 });
  const logger = pino({ base: { process: 'api' } }, stream);
  logger.error({ err: new Error('boom'), reqId: 'r-1', url: '/api/x' }, 'request failed');
  logger.error({ eventId: 'e-1' }, 'projection failed');
  await stream.flush();
  const { rows } = await db.pool.query('select * from error_log order by id');
  t.equal(rows.length, 2);
  t.match(rows[0], { level: 50, process: 'api', message: 'request failed: boom', context: { reqId: 'r-1', url: '/api/x' } });
  t.match(rows[0].stack, /Error: boom/);
  t.match(rows[1], { message: 'projection failed', context: { eventId: 'e-1' }, stack: null });
});

t.test('a database outage never throws into the logger and rows are retried', async (t) => {
  const db = await withTable();
  t.teardown(db.drop);
  let down = true;
  const errors: unknown[] = [];
  const writer = createSqlErrorLogWriter((sql, params) => (down ? Promise.reject(new Error('connection refused')) : db.execute(sql, params)));
  const stream = createErrorLogStream(writer, { flushMs: 20, onWriteError: (e) => errors.push(e) });
  const logger = pino({}, stream);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) logger.error({ i }, 'while down');
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2_000, 'logging did not wait for the database');
  await stream.flush();
  t.ok(errors.length >= 1, 'the failure was reported to the owner');
  down = false;
  await stream.flush();
  const { rows } = await db.pool.query('select count(*)::int as n from error_log');
  t.equal(rows[0].n, 100, 'kept rows were written once the database came back');
});

t.test('a full queue drops the oldest rows and counts them', async (t) => {
  const stream = createErrorLogStream({ insert: () => Promise.reject(new Error('down')) }, { flushMs: 60_000, maxQueue: 10 });
  const logger = pino({}, stream);
  for (let i = 0; i < 25; i++) logger.error({ i }, 'x');
  await new Promise((r) => setImmediate(r));
  t.equal(stream.dropped(), 15);
});

t.test('non-JSON lines are ignored', async (t) => {
  t.equal(toErrorRow('not json'), null);
  t.equal(toErrorRow('42'), null);
});
