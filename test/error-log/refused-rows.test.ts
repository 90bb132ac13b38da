// The error log must never stall on a row the database refuses: the read-model schema as migrated,
// rows written by the error-log stream, read back by the query behind GET /api/errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createErrorLogStream, createSqlErrorLogWriter, isDataError, type ErrorLogRow, type ErrorLogStreamOptions } from '../../infra/error-log/destination.js';
import { errorLogDropCounter } from '../../infra/error-log/metrics.js';
import { cleanContext, ERROR_LOG_LIMITS } from '../../infra/error-log/sanitise.js';
import { emOf, openReadModelOrm, sqlOf, sqlQuery, type ReadModelOrm, type ReadModelTarget } from '../../infra/read-models/orm.js';
import { queryErrors } from '../../infra/read-models/queries/errors.js';
import { createTestSchema } from '../support/pg.js';

const silent = pino({ level: 'silent' });

async function openStore(t: Test, kind: 'postgresql' | 'sqlite'): Promise<ReadModelOrm> {
  let target: ReadModelTarget;
  if (kind === 'postgresql') {
    const schema = await createTestSchema('errlog');
    t.teardown(() => schema.drop());
    target = { kind, connectionString: schema.url, schema: schema.schema, poolSize: 2 };
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-errlog-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    target = { kind, file: path.join(dir, 'read-models.sqlite') };
  }
  const orm = await openReadModelOrm(target, silent);
  t.teardown(() => orm.close(true));
  return orm;
}

function streamOver(orm: ReadModelOrm, extra: ErrorLogStreamOptions = {}) {
  const warnings: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { warnings.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  const registry = new Registry();
  const writer = createSqlErrorLogWriter((sql, params) => sqlQuery(emOf(orm), sql, params as never), sqlOf(orm).name === 'sqlite' ? 'sqlite' : 'postgresql');
  const stream = createErrorLogStream(writer, { flushMs: 60_000, onDropped: errorLogDropCounter(registry), logger: pino(sink), ...extra });
  const line = (o: Record<string, unknown>) => stream.write(`${JSON.stringify({ level: 50, time: Date.now(), process: 'api', ...o })}\n`);
  return { stream, line, warnings, registry };
}

const NASTY = 'prefix a\u0000 half \ud800 and \udc00 pair 😀 end';

t.test('PostgreSQL: NUL and lone surrogates are stored sanitised, a refused row is dropped and counted, the log moves on', async (t) => {
  const orm = await openStore(t, 'postgresql');
  // Rows PostgreSQL refuses whatever the writer does to them: one whole, one only because of its context.
  await sqlQuery(emOf(orm), "alter table error_log add constraint test_refuse_process check (process <> 'poison')");
  await sqlQuery(emOf(orm), "alter table error_log add constraint test_refuse_context check (context is null or not jsonb_exists(context, 'refuse'))");
  const { stream, line, warnings, registry } = streamOver(orm);

  line({ msg: `bad request: ${NASTY}`, url: '/api/users', prefix: 'a\u0000', [`key\u0000\ud800`]: ['\udbff', { deep: 'x\u0000' }],
    err: { type: 'Error', message: 'boom\u0000', stack: `Error: boom\u0000\n    at here \ud800` } });
  line({ msg: 'x'.repeat(ERROR_LOG_LIMITS.message + 500) });
  line({ msg: 'poisoned row', process: 'poison' });
  line({ msg: 'context refused', refuse: true });
  await stream.flush();
  line({ msg: 'an ordinary error afterwards' });
  await stream.flush();

  const { items } = await queryErrors(orm, { limit: 50 });
  t.equal(items.length, 4, 'every row but the poisoned one is stored');
  const nasty = items.find((i) => i.message.startsWith('bad request'));
  t.equal(nasty?.message, 'bad request: prefix a half  and  pair 😀 end: boom', 'NUL and unpaired surrogates removed, pairs kept');
  t.same(nasty?.context, { url: '/api/users', prefix: 'a', key: ['', { deep: 'x' }] }, 'the context is cleaned, keys included');
  t.equal(nasty?.stack, 'Error: boom\n    at here ');
  const long = items.find((i) => i.message.startsWith('xxx'));
  t.equal(long?.message.length, ERROR_LOG_LIMITS.message, 'long messages are cut to the documented maximum');
  t.ok(long?.message.endsWith('…'));
  t.match(items.find((i) => i.message === 'context refused'), { context: null, stack: null }, 'a row refused for its context is stored bare');
  t.ok(items.some((i) => i.message === 'an ordinary error afterwards'), 'the error after them is stored');

  t.equal(stream.dropped(), 1);
  t.equal(warnings.length, 1);
  t.match(warnings, [{ level: 40, reason: 'refused', row: { process: 'poison', level: 50 }, code: '23514', droppedRows: 1 }], 'one warn line on stdout for the dropped row');
  t.notOk(JSON.stringify(warnings).includes('poisoned row'), 'the report does not repeat the row');
  t.match(await registry.getSingleMetricAsString('error_log_dropped_total'), /error_log_dropped_total\{reason="refused"\} 1/);
});

t.test('PostgreSQL: a batch the database refuses (unsanitised NUL) is retried row by row; an outage is still retried whole', async (t) => {
  const orm = await openStore(t, 'postgresql');
  const execute = (sql: string, params: unknown[]) => sqlQuery(emOf(orm), sql, params as never);
  // What a writer without sanitising gets from PostgreSQL for a NUL, as the stream sees it.
  const refusal = await execute('insert into error_log (at, level, process, message) values (?, ?, ?, ?)', [new Date(), 50, 'api', 'a\u0000']).then(() => null, (e: unknown) => e);
  t.ok(isDataError(refusal), 'PostgreSQL refuses a NUL with a data exception (class 22)');
  t.notOk(isDataError(new Error('connection refused')), 'a code-less connection failure is not a data error');

  let down = false;
  let calls = 0;
  const rawWriter = {
    async insert(rows: ErrorLogRow[]) {
      calls++;
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      // Unsanitised on purpose: the NUL row makes PostgreSQL refuse the whole multi-row insert.
      const values = rows.map(() => '(?, ?, ?, ?)').join(', ');
      const message = (m: string) => (m === 'unsanitised' ? 'nul \u0000' : m);
      await execute(`insert into error_log (at, level, process, message) values ${values}`, rows.flatMap((r) => [r.at, r.level, r.process, message(r.message)]));
    },
  };
  const stream = createErrorLogStream(rawWriter, { flushMs: 60_000 });
  const line = (msg: string) => stream.write(`${JSON.stringify({ level: 50, time: Date.now(), process: 'api', msg })}\n`);
  line('before');
  line('unsanitised');
  line('after');
  await stream.flush();
  t.same((await queryErrors(orm, { limit: 10 })).items.map((i) => i.message).sort(), ['after', 'before'], 'the good rows of the refused batch are stored');
  t.equal(stream.dropped(), 1, 'the row refused even bare is dropped');

  down = true;
  line('during an outage');
  await stream.flush();
  await stream.flush();
  t.equal(stream.dropped(), 1, 'nothing is dropped while the database is down');
  down = false;
  const before = calls;
  await stream.flush();
  t.equal(calls, before + 1, 'the kept batch is written whole once the database is back');
  t.ok((await queryErrors(orm, { limit: 10 })).items.some((i) => i.message === 'during an outage'));
});

t.test('SQLite (embedded default): rows are sanitised the same way', async (t) => {
  const orm = await openStore(t, 'sqlite');
  const { stream, line } = streamOver(orm);
  line({ msg: `bad request: ${NASTY}`, prefix: 'a\u0000\ud800' });
  line({ msg: 'y'.repeat(ERROR_LOG_LIMITS.message * 2) });
  await stream.flush();
  const { items } = await queryErrors(orm, { limit: 10 });
  t.equal(items.length, 2);
  const nasty = items.find((i) => i.message.startsWith('bad request'));
  t.equal(nasty?.message, 'bad request: prefix a half  and  pair 😀 end');
  t.same(nasty?.context, { prefix: 'a' });
  t.equal(items.find((i) => i.message.startsWith('yyy'))?.message.length, ERROR_LOG_LIMITS.message);
});

t.test('a context key named __proto__ is kept as data, not taken as the prototype', async (t) => {
  const clean = cleanContext(JSON.parse('{"__proto__": {"admin": true}, "n": 1}') as Record<string, unknown>)!;
  t.same(Object.keys(clean).sort(), ['__proto__', 'n']);
  t.equal(JSON.stringify(clean), '{"__proto__":{"admin":true},"n":1}');
  t.equal((clean as { admin?: unknown }).admin, undefined, 'nothing inherited');
});
