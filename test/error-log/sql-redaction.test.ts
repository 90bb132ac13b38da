// Driver errors carry the statement with its values inlined (knex, MikroORM) and PostgreSQL repeats
// offending input in its messages; values can be message bodies, so neither may reach a log line
// or the error_log table. Real errors from a real PostgreSQL schema.
import { Writable } from 'node:stream';
import t from 'tap';
import pino from 'pino';
import { createErrorLogStream, createSqlErrorLogWriter, toErrorRow } from '../../infra/error-log/destination.js';
import { createLogger, redactSqlText } from '../../infra/logger.js';
import { ActivityEntity } from '../../projections/activity-log.js';
import { emOf, openReadModelOrm, sqlQuery } from '../../infra/read-models/orm.js';
import { queryErrors } from '../../infra/read-models/queries/errors.js';
import { createTestSchema } from '../support/pg.js';

const SECRET = 'secret body 42 - with a dash';

t.test('redactSqlText: statements and quoted driver input go, prose stays', async (t) => {
  t.equal(
    redactSqlText(`select "a0".* from "s"."activity_log" as "a0" where "a0"."event_id" = '${SECRET}' - invalid input syntax for type uuid: "${SECRET}"`, '22P02'),
    '[SQL not logged; code 22P02] - invalid input syntax for type uuid: "…"',
    'knex/MikroORM: statement with inlined values, then the driver message',
  );
  t.equal(redactSqlText(`insert into chats (id, body) values ('1', 'it''s\n    at ${SECRET}') - duplicate key value violates unique constraint "chats_pkey"`, '23505'),
    '[SQL not logged; code 23505] - duplicate key value violates unique constraint "chats_pkey"', 'quotes and line breaks inside values do not end the statement');
  t.equal(redactSqlText(`Query failed - select * from users where name = '${SECRET}'`), 'Query failed - [SQL not logged]', '"- select …" at the end');
  t.equal(redactSqlText(`unexpected error: update "users" set "name" = '${SECRET}' where "id" = 1 - deadlock detected`, '40P01'),
    'unexpected error: [SQL not logged; code 40P01] - deadlock detected');
  for (const prose of ['projection failed', 'could not update the view: timeout', 'select a user first', 'request failed: boom']) {
    t.equal(redactSqlText(prose), prose, `unchanged: ${prose}`);
  }
});

t.test('real driver errors lose their SQL and values in log lines and in error_log', async (t) => {
  const schema = await createTestSchema('errsql');
  t.teardown(() => schema.drop());
  const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: schema.url, schema: schema.schema, poolSize: 2 }, pino({ level: 'silent' }));
  t.teardown(() => orm.close(true));

  // knex raw: "$1 …" placeholders, but PostgreSQL quotes the value in its message.
  const raw = await sqlQuery(emOf(orm), 'insert into error_log (at, level, process, message) values (?, ?, ?, ?)', [new Date().toISOString(), SECRET, 'api', 'x']).then(() => null, (e: unknown) => e as Error);
  // MikroORM: a DriverException whose message is the statement with the value inlined.
  const driver = await emOf(orm).find(ActivityEntity, { eventId: SECRET } as never).then(() => null, (e: unknown) => e as Error);
  t.ok(raw && driver, 'both queries failed');
  t.ok(raw!.message.includes(SECRET) && driver!.message.includes(SECRET), 'the raw errors do carry the value');

  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  const logger = createLogger({ level: 'info', name: 'api' }, sink);
  for (const err of [raw!, driver!]) {
    logger.error({ err, reqId: 'r-1' }, 'read failed');
    logger.error(err);
    logger.error({ err });
    // The shape gateways/http/plugins/errors.ts logs.
    logger.error({ err: { type: err.name, code: (err as { code?: unknown }).code, message: err.message, stack: err.stack } }, 'unexpected error');
  }
  t.equal(lines.length, 8);
  for (const line of lines) {
    t.notOk(line.includes('secret body'), `no value in: ${line.slice(0, 120)}`);
    t.notOk(/"(detail|where|internalQuery)":/.test(line), 'no value-carrying driver fields');
  }
  t.ok(lines.every((l) => l.includes('22P02')), 'the driver code is kept');
  t.ok(lines.slice(4).every((l) => l.includes('[SQL not logged; code 22P02]')), 'the statement is replaced by a marker');

  const stream = createErrorLogStream(createSqlErrorLogWriter((sql, params) => sqlQuery(emOf(orm), sql, params as never)), { flushMs: 60_000 });
  for (const line of lines) stream.write(line);
  await stream.flush();
  const { items } = await queryErrors(orm, { limit: 50 });
  t.equal(items.length, 8, 'all stored');
  t.notOk(JSON.stringify(items).includes('secret body'), 'no value in any stored message, stack or context');
  t.match(items.find((i) => i.message.startsWith('unexpected error: [SQL')), { message: 'unexpected error: [SQL not logged; code 22P02] - invalid input syntax for type uuid: "…"' });

  // Second line of defence: a line from a pino instance without the serializer.
  const plain: string[] = [];
  pino(new Writable({ write(chunk: Buffer, _e, cb) { plain.push(chunk.toString()); cb(); } })).error({ err: driver }, 'read failed');
  t.ok(plain[0]!.includes('secret body'), 'a bare pino line does carry it');
  const row = toErrorRow(plain[0]!);
  t.notOk(`${row?.message} ${row?.stack}`.includes('secret body'), 'the error-log row does not');
  t.match(row?.message, /^read failed: \[SQL not logged; code 22P02\]/);
});
